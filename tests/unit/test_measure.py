"""`chat_server/core/measure.py`: what each event adds to the rolling figures (contract §6),
here the message events, which the stores hand over as a `Timing`."""

from __future__ import annotations

from chat_server.core import measure
from chat_server.core.model import Kind, Message, Role, Sender, Timing

T0 = 1_000_000
ANN = Sender(Role.AGENT, "a_ann", "Ann")
VERA = Sender(Role.VISITOR, "v_1", "Vera")


def message(sender: Sender, at_s: float, kind: Kind = Kind.TEXT) -> Message:
    return Message("c_1", 2, T0 + int(at_s * 1000), kind, sender, "x")


def counters(contributions: list[measure.Contribution]) -> list[dict[str, float]]:
    return [c.figures.counters for c in contributions]


def test_the_first_agent_text_is_the_first_response_and_answers_the_turn() -> None:
    found = Timing(T0, "billing", first_response_at=None, visitor_turn_at=T0)
    out = measure.message_added(found, message(ANN, 30), frt_target_s=60)
    assert [c.samples for c in out] == [(("frt_s", 30.0),), (("response_s", 30.0),)]
    assert all(c.dims == ("all", "agent:a_ann", "topic:billing") for c in out)
    assert out[0].figures.counters["answered"] == 1


def test_later_replies_count_only_the_turn_they_answer() -> None:
    found = Timing(T0, None, first_response_at=T0 + 30_000, visitor_turn_at=T0 + 35_000)
    out = measure.message_added(found, message(ANN, 50), frt_target_s=60)
    assert [c.samples for c in out] == [(("response_s", 15.0),)]
    assert out[0].dims == ("all", "agent:a_ann")
    answered_already = Timing(T0, None, first_response_at=T0 + 30_000, visitor_turn_at=None)
    assert measure.message_added(answered_already, message(ANN, 60), 60) == []


def test_visitors_notes_and_system_lines_add_nothing() -> None:
    found = Timing(T0, None, first_response_at=None, visitor_turn_at=T0)
    assert measure.message_added(found, message(VERA, 5), 60) == []
    assert measure.message_added(found, message(ANN, 5, Kind.NOTE), 60) == []
