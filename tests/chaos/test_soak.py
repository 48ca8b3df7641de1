"""CI size of the soak (tests/chaos/soak.py): two nodes on one Redis for about 14 s; the
hour is `bench/chaos --soak`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos import soak
from tests.conftest import require_tool

pytestmark = pytest.mark.slow

LATENCY = {"p99 end vs start", "p99 end"}
"""Figures that other work on a shared machine can fail (the sender's lag shows it): when
only these fail, the run is tried once more, as bench/run tries a step again. Counts,
RSS, open files and Redis memory are never tried again."""


async def test_soak(tmp_path: Path) -> None:
    require_tool("redis-server", "apt-get install redis-server")
    for attempt in (1, 2):
        result = await soak.run(tmp_path / f"try{attempt}", **soak.CI, progress=print)
        text = result.render()
        print(text)
        failing = {f.name for f in result.figures if not f.holds}
        assert {f.name for f in result.figures} >= LATENCY
        if not failing or not failing <= LATENCY or attempt == 2:
            break
        print("only latency figures failed: once more (a stall of other work?)")
    assert result.holds, text
