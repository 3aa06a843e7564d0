"""The ``dynmri`` command line; one module per command group (:mod:`.simulate`,
:mod:`.reconstruct` (+ evaluate), :mod:`.benchmark` (+ demo), :mod:`.train` (+ weights, models),
:mod:`.trajectory` (learn-trajectory), :mod:`.info`), shared helpers in :mod:`.common`, assembled
into ``app`` by :mod:`.app`. Each command parses, calls one library function and prints."""

from dynmri.cli.app import app, main

__all__ = ["app", "main"]
