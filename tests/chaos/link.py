"""One WebSocket of a chaos client (`resilient.py`): requests matched to answers, the live
`msg` seqs as they arrived, and the widget's reconnect backoff."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
from typing import Any, Literal

import msgpack
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

ORIGIN = "https://shop.example"
Codec = Literal["chat.v1.json", "chat.v1.msgpack"]


def backoff_delay(attempt: int, rng: random.Random, scale: float) -> float:
    """The widget's wait before reconnect number `attempt` + 1 (0.5 s doubling to 15 s, each
    drawn in [base/2, base]), in seconds, times `scale`."""
    base = min(15.0, 0.5 * 2.0**attempt)
    return (base / 2 + rng.random() * base / 2) * scale


class Dropped(Exception):
    """The connection went away before the answer came."""


class Refused(Exception):
    """`hello` (or a setup frame) was answered with an error."""


class Link:
    """One WebSocket of a resilient client, and what arrived on it live."""

    def __init__(self, ws: ClientConnection, codec: Codec, number: int) -> None:
        self.ws = ws
        self.codec = codec
        self.number = number
        self.ids = itertools.count(1)
        self.replies: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.gone = asyncio.Event()
        self.base: dict[str, int] = {}
        """Per conversation, the seq this connection starts after (from `hello`, or
        `start`): the server sends every later one live, in order, even the ones it sends
        before that answer."""
        self.greeted = False
        """The `ok` of `hello` came (and with it the bases)."""
        self.live: list[tuple[str, int, bool]] = []
        """(cid, seq, False) of every live `msg` event, in arrival order, and (cid, seq,
        True) where an `assigned` event came with the history up to seq (the server counts
        those as the client's from there on)."""

    def encode(self, frame: dict[str, Any]) -> bytes | str:
        if self.codec == "chat.v1.msgpack":
            packed: bytes = msgpack.packb(frame, use_bin_type=True)
            return packed
        return json.dumps(frame)

    def decode(self, data: bytes | str) -> dict[str, Any]:
        frame: dict[str, Any] = (
            msgpack.unpackb(data, raw=False) if isinstance(data, bytes) else json.loads(data)
        )
        return frame

    async def request(self, t: str, timeout: float, **fields: Any) -> dict[str, Any]:
        """The answer (`ok` or `error`); Dropped if the link goes, TimeoutError if late."""
        if self.gone.is_set():
            raise Dropped
        frame_id = next(self.ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.replies[frame_id] = future
        try:
            await self.ws.send(self.encode({"t": t, "id": frame_id, **fields}))
        except ConnectionClosed:
            raise Dropped from None
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            self.replies.pop(frame_id, None)

    def lost(self) -> None:
        self.gone.set()
        for future in self.replies.values():
            if not future.done():
                future.set_exception(Dropped())
                future.exception()  # retrieved: its request may have given up already
        self.replies.clear()

    def abort(self) -> None:
        """Drop the connection at once (no closing handshake: the peer may be stalled)."""
        with contextlib.suppress(Exception):
            self.ws.transport.abort()
        self.lost()
