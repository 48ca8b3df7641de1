"""A real HTTP receiver for webhook tests, in the test process: records every request
(headers, body) and answers with `status`; it can be down (its port closed) and come back
on the same port."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from tests.conftest import free_port


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def event(self) -> dict[str, Any]:
        return json.loads(self.body)  # type: ignore[no-any-return]


@dataclass
class Receiver:
    port: int = field(default_factory=free_port)
    status: int = 200
    delay_s: float = 0.0
    """How long to wait before answering (past the server's timeout: a redelivery)."""
    received: list[Received] = field(default_factory=list)
    _server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    @property
    def accepted(self) -> list[dict[str, Any]]:
        """The events answered with a 2xx, in arrival order."""
        return [r.event for r in self.received if 200 <= r.status < 300]

    async def up(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def down(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def wait_for(self, count: int, timeout: float = 20) -> list[dict[str, Any]]:
        for _ in range(int(timeout / 0.05)):
            if len(self.accepted) >= count:
                return self.accepted
            await asyncio.sleep(0.05)
        raise AssertionError(f"{len(self.accepted)} of {count} events arrived: {self.accepted}")

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")[1:]
            headers = {
                k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines if x)
            }
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            status, delay = self.status, self.delay_s
            if delay:
                await asyncio.sleep(delay)
            self.received.append(Received(headers, body, status))
            writer.write(
                f"HTTP/1.1 {status} X\r\nLocation: {self.url}\r\nContent-Length: 0\r\n"
                "Connection: close\r\n\r\n".encode()
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
