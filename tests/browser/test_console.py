"""The agent console beyond one chat: an alert (sound and desktop notification) on a new
assignment, several chats with unread counts, keyboard shortcuts, canned responses through
"/", transfers to another agent and back to the queue, and the visitor's earlier chats."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from chat_server.core.model import AgentRole
from tests.browser.conftest import (
    Pages,
    agent_says,
    go_online,
    open_widget,
    sign_in,
    visitor_says,
)
from tests.browser.test_visitor_and_agent import W
from tests.conftest import PASSWORD, ServerFactory

pytestmark = pytest.mark.browser

# Records desktop notifications and beeps, and makes the console look unfocused (a console
# in front of the agent only beeps).
SPY = """
window.__notes = [];
window.__beeps = 0;
class FakeNotification {
  constructor(title, options) { window.__notes.push({ title, body: options && options.body }); }
  close() {}
}
FakeNotification.permission = 'default';
FakeNotification.requestPermission = () => {
  FakeNotification.permission = 'granted';
  return Promise.resolve('granted');
};
window.Notification = FakeNotification;
document.hasFocus = () => false;
const Real = window.AudioContext;
window.AudioContext = class extends Real {
  createOscillator() { window.__beeps++; return super.createOscillator(); }
};
"""


@dataclass
class Account:
    email: str
    password: str


async def new_visitor(pages: Pages, base: str, text: str) -> Any:
    visitor = await pages.new(base + "/")
    await open_widget(visitor)
    await visitor_says(visitor, text)
    return visitor


async def test_alerts_unread_counts_shortcuts_and_canned_responses(
    start_server: ServerFactory, pages: Pages, shots: Path
) -> None:
    live = await start_server(demo=True)
    agent = await pages.new()
    await agent.add_init_script(SPY)
    await sign_in(agent, live.base)
    await go_online(agent)  # a click: asks for notification permission, unlocks the sound

    # a new chat is routed: a beep and a desktop notification
    first = await new_visitor(pages, live.base, "Question about my order")
    await expect(agent.locator("#chats .chat-item")).to_have_count(1)
    notes = await agent.evaluate("window.__notes")
    assert notes[0]["title"].startswith("New chat: Visitor")
    assert notes[0]["body"] == "Question about my order"
    assert await agent.evaluate("window.__beeps") >= 2

    # a second chat: the first stays selected, the second counts unread messages
    second = await new_visitor(pages, live.base, "Do you have gift cards?")
    await expect(agent.locator("#chats .chat-item")).to_have_count(2)
    await visitor_says(second, "Any amount?")
    unread = agent.locator("#chats .chat-item").nth(1).locator(".unread")
    await expect(unread).to_have_text("2")
    await expect(agent).to_have_title("(2) Console · Live chat")
    await expect(agent.locator("#transcript")).to_contain_text("Question about my order")

    # Alt+ArrowDown moves to the next chat and reads it
    await agent.locator("#input").focus()
    await agent.keyboard.press("Alt+ArrowDown")
    await expect(agent.locator("#transcript")).to_contain_text("gift cards")
    await expect(unread).to_have_count(0)
    await expect(agent).to_have_title("Console · Live chat")
    assert await agent.evaluate("document.activeElement.id") == "input"

    # "/" opens the canned responses; typing filters, arrows move, Enter inserts
    box = agent.locator("#input")
    await box.press("/")
    popup = agent.locator("#canned-popup")
    await expect(popup).to_be_visible()
    await expect(popup.locator(".canned-opt")).to_have_count(5)
    await expect(box).to_have_attribute("aria-expanded", "true")
    await box.press_sequentially("o")
    await expect(popup.locator(".canned-opt").first).to_contain_text("/order")
    await box.press("ArrowDown")
    await box.press("ArrowUp")
    await expect(popup.locator("[aria-selected=true]")).to_contain_text("/order")
    await box.press("Enter")
    await expect(popup).to_be_hidden()
    await expect(box).to_have_value(
        "Could you give me your order number, or the email address you ordered with, "
        "so that I can look it up?"
    )
    await box.press("Enter")
    await expect(second.locator(W + ".row.agent")).to_contain_text("your order number")

    # Escape closes the list and keeps the text
    await box.press("/")
    await expect(popup).to_be_visible()
    await box.press("Escape")
    await expect(popup).to_be_hidden()
    await expect(box).to_have_value("/")
    await box.fill("")

    # the editor: add one, remove one; kept across a reload
    await agent.click("#canned-btn")
    dialog = agent.locator("#canned-dialog")
    await expect(dialog).to_be_visible()
    await dialog.locator("input[name=key]").fill("cards")
    await dialog.locator("textarea[name=text]").fill("Gift cards come in any amount from €10.")
    await dialog.locator("form.canned-add button[type=submit]").click()
    await expect(dialog.locator(".canned-list li")).to_have_count(6)
    await dialog.get_by_role("button", name="Remove /bye").click()
    await expect(dialog.locator(".canned-list li")).to_have_count(5)
    await agent.screenshot(path=str(shots / "console-canned-editor.png"))
    await agent.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()
    await agent.reload()
    await expect(agent.locator("#chats .chat-item")).to_have_count(2)
    await box.press_sequentially("/car")
    await expect(popup.locator(".canned-opt")).to_have_count(1)
    await box.press("Tab")
    await expect(box).to_have_value("Gift cards come in any amount from €10.")
    await box.fill("/bye")
    await expect(popup.locator(".canned-opt")).to_have_count(0)
    await box.fill("")

    # Alt+N switches to an internal note and back
    await box.focus()
    await agent.keyboard.press("Alt+n")
    await expect(agent.locator("#note-btn")).to_have_attribute("aria-pressed", "true")
    await box.fill("wants a €50 card")
    await box.press("Enter")
    await expect(agent.locator("#transcript .m.note")).to_contain_text("wants a €50 card")
    await agent.keyboard.press("Alt+n")
    await expect(agent.locator("#note-btn")).to_have_attribute("aria-pressed", "false")
    await first.wait_for_timeout(200)
    for visitor in (first, second):
        assert "€50 card" not in await visitor.locator(W + ".list").inner_text()
    await agent.locator("#canned-popup").evaluate("el => el.hidden = true")
    await agent.screenshot(path=str(shots / "console-two-chats.png"))


async def test_transfer_to_an_agent_with_a_note_and_back_to_the_queue(
    start_server: ServerFactory, pages: Pages, shots: Path
) -> None:
    live = await start_server(demo=True)
    bob = await live.add_agent("Bob")
    alice = await pages.new()
    await sign_in(alice, live.base)
    await go_online(alice)
    visitor = await new_visitor(pages, live.base, "Can I change my delivery address?")
    await expect(alice.locator("#chats .chat-item")).to_have_count(1)
    await agent_says(alice, "Let me pass you to our shipping expert.")

    bobs = await pages.new()
    await bobs.add_init_script(SPY)
    await sign_in(bobs, live.base, account=Account(bob.email, PASSWORD))
    await expect(bobs.locator("#me-name")).to_have_text("Bob")

    # an agent transfers by agent id (agents cannot list the team)
    await alice.click("#transfer-btn")
    dialog = alice.locator("#transfer-dialog")
    await expect(dialog).to_be_visible()
    await dialog.locator("#transfer-to").fill("a_nobody")
    await dialog.locator("#transfer-go").click()
    await expect(dialog.locator("#transfer-error")).to_have_text("There is no agent with that id.")
    await dialog.locator("#transfer-to").fill(bob.id)
    await expect(dialog.locator("#transfer-error")).to_be_hidden()
    await dialog.locator("#transfer-note").fill("Wants the parcel sent to her office instead.")
    await alice.screenshot(path=str(shots / "console-transfer-note.png"))
    await alice.set_viewport_size({"width": 390, "height": 844})
    await alice.screenshot(path=str(shots / "console-transfer-note-phone.png"))
    await alice.set_viewport_size({"width": 1280, "height": 800})
    await dialog.locator("#transfer-go").click()
    await expect(dialog).to_be_hidden()
    await expect(alice.locator("#chats .chat-item")).to_have_count(0)
    await expect(alice.locator("#notice")).to_contain_text("Transferred to Bob")

    # Bob gets it with its history, and an alert
    await expect(bobs.locator("#chats .chat-item")).to_have_count(1)
    await expect(bobs.locator("#transcript")).to_contain_text("delivery address")
    await expect(bobs.locator("#transcript")).to_contain_text("shipping expert")
    # the transfer note is an internal note in the transcript: Bob sees it, the visitor never
    await expect(bobs.locator("#transcript .m.note")).to_contain_text("parcel sent to her office")
    assert "parcel sent" not in await visitor.locator(W + ".list").inner_text()
    assert await bobs.evaluate("window.__beeps") >= 2  # no notification: Bob was never asked
    await expect(visitor.locator(W + "header h2")).to_have_text("Bob")

    # back to the queue: Bob loses it, Alice (online, free) gets it again
    await bobs.click("#requeue-btn")
    await expect(bobs.locator("#chats .chat-item")).to_have_count(0)
    await expect(alice.locator("#chats .chat-item")).to_have_count(1)
    await expect(visitor.locator(W + "header h2")).to_have_text(alice_name())
    await agent_says(alice, "I am back with you.")
    await expect(visitor.locator(W + ".row.agent", has_text="back with you")).to_have_count(1)


def alice_name() -> str:
    from tests.browser.conftest import AGENT

    return AGENT.name


async def test_visitor_panel_lists_earlier_conversations(
    start_server: ServerFactory, pages: Pages
) -> None:
    live = await start_server(demo=True)
    agent = await pages.new()
    await sign_in(agent, live.base)
    await go_online(agent)
    visitor = await new_visitor(pages, live.base, "First visit question")
    await expect(agent.locator("#chats .chat-item")).to_have_count(1)
    await agent_says(agent, "First visit answer")
    await expect(agent.locator("#v-history")).to_have_text("None: this is the first conversation.")
    await agent.click("#resolve-btn")
    await expect(agent.locator("#closed-bar")).to_contain_text("Chat closed as resolved.")
    await expect(visitor.locator(W + ".survey")).to_be_visible()
    await agent.click("#dismiss-btn")
    await expect(agent.locator("#chats .chat-item")).to_have_count(0)

    await visitor_says(visitor, "Back again with another question")
    await expect(agent.locator("#chats .chat-item")).to_have_count(1)
    history = agent.locator("#v-history .history-item")
    await expect(history).to_have_count(1)
    await expect(history).to_contain_text("resolved")
    await history.click()
    dialog = agent.locator("#history-dialog")
    await expect(dialog.locator("#history-transcript")).to_contain_text("First visit answer")
    await agent.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()


async def test_a_supervisor_transfers_by_picking_from_the_team(
    start_server: ServerFactory, pages: Pages
) -> None:
    live = await start_server(demo=True)
    sue = await live.add_agent("Sue", role=AgentRole.SUPERVISOR, max_chats=2)
    bob = await live.add_agent("Bob")
    bobs = await pages.new()
    await sign_in(bobs, live.base, account=Account(bob.email, PASSWORD))
    sues = await pages.new()
    await sign_in(sues, live.base, account=Account(sue.email, PASSWORD))
    await go_online(sues)
    await new_visitor(pages, live.base, "I need a refund")
    await expect(sues.locator("#chats .chat-item")).to_have_count(1)

    await sues.click("#transfer-btn")
    choice = sues.locator("#transfer-dialog select#transfer-to")
    await expect(choice).to_be_visible()
    await expect(choice.locator("option", has_text="Bob")).to_contain_text("0/3 chats")
    offline = choice.locator("option", has_text=alice_name())
    await expect(offline).to_contain_text("not connected")
    await expect(offline).to_be_disabled()
    await expect(choice).to_have_value(bob.id)
    await sues.locator("#transfer-go").click()
    await expect(sues.locator("#chats .chat-item")).to_have_count(0)
    await expect(bobs.locator("#chats .chat-item")).to_have_count(1)
    await expect(bobs.locator("#transcript")).to_contain_text("I need a refund")
