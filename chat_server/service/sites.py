"""The sites the widget is embedded in: which one a visitor socket names."""

from __future__ import annotations

import json
from typing import Any

from chat_server.core import hours, site_settings
from chat_server.core.errors import bad_request, forbidden, not_found
from chat_server.core.model import Agent, AuditEntry, Site
from chat_server.service.node import Node

MAX_SITE_ID = 64
"""Longer ids name no site: they are not looked up."""


async def site_named(node: Node, site_id: str) -> Site | None:
    """The site with this id, if there is one."""
    if not 0 < len(site_id) <= MAX_SITE_ID:
        return None
    return await node.store.directory.site(site_id)


# --- settings (issue 14): read by any agent, changed by supervisors ------------------


def settings_view(node: Node, site: Site) -> dict[str, Any]:
    """`GET /api/sites/{site}`: every setting, and whether it is open now (never the
    identity secret)."""
    now = node.clock.now_ms()
    settings = site_settings.settings_json(site)
    return {
        "id": site.id,
        "origins": list(site.origins),
        "hours": settings.pop("hours"),
        "open": hours.is_open(site.hours, now),
        "next_change": hours.next_change(site.hours, now),
        **settings,
    }


async def change_settings(node: Node, agent: Agent, site_id: str, body: Any) -> Site:
    """Apply the settings in `body` (validated as the CLI does; `bad_request` naming what
    is wrong, and nothing changed), store them and audit it as `site_settings`."""
    if not agent.is_supervisor:
        raise forbidden("supervisors only")
    site = await site_named(node, site_id)
    if site is None:
        raise not_found("no such site")
    try:
        changed = site_settings.apply(site, body)
    except ValueError as exc:
        raise bad_request(str(exc)) from None
    if changed.bot is not None and changed.bot != site.bot:  # issue 17: a bot account
        bot = await node.store.directory.agent(changed.bot)
        if bot is None or not bot.is_bot:
            raise bad_request("bot names no bot account (chat-server agent add --role bot)")
    await node.store.directory.put_site(changed)
    detail = json.dumps({"site": site_id, "changed": sorted(body)}, separators=(",", ":"))
    await node.store.audit.record(
        AuditEntry(node.clock.now_ms(), agent.id, "site_settings", None, detail)
    )
    return changed
