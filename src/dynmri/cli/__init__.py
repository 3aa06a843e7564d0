"""The ``dynmri`` command line; one module per command group, each command parses, calls one
library function and prints."""

from dynmri.cli.app import app, main

__all__ = ["app", "main"]
