"""Debian's Chromium driven by Playwright (never `playwright install`: no downloads here)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.conftest import require_tool

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    chromium = require_tool("/usr/bin/chromium", "apt-get install chromium")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        require_tool("__playwright_python__", "pip install playwright")
        raise
    async with async_playwright() as p:
        launched = await p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
def backend() -> str:
    """The browser tests check the front-end, not the backends: one is enough."""
    return "embedded"
