"""The two subprotocols: `chat.v1.msgpack` (binary frames) and `chat.v1.json` (text frames).

A client that offers neither gets JSON. Decoding never raises anything but `ChatError`
(`bad_frame` when the bytes are not a frame of the negotiated encoding).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

import msgpack

from chat_server.core.errors import ChatError, ErrorCode

Frame = dict[str, Any]


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
    _check_values(obj)
    return obj


def _reject_ext(code: int, data: bytes) -> Any:
    raise ValueError("msgpack extension types are not part of the protocol")


def _check_values(obj: Any, depth: int = 0) -> None:
    """Keep both encodings to one schema: only what JSON can say (no NaN or infinities,
    no binary strings, no msgpack timestamps, string keys), nested at most 64 deep."""
    if depth > 64:
        raise ChatError(ErrorCode.BAD_FRAME, "the frame is nested too deeply")
    if isinstance(obj, float) and not math.isfinite(obj):
        raise ChatError(ErrorCode.BAD_FRAME, "numbers must be finite")
    if obj is None or isinstance(obj, str | int | float):
        return
    if isinstance(obj, dict):
        for key, value in obj.items():
            if not isinstance(key, str):
                raise ChatError(ErrorCode.BAD_FRAME, "map keys must be strings")
            _check_values(value, depth + 1)
    elif isinstance(obj, list):
        for value in obj:
            _check_values(value, depth + 1)
    else:
        raise ChatError(ErrorCode.BAD_FRAME, "only JSON's types may appear in a frame")


def encode(codec: Codec, frame: Frame) -> bytes | str:
    if codec is Codec.JSON:
        return _json_encoder.encode(frame)
    packed: bytes = msgpack.packb(frame, use_bin_type=True)
    return packed
