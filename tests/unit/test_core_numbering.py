"""`chat_server/core/conversation.py` `number`: the one place seqs are allocated (gap-free,
in order, the conversation moving past each), and `row_changed`, which tells a store
whether a message changed more of the conversation than its `last_seq`."""

from __future__ import annotations

from dataclasses import replace

from chat_server.core import conversation as flow
from chat_server.core.model import SYSTEM, AgentRef, Draft, Kind, Role, Sender

T0 = 1_000_000
VERA = Sender(Role.VISITOR, "v_1", "Vera")
ANN = Sender(Role.AGENT, "a_ann", "Ann")


def test_drafts_get_the_next_seqs_in_order() -> None:
    conv = replace(flow.open_conversation("c_1", "shop", "v_1", None, T0), last_seq=4)
    drafts = [Draft(Kind.TEXT, VERA, "hi", "m1"), flow.system_line("Ann joined the chat")]
    after, messages = flow.number(conv, drafts, T0 + 10)
    assert [(m.cid, m.seq, m.ts, m.text, m.cmid) for m in messages] == [
        ("c_1", 5, T0 + 10, "hi", "m1"),
        ("c_1", 6, T0 + 10, "Ann joined the chat", None),
    ]
    assert messages[1].sender == SYSTEM and messages[1].kind is Kind.EVENT
    assert after.last_seq == 6
    assert after.visitor_turn_at == T0 + 10  # each message moves the conversation on


def test_numbering_nothing_changes_nothing() -> None:
    conv = flow.open_conversation("c_1", "shop", "v_1", None, T0)
    assert flow.number(conv, [], T0) == (conv, [])


def test_the_first_message_of_a_new_conversation_is_seq_1() -> None:
    conv = flow.open_conversation("c_1", "shop", "v_1", "billing", T0)
    after, (first,) = flow.number(conv, [Draft(Kind.TEXT, VERA, "hello")], conv.created)
    assert (first.seq, first.ts, after.last_seq) == (1, T0, 1)


def test_a_transitions_lines_follow_the_messages_before_it() -> None:
    conv = flow.open_conversation("c_1", "shop", "v_1", None, T0)
    conv, _ = flow.number(conv, [Draft(Kind.TEXT, VERA, "hello")], T0)
    moved = flow.claim(conv, AgentRef(ANN.id, "Ann"), T0 + 1)
    after, messages = flow.number(moved.conversation, moved.drafts, T0 + 1)
    assert [m.seq for m in messages] == [2] and after.last_seq == 2
    assert after.agent == AgentRef(ANN.id, "Ann")


def test_row_changed_ignores_the_seq_alone() -> None:
    conv = flow.open_conversation("c_1", "shop", "v_1", None, T0)
    note, _ = flow.number(conv, [Draft(Kind.NOTE, ANN, "psst")], T0 + 5)
    assert not flow.row_changed(conv, note)  # only last_seq moved
    turn, _ = flow.number(conv, [Draft(Kind.TEXT, VERA, "hi")], T0 + 5)
    assert turn.visitor_turn_at == T0 + 5
    assert not flow.row_changed(conv, turn)  # the visitor's turn began: messages tell it
    claimed = flow.claim(turn, AgentRef(ANN.id, "Ann"), T0 + 6).conversation
    answered, _ = flow.number(claimed, [Draft(Kind.TEXT, ANN, "hello")], T0 + 7)
    assert flow.row_changed(claimed, answered)  # the first response
    again, _ = flow.number(answered, [Draft(Kind.TEXT, ANN, "more")], T0 + 8)
    assert not flow.row_changed(answered, again)
