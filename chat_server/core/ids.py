"""Prefixed random ids (contract §2: `v_` visitor, `a_` agent, `b_` bot agent, `c_`
conversation). A bot's own prefix lets every reference to it (a message's sender, a
conversation's agent) say it is a bot without reading the directory."""

from __future__ import annotations

import binascii
import secrets


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


def visitor_id() -> str:
    return new_id("v")


def agent_id() -> str:
    return new_id("a")


def bot_id() -> str:
    return new_id("b")


def is_bot_id(agent_id: str | None) -> bool:
    return agent_id is not None and agent_id.startswith("b_")


def conversation_id(visitor_id: str | None = None) -> str:
    """A new conversation's id; given its visitor, it ends as the visitor's id ends, so that
    both have the same `home` (a spread Redis Cluster keeps them in one partition)."""
    if visitor_id is None:
        return new_id("c")
    tail = visitor_id.rpartition("_")[2][-HOME_CHARS:]
    return f"c_{secrets.token_hex(8)[: 16 - len(tail)]}{tail}"


HOME_CHARS = 4
"""The characters of an id (after its prefix) that say where it lives."""


def home(ident: str) -> int:
    """A number from the last `HOME_CHARS` of an id: a conversation made for a visitor
    (`conversation_id(visitor_id)`) has its visitor's. Partitions are `home % count`."""
    return binascii.crc_hqx(ident.rpartition("_")[2][-HOME_CHARS:].encode(), 0)
