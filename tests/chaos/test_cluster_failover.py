"""Chaos scenario 4c at CI size (issue 19): a Redis Cluster primary SIGKILLed under load
and its replica promoted by the cluster (`tests/chaos/cluster_failover.py`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos import cluster_failover
from tests.conftest import require_tool


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_cluster_failover(tmp_path: Path) -> None:
    require_tool("redis-server", "apt-get install redis-server")
    require_tool("redis-cli", "apt-get install redis-tools")
    result = await cluster_failover.run(tmp_path, **cluster_failover.CI)
    print(result.render())
    assert result.holds, result.render()
