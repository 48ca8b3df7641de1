"""Issue 17 in Chromium: the example FAQ bot (examples/faq_bot.py, run as its own process on
the public protocol) answers a visitor in the widget, who sees it is a bot; asked for a
person, it hands off; the agent in the console sees the handoff and its note, claims,
answers (the visitor now sees the agent's name) and closes."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from playwright.async_api import expect

from chat_server.core import ids
from chat_server.core.model import Agent, AgentRole
from tests.browser.conftest import AGENT, Pages, agent_says, open_widget, sign_in, visitor_says
from tests.conftest import Live, ServerFactory

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
W = "#chat-widget-host "


@pytest.fixture
def bots() -> Iterator[list[subprocess.Popen[bytes]]]:
    running: list[subprocess.Popen[bytes]] = []
    yield running
    for proc in running:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def run_faq_bot(live: Live, running: list[subprocess.Popen[bytes]], log: Path) -> Agent:
    """A bot account for the demo site, and the example bot logged in with its token."""
    bot = Agent(ids.bot_id(), "faq-bot@test.example", "Shop assistant", AgentRole.BOT, 20)
    await live.store.directory.add_agent(bot)
    site = await live.store.directory.site("demo")
    assert site is not None
    await live.store.directory.put_site(replace(site, bot=bot.id))
    command = [
        sys.executable,
        str(ROOT / "examples" / "faq_bot.py"),
        "--url",
        live.ws + "/ws/agent",
    ]
    command += ["--token", await live.token(bot)]
    running.append(spawn(command, log))
    for _ in range(100):
        if await live.store.presence.online("agent", among=[bot.id]):
            return bot
        await asyncio.sleep(0.1)
    raise AssertionError("the FAQ bot did not connect: " + read(log))


def spawn(command: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)


def read(log: Path) -> str:
    return log.read_text()


async def test_faq_bot_answers_then_hands_off_to_a_person_who_closes(
    start_server: ServerFactory,
    pages: Pages,
    shots: Path,
    tmp_path: Path,
    bots: list[subprocess.Popen[bytes]],
) -> None:
    live = await start_server(demo=True)
    await run_faq_bot(live, bots, tmp_path / "faq_bot.log")
    agent = await pages.new()
    await sign_in(agent, live.base)  # away: the handoff waits in the queue for a claim

    # the bot answers an FAQ question, labelled as a bot
    visitor = await pages.new(live.base + "/")
    await open_widget(visitor)
    await visitor_says(visitor, "How long does shipping take?")
    answer = visitor.locator(W + ".row.agent", has_text="We ship within 2 business days")
    await expect(answer).to_have_count(1)
    await expect(answer.locator(".who")).to_contain_text("Shop assistant")
    await expect(answer.locator(".who .bot-tag")).to_have_text("Bot")
    await expect(visitor.locator(W + "header h2")).to_contain_text("Shop assistant")
    await expect(visitor.locator(W + "header h2 .bot-tag")).to_have_text("Bot")
    await visitor.screenshot(path=str(shots / "widget-bot.png"))

    # asked for a person, it hands off: the visitor is told, the queue shows it first
    await visitor_says(visitor, "Can I talk to a person?")
    await expect(
        visitor.locator(W + ".row.sys", has_text="Connecting you with a person")
    ).to_be_visible()
    # nobody is online to take it: the visitor may leave a message instead of waiting
    await expect(visitor.locator(W + "button", has_text="Leave a message instead")).to_be_visible()
    waiting = agent.locator("#waiting .waiting-item")
    await expect(waiting).to_have_count(1)
    await expect(waiting.locator(".handoff")).to_contain_text("Handed off by the bot")
    await waiting.locator("button", has_text="Claim").click()

    # the agent sees the transcript, the bot's answers labelled, and the handoff note
    await expect(agent.locator("#transcript .m.note")).to_contain_text(
        "FAQ bot: the visitor asked for a person"
    )
    await expect(agent.locator("#transcript .m.note")).to_contain_text("Can I talk to a person?")
    bot_said = agent.locator("#transcript .m.agent", has_text="We ship within")
    await expect(bot_said.locator(".bot-tag")).to_have_text("Bot")
    await agent.screenshot(path=str(shots / "console-handoff.png"))
    await agent.set_viewport_size({"width": 390, "height": 844})
    await agent.screenshot(path=str(shots / "console-handoff-phone.png"))
    await agent.set_viewport_size({"width": 1280, "height": 800})
    await agent_says(agent, "Hi, a person here: how can I help?")

    # the visitor sees the person by name, no bot label; never the note
    human = visitor.locator(W + ".row.agent", has_text="a person here")
    await expect(human.locator(".who")).to_have_text(AGENT.name)
    await expect(visitor.locator(W + "header h2")).to_have_text(AGENT.name)
    assert "FAQ bot:" not in await visitor.locator(W + ".list").inner_text()

    await agent.click("#resolve-btn")
    await expect(agent.locator("#closed-bar")).to_contain_text("Chat closed as resolved.")
    await expect(visitor.locator(W + ".survey")).to_be_visible()
    assert bots[0].poll() is None, read(tmp_path / "faq_bot.log")
