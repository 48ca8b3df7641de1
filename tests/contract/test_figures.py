"""The rolling figures: recorded under every window and dimension, read as the merge of a
window's buckets as time moves on; resolved closes remembered and taken once; and what a
checkpoint has kept is what another store on the same storage reads."""

from __future__ import annotations

from chat_server.backends.base import Store
from chat_server.core import samples
from chat_server.core.clock import ManualClock
from chat_server.core.metrics import Figures
from tests.contract.conftest import Storage

MINUTE = 60_000


def same(a: Figures, b: Figures) -> bool:
    return (a.counters, a.histograms) == (b.counters, b.histograms)


def merged(*parts: Figures) -> Figures:
    total = Figures()
    for part in parts:
        total.merge(part)
    return total


async def test_recorded_figures_are_read_in_every_window_and_dimension(
    store: Store, clock: ManualClock
) -> None:
    now = clock.now_ms()
    answered = samples.first_response(12.5, 30)
    await store.figures.record(now, ("all", "topic:billing"), samples.started())
    await store.figures.record(now, ("all", "agent:a_ann"), answered)
    await store.figures.record(now, ("all",), samples.response(3.0))
    for window in ("5m", "1h", "24h"):
        everything = await store.figures.read(window, now, "all")
        assert same(everything, merged(samples.started(), answered, samples.response(3.0)))
        assert same(await store.figures.read(window, now, "topic:billing"), samples.started())
        assert same(await store.figures.read(window, now, "agent:a_ann"), answered)
        assert same(await store.figures.read(window, now, "agent:a_bob"), Figures())
    assert (await store.figures.read("1h", now, "all")).count("frt_s") == 1


async def test_windows_roll_with_the_clock(store: Store, clock: ManualClock) -> None:
    start = clock.now_ms()
    await store.figures.record(start - 10 * MINUTE, ("all",), samples.started())  # 1h only
    await store.figures.record(start, ("all",), samples.started())
    await store.figures.record(start, ("all",), samples.started())

    async def started(window: str) -> float:
        return (await store.figures.read(window, clock.now_ms(), "all")).counters.get("started", 0)

    assert (await started("5m"), await started("1h"), await started("24h")) == (2, 3, 3)
    clock.advance(6 * 60)
    assert (await started("5m"), await started("1h"), await started("24h")) == (0, 3, 3)
    clock.advance(60 * 60)
    assert (await started("5m"), await started("1h"), await started("24h")) == (0, 0, 3)


async def test_a_resolved_close_is_taken_once(store: Store, clock: ManualClock) -> None:
    now = clock.now_ms()
    await store.figures.mark_resolved("v_1", now, ("all", "topic:billing"), 3_600_000)
    await store.figures.mark_resolved("v_2", now - 5, ("all",), 3_600_000)
    assert await store.figures.take_resolved("v_nobody", now) is None
    assert await store.figures.take_resolved("v_1", now + 1) == (now, ("all", "topic:billing"))
    assert await store.figures.take_resolved("v_1", now + 2) is None
    # marked again: the newest mark counts
    await store.figures.mark_resolved("v_2", now, ("all", "agent:a_ann"), 3_600_000)
    assert await store.figures.take_resolved("v_2", now + 1) == (now, ("all", "agent:a_ann"))


async def test_what_a_checkpoint_kept_another_store_reads(
    store: Store, storage: Storage, clock: ManualClock
) -> None:
    now = clock.now_ms()
    await store.figures.record(now, ("all", "topic:billing"), samples.started())
    await store.figures.mark_resolved("v_1", now, ("all",), 3_600_000)
    mine = await store.figures.read("1h", now, "topic:billing")
    await store.figures.checkpoint()
    async with storage.another() as other:
        assert same(await other.figures.read("1h", now, "topic:billing"), mine)
        assert same(await other.figures.read("24h", now, "all"), samples.started())
        assert await other.figures.take_resolved("v_1", now) == (now, ("all",))
        assert await other.figures.take_resolved("v_1", now) is None
