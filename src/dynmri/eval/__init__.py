"""Evaluation: metrics (:mod:`.metrics`), figures and videos (:mod:`.figures`), tables, file
writers and reports (:mod:`.report`), the benchmark engine behind ``dynmri benchmark``, ``dynmri
demo`` and ``benchmarks/`` (:mod:`.benchmark`), and file-to-file reconstruction and scoring
(:mod:`.runs`)."""
