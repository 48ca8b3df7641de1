"""Prefixed random ids (contract §2: `v_` visitor, `a_` agent, `b_` bot agent, `c_`
conversation). A bot's own prefix lets every reference to it (a message's sender, a
conversation's agent) say it is a bot without reading the directory."""

from __future__ import annotations

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


def conversation_id() -> str:
    return new_id("c")
