"""2,000 sockets that connect and never say hello (issue: security): each is closed with
4401 when the hello timeout runs out, and the memory they took is reused by the next wave
rather than lost (Python keeps freed memory for reuse, so RSS plateaus instead of
returning to the OS: the figures are printed)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.client import open_ws
from tests.processes import ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.long(60)]
SOCKETS = 2000


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


async def settled_rss_kib(pid: int) -> int:
    """RSS with the sockets open, once the handshakes' transient state is gone: the
    lowest of a few samples over half a second (a single sample taken right after the
    last handshake sometimes caught a transient megabyte or more, and a spike is not a
    leak)."""
    samples = []
    for _ in range(5):
        await asyncio.sleep(0.1)
        samples.append(rss_kib(pid))
    return min(samples)


async def test_idle_sockets_are_closed_and_memory_returns(tmp_path: Path) -> None:
    server = ServerProcess(
        tmp_path / "data",
        CHAT_HELLO_TIMEOUT_S="3",
        CHAT_MAX_CONNECTIONS_PER_ADDRESS="10000",
        # 250 handshakes at once from one address, far beyond one client's defaults
        CHAT_MAX_HTTP_CONNECTIONS_PER_ADDRESS="10000",
        CHAT_HANDSHAKE_RATE="100000",
        CHAT_HANDSHAKE_BURST="100000",
        CHAT_DEMO="1",
    )
    server.start()
    try:
        await server.ready()
        assert server.proc is not None
        pid = server.proc.pid
        warm = [
            await open_ws(
                f"{server.ws}/ws/visitor?site=demo", codec="chat.v1.json", origin=server.base
            )
            for _ in range(50)
        ]
        for ws in warm:
            await ws.wait_closed()
        baseline = rss_kib(pid)

        rounds = []
        for _ in range(4):
            sockets = []
            for start in range(0, SOCKETS, 250):
                sockets += await asyncio.gather(
                    *(
                        open_ws(
                            f"{server.ws}/ws/visitor?site=demo",
                            codec="chat.v1.json",
                            origin=server.base,
                        )
                        for _ in range(start, min(start + 250, SOCKETS))
                    )
                )
            peak = await settled_rss_kib(pid)
            async with asyncio.timeout(20):
                await asyncio.gather(*(ws.wait_closed() for ws in sockets))
            codes = {ws.close_code for ws in sockets}
            assert codes == {4401}, codes
            await asyncio.sleep(1)
            rounds.append((peak, rss_kib(pid)))
        print(f"RSS KiB baseline {baseline}; rounds (with sockets, after close): {rounds}")
        first_growth = rounds[0][0] - baseline
        # a leak of the sockets' state would grow each later peak by about the first growth
        # (two more waves: about twice it). Alone, the two later waves grow 0.1 of the first;
        # allocator fragmentation moved the second peak by up to 27% of it when other tests
        # ran beside it (scripts/test runs three processes), and once by 68%, with the third
        # wave then growing 0.3% (a leak grows every wave): so the two waves measured are
        # the third and fourth, against the second. A reference cycle through each closed
        # socket once held them all until a full collection: later waves then grew 0.6-0.7
        # of the first (test_server.py's test_a_closed_socket_is_freed_without_a_collection)
        later_growth = rounds[3][0] - rounds[1][0]
        assert later_growth < 0.6 * first_growth, "the later waves leaked"
    finally:
        server.stop()
