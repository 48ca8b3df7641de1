"""One webhook POST (issue 17), with the SSRF rules: the host is resolved here, every
address it resolves to is checked (`core/ssrf.py`), and the connection goes to the checked
address (TLS still verifies the host's name), so a name that resolves elsewhere a moment
later gains nothing. No redirect is followed; the whole exchange has one timeout. HTTP/1.1
by `h11`, the parser uvicorn uses."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Mapping, Sequence
from urllib.parse import SplitResult, urlsplit

import h11

from chat_server.core import ssrf

USER_AGENT = "chat-server-webhooks/1"


class DeliveryFailed(Exception):
    """The POST did not get a 2xx: unreachable, refused by the SSRF rules, timed out, or
    answered with another status (a 3xx included: redirects are not followed)."""


async def resolve(host: str, port: int, allow: Sequence[ssrf.Network]) -> str:
    """The address to connect to; `DeliveryFailed` if any address of `host` is refused."""
    literal = ssrf.literal(host)
    if literal is not None:
        addresses = [literal]
    else:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except OSError as exc:
            raise DeliveryFailed(f"cannot resolve {host}: {exc}") from None
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise DeliveryFailed(f"{host} has no address")
    for address in addresses:
        reason = ssrf.refusal(address, allow)
        if reason is not None:
            raise DeliveryFailed(f"refused: {host} resolves to a {reason}")
    return addresses[0]


async def post(
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    timeout_s: float,
    allow: Sequence[ssrf.Network] = (),
) -> int:
    """POST `body`; the status when it is 2xx, else `DeliveryFailed`."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    try:
        async with asyncio.timeout(timeout_s):
            address = await resolve(host, port, allow)
            status = await _exchange(address, port, https, parts, headers, body)
    except TimeoutError:
        raise DeliveryFailed(f"no answer within {timeout_s:g} s") from None
    except (OSError, h11.ProtocolError, ValueError) as exc:  # ValueError: a URL h11 refuses
        raise DeliveryFailed(f"{type(exc).__name__}: {exc}") from None
    if 300 <= status < 400:
        raise DeliveryFailed(f"HTTP {status} (redirects are not followed)")
    if not 200 <= status < 300:
        raise DeliveryFailed(f"HTTP {status}")
    return status


async def _exchange(
    address: str,
    port: int,
    https: bool,
    parts: SplitResult,
    headers: Mapping[str, str],
    body: bytes,
) -> int:
    context = ssl.create_default_context() if https else None
    reader, writer = await asyncio.open_connection(
        address, port, ssl=context, server_hostname=parts.hostname if https else None
    )
    try:
        conn = h11.Connection(h11.CLIENT)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        request = h11.Request(
            method="POST",
            target=target,
            headers=[
                ("Host", parts.netloc),
                ("User-Agent", USER_AGENT),
                ("Content-Length", str(len(body))),
                ("Connection", "close"),
                *headers.items(),
            ],
        )
        writer.write(conn.send(request) or b"")
        writer.write(conn.send(h11.Data(data=body)) or b"")
        writer.write(conn.send(h11.EndOfMessage()) or b"")
        await writer.drain()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await reader.read(65536))
            elif isinstance(event, h11.Response):
                return event.status_code
            elif isinstance(event, h11.ConnectionClosed):
                raise DeliveryFailed("the connection closed before a response")
    finally:
        writer.close()
