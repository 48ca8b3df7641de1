"""Scenario 5 of issue 18 at CI size: clients behind proxies that delay, stall and cut
connections; the four figures at 0."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos import flaky_network
from tests.conftest import require_tool

pytestmark = pytest.mark.slow


@pytest.mark.timeout(120)
async def test_flaky_network(tmp_path: Path) -> None:
    require_tool("redis-server", "apt-get install redis-server")
    result = await flaky_network.run(tmp_path, **flaky_network.CI)
    print(result.render())
    assert result.holds, result.render()
