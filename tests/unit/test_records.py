"""`service/records`: who may list and read which conversations (agents: the queue, their
own, and a visitor's earlier ones while serving them; supervisors: all), and a transcript
read leaves a `view` entry in the audit log. Also `backends/records`, the rows both stores
keep: a message's files and a file's record survive the round trip."""

from __future__ import annotations

import json

import pytest

from chat_server.backends import records as rows
from chat_server.core.errors import ChatError, ErrorCode
from chat_server.core.model import (
    AgentRef,
    AgentRole,
    Conversation,
    FileRef,
    Kind,
    Message,
    Rating,
    Role,
    Sender,
    State,
    StoredFile,
)
from chat_server.service import records
from chat_server.service.node import Node
from tests.unit.fake_node import Store, agent, fake_node

ANN, CAT, BOSS = agent("ann"), agent("cat"), agent("boss", AgentRole.SUPERVISOR)


def conv(cid: str, state: State, visitor: str, owner: str | None = None) -> Conversation:
    ref = AgentRef(owner, owner.title()) if owner else None
    return Conversation(cid, "s", visitor, state, 1, agent=ref)


def setup() -> tuple[Node, Store]:
    node, store, _, _ = fake_node()
    store.conversations.all = [
        conv("c_queued", State.QUEUED, "v_q"),
        conv("c_ann", State.ACTIVE, "v_1", "ann"),
        conv("c_cat", State.ACTIVE, "v_2", "cat"),
        conv("c_old", State.CLOSED, "v_1", "cat"),
    ]
    return node, store


async def listed(node: Node, viewer_role: str, **query: object) -> list[str]:
    viewer = {"ann": ANN, "boss": BOSS}[viewer_role]
    args: dict[str, object] = {"state": None, "agent_id": None, "visitor_id": None, "limit": 50}
    args.update(query)
    found = await records.conversations(node, viewer, **args)  # type: ignore[arg-type]
    return [c["id"] for c in found]


async def refused(code: ErrorCode, coroutine: object) -> None:
    with pytest.raises(ChatError) as caught:
        await coroutine  # type: ignore[misc]
    assert caught.value.code is code


async def test_an_agent_lists_their_own_or_the_queue() -> None:
    node, store = setup()
    assert await listed(node, "ann") == ["c_ann"]
    assert await listed(node, "ann", state=State.QUEUED) == ["c_queued"]
    assert store.conversations.finds[-1]["agent_id"] is None
    assert await listed(node, "ann", agent_id="ann") == ["c_ann"]
    await refused(ErrorCode.FORBIDDEN, listed(node, "ann", agent_id="cat"))


async def test_a_supervisor_lists_anything() -> None:
    node, _ = setup()
    assert await listed(node, "boss") == ["c_queued", "c_ann", "c_cat", "c_old"]
    assert await listed(node, "boss", agent_id="cat") == ["c_cat", "c_old"]
    assert await listed(node, "boss", visitor_id="v_2") == ["c_cat"]


async def test_an_agent_lists_a_visitors_conversations_only_while_serving_them() -> None:
    node, store = setup()
    assert await listed(node, "ann", visitor_id="v_1", agent_id="ann") == ["c_ann", "c_old"]
    assert store.conversations.finds[-1]["agent_id"] is None  # every agent's, not just mine
    await refused(ErrorCode.FORBIDDEN, listed(node, "ann", visitor_id="v_2"))


async def test_listing_gives_conversation_views() -> None:
    node, _ = setup()
    found = await records.conversations(
        node, BOSS, state=State.QUEUED, agent_id=None, visitor_id=None, limit=50
    )
    assert found == [await node.conversation_view(conv("c_queued", State.QUEUED, "v_q"))]


async def test_a_transcript_read_is_audited() -> None:
    node, store = setup()
    line = Message("c_ann", 1, 5, Kind.TEXT, Sender(Role.VISITOR, "v_1", None), "hi")
    store.conversations.messages = {"c_ann": [line]}
    store.conversations.ratings = {"c_ann": Rating("c_ann", 9, csat=5)}
    read = await records.transcript(node, ANN, "c_ann")
    assert read.messages == [line] and read.more is False
    assert read.rating == Rating("c_ann", 9, csat=5)
    assert read.conversation["id"] == "c_ann"
    [entry] = store.audit.entries
    assert (entry.agent_id, entry.action, entry.cid) == ("ann", "view", "c_ann")
    assert entry.ts == node.clock.now_ms()


async def test_who_may_read_a_transcript() -> None:
    node, store = setup()
    await refused(ErrorCode.NOT_FOUND, records.transcript(node, ANN, "c_none"))
    await refused(ErrorCode.FORBIDDEN, records.transcript(node, ANN, "c_cat"))
    assert store.audit.entries == []  # a refused read is not a view
    assert (await records.transcript(node, ANN, "c_queued")).conversation["id"] == "c_queued"
    assert (await records.transcript(node, ANN, "c_old")).conversation["id"] == "c_old"  # v_1
    assert (await records.transcript(node, BOSS, "c_cat")).conversation["id"] == "c_cat"
    assert [e.cid for e in store.audit.entries] == ["c_queued", "c_old", "c_cat"]


async def test_the_audit_log_passes_its_filters() -> None:
    node, _ = setup()
    await records.transcript(node, ANN, "c_ann")
    await records.transcript(node, BOSS, "c_cat")
    log = await records.audit_log(node, cid=None, agent_id="boss", limit=10)
    assert [e.cid for e in log] == ["c_cat"]
    assert len(await records.audit_log(node, cid=None, agent_id=None, limit=1)) == 1


# --- backends/records: the stored rows ------------------------------------------------

SHOT = FileRef("f_" + "a" * 24 + ".c_1", "shot ünï.png", "png", 1234, 640, 480)
DOC = FileRef("f_" + "b" * 24 + ".c_1", "bill.pdf", "pdf", 99)


def message(*files: FileRef) -> Message:
    return Message("c_1", 7, 5, Kind.TEXT, Sender(Role.VISITOR, "v_1", "Vera"), "", "m", files)


def test_a_message_without_files_keeps_nine_columns() -> None:
    m = message()
    assert len(rows.message_row(m)) == 9
    assert rows.message_from_row(rows.message_row(m)) == m
    assert rows.message_from_row((*rows.message_row(m), None)) == m  # a NULL files column


def test_a_message_with_files_round_trips() -> None:
    m = message(SHOT, DOC)
    row = rows.message_row(m)
    assert rows.message_from_row(row) == m
    as_json = json.loads(json.dumps(row))  # as the Redis stream keeps it
    assert rows.message_from_row(as_json) == m
    as_text = (*row[:9], json.dumps(row[9]))  # as the SQLite column keeps it
    assert rows.message_from_row(as_text) == m


@pytest.mark.parametrize("seq", [None, 12])
@pytest.mark.parametrize("ref", [SHOT, DOC])
def test_a_stored_file_round_trips(seq: int | None, ref: FileRef) -> None:
    stored = StoredFile(ref, "c_1", "shop", "visitor:v_1", 1_000, ref.width is not None, seq)
    raw = rows.stored_file_to_json(stored)
    assert rows.stored_file_from_json(raw) == stored
    assert rows.stored_file_from_json(raw.encode()) == stored
    # file_expire.lua and append.lua tell an unsent record by its end
    assert raw.endswith(",null]") is (seq is None)
