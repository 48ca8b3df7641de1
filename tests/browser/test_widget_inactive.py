"""Auto-close on inactivity as the visitor sees it: the server's warning is a system line
like any other, and a `closed` event with reason `inactive` says why the chat ended
(rendering checks against the scripted endpoint of test_widget_away.py)."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.browser.conftest import Pages
from tests.browser.test_widget_away import (
    SIMPLE_SITE,
    FakeVisitorServer,
    W,
    availability,
    conversation,
    message,
    open_fake,
)

pytestmark = pytest.mark.browser

WARNING = "This chat will close in 2 minutes if there is no reply."


async def test_the_warning_then_the_close_for_inactivity(pages: Pages) -> None:
    active = conversation("c_1", "active", agent={"name": "Alice"}, last_seq=2)
    fake = FakeVisitorServer(
        {"site": SIMPLE_SITE, "availability": availability(), "conversation": active},
        history={
            "c_1": [
                message("c_1", 1, "visitor", "Is the mug blue?"),
                message("c_1", 2, "agent", "Yes it is."),
            ]
        },
    )
    page = await open_fake(pages, fake)
    await expect(page.locator(W + ".row.agent .bubble")).to_have_text("Yes it is.")
    fake.push({"t": "msg", **message("c_1", 3, "system", WARNING, "event")})
    await expect(page.locator(W + ".row.sys")).to_have_text(WARNING)

    fake.push({"t": "closed", "cid": "c_1", "by": "system", "reason": "inactive"})
    await expect(page.locator(W + ".row.sys").last).to_have_text(
        "Closed after a period of inactivity"
    )
    await expect(page.locator(W + "header p")).to_have_text("Online")
    box = page.locator(W + "form.composer textarea")
    await expect(box).to_have_attribute("placeholder", "Write a message to start a new chat…")
