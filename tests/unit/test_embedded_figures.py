"""The embedded store keeps the rolling figures in memory and checkpoints them to SQLite:
they survive a restart, and a recontact is counted once."""

from __future__ import annotations

from pathlib import Path

from chat_server.backends.embedded.bus import LocalBus
from chat_server.backends.embedded.store import EmbeddedStore
from chat_server.core import metrics
from chat_server.core.clock import ManualClock


async def test_figures_survive_a_restart(tmp_path: Path) -> None:
    clock = ManualClock()
    store = EmbeddedStore(tmp_path, LocalBus(), clock)
    await store.start()
    await store.record_figures(clock.now_ms(), ("all", "topic:billing"), metrics.started())
    await store.mark_resolved("v_1", clock.now_ms(), ("all",), 3_600_000)
    await store.stop()  # checkpoints

    again = EmbeddedStore(tmp_path, LocalBus(), clock)
    await again.start()
    try:
        for dim in ("all", "topic:billing"):
            figures = await again.read_figures("1h", clock.now_ms(), dim)
            assert figures.counters.get("started") == 1
        assert await again.take_resolved("v_1", clock.now_ms()) == (clock.now_ms(), ("all",))
        assert await again.take_resolved("v_1", clock.now_ms()) is None  # taken once
    finally:
        await again.stop()


async def test_resolved_marks_expire(tmp_path: Path) -> None:
    clock = ManualClock()
    store = EmbeddedStore(tmp_path, LocalBus(), clock)
    await store.start()
    try:
        await store.mark_resolved("v_1", clock.now_ms(), ("all",), 60_000)
        clock.advance(61)
        assert await store.take_resolved("v_1", clock.now_ms()) is None
    finally:
        await store.stop()
