"""One registry helper for every family of named things: physics, masks, trajectories,
reconstruction methods, models, backbones, losses, diffeomorphisms and solvers.

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
>>> SHAPES.build("square", side="two")
Traceback (most recent call last):
...
dynmri.errors.ParameterError: option 'side' of shape 'square' must be float, got 'two' (str)

An entry whose builder forwards its ``**kwargs`` names where they go (``kwargs_to``, a function
of the options), so that they are checked too:

>>> @SHAPES.register("scaled", kwargs_to=lambda options: square)
... def scaled(factor: float = 1.0, **shape):
...     return factor * square(**shape)
>>> SHAPES.options("scaled")
['factor', 'side']

The same type rules check every configuration field (:func:`check_value`): ``int`` (not a
bool), ``float`` (an int too), ``str``, ``bool``, ``X | None``, ``dict``, ``tuple``, classes.
"""

from __future__ import annotations

import importlib.util
import inspect
import numbers
import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, is_dataclass
from typing import Any

from dynmri.errors import ParameterError


@dataclass(frozen=True)
class Entry:
    """One registered object with its declared capabilities (``meta``) and optional dependency.

    ``kwargs_to(options)`` is the callable that receives the object's ``**kwargs`` (None: they
    are not checked)."""

    name: str
    obj: Any
    meta: dict = field(default_factory=dict)
    requires: tuple[str, ...] = ()
    install: str | None = None
    kwargs_to: Callable[[dict], Callable] | None = None


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

    def register(self, name: str, obj: Any = None, *, requires: tuple[str, ...] | str = (), install: str | None = None,
                 kwargs_to: Callable[[dict], Callable] | None = None, **meta):
        """Register ``obj`` as ``name`` (as a decorator when ``obj`` is omitted).

        ``requires`` names optional importable modules the entry needs; ``install`` is the
        hint shown when one is missing; ``kwargs_to(options)`` is the callable that receives the
        entry's ``**kwargs`` (for option checks); ``meta`` holds declared capabilities."""
        requires = (requires,) if isinstance(requires, str) else tuple(requires)

        def add(o):
            if name in self._entries and self._entries[name].obj is not o:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            self._entries[name] = Entry(name, o, dict(meta), requires, install, kwargs_to)
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

    def option_types(self, name: str, options: dict | None = None, *, skip: int = 0) -> dict[str, Any] | None:
        """Keyword options of ``name`` -> their annotation (``Any`` when unannotated), after the
        first ``skip`` positional parameters; None when they cannot be known (``**kwargs``
        without ``kwargs_to``). ``options`` selects where ``**kwargs`` go, when that depends on them."""
        e = self.entry(name)
        own, var_kw = signature_types(e.obj, skip)
        if not var_kw:
            return own
        if e.kwargs_to is None:
            return None
        more, more_kw = signature_types(e.kwargs_to(dict(options or {})))
        return None if more_kw else {**own, **{k: v for k, v in more.items() if k not in own}}

    def options(self, name: str, *, skip: int = 0) -> list[str] | None:
        """The keyword options ``build(name, ...)`` accepts (None: any)."""
        spec = self.option_types(name, skip=skip)
        return None if spec is None else list(spec)

    def check(self, name: str, options: dict, *, skip: int = 0, exclude: tuple[str, ...] = ()) -> None:
        """Raise a :class:`ParameterError` for an unknown option of ``name`` (naming the valid
        ones) or a value of the wrong type; ``exclude``: options the caller passes itself."""
        spec = self.option_types(name, options, skip=skip)
        check_values(spec, options, f"{self.kind} {name!r}", exclude)

    def build(self, name: str, /, *args, **options) -> Any:
        """Call the registered builder with ``args`` and ``options``, after checking the options."""
        fn = self.get(name)
        self.check(name, options, skip=len(args))
        return fn(*args, **options)

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


# ------------------------------------------------------------------------ signatures and types
def type_hints(obj: Any) -> dict[str, Any]:
    """Resolved annotations of a function, a class's ``__init__`` or a dataclass's fields
    (``{}`` when they cannot be resolved)."""
    target = obj if is_dataclass(obj) or not isinstance(obj, type) else obj.__init__
    try:
        return typing.get_type_hints(target)
    except Exception:  # unresolvable forward references: check names only
        return {}


def signature_types(fn: Callable, skip: int = 0) -> tuple[dict[str, Any], bool]:
    """``({keyword parameter: annotation}, takes **kwargs)`` of ``fn`` (a class: of its
    ``__init__``), without its first ``skip`` positional parameters."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return {}, True
    hints = type_hints(fn)
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)][:skip]
    out = {p.name: hints.get(p.name, Any) for p in params
           if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p not in positional}
    return out, any(p.kind is p.VAR_KEYWORD for p in params)


def accepted_options(fn: Callable) -> list[str] | None:
    """Keyword parameters of ``fn`` (a class: of its ``__init__``); None when it takes ``**kwargs``."""
    spec, var_kw = signature_types(fn)
    return None if var_kw else list(spec)


def check_options(fn: Callable, options: dict, what: str, exclude: tuple[str, ...] = ()) -> None:
    """Raise a :class:`ParameterError` naming the valid options if ``options`` has an unknown
    key, or one of the wrong type (against ``fn``'s annotations)."""
    spec, var_kw = signature_types(fn)
    check_values(None if var_kw else spec, options, what, exclude)


def check_values(spec: dict[str, Any] | None, options: dict, what: str, exclude: tuple[str, ...] = ()) -> None:
    """Check ``options`` against ``spec`` (option -> annotation; None: anything goes)."""
    if spec is None:
        return
    valid = [v for v in spec if v not in exclude]
    for key, value in options.items():
        if key not in valid:
            raise ParameterError(f"unknown option {key!r} for {what}; valid options: {', '.join(valid) or 'none'}")
        check_value(value, spec[key], f"option {key!r} of {what}")


def check_value(value: Any, annotation: Any, what: str) -> None:
    """Raise ``ParameterError("<what> must be <type>, got <value> (<its type>)")`` unless
    ``value`` matches ``annotation``."""
    if not matches(value, annotation):
        shown = repr(value)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        raise ParameterError(f"{what} must be {describe(annotation)}, got {shown} ({type(value).__name__})")


def _union_args(tp) -> tuple | None:
    origin = typing.get_origin(tp)
    return typing.get_args(tp) if origin is typing.Union or origin is types.UnionType else None


def matches(value: Any, tp: Any) -> bool:
    """Whether ``value`` is of type ``tp``: ``int`` (not a bool), ``float`` (an int too), ``str``,
    ``bool``, unions (``X | None``), ``dict[K, V]``, ``tuple[X, ...]``, ``list[X]``, ``Literal``,
    classes; other typing constructs (``Callable``, ...) accept anything."""
    if tp is Any or tp is inspect.Parameter.empty:
        return True
    args = _union_args(tp)
    if args is not None:
        return any(matches(value, a) for a in args)
    if tp is None or tp is type(None):
        return value is None
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, numbers.Real) and not isinstance(value, bool)
    origin, params = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Literal:
        return value in params
    if origin in (tuple, list, dict):
        return isinstance(value, origin) and _items_match(value, origin, params)
    if isinstance(tp, type):
        return isinstance(value, tp)
    return True


def _items_match(value, origin, params) -> bool:
    if not params:
        return True
    if origin is dict:
        return all(matches(k, params[0]) and matches(v, params[1]) for k, v in value.items())
    if origin is list or (len(params) == 2 and params[1] is Ellipsis):
        return all(matches(v, params[0]) for v in value)
    return len(value) == len(params) and all(matches(v, p) for v, p in zip(value, params, strict=True))


def describe(tp: Any) -> str:
    """A short name of a type annotation: ``int``, ``float or None``, ``tuple of int``."""
    args = _union_args(tp)
    if args is not None:
        return " or ".join(describe(a) for a in args)
    if tp is None or tp is type(None):
        return "None"
    origin, params = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Literal:
        return "one of " + ", ".join(map(repr, params))
    if origin in (tuple, list) and params:
        return f"{origin.__name__} of {describe(params[0])}"
    if origin is dict:
        return "dict"
    return getattr(tp, "__name__", str(tp))
