"""Raw HTTP over a socket, for tests of what a client library would not send: a task that
writes a body while the test reads the answer, and hanging up on both."""

from __future__ import annotations

import asyncio
import contextlib


async def hang_up(sender: asyncio.Task[None], writer: asyncio.StreamWriter) -> None:
    """Stop the body's writer task and close the connection, whatever state either is in."""
    sender.cancel()
    with contextlib.suppress(asyncio.CancelledError, OSError):
        await sender
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
