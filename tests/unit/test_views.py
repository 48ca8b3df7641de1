"""`chat_server/core/views.py`: wire shapes per audience (contract §2 Objects)."""

from __future__ import annotations

from chat_server.core import views
from chat_server.core.model import (
    SYSTEM,
    AgentRef,
    Conversation,
    Kind,
    Message,
    Page,
    Role,
    Sender,
    State,
    Visitor,
)

ANN = Sender(Role.AGENT, "a_ann", "Ann")
VERA = Sender(Role.VISITOR, "v_1", "Vera")


def msg(kind: Kind = Kind.TEXT, sender: Sender = ANN, cmid: str | None = None) -> Message:
    return Message("c_1", 3, 1_700_000_000_000, kind, sender, "hello", cmid)


def conv(state: State = State.ACTIVE, agent: AgentRef | None = None) -> Conversation:
    return Conversation(
        id="c_1",
        site="shop",
        visitor_id="v_1",
        state=state,
        created=1_000,
        last_seq=7,
        topic="billing",
        agent=agent,
    )


VISITOR = Visitor("v_1", "shop", 1, "Vera", "vera@example.com", Page("https://x/cart", "Cart"))


def test_agent_message_for_the_visitor_has_no_agent_id() -> None:
    out = views.message(msg(), for_visitor=True)
    assert out["from"] == {"role": "agent", "name": "Ann"}
    assert "id" not in out["from"]
    assert "a_ann" not in repr(out)


def test_agent_message_for_agents_has_the_agent_id() -> None:
    out = views.message(msg())
    assert out == {
        "cid": "c_1",
        "seq": 3,
        "ts": 1_700_000_000_000,
        "kind": "text",
        "from": {"role": "agent", "id": "a_ann", "name": "Ann"},
        "text": "hello",
    }


def test_visitor_and_system_senders_keep_their_shape() -> None:
    assert views.message(msg(sender=VERA), for_visitor=True)["from"] == {
        "role": "visitor",
        "id": "v_1",
        "name": "Vera",
    }
    system = views.message(msg(Kind.EVENT, SYSTEM), for_visitor=True)
    assert system["from"]["role"] == "system"
    assert system["kind"] == "event"


def test_cmid_only_when_present() -> None:
    assert "cmid" not in views.message(msg())
    assert views.message(msg(cmid="m1"))["cmid"] == "m1"
    assert views.message(msg(cmid="m1"), for_visitor=True)["cmid"] == "m1"


def test_msg_event_is_a_msg_frame() -> None:
    event = views.msg_event(msg(), for_visitor=True)
    assert event["t"] == "msg"
    assert {k: v for k, v in event.items() if k != "t"} == views.message(msg(), for_visitor=True)


def test_notes_are_not_visible_to_visitor() -> None:
    assert not views.visible_to_visitor(msg(Kind.NOTE))
    assert views.visible_to_visitor(msg(Kind.TEXT))
    assert views.visible_to_visitor(msg(Kind.EVENT, SYSTEM))
    assert views.visible_to_visitor(msg(Kind.TEXT, VERA))


def test_conversation_for_the_visitor_shows_only_the_agent_name() -> None:
    out = views.conversation(conv(agent=AgentRef("a_ann", "Ann")), VISITOR, for_visitor=True)
    assert out["agent"] == {"name": "Ann"}
    assert "a_ann" not in repr(out)


def test_conversation_for_agents_shows_agent_id_and_name() -> None:
    out = views.conversation(conv(agent=AgentRef("a_ann", "Ann")), VISITOR)
    assert out["agent"] == {"id": "a_ann", "name": "Ann"}


def test_conversation_fields() -> None:
    out = views.conversation(conv(State.QUEUED), VISITOR)
    assert out["id"] == "c_1"
    assert out["state"] == "queued"
    assert out["topic"] == "billing"
    assert out["created"] == 1_000
    assert out["last_seq"] == 7
    assert out["agent"] is None
    assert out["visitor"] == {
        "id": "v_1",
        "name": "Vera",
        "email": "vera@example.com",
        "page": {"url": "https://x/cart", "title": "Cart"},
    }


def test_conversation_without_a_known_visitor() -> None:
    out = views.conversation(conv(), None, for_visitor=True)
    assert out["visitor"] == {"id": "v_1", "name": None, "email": None, "page": None}


def test_position_and_eta_only_when_given() -> None:
    plain = views.conversation(conv(State.QUEUED), VISITOR, for_visitor=True)
    assert "position" not in plain and "eta_s" not in plain
    queued = views.conversation(conv(State.QUEUED), VISITOR, for_visitor=True, position=2, eta_s=90)
    assert queued["position"] == 2
    assert queued["eta_s"] == 90
    # Nobody online: a position, and an unknown (null) estimate.
    unknown = views.conversation(conv(State.QUEUED), VISITOR, position=1, eta_s=None)
    assert unknown["position"] == 1 and unknown["eta_s"] is None


def test_agent_ref() -> None:
    ref = AgentRef("a_1", "Ann")
    assert views.agent_ref(None) is None
    assert views.agent_ref(None, for_visitor=True) is None
    assert views.agent_ref(ref) == {"id": "a_1", "name": "Ann"}
    assert views.agent_ref(ref, for_visitor=True) == {"name": "Ann"}
