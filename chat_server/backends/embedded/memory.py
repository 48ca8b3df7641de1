"""The embedded store's in-memory index of open conversations: every open conversation,
each visitor's, each agent's active ones and last assignment, and the cmids seen in each.

It changes before the commit (the next write, decided on the same loop turn, builds on
this one), as `Edits` that the database undoes if the write does not commit (`edits.py`):
once a write is settled, memory is what the disk holds. Edit keys: the conversation id,
its visitor (`v:<id>`: one open conversation each) and each agent whose active set or last
assignment changes (`a:<id>`: capacity, routing); a later write sharing a key was built on
this one.
"""

from __future__ import annotations

import asyncio
from typing import Any

from chat_server.backends.embedded.edits import Edits
from chat_server.core.model import Conversation, Message, State

CmidKey = tuple[str | None, str]
"""A message's sender id and cmid, within its conversation."""
Stored = tuple[Message, asyncio.Future[Any]]
"""A message with a cmid, and the commit that stores it (done once committed)."""


class OpenConversations:
    def __init__(self) -> None:
        self.open: dict[str, Conversation] = {}
        self.by_visitor: dict[str, str] = {}
        self.active: dict[str, set[str]] = {}
        """Per agent, the ids of the conversations they hold (their load)."""
        self.last_assigned: dict[str, int] = {}
        self.cmids: dict[str, dict[CmidKey, Stored]] = {}
        """Per open conversation: a resent cmid is answered with its message's seq."""

    def remember(self, conv: Conversation, edits: Edits) -> None:
        """Keep the indexes (open, by visitor, active per agent, cmids) in step with `conv`,
        as `edits`."""
        cid, visitor = conv.id, f"v:{conv.visitor_id}"
        old = self.open.get(cid)
        holder = conv.agent.id if conv.state is State.ACTIVE and conv.agent else None
        if old is not None and old.agent is not None and old.agent.id != holder:
            edits.discard(f"a:{old.agent.id}", self.active, old.agent.id, cid)
        if holder is not None:
            edits.add(f"a:{holder}", self.active, holder, cid)
        if conv.state is State.CLOSED:
            edits.pop(cid, self.open, cid)
            edits.pop(cid, self.cmids, cid)
            edits.pop(visitor, self.by_visitor, conv.visitor_id)
            return
        edits.put(cid, self.open, cid, conv)
        edits.put(visitor, self.by_visitor, conv.visitor_id, cid)

    def assigned(self, agent_id: str, now: int, edits: Edits) -> None:
        """The agent was last given a conversation at `now` (routing spreads by it)."""
        edits.put(f"a:{agent_id}", self.last_assigned, agent_id, now)

    def seen(self, cid: str, sender_id: str | None, cmid: str) -> Stored | None:
        return self.cmids.get(cid, {}).get((sender_id, cmid))

    def keep_cmids(
        self,
        conv: Conversation,
        messages: list[Message],
        stored: asyncio.Future[Any],
        edits: Edits,
    ) -> None:
        """The new messages' cmids, answered once `stored` is done (a resend waits for it)."""
        if not conv.is_open:
            return
        for m in messages:
            if m.cmid is not None:
                cmids = self.cmids.get(conv.id)
                if cmids is None:
                    edits.put(conv.id, self.cmids, conv.id, cmids := {})
                edits.put(conv.id, cmids, (m.sender.id, m.cmid), (m, stored))

    def load(self, convs: list[Conversation], with_cmids: list[Message]) -> None:
        """What the disk holds (at start): the open conversations and their messages' cmids,
        all committed."""
        for conv in convs:
            self.remember(conv, Edits())
        for m in with_cmids:
            assert m.cmid is not None
            done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            done.set_result(None)
            self.cmids.setdefault(m.cid, {})[(m.sender.id, m.cmid)] = (m, done)
