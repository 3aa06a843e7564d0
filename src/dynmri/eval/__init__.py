"""Evaluation: metrics (:mod:`.metrics`), figures and videos (:mod:`.figures`), tables and
reports (:mod:`.report`)."""
