"""Attachments across nodes (issue 15 on the Redis backend): two nodes on one Redis, the
visitor on one and the agent on the other. The visitor's pasted screenshot, uploaded to its
node, shows in the agent's console on the other; the agent's PDF, uploaded there, downloads
on the visitor's node with the bytes that were sent."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect

from tests.browser.conftest import Pages, go_online, open_widget, sign_in, visitor_says
from tests.browser.test_files import walk
from tests.browser.test_visitor_and_agent import W
from tests.conftest import ServerFactory

pytestmark = pytest.mark.browser


@pytest.fixture
def backend() -> str:
    """Both nodes of start_server share one Redis and one key prefix."""
    return "redis"


async def test_the_walk_with_the_visitor_and_the_agent_on_different_nodes(
    start_server: ServerFactory, pages: Pages
) -> None:
    visitor_node = await start_server(demo=True)
    agent_node = await start_server()
    assert visitor_node.base != agent_node.base

    agent: Any = await pages.new()
    await sign_in(agent, agent_node.base)
    await go_online(agent)
    visitor: Any = await pages.new(visitor_node.base + "/")
    await open_widget(visitor)
    await visitor_says(visitor, "Hello from the other node")
    await expect(agent.locator("#transcript .m.visitor", has_text="other node")).to_have_count(1)
    await expect(visitor.locator(W + "button.attach")).to_have_attribute("aria-disabled", "false")

    await walk(visitor, agent, None)
