"""The sites the widget is embedded in: which one a visitor socket names."""

from __future__ import annotations

from chat_server.core.model import Site
from chat_server.service.node import Node

MAX_SITE_ID = 64
"""Longer ids name no site: they are not looked up."""


async def site_named(node: Node, site_id: str) -> Site | None:
    """The site with this id, if there is one."""
    if not 0 < len(site_id) <= MAX_SITE_ID:
        return None
    return await node.store.directory.site(site_id)
