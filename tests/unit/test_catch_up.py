"""`Session` catch-up (issue 23), without sockets: a failed read is retried, held later
seqs never mark an undelivered one seen, a bus loss holds live messages until the
catch-up after the resubscription, and a connection's own seq never hides a lower one.

The store is a stand-in holding one conversation's messages (the catch-up reads nothing
else); the bus is the in-process one, with subscriptions that take effect later, like
Redis's."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from chat_server.backends.embedded.bus import LocalBus
from chat_server.config import Settings
from chat_server.core import channels, views
from chat_server.core.clock import SystemClock
from chat_server.core.errors import unavailable
from chat_server.core.model import Kind, Message, Role, Sender
from chat_server.protocol.codec import Codec
from chat_server.protocol.frames import Envelope
from chat_server.service.dispatch import Dispatcher
from chat_server.service.hub import Hub
from chat_server.service.node import Node
from chat_server.service.session import Handler, Result, Session

CID = "c_1"
CHANNEL = channels.conversation(CID)


class LateBus(LocalBus):
    """Subscriptions take effect after `subscribe` returns (sessions catch up)."""

    async_subscribe = True


class Stored:
    """What the catch-up reads: the stored messages (`store.conversations.history`); reads
    fail while `failures` > 0, and wait for `gate` when it is set up (to act in the middle
    of a read)."""

    def __init__(self) -> None:
        self.conversations = self
        self.messages: list[Message] = []
        self.failures = 0
        self.reads = 0
        self.gate: asyncio.Event | None = None
        self.reading = asyncio.Event()

    def add(self, *seqs: int) -> None:
        for seq in seqs:
            sender = Sender(Role.VISITOR, "v_1", "Vera")
            self.messages.append(Message(CID, seq, seq, Kind.TEXT, sender, f"m{seq}"))

    async def history(
        self, cid: str, after: int, limit: int, *, notes: bool
    ) -> tuple[list[Message], bool]:
        self.reads += 1
        self.reading.set()
        if self.gate is not None:
            await self.gate.wait()
        await asyncio.sleep(0)
        if self.failures:
            self.failures -= 1
            raise unavailable()
        rows = [m for m in self.messages if m.seq > after]
        return rows[:limit], len(rows) > limit


class Agentish(Session):
    """A session following conversation channels, notes included (as an agent's)."""

    __slots__ = ()
    role = "agent"

    def handlers(self) -> dict[str, Handler]:
        return {}

    async def cobrowse(self, envelope: Envelope) -> Result:
        return None

    def accept(self, channel: str, frame: dict[str, Any]) -> bool:
        return self.first_delivery(frame)

    def catch_up_targets(self, channel: str | None) -> list[str]:
        chosen = [channel] if channel is not None else list(self.channels)
        return [cid for c in chosen if (cid := channels.conversation_id(c)) is not None]


def setup() -> tuple[Hub, Stored, Agentish, Node]:
    store = Stored()
    hub = Hub(LateBus())
    node = Node(Settings(), store, hub, SystemClock(), b"secret")  # type: ignore[arg-type]
    session = Agentish(node, Dispatcher(node), Codec.JSON)
    session.greet()
    return hub, store, session, node


def live(hub: Hub, seq: int) -> None:
    """A `msg` event arriving on the conversation's channel."""
    sender = Sender(Role.VISITOR, "v_1", "Vera")
    message = Message(CID, seq, seq, Kind.TEXT, sender, f"m{seq}")
    hub.dispatch(CHANNEL, {"frame": views.msg_event(message), "skip": None})


def sent(session: Session) -> list[int]:
    """The seqs of the `msg` frames in the outbox, in order (drained)."""
    out = []
    while (data := session.pull()) is not None:
        frame = json.loads(data)
        if frame["t"] == "msg":
            out.append(frame["seq"])
    return out


async def settled(session: Session) -> None:
    """Until no catch-up is running on the session."""
    async with asyncio.timeout(5):
        while session._catching:
            await asyncio.gather(*(e.done for e in list(session._catching.values())))
            await asyncio.sleep(0)


async def test_a_failed_catch_up_read_is_retried_and_nothing_passes_it() -> None:
    hub, store, session, _ = setup()
    store.add(1, 2, 3, 4, 5)
    store.failures = 3  # the bus came back before the store
    session.subscribe(CHANNEL)
    live(hub, 6)  # published after the subscription: held, not sent
    await store.reading.wait()
    assert sent(session) == []
    assert (session._seen or {}).get(CID, 0) == 0  # held 6 marks nothing seen
    await settled(session)
    assert store.reads == 4
    assert sent(session) == [1, 2, 3, 4, 5, 6]
    live(hub, 6)
    live(hub, 7)
    assert sent(session) == [7]


async def test_a_read_that_spans_a_bus_loss_is_done_again() -> None:
    hub, store, session, _ = setup()
    store.add(1, 2)
    store.gate = asyncio.Event()
    session.subscribe(CHANNEL)
    await store.reading.wait()
    live(hub, 3)  # held while reading
    hub.lost_all()  # the bus drops during the read
    store.add(3, 4)  # 4 was published while deaf: lost to this node
    store.gate.set()
    await asyncio.sleep(0.05)
    assert sent(session) == []  # the pass spanned the loss: nothing released
    assert (session._seen or {}).get(CID, 0) == 0
    store.add(5)
    hub.resync_all()  # resubscribed: read again
    live(hub, 5)  # also arrives live
    await settled(session)
    assert sent(session) == [1, 2, 3, 4, 5]


async def test_a_bus_loss_holds_live_messages_until_the_catch_up() -> None:
    hub, store, session, node = setup()
    session.subscribe(CHANNEL)
    store.add(1, 2, 3)
    await settled(session)
    assert sent(session) == [1, 2, 3]
    hub.lost_all()
    store.add(4, 5)  # published while the node was deaf
    store.add(6)
    live(hub, 6)  # delivered by the resubscription before the resync ran
    assert sent(session) == []
    assert session._seen == {CID: 3}
    hub.resync_all()
    await settled(session)
    await asyncio.sleep(0.01)  # the resync reports once every session is done
    assert sent(session) == [4, 5, 6]
    metrics = node.metrics.registry
    assert metrics.get_sample_value("chat_bus_reconnects_total") == 1
    assert metrics.get_sample_value("chat_bus_catchup_messages_total") == 3
    assert metrics.get_sample_value("chat_bus_sessions_catching_up") == 0
    assert metrics.get_sample_value("chat_bus_catchup_seconds_count") == 1


async def test_a_session_greeted_while_the_bus_is_deaf_holds_too() -> None:
    hub, store, session, _ = setup()
    hub.lost_all()
    late = Agentish(session.node, session.dispatcher, Codec.JSON)
    late.greet()
    late.subscribe(CHANNEL)
    store.add(1, 2)
    live(hub, 2)
    assert sent(late) == []
    hub.resync_all()
    await settled(late)
    assert sent(late) == [1, 2]


async def test_an_own_message_never_hides_a_lower_seq_on_its_way() -> None:
    hub, _, session, _ = setup()
    session.subscribe(CHANNEL)
    await settled(session)
    session.mark_seen(CID, 3)
    session.mark_sent(CID, 5)  # this socket's message, acknowledged before 4 arrived
    live(hub, 4)
    live(hub, 6)
    assert sent(session) == [4, 6]
    assert session._seen == {CID: 6}
    session.mark_sent(CID, 7)  # right after everything delivered: nothing left pending
    assert session._seen == {CID: 7}
    assert not session._sent
