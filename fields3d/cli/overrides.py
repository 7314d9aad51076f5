"""``--override KEY=VALUE``: set any field of a nested configuration dataclass from the command line.

KEY is a dotted path of field names (``weights.residual_threshold``, ``train.steps``); VALUE is read as
JSON (``0.09``, ``true``, ``null``, ``[1, 2]``), else taken as a string, and must fit the field's type
annotation (bool, int, float, str, a Literal, None where optional, tuples).  A wrong key or value is an
:class:`~fields3d.errors.InputError` naming the valid keys or the expected type; the configuration's own
``validate`` then checks ranges (its ValueError becomes an InputError too).
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Sequence

from fields3d.errors import InputError

_MISSING = object()


def apply_overrides(config, items: Sequence[str]) -> None:
    """Set the fields named by ``items`` (``"a.b=value"`` strings) on the dataclass ``config``, in place,
    then run ``config.validate()`` (when it has one).

    Raises:
        InputError: an item without ``=``, an unknown key, a value that does not fit the field's type, or
            a configuration that fails its validation.
    """
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InputError(f"expected --override KEY=VALUE (e.g. weights.open=0.2), got {item!r}")
        owner, name = _resolve(config, key)
        hint = typing.get_type_hints(type(owner))[name]
        raw = text.strip()
        value = _coerce(hint, _parse(raw))
        if value is _MISSING:  # a string field given text that also reads as JSON ("123", "true")
            value = _coerce(hint, raw)
        if value is _MISSING:
            raise InputError(f"expected {key} to be {_describe(hint)}, got {raw!r}")
        setattr(owner, name, value)
    if hasattr(config, "validate"):
        try:
            config.validate()
        except ValueError as e:
            raise InputError(str(e)) from None


def _resolve(config, key: str):
    """The dataclass instance that holds the last field of ``key``, and that field's name."""
    obj = config
    parts = key.split(".")
    for depth, part in enumerate(parts):
        names = [f.name for f in dataclasses.fields(obj)]
        if part not in names:
            where = ".".join(parts[:depth]) or "the configuration"
            raise InputError(f"expected a key of {where} ({', '.join(names)}), got {part!r} in {key!r}")
        if depth == len(parts) - 1:
            return obj, part
        child = getattr(obj, part)
        if not dataclasses.is_dataclass(child):
            head = ".".join(parts[: depth + 1])
            raise InputError(f"expected {head} to be the last part of the key, got {key!r}")
        obj = child
    raise AssertionError("unreachable")


def _parse(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _coerce(hint, value):
    """``value`` converted to fit ``hint``, or ``_MISSING`` when it cannot."""
    origin = typing.get_origin(hint)
    if hint is typing.Any:
        return value
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(hint):
            converted = _coerce(arg, value)
            if converted is not _MISSING:
                return converted
        return _MISSING
    if origin is typing.Literal:
        options = typing.get_args(hint)
        return value if value in options else _MISSING
    if hint is type(None):
        return None if value is None else _MISSING
    if hint is bool:
        return value if isinstance(value, bool) else _MISSING
    if hint is int:
        return value if isinstance(value, int) and not isinstance(value, bool) else _MISSING
    if hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return float(value) if ok else _MISSING
    if hint is str:
        return value if isinstance(value, str) else _MISSING
    if origin is tuple and isinstance(value, list):
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            args = (args[0],) * len(value)
        if len(args) != len(value):
            return _MISSING
        items = [_coerce(a, v) for a, v in zip(args, value, strict=True)]
        return _MISSING if any(i is _MISSING for i in items) else tuple(items)
    return _MISSING


def _describe(hint) -> str:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(hint))
    if origin is typing.Literal:
        return "one of " + ", ".join(json.dumps(o) for o in typing.get_args(hint))
    if hint is type(None):
        return "null"
    if origin is tuple:
        return "a JSON list"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(hint, str(hint))
