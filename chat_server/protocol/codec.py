"""The two subprotocols: `chat.v1.msgpack` (binary frames) and `chat.v1.json` (text frames).

A client that offers neither gets JSON. Decoding never raises anything but `ChatError`
(`bad_frame` when the bytes are not a frame of the negotiated encoding, `InvalidText` when
a string in it is not Unicode text).

Every string of a decoded frame is text that UTF-8 can carry, so whatever is built from it
encodes again: JSON's `"\\ud800"` escape can say a lone UTF-16 surrogate, which no
socket, Redis or SQLite could then write (msgpack cannot say one: its strings are strict
UTF-8). Non-characters (U+FFFE, U+FFFF, U+FDD0..U+FDEF, ...) are text and allowed.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

import msgpack

from chat_server.core.errors import ChatError, ErrorCode

Frame = dict[str, Any]
log = logging.getLogger(__name__)
_SURROGATE = re.compile("[\ud800-\udfff]")


class InvalidText(ChatError):
    """A frame that decoded, with a string (value or key, at any depth) holding a lone
    surrogate: `bad_request`, answered with the frame's id (`frame`) when that is usable."""

    def __init__(self, frame: Frame) -> None:
        super().__init__(
            ErrorCode.BAD_REQUEST, "strings must be valid Unicode text (a lone surrogate is not)"
        )
        self.frame = frame


class Codec(StrEnum):
    MSGPACK = "chat.v1.msgpack"
    JSON = "chat.v1.json"


def choose_subprotocol(offered: Sequence[str]) -> tuple[Codec, str | None]:
    """The codec to speak and the subprotocol to echo in the handshake (None: not offered)."""
    for codec in (Codec.MSGPACK, Codec.JSON):
        if codec.value in offered:
            return codec, codec.value
    return Codec.JSON, None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_json_decoder = json.JSONDecoder(parse_constant=_reject_constant)
_json_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def decode(codec: Codec, data: bytes | str) -> Frame:
    if codec is Codec.JSON:
        if not isinstance(data, str):
            raise ChatError(ErrorCode.BAD_FRAME, "expected a text frame holding JSON")
        try:
            obj = _json_decoder.decode(data)
        except (ValueError, RecursionError):
            raise ChatError(ErrorCode.BAD_FRAME, "the frame is not valid JSON") from None
    else:
        if not isinstance(data, bytes):
            raise ChatError(ErrorCode.BAD_FRAME, "expected a binary frame holding msgpack")
        try:
            obj = msgpack.unpackb(data, raw=False, strict_map_key=True, ext_hook=_reject_ext)
        except Exception:  # the C unpacker raises several types; all mean "not a frame"
            raise ChatError(ErrorCode.BAD_FRAME, "the frame is not valid msgpack") from None
    if not isinstance(obj, dict):
        raise ChatError(ErrorCode.BAD_FRAME, "a frame must be a map")
    try:
        _check_values(obj)
    except _NotText:
        raise InvalidText(obj) from None
    return obj


def is_text(value: str) -> bool:
    """Whether UTF-8 can carry `value`: a Python str may hold lone surrogates, nothing
    else UTF-8 cannot say. `isascii` is O(1), so ASCII strings cost nothing; encoding is
    several times faster than searching for surrogates with a regex."""
    if value.isascii():
        return True
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


class _NotText(Exception):
    """A string of the frame is not text (`decode` turns it into `InvalidText`)."""


def _reject_ext(code: int, data: bytes) -> Any:
    raise ValueError("msgpack extension types are not part of the protocol")


def _check_values(obj: Any, depth: int = 0) -> None:
    """Keep both encodings to one schema: only what JSON can say (no NaN or infinities,
    no binary strings, no msgpack timestamps, string keys), nested at most 64 deep, and
    only what UTF-8 can say (no lone surrogates, in values or keys)."""
    if depth > 64:
        raise ChatError(ErrorCode.BAD_FRAME, "the frame is nested too deeply")
    if isinstance(obj, str):
        if not is_text(obj):
            raise _NotText
        return
    if isinstance(obj, float) and not math.isfinite(obj):
        raise ChatError(ErrorCode.BAD_FRAME, "numbers must be finite")
    if obj is None or isinstance(obj, int | float):
        return
    if isinstance(obj, dict):
        for key, value in obj.items():
            if not isinstance(key, str):
                raise ChatError(ErrorCode.BAD_FRAME, "map keys must be strings")
            if not is_text(key):
                raise _NotText
            _check_values(value, depth + 1)
    elif isinstance(obj, list):
        for value in obj:
            _check_values(value, depth + 1)
    else:
        raise ChatError(ErrorCode.BAD_FRAME, "only JSON's types may appear in a frame")


def encode(codec: Codec, frame: Frame) -> bytes | str:
    """The frame's bytes (msgpack) or text (JSON), always sendable: a lone surrogate,
    which only data stored before `decode` refused them can hold, is sent as U+FFFD and
    logged, instead of failing the frame (and, for JSON, the socket's writer)."""
    try:
        return _encode(codec, frame)
    except UnicodeEncodeError:
        log.warning("a %r frame held a lone surrogate: sent as U+FFFD", _type_of(frame))
        return _encode(codec, repaired(frame))


def _encode(codec: Codec, frame: Frame) -> bytes | str:
    if codec is Codec.JSON:
        text = _json_encoder.encode(frame)
        if not text.isascii():
            text.encode()  # raises on a lone surrogate, which no socket could send
        return text
    packed: bytes = msgpack.packb(frame, use_bin_type=True)
    return packed


def repaired(obj: Any) -> Any:
    """`obj` with every lone surrogate in its strings (values and keys) replaced by U+FFFD."""
    if isinstance(obj, str):
        return obj if obj.isascii() else _SURROGATE.sub("\ufffd", obj)
    if isinstance(obj, dict):
        return {repaired(k): repaired(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [repaired(v) for v in obj]
    return obj


def _type_of(frame: Frame) -> str:
    t = frame.get("t")
    return repaired(t)[:32] if isinstance(t, str) else "?"
