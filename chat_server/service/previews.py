"""The first message of each listed conversation, cut short for the agents' waiting and
pending lists.

A cache per list: a conversation's preview is read once (from its history, or handed over
when the node itself stored the message) and dropped once the conversation leaves the list,
so a node that runs for months keeps only what its lists show.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from chat_server.core.model import Message

PREVIEW_CHARS = 140


class History(Protocol):
    """The one read previews need (the conversations role has it)."""

    async def history(
        self, cid: str, after: int, limit: int, *, notes: bool
    ) -> tuple[list[Message], bool]: ...


class Previews:
    def __init__(self, conversations: History) -> None:
        self._conversations = conversations
        self._text: dict[str, str] = {}

    def remember(self, cid: str, text: str) -> None:
        """The first message, as this node stored it: no read needed."""
        self._text[cid] = text[:PREVIEW_CHARS]

    async def of(self, cid: str) -> str:
        if cid not in self._text:
            first, _ = await self._conversations.history(cid, 0, 1, notes=False)
            self._text[cid] = first[0].text[:PREVIEW_CHARS] if first else ""
        return self._text[cid]

    def keep_only(self, listed: Iterable[str]) -> None:
        """Forget the conversations no longer listed."""
        keep = set(listed)
        for cid in [c for c in self._text if c not in keep]:
            del self._text[cid]
