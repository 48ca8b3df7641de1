"""How a client frame's fields are declared and checked (the parser in `frames.py` uses
it): a field's metadata says how long a string may be, whether going over is `too_large`
(user text) or `bad_request` (ids, tokens), and whether a boolean with a default must
still be sent.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import field
from functools import cache
from typing import Any, Union

from chat_server.core.errors import ChatError, ErrorCode

ID_MAX = 64


def limit(max_chars: int, *, user_text: bool = False, allow_empty: bool = True) -> Any:
    return field(metadata={"max": max_chars, "user_text": user_text, "empty": allow_empty})


def opt(max_chars: int, *, user_text: bool = False) -> Any:
    return field(default=None, metadata={"max": max_chars, "user_text": user_text, "empty": True})


def number_range(lo: int, hi: int, *, optional: bool = False) -> Any:
    if optional:
        return field(default=None, metadata={"range": (lo, hi)})
    return field(metadata={"range": (lo, hi)})


def cid() -> Any:
    return limit(ID_MAX, allow_empty=False)


def cmid() -> Any:
    return limit(ID_MAX, allow_empty=False)


def required_flag() -> Any:
    """A boolean the contract marks required although the dataclass gives it a default."""
    return field(default=False, metadata={"required": True})


@cache
def _hints(schema: type) -> dict[str, Any]:
    return typing.get_type_hints(schema)


def build(schema: type, obj: dict[str, Any]) -> Any:
    """Check `obj` against a frame dataclass and build it, or raise `ChatError`."""
    hints = _hints(schema)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(schema):
        present = f.name in obj and obj[f.name] is not None
        if not present:
            has_default = f.default is not dataclasses.MISSING
            if f.metadata.get("required") or not has_default:
                raise ChatError(ErrorCode.BAD_REQUEST, f"missing field {f.name!r}")
            continue
        values[f.name] = _check(f, hints[f.name], obj[f.name])
    return schema(**values)


def base_type(hint: Any) -> Any:
    """The type a field holds, without its `| None`."""
    origin = typing.get_origin(hint)
    if origin is Union or origin is types.UnionType:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0]
    return hint


def _check(f: dataclasses.Field[Any], hint: Any, value: Any) -> Any:
    kind = base_type(hint)
    name = f.name
    if kind is bool:
        if not isinstance(value, bool):
            raise ChatError(ErrorCode.BAD_REQUEST, f"{name!r} must be a boolean")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ChatError(ErrorCode.BAD_REQUEST, f"{name!r} must be an integer")
        lo, hi = f.metadata.get("range", (-(2**53), 2**53))
        if not lo <= value <= hi:
            raise ChatError(ErrorCode.BAD_REQUEST, f"{name!r} must be between {lo} and {hi}")
        return value
    if kind is str:
        return _check_str(f, value)
    if typing.get_origin(kind) is list:
        limit = f.metadata["max_items"]
        if not isinstance(value, list) or len(value) > limit:
            raise ChatError(ErrorCode.BAD_REQUEST, f"{name!r} must be a list of at most {limit}")
        items = [_check_str(f, item) for item in value]
        if len(set(items)) != len(items) or not all(items):
            raise ChatError(ErrorCode.BAD_REQUEST, f"{name!r} must hold distinct non-empty ids")
        return items
    if typing.get_origin(kind) is dict:
        limit = f.metadata["max_keys"]
        if not isinstance(value, dict) or len(value) > limit:
            raise ChatError(ErrorCode.BAD_REQUEST, f"{name!r} must be a map of at most {limit}")
        return dict(value)
    if dataclasses.is_dataclass(kind):
        if not isinstance(value, dict):
            raise ChatError(ErrorCode.BAD_REQUEST, f"{name!r} must be a map")
        return build(kind, value)  # type: ignore[arg-type]
    raise AssertionError(f"unsupported field type {hint!r}")  # pragma: no cover


def _check_str(f: dataclasses.Field[Any], value: Any) -> str:
    name = f.name
    if not isinstance(value, str):
        raise ChatError(ErrorCode.BAD_REQUEST, f"{name!r} must be a string")
    if "\x00" in value:
        raise ChatError(ErrorCode.BAD_REQUEST, f"{name!r} must not contain NUL")
    limit = f.metadata.get("max", 4000)
    if len(value) > limit:
        if f.metadata.get("user_text"):
            raise ChatError(ErrorCode.TOO_LARGE, f"{name!r} is longer than {limit} characters")
        raise ChatError(ErrorCode.BAD_REQUEST, f"{name!r} is longer than {limit} characters")
    if not f.metadata.get("empty", True) and not value.strip():
        raise ChatError(ErrorCode.BAD_REQUEST, f"{name!r} must not be empty")
    return value
