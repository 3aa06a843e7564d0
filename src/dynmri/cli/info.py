"""``dynmri info``: versions, device and what is registered."""

from __future__ import annotations

import typer

EPILOG = "Example:\n\n  dynmri info"


def info():
    """Versions, device, threads and the registered methods, masks and trajectories."""
    import platform

    import deepinv
    import numpy
    import torch

    from dynmri import __version__
    from dynmri.recon.methods import method_names
    from dynmri.sampling.masks import MASKS
    from dynmri.sampling.trajectories import TRAJECTORIES

    typer.echo(f"dynmri {__version__}, python {platform.python_version()}, torch {torch.__version__}, deepinv {deepinv.__version__}, numpy {numpy.__version__}")
    typer.echo(f"device: {'cuda (' + torch.cuda.get_device_name(0) + ')' if torch.cuda.is_available() else 'cpu'}; torch threads: {torch.get_num_threads()}")
    typer.echo(f"reconstruction methods: {', '.join(method_names())}")
    typer.echo(f"mask kinds: {', '.join(MASKS)}")
    typer.echo(f"trajectories: {', '.join(TRAJECTORIES)} (or a .npz from 'dynmri learn-trajectory')")
