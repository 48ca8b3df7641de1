"""A test client that reads like the contract: `request("msg", ...)`, `event("assigned")`.

A background task reads every frame; replies are matched to requests by `re`, events wait
in arrival order until a test asks for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from typing import Any

import msgpack
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

DEFAULT_TIMEOUT = 5.0


class ServerError(Exception):
    def __init__(self, frame: dict[str, Any]) -> None:
        super().__init__(f"{frame.get('code')}: {frame.get('message')}")
        self.frame = frame
        self.code = frame.get("code")


class Client:
    def __init__(self, ws: ClientConnection, codec: str) -> None:
        self.ws = ws
        self.codec = codec
        self.ids = itertools.count(1)
        self.replies: dict[Any, asyncio.Future[dict[str, Any]]] = {}
        self.events: list[dict[str, Any]] = []
        self.arrived = asyncio.Condition()
        self.hello: dict[str, Any] = {}
        self.agent: Any = None
        self.closed: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self.reader = asyncio.create_task(self._read())

    # wire -------------------------------------------------------------------------------

    def encode(self, frame: dict[str, Any]) -> bytes | str:
        if self.codec == "chat.v1.msgpack":
            packed: bytes = msgpack.packb(frame, use_bin_type=True)
            return packed
        return json.dumps(frame)

    def decode(self, data: bytes | str) -> dict[str, Any]:
        if isinstance(data, bytes):
            assert self.codec == "chat.v1.msgpack", "binary frame on a JSON socket"
            frame: dict[str, Any] = msgpack.unpackb(data, raw=False)
            return frame
        assert self.codec != "chat.v1.msgpack", "text frame on a msgpack socket"
        frame = json.loads(data)
        return frame

    async def _read(self) -> None:
        try:
            async for data in self.ws:
                frame = self.decode(data)
                re = frame.get("re")
                if frame.get("t") in {"ok", "error", "pong"} and re in self.replies:
                    future = self.replies.pop(re)
                    if not future.done():
                        future.set_result(frame)
                    continue
                async with self.arrived:
                    self.events.append(frame)
                    self.arrived.notify_all()
        except ConnectionClosed:
            pass
        finally:
            code = self.ws.close_code
            if not self.closed.done():
                self.closed.set_result(code)
            async with self.arrived:
                self.arrived.notify_all()

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send(self.encode(frame))

    async def send_raw(self, data: bytes | str) -> None:
        await self.ws.send(data)

    async def reply(self, t: str, **fields: Any) -> dict[str, Any]:
        """Send a frame with a fresh id and return the server's answer, ok or error."""
        frame_id = next(self.ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.replies[frame_id] = future
        await self.send({"t": t, "id": frame_id, **fields})
        return await asyncio.wait_for(future, DEFAULT_TIMEOUT)

    async def request(self, t: str, **fields: Any) -> dict[str, Any]:
        """Like `reply`, but raise `ServerError` on an error answer."""
        answer = await self.reply(t, **fields)
        if answer["t"] == "error":
            raise ServerError(answer)
        return answer

    async def error(self, t: str, **fields: Any) -> str:
        """Send a frame that must fail; return its error code."""
        answer = await self.reply(t, **fields)
        assert answer["t"] == "error", f"expected an error, got {answer}"
        code: str = answer["code"]
        return code

    # events -----------------------------------------------------------------------------

    async def event(self, t: str, timeout: float = DEFAULT_TIMEOUT, **match: Any) -> dict[str, Any]:
        """The first buffered (or next arriving) event of type `t` whose fields match."""

        def find() -> dict[str, Any] | None:
            for i, frame in enumerate(self.events):
                if frame.get("t") == t and all(frame.get(k) == v for k, v in match.items()):
                    return self.events.pop(i)
            return None

        async def wait() -> dict[str, Any]:
            async with self.arrived:
                while True:
                    found = find()
                    if found is not None:
                        return found
                    if self.closed.done():
                        raise AssertionError(f"closed while waiting for {t} {match}")
                    await self.arrived.wait()

        try:
            return await asyncio.wait_for(wait(), timeout)
        except TimeoutError:
            seen = [e.get("t") for e in self.events]
            raise AssertionError(f"no {t} event {match} within {timeout}s; have {seen}") from None

    async def no_event(self, t: str, within: float = 0.3, **match: Any) -> None:
        with contextlib.suppress(AssertionError):
            frame = await self.event(t, timeout=within, **match)
            raise AssertionError(f"unexpected {t} event: {frame}")

    def drop_events(self) -> None:
        self.events.clear()

    async def close_code(self, timeout: float = DEFAULT_TIMEOUT) -> int | None:
        return await asyncio.wait_for(asyncio.shield(self.closed), timeout)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close()
        self.reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.reader


async def open_ws(
    url: str,
    *,
    codec: str | None,
    origin: str | None = None,
    headers: dict[str, str] | None = None,
    max_size: int | None = 2**24,
) -> ClientConnection:
    return await connect(
        url,
        subprotocols=[codec] if codec else None,  # type: ignore[list-item]
        origin=origin,  # type: ignore[arg-type]
        additional_headers=headers,
        compression=None,
        max_size=max_size,
        open_timeout=5,
    )


async def connect_visitor(base_ws: str, *, site: str, origin: str | None, codec: str) -> Client:
    ws = await open_ws(f"{base_ws}/ws/visitor?site={site}", codec=codec, origin=origin)
    return Client(ws, codec)


async def connect_agent(
    base_ws: str, *, codec: str, origin: str | None = None, headers: dict[str, str] | None = None
) -> Client:
    ws = await open_ws(f"{base_ws}/ws/agent", codec=codec, origin=origin, headers=headers)
    return Client(ws, codec)
