"""CI size of chaos scenario 3 (`tests/chaos/storm.py`): a node restarted under its visitors."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos import storm
from tests.conftest import require_tool


@pytest.mark.slow
async def test_reconnect_storm(tmp_path: Path) -> None:
    require_tool("redis-server", "apt-get install redis-server")
    result = await storm.run(tmp_path, **storm.CI)
    print(result.render())
    assert result.holds, result.render()
