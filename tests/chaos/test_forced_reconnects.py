"""CI size of chaos scenario 2 (`tests/chaos/forced_reconnects.py`): sockets cut after a
`msg` and before its `ok`, the message resent with the same cmid, on both backends."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos import forced_reconnects
from tests.conftest import require_tool


@pytest.mark.slow
async def test_forced_reconnects(tmp_path: Path) -> None:
    require_tool("redis-server", "apt-get install redis-server")
    result = await forced_reconnects.run(tmp_path, **forced_reconnects.CI)
    print(result.render())
    assert result.holds, result.render()
