"""The co-browse relay (contract §5): consent gate, fan-out, replay for late joiners.

Visitor payloads are relayed, never interpreted: the server checks their shape and size,
keeps the newest snapshot and what follows (bounded) for viewers who join later, and
relays nothing outside the `active` state. Consent is for one agent and one conversation,
so closing, transferring or timing out ends it (`by: "system"`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgpack

from chat_server.core import channels, cobrowse
from chat_server.core.errors import ChatError, ErrorCode
from chat_server.core.model import SYSTEM, Conversation, Draft, Kind, State

if TYPE_CHECKING:
    from chat_server.service.node import Node

LINES = {
    "accept": "Co-browsing started",
    "decline": "Co-browsing declined",
    "end": "Co-browsing ended",
}


class CobrowseRelay:
    def __init__(self, node: Node) -> None:
        self.node = node
        self.store = node.store

    async def from_visitor(
        self, conv: Conversation, op: str, raw: dict[str, Any], origin: str
    ) -> None:
        current = await self._current(conv)
        new = cobrowse.next_state(current, op, by_visitor=True, agent_id=None)
        if op == "events":
            await self._relay_events(conv, cobrowse.events_of(raw))
            return
        await self._change(conv, current, new)
        conv_channel, visitor_channel = self._channels(conv)
        if op == "end":
            await self._ended(conv, "visitor")
            return
        answer = "accepted" if op == "accept" else "declined"
        await self.node.hub.publish(conv_channel, {"t": "cobrowse", "cid": conv.id, "op": answer})
        await self.node.hub.publish(
            visitor_channel, {"t": "cobrowse", "cid": conv.id, "op": answer}, skip=origin
        )
        await self._transcript(conv, LINES[op])

    async def from_agent(
        self,
        conv: Conversation,
        op: str,
        raw: dict[str, Any],
        agent_id: str,
        agent_name: str,
        origin: str,
    ) -> None:
        current = await self._current(conv)
        new = cobrowse.next_state(current, op, by_visitor=False, agent_id=agent_id)
        conv_channel, visitor_channel = self._channels(conv)
        frame: dict[str, Any] = {"t": "cobrowse", "cid": conv.id, "op": op}
        if op == "request":
            await self._change(conv, current, new)
            frame["agent"] = {"name": agent_name}
            await self.node.hub.publish(visitor_channel, frame)
            await self.node.hub.publish(conv_channel, {**frame, "op": "requested"}, skip=origin)
        elif op == "end":
            await self._change(conv, current, new)
            await self._ended(conv, "agent")
        elif op == "pointer":
            await self.node.hub.publish(visitor_channel, {**frame, **cobrowse.pointer_of(raw)})
        elif op == "highlight":
            await self.node.hub.publish(visitor_channel, {**frame, **cobrowse.highlight_of(raw)})
        else:  # resync
            await self.node.hub.publish(visitor_channel, frame)

    async def end_by_system(self, conv: Conversation) -> None:
        """Consent was for this agent and this conversation: it ends with either."""
        current = await self.store.cobrowse.session(conv.id)
        if current.state is cobrowse.CobrowseState.NONE:
            return
        if await self.store.cobrowse.change(conv.id, current, cobrowse.NONE):
            await self._ended(conv, "system", transcript=conv.state is not State.CLOSED)

    async def replay_frames(self, cid: str) -> list[dict[str, Any]]:
        """What a viewer who joins now is sent first (§5 Replay)."""
        if (await self.store.cobrowse.session(cid)).state is not cobrowse.CobrowseState.ACTIVE:
            return []
        return [
            {
                "t": "cobrowse",
                "cid": cid,
                "op": "events",
                "replay": True,
                "events": msgpack.unpackb(batch, raw=False),
            }
            for batch in await self.store.cobrowse.replay(cid)
        ]

    # internals --------------------------------------------------------------------------

    async def _current(self, conv: Conversation) -> cobrowse.Session:
        if conv.state is not State.ACTIVE:
            raise ChatError(ErrorCode.CLOSED, "co-browsing needs an active conversation")
        return await self.store.cobrowse.session(conv.id)

    async def _change(
        self, conv: Conversation, current: cobrowse.Session, new: cobrowse.Session
    ) -> None:
        if not await self.store.cobrowse.change(conv.id, current, new):
            raise ChatError(ErrorCode.CONFLICT, "the co-browse changed meanwhile, try again")

    async def _relay_events(self, conv: Conversation, events: list[dict[str, Any]]) -> None:
        restart = cobrowse.restart_index(events)
        kept = events[restart:] if restart is not None else events
        encoded: bytes = msgpack.packb(kept, use_bin_type=True)
        fits = await self.store.cobrowse.record(
            conv.id,
            encoded,
            restarts=restart is not None,
            max_bytes=self.node.settings.cobrowse_replay_bytes,
        )
        conv_channel, visitor_channel = self._channels(conv)
        await self.node.hub.publish(
            conv_channel, {"t": "cobrowse", "cid": conv.id, "op": "events", "events": events}
        )
        if not fits:  # the buffer outgrew its bound: start again from a fresh snapshot
            await self.node.hub.publish(
                visitor_channel, {"t": "cobrowse", "cid": conv.id, "op": "resync"}
            )

    async def _ended(self, conv: Conversation, by: str, *, transcript: bool = True) -> None:
        frame = {"t": "cobrowse", "cid": conv.id, "op": "ended", "by": by}
        conv_channel, visitor_channel = self._channels(conv)
        await self.node.hub.publish(visitor_channel, frame)
        await self.node.hub.publish(conv_channel, frame)
        await self.store.cobrowse.forget(conv.id)
        if transcript:
            await self._transcript(conv, LINES["end"])

    async def _transcript(self, conv: Conversation, line: str) -> None:
        await self.store.conversations.append(conv.id, Draft(Kind.EVENT, SYSTEM, line))

    @staticmethod
    def _channels(conv: Conversation) -> tuple[str, str]:
        return channels.conversation(conv.id), channels.visitor(conv.visitor_id)
