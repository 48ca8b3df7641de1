"""Every byte string the Redis store writes or publishes is built here, before anything is
sent: a row that fails to build fails the write while nothing of it has left.

Callers use these as `rows.<name>(...)` (one seam: the write-failure tests make the next
row built fail, whichever role builds it).
"""

from __future__ import annotations

import json
from typing import Any

import msgpack

from chat_server.backends.records import message_row
from chat_server.core.model import Message, Rating

_PACKER = msgpack.Packer(use_bin_type=True)


def dumps(value: Any) -> bytes:
    """Compact JSON, the shape of every stored row."""
    return json.dumps(value, separators=(",", ":")).encode()


def event(frame: dict[str, Any], origin: str | None) -> bytes:
    """A bus event (see `base.Event`) as the bus reads it: msgpack."""
    packed: bytes = msgpack.packb({"frame": frame, "skip": origin}, use_bin_type=True)
    return packed


def spliced_row(m: Message) -> tuple[bytes, bytes]:
    """The stored row's JSON before and after its seq, which only append.lua knows."""
    row = message_row(m)
    assert row[1] == m.seq
    return dumps(row[:1])[:-1] + b",", b"," + dumps(row[2:])[1:]


def spliced_event(frame: dict[str, Any], origin: str | None) -> tuple[bytes, bytes]:
    """The packed bus event before and after the value of its frame's `seq` (which only
    append.lua knows): head + packb(seq) + tail is `event(frame with seq, origin)`."""
    pack = _PACKER
    rest = [(key, value) for key, value in frame.items() if key != "seq"]
    head = [pack.pack_map_header(2), pack.pack("frame"), pack.pack_map_header(len(rest) + 1)]
    head += [pack.pack(key) + pack.pack(value) for key, value in rest]
    head.append(pack.pack("seq"))
    return b"".join(head), pack.pack("skip") + pack.pack(origin)


def rating(value: Rating) -> bytes:
    """A rating as `RedisConversations.rate` stores it (one list, in this order)."""
    return dumps(
        [
            value.cid,
            value.ts,
            value.csat,
            value.nps,
            value.ces,
            value.comment,
            value.agent_id,
            value.topic,
        ]
    )
