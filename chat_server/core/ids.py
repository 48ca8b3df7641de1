"""Prefixed random ids (contract §2: `v_` visitor, `a_` agent, `c_` conversation)."""

from __future__ import annotations

import secrets


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


def visitor_id() -> str:
    return new_id("v")


def agent_id() -> str:
    return new_id("a")


def conversation_id() -> str:
    return new_id("c")
