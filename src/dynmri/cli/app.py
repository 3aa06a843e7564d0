"""The ``dynmri`` command line, assembled from one module per command group.

Every subcommand turns a :class:`~dynmri.errors.DynMRIError` (bad file, shape, parameter)
into one ``error: ...`` line on stderr and exit status 2 (:func:`dynmri.cli.common.friendly_errors`).
Each command parses its flags, calls one library function and prints; flags always override a
``--config`` file, which overrides the defaults of :mod:`dynmri.config`.
"""

from __future__ import annotations

import sys

import typer

from dynmri.cli import benchmark as _benchmark
from dynmri.cli import info as _info
from dynmri.cli import reconstruct as _reconstruct
from dynmri.cli import simulate as _simulate
from dynmri.cli import train as _train
from dynmri.cli import trajectory as _trajectory

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    help="dynmri: dynamic MRI reconstruction from undersampled k-space. Run 'dynmri COMMAND --help'.",
)

# (command, name, epilog) in the order of 'dynmri --help'
COMMANDS = [
    (_simulate.simulate, None, _simulate.EPILOG),
    (_reconstruct.reconstruct, None, _reconstruct.RECONSTRUCT_EPILOG),
    (_reconstruct.evaluate, None, _reconstruct.EVALUATE_EPILOG),
    (_benchmark.demo, None, _benchmark.DEMO_EPILOG),
    (_benchmark.benchmark, None, _benchmark.BENCHMARK_EPILOG),
    (_trajectory.learn_trajectory_cmd, "learn-trajectory", _trajectory.EPILOG),
    (_train.train, None, _train.TRAIN_EPILOG),
    (_train.weights, None, _train.WEIGHTS_EPILOG),
    (_train.models, None, _train.MODELS_EPILOG),
    (_info.info, None, _info.EPILOG),
]
for _fn, _name, _epilog in COMMANDS:
    app.command(_name, epilog=_epilog)(_fn)


def main():
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
