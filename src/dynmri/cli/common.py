"""What every command shares: one error line and exit status 2 for expected failures
(:func:`friendly_errors`), torch threads, and parsers of list options."""

from __future__ import annotations

import functools

import typer


def _fail(msg: str, code: int = 2):
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(code)


def friendly_errors(fn):
    """Turn expected failures into one clear line and a non-zero exit."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from dynmri.errors import DynMRIError

        try:
            return fn(*args, **kwargs)
        except DynMRIError as exc:
            _fail(str(exc))
        except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
            _fail(f"{exc.filename or ''}: {exc.strerror or exc}")

    return wrapper


def set_threads(threads: int | None):
    """``torch.set_num_threads(threads)`` when given."""
    if threads:
        import torch

        torch.set_num_threads(threads)


def floats(spec: str | None) -> tuple[float, ...] | None:
    """``"4,8,16"`` (commas or spaces) -> ``(4.0, 8.0, 16.0)``; None stays None."""
    from dynmri.errors import ParameterError

    if spec is None:
        return None
    try:
        return tuple(float(v) for v in spec.replace(" ", ",").split(",") if v)
    except ValueError:
        raise ParameterError(f"expected comma-separated numbers, got {spec!r}") from None


def names(spec: str | None) -> tuple[str, ...] | None:
    """``"a, b,"`` -> ``("a", "b")``; None stays None."""
    return None if spec is None else tuple(s.strip() for s in spec.split(",") if s.strip())


def default(value) -> str:
    """``(default: VALUE)`` for the help of an option whose default comes from a config class."""
    if isinstance(value, tuple):
        value = ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    elif isinstance(value, float):
        value = f"{value:g}"
    return f"(default: {value})"
