"""Issue 14 in the stores: a site's settings and a conversation's pre-chat answers are
kept whole by both backends (and survive a second store on the same storage)."""

from __future__ import annotations

from dataclasses import replace

from chat_server.backends.base import Store
from chat_server.core import conversation as flow
from chat_server.core import site_settings
from chat_server.core.clock import ManualClock
from chat_server.core.model import Site
from tests.contract.conftest import Storage
from tests.contract.support import text, visitor

SETTINGS = {
    "hours": {
        "tz": "Europe/Paris",
        "weekly": {"mon": [["09:00", "12:00"], ["13:00", "17:30"]], "fri": [["22:00", "24:00"]]},
        "holidays": ["2026-12-25"],
    },
    "form": [
        {"name": "email", "label": "Email", "type": "email", "required": True},
        {"name": "plan", "label": "Plan", "type": "select", "options": ["Free", "Pro"]},
        {"name": "terms", "label": "I accept", "type": "checkbox"},
    ],
    "topics": [{"id": "billing", "label": "Billing"}],
    "privacy": {"text": "We keep chats 30 days.", "url": "https://shop.example/privacy"},
    "sneak_peek": True,
    "offline_after_s": 60,
    "inactive_warn_s": 300,
    "inactive_close_s": 90,
    "files": {"max_bytes": 2_000_000, "types": ["png", "pdf"]},
    "bot": "b_0123456789abcdef",
}


async def test_site_settings_are_kept_whole(store: Store, storage: Storage) -> None:
    plain = Site("shop", ("https://shop.example",), "secret")
    await store.directory.put_site(plain)
    assert await store.directory.site("shop") == plain  # the defaults: today's behaviour
    configured = site_settings.apply(plain, SETTINGS)
    await store.directory.put_site(configured)
    assert await store.directory.site("shop") == configured
    async with storage.another() as other:
        got = await other.directory.site("shop")
    assert got == configured
    assert got is not None and site_settings.settings_json(got) == {
        **SETTINGS,
        "hours": {
            **SETTINGS["hours"],  # type: ignore[dict-item]
            "weekly": {
                "mon": [["09:00", "12:00"], ["13:00", "17:30"]],
                "tue": [],
                "wed": [],
                "thu": [],
                "fri": [["22:00", "24:00"]],
                "sat": [],
                "sun": [],
            },
        },
        "form": [
            {"name": "email", "label": "Email", "type": "email", "required": True},
            {
                "name": "plan",
                "label": "Plan",
                "type": "select",
                "required": False,
                "options": ["Free", "Pro"],
            },
            {"name": "terms", "label": "I accept", "type": "checkbox", "required": False},
        ],
    }


async def test_pre_chat_answers_are_kept_with_the_conversation(
    store: Store, clock: ManualClock, storage: Storage
) -> None:
    conv = flow.open_conversation("c_1", "shop", "v_1", "billing", clock.now_ms())
    conv = replace(conv, fields=(("email", "ann@shop.example"), ("terms", True)))
    await store.conversations.open(conv, text(visitor(), "hi"), None)
    got = await store.conversations.get("c_1")
    assert got is not None and got.fields == conv.fields
    async with storage.another() as other:
        again = await other.conversations.get("c_1")
    assert again is not None and again.fields == conv.fields
