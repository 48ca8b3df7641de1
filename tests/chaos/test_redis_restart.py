"""Chaos scenario 4a at CI size (issue 18): Redis SIGKILLed under load and restarted on its
AOF; `bench/chaos --only redis_restart` runs the long version."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.redis_restart import CI, run
from tests.conftest import require_tool

pytestmark = pytest.mark.slow


async def test_redis_restart_under_load(tmp_path: Path) -> None:
    """No `ok` while Redis is down, every node serving within 5 s of it being back, nothing
    acknowledged lost or stored twice, presence and routing back without a node restart,
    and every message reaching clients that resume as contract §6 says."""
    require_tool("redis-server", "apt-get install redis-server")
    result = await run(tmp_path, **CI)
    print(result.render())
    assert result.holds, result.render()
