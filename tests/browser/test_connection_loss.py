"""Connections lost mid-chat. The server is restarted (a real process, same port, same data):
the widget and the console both say they are reconnecting, then carry on, and what each side
typed meanwhile is delivered once, and only once. The browser goes offline: the widget says
so at once, and the console keeps what the agent sent across a reload."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import expect

from tests.browser.conftest import Pages, agent_says, visitor_says
from tests.browser.test_visitor_and_agent import W, chat_with_agent
from tests.conftest import ServerFactory
from tests.processes import ServerProcess

pytestmark = pytest.mark.browser


@pytest.mark.slow
async def test_restart_mid_chat(server: ServerProcess, pages: Pages, shots: Path) -> None:
    pages.allow_network_errors = True  # the refused reconnects while the server is down
    visitor, agent = await chat_with_agent(server, pages, "Hi, where is my parcel?")
    await agent_says(agent, "Let me look it up.")
    await expect(visitor.locator(W + ".row.agent")).to_have_count(1)

    server.stop()

    banner = visitor.locator(W + ".banner")
    await expect(banner).to_be_visible()
    await expect(banner).to_contain_text("Reconnecting")
    conn = agent.locator("#conn")
    await expect(conn).to_be_visible()
    await expect(conn).to_contain_text("reconnecting")

    # both sides write while the server is down: the messages wait, visibly
    composer = visitor.locator(W + "form.composer textarea")
    await composer.fill("Typed while you were away")
    await composer.press("Enter")
    waiting = visitor.locator(W + ".row.me.pending", has_text="Typed while you were away")
    await expect(waiting).to_contain_text("Waiting for connection")
    await agent.locator("#input").fill("Sorry, a short hiccup on our side")
    await agent.locator("#input").press("Enter")
    await expect(agent.locator("#transcript .m.pending")).to_contain_text("Waiting for connection")
    await visitor.screenshot(path=str(shots / "widget-reconnecting.png"))
    await agent.screenshot(path=str(shots / "console-reconnecting.png"))

    server.start()
    await server.ready()

    # both come back by themselves (backoff: within a few seconds of the server)
    await expect(banner).to_be_hidden(timeout=15000)
    await expect(conn).to_be_hidden(timeout=15000)
    await expect(waiting).to_have_count(0, timeout=5000)
    await expect(agent.locator("#transcript .m.pending")).to_have_count(0, timeout=5000)

    # delivered exactly once, on both sides
    from_visitor = agent.locator("#transcript .m.visitor", has_text="Typed while you were away")
    from_agent = visitor.locator(W + ".row.agent", has_text="a short hiccup")
    await expect(from_visitor).to_have_count(1)
    await expect(from_agent).to_have_count(1)
    await visitor.wait_for_timeout(500)
    assert await from_visitor.count() == 1
    assert await from_agent.count() == 1
    assert await visitor.locator(W + ".row.me", has_text="Typed while you were away").count() == 1

    # and the chat carries on
    await visitor_says(visitor, "Great, thanks")
    await expect(agent.locator("#transcript .m.visitor", has_text="Great, thanks")).to_have_count(1)
    await agent_says(agent, "It ships tomorrow.")
    await expect(visitor.locator(W + ".row.agent", has_text="ships tomorrow")).to_have_count(1)
    assert await agent.locator("#transcript .m.visitor").count() == 3


async def test_offline_browser_and_a_reload_lose_nothing(
    start_server: ServerFactory, pages: Pages
) -> None:
    pages.allow_network_errors = True
    live = await start_server(demo=True)
    visitor, agent = await chat_with_agent(live, pages, "Is the tote waterproof?")

    # the visitor's network goes: the widget says so at once, and keeps what is typed
    await visitor.context.set_offline(True)
    banner = visitor.locator(W + ".banner")
    await expect(banner).to_contain_text("You are offline")
    composer = visitor.locator(W + "form.composer textarea")
    await composer.fill("Sent from the tunnel")
    await composer.press("Enter")
    await expect(visitor.locator(W + ".row.me.pending")).to_contain_text("Waiting for connection")
    await visitor.context.set_offline(False)
    await expect(banner).to_be_hidden(timeout=10000)
    await expect(visitor.locator(W + ".row.me.pending")).to_have_count(0)
    from_visitor = agent.locator("#transcript .m.visitor", has_text="Sent from the tunnel")
    await expect(from_visitor).to_have_count(1)

    # the agent's network goes; a reply waits; the agent reloads as the network comes back:
    # whichever page sends it, it arrives once
    await agent.context.set_offline(True)
    await expect(agent.locator("#conn")).to_contain_text("offline")
    await agent.locator("#input").fill("It is splash-proof, not waterproof.")
    await agent.locator("#input").press("Enter")
    await expect(agent.locator("#transcript .m.pending")).to_contain_text("Waiting for connection")
    await agent.context.set_offline(False)
    await agent.reload()
    reply = agent.locator("#transcript .m.agent", has_text="splash-proof")
    await expect(reply).to_have_count(1)
    await expect(agent.locator("#transcript .m.pending")).to_have_count(0)
    seen = visitor.locator(W + ".row.agent", has_text="splash-proof")
    await expect(seen).to_have_count(1)
    await visitor.wait_for_timeout(300)
    assert await seen.count() == 1
    assert await from_visitor.count() == 1
