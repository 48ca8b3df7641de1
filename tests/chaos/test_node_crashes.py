"""Scenario 1 of issue 18 at CI size: 10 node kills under load, the four figures at 0."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos import node_crashes
from tests.conftest import require_tool

pytestmark = pytest.mark.slow


@pytest.mark.timeout(120)
async def test_node_crashes(tmp_path: Path) -> None:
    require_tool("redis-server", "apt-get install redis-server")
    result = await node_crashes.run(tmp_path, **node_crashes.CI)
    print(result.render())
    assert result.holds, result.render()
