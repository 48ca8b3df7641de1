"""HTTP on uvicorn's h11 protocol (`GuardedH11Protocol`), chosen over httptools because
its request head is bounded (`h11_max_incomplete_event_size`; httptools buffers a header of
any length), with what uvicorn does not bound: the number of header fields, the time to a
complete request head, and the HTTP connections open per client address."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from typing import Any

import h11
import uvicorn
from starlette.applications import Starlette
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from chat_server.config import Settings

log = logging.getLogger(__name__)


class HttpEdge:
    """One server's HTTP limits, and its count of HTTP connections (not yet upgraded to
    WebSockets) per client address, shared by every `GuardedH11Protocol`."""

    __slots__ = ("head_timeout_s", "max_head_bytes", "max_header_count", "max_per_address", "open")

    def __init__(self, settings: Settings) -> None:
        self.head_timeout_s = settings.head_timeout_s
        self.max_head_bytes = settings.max_header_bytes
        self.max_header_count = settings.max_header_count
        # Behind a proxy every connection comes from the proxy: the cap would refuse
        # everyone at once (the proxy bounds its clients' connections itself).
        self.max_per_address = (
            None if settings.behind_proxy else settings.max_http_connections_per_address
        )
        self.open: Counter[str] = Counter()

    def take(self, address: str) -> bool:
        """Count a new connection from `address`; False (not counted) when it has too many."""
        if self.max_per_address is not None and self.open[address] >= self.max_per_address:
            return False
        self.open[address] += 1
        return True

    def release(self, address: str) -> None:
        self.open[address] -= 1
        if self.open[address] <= 0:
            del self.open[address]


class EdgeConfig(uvicorn.Config):
    """uvicorn's configuration with the `HttpEdge` its HTTP protocol reads."""

    def __init__(
        self, app: Starlette | Callable[[], Starlette], *, edge: HttpEdge, **kwargs: Any
    ) -> None:
        super().__init__(app, **kwargs)
        self.edge = edge


class HeadLimitedConnection(h11.Connection):
    """h11's server connection refusing a request head with more than `max_headers` fields
    (h11 bounds its size only), and remembering the status its last refusal calls for."""

    def __init__(self, max_head_bytes: int, max_headers: int) -> None:
        super().__init__(h11.SERVER, max_incomplete_event_size=max_head_bytes)
        self.max_headers = max_headers
        self.refusal = 400

    def next_event(self) -> h11.Event | type[h11.NEED_DATA] | type[h11.PAUSED]:
        try:
            event = super().next_event()
        except h11.RemoteProtocolError as exc:
            self.refusal = exc.error_status_hint
            raise
        if isinstance(event, h11.Request) and len(event.headers) > self.max_headers:
            self.refusal = 431
            raise h11.RemoteProtocolError("too many header fields", error_status_hint=431)
        return event


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with the limits it lacks:

    - a head over `max_header_bytes` or with more than `max_header_count` fields gets 431
      and the connection is closed (uvicorn answers 400 to both, and nothing to the second);
    - a connection with no request in the app for `head_timeout_s` is closed (with 408 when
      part of a head came): uvicorn's keep-alive timer stops at the first byte, so a head
      trickled a byte at a time, or a body the app never reads, held it for ever;
    - at most `max_http_connections_per_address` per client address until they upgrade
      to WebSockets (which the app's own per-address cap counts): beyond it 429 and close.
    """

    conn: HeadLimitedConnection

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        assert isinstance(config, EdgeConfig), "GuardedH11Protocol runs with an EdgeConfig"
        self.edge = config.edge
        self.conn = HeadLimitedConnection(self.edge.max_head_bytes, self.edge.max_header_count)
        self.head_timer: asyncio.TimerHandle | None = None
        self.address: str | None = None
        """The address whose slot this connection holds (None: none held)."""
        self.upgraded = False
        self.lingering = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        address = self.client[0] if self.client else "unknown"
        if not self.edge.take(address):
            self._answer(429, b"too many connections from this address")
            return
        self.address = address
        self._watch()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._stop_watching()

    def data_received(self, data: bytes) -> None:
        if self.lingering:
            return  # read and dropped: see `_linger`
        super().data_received(data)
        self._watch()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.conn.their_state is h11.SEND_BODY and not self.transport.is_closing():
            self._linger()  # answered before the body was read (413, 408): drop the rest
        else:
            self._watch()

    def handle_websocket_upgrade(self, event: h11.Request) -> None:
        self.upgraded = True
        self._stop_watching()
        super().handle_websocket_upgrade(event)

    def send_400_response(self, msg: str) -> None:
        if self.conn.refusal == 431 and not self._busy():  # a head, not a chunk header
            self._answer(431, b"request head too large")
        else:
            super().send_400_response(msg)

    def _busy(self) -> bool:
        """Whether a request is in the app (its head complete, its response not)."""
        return self.cycle is not None and not self.cycle.response_complete

    def _watch(self) -> None:
        """Time the wait for a request while no request is in the app."""
        if self.lingering:
            return
        if self._busy() or self.upgraded or self.transport.is_closing():
            if self.head_timer is not None:
                self.head_timer.cancel()
                self.head_timer = None
        elif self.head_timer is None:
            self.head_timer = self.loop.call_later(self.edge.head_timeout_s, self._head_timeout)

    def _head_timeout(self) -> None:
        self.head_timer = None
        if self.upgraded or self.transport.is_closing() or self._busy():
            return
        partial = self.conn.their_state is h11.IDLE and self.conn.trailing_data[0] != b""
        if partial and self.conn.our_state is h11.IDLE:
            self._answer(408, b"request head not completed in time")
        else:
            self.transport.close()

    def _stop_watching(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None
        if self.address is not None:
            self.edge.release(self.address)
            self.address = None

    def _linger(self) -> None:
        """End a connection whose client may still be sending: our side is closed at once
        (the client reads the answer, then the end), what it still sends is dropped, and
        the socket closes `LINGER_S` later. Closing it at once would make the kernel reset
        it, and the client's TCP would drop the answer it had not read yet."""
        self.lingering = True
        if self.head_timer is not None:
            self.head_timer.cancel()
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.head_timer = self.loop.call_later(LINGER_S, self.transport.close)

    def _answer(self, status: int, body: bytes) -> None:
        """A response written directly (no request was handed to the app), then `_linger`."""
        head = (
            f"HTTP/1.1 {status} {_PHRASES[status]}\r\n"
            "content-type: text/plain; charset=utf-8\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
        )
        self.transport.write(head.encode("ascii") + body)
        self._linger()


LINGER_S = 2.0
"""How long an answered connection's client may still send before the socket closes."""

_PHRASES = {
    408: "Request Timeout",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
}
