"""One registry helper for every family of named things: physics, masks, trajectories,
reconstruction methods, models, losses and solvers.

Entries register themselves when their package is imported (a decorator next to the
definition), never as a side effect of a lookup. A lookup of an unknown name, or a build with
an unknown option, raises :class:`~dynmri.errors.ParameterError` naming the valid choices; an
entry whose optional dependency is missing says what to install.

Examples
--------
>>> from dynmri.registry import Registry
>>> SHAPES = Registry("shape")
>>> @SHAPES.register("square")
... def square(side: float = 1.0):
...     return side**2
>>> SHAPES.build("square", side=3.0)
9.0
>>> SHAPES.names()
['square']
>>> SHAPES.get("circle")
Traceback (most recent call last):
...
dynmri.errors.ParameterError: unknown shape 'circle'; valid: square
>>> SHAPES.build("square", sid=2.0)
Traceback (most recent call last):
...
dynmri.errors.ParameterError: unknown option 'sid' for shape 'square'; valid options: side
"""

from __future__ import annotations

import importlib.util
import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from dynmri.errors import ParameterError


@dataclass(frozen=True)
class Entry:
    """One registered object with its declared capabilities (``meta``) and optional dependency."""

    name: str
    obj: Any
    meta: dict = field(default_factory=dict)
    requires: tuple[str, ...] = ()
    install: str | None = None


class Registry:
    """Name -> object, in registration order.

    Parameters
    ----------
    kind : str
        What the entries are, for messages ("reconstruction method", "loss", ...).
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def register(self, name: str, obj: Any = None, *, requires: tuple[str, ...] | str = (), install: str | None = None, **meta):
        """Register ``obj`` as ``name`` (as a decorator when ``obj`` is omitted).

        ``requires`` names optional importable modules the entry needs; ``install`` is the
        hint shown when one is missing; ``meta`` holds declared capabilities."""
        requires = (requires,) if isinstance(requires, str) else tuple(requires)

        def add(o):
            if name in self._entries and self._entries[name].obj is not o:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            self._entries[name] = Entry(name, o, dict(meta), requires, install)
            return o

        return add if obj is None else add(obj)

    def entry(self, name: str) -> Entry:
        """The :class:`Entry` of ``name``; unknown names and missing dependencies raise."""
        try:
            e = self._entries[name]
        except (KeyError, TypeError):
            raise ParameterError(f"unknown {self.kind} {name!r}; valid: {', '.join(self.names())}") from None
        missing = [m for m in e.requires if importlib.util.find_spec(m) is None]
        if missing:
            hint = f"; install it with: {e.install}" if e.install else ""
            raise ParameterError(f"{self.kind} {name!r} needs the optional package {', '.join(missing)}{hint}")
        return e

    def get(self, name: str) -> Any:
        """The object registered as ``name``."""
        return self.entry(name).obj

    def meta(self, name: str) -> dict:
        """The capabilities declared for ``name``."""
        return self.entry(name).meta

    def options(self, name: str) -> list[str] | None:
        """The keyword options ``build(name, ...)`` accepts (None: any)."""
        return accepted_options(self.get(name))

    def build(self, name: str, **options) -> Any:
        """Call the registered builder with ``options``, after checking their names."""
        fn = self.get(name)
        check_options(fn, options, f"{self.kind} {name!r}")
        return fn(**options)

    def names(self) -> list[str]:
        return list(self._entries)

    def __contains__(self, name) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __getitem__(self, name: str) -> Any:
        return self.get(name)

    def items(self):
        return [(n, e.obj) for n, e in self._entries.items()]

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self.names())})"


def accepted_options(fn: Callable) -> list[str] | None:
    """Keyword parameters of ``fn`` (a class: of its ``__init__``); None when it takes ``**kwargs``."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    params = list(sig.parameters.values())
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def check_options(fn: Callable, options: dict, what: str, exclude: tuple[str, ...] = ()) -> None:
    """Raise a :class:`ParameterError` naming the valid options if ``options`` has an unknown key."""
    valid = accepted_options(fn)
    if valid is None:
        return
    valid = [v for v in valid if v not in exclude]
    for key in options:
        if key not in valid:
            raise ParameterError(f"unknown option {key!r} for {what}; valid options: {', '.join(valid) or 'none'}")
