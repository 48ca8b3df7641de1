"""Bus channel names. Hash tags (`{c_123}`) keep a conversation's keys in one cluster slot."""

from __future__ import annotations


def conversation(cid: str) -> str:
    """Everything agents and watchers see of a conversation."""
    return f"conv:{{{cid}}}"


def conversation_id(channel: str) -> str | None:
    """The cid of a conversation channel, None for any other channel."""
    if channel.startswith("conv:{") and channel.endswith("}"):
        return channel[6:-1]
    return None


def visitor(visitor_id: str) -> str:
    """Every tab of one visitor: their view of their conversation."""
    return f"visitor:{{{visitor_id}}}"


def owner(channel: str) -> str | None:
    """The conversation or visitor a channel is about (its id), None for any other: the
    stores publish to those two from a conversation's own step."""
    if channel.startswith(("conv:{", "visitor:{")) and channel.endswith("}"):
        return channel[channel.index("{") + 1 : -1]
    return None


def agent(agent_id: str) -> str:
    """Every tab of one agent: assignments, transfers away, status changes."""
    return f"agent:{{{agent_id}}}"


QUEUE = "queue"
"""The waiting list, for every agent."""

SUPERVISORS = "supervisors"
"""Live figures for supervisors who asked for them."""


def site(site_id: str) -> str:
    """Every visitor socket of a site: its `availability` (issue 14)."""
    return f"site:{{{site_id}}}"
