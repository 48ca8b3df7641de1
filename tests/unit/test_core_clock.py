"""`chat_server/core/clock.py`: the system clock reads epoch milliseconds; the manual one
moves only when told."""

from __future__ import annotations

import time

from chat_server.core.clock import ManualClock, SystemClock


def test_the_system_clock_reads_epoch_milliseconds() -> None:
    before = time.time_ns() // 1_000_000
    now = SystemClock().now_ms()
    assert before <= now <= time.time_ns() // 1_000_000


def test_the_manual_clock_moves_only_when_told() -> None:
    clock = ManualClock(5_000)
    assert clock.now_ms() == clock.now_ms() == 5_000
    clock.advance(1.5)
    assert clock.now_ms() == 6_500
    assert ManualClock().now_ms() == 1_767_225_600_000  # 2026-01-01, a fixed default
