"""The ``dynmri`` command line, assembled from one module per command group.

Every subcommand turns a :class:`~dynmri.errors.DynMRIError` (bad file, shape, parameter) or
an operating-system error into one ``error: ...`` line on stderr and exit status 2
(:func:`dynmri.cli.common.friendly_errors`); usage errors (an unknown option, a missing one, a
value of the wrong type) are one such line too (:class:`DynMRIGroup`). Output paths are checked
and locked before any work (:mod:`dynmri.cli.outputs`); :func:`main` makes SIGTERM clean up
like Ctrl-C (:func:`dynmri.fileio.install_signal_handlers`).
Each command parses its flags, calls one library function and prints; flags always override a
``--config`` file, which overrides the defaults of :mod:`dynmri.config`.
"""

from __future__ import annotations

import sys

import typer
from typer.core import TyperGroup

from dynmri.cli import benchmark as _benchmark
from dynmri.cli import info as _info
from dynmri.cli import reconstruct as _reconstruct
from dynmri.cli import simulate as _simulate
from dynmri.cli import train as _train
from dynmri.cli import trajectory as _trajectory

try:  # typer >= 0.26 vendors click
    from typer._click import exceptions as _click_errors
except ImportError:  # pragma: no cover
    from click import exceptions as _click_errors


class DynMRIGroup(TyperGroup):
    """The ``dynmri`` command group: a usage error is one ``error: ...`` line and exit status 2."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except _click_errors.NoArgsIsHelpError as exc:  # 'dynmri' alone: the help
            exc.show()
            sys.exit(exc.exit_code)
        except _click_errors.UsageError as exc:
            where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
            typer.echo(f"error: {' '.join(exc.format_message().split())}{where}", err=True)
            sys.exit(exc.exit_code)
        except _click_errors.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except typer.Abort:
            typer.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(result if isinstance(result, int) else 0)  # an exit code (typer.Exit), else success


app = typer.Typer(
    cls=DynMRIGroup,
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
    """The ``dynmri`` console script: SIGTERM cleans up like Ctrl-C (temporary files, locks)."""
    from dynmri.fileio import install_signal_handlers

    install_signal_handlers()
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
