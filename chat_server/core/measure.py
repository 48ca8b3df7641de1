"""What each conversation event contributes to the rolling figures (contract §6), and
under which dimensions: every figure counts for "all", for the conversation's agent and
for its topic, so supervisors can filter and agents can read their own.

Pure: the services call these with the states before and after an event and record the
`Figures` at the event's time. The node that performs a transition is the only one that
sees it succeed, so each event is recorded exactly once across nodes.
"""

from __future__ import annotations

from dataclasses import dataclass

from chat_server.core import samples
from chat_server.core.ids import is_bot_id
from chat_server.core.metrics import Figures
from chat_server.core.model import Conversation, Kind, Message, Rating, Role, State, Timing


@dataclass(frozen=True, slots=True)
class Contribution:
    ts: int
    dims: tuple[str, ...]
    figures: Figures
    samples: tuple[tuple[str, float], ...] = ()
    """The raw durations behind it (name, seconds), for exporters such as Prometheus."""


def dims(conv: Conversation, agent_id: str | None = None) -> tuple[str, ...]:
    agent = agent_id if agent_id is not None else (conv.agent.id if conv.agent else None)
    return _dims(agent, conv.topic)


def _dims(agent_id: str | None, topic: str | None) -> tuple[str, ...]:
    out = ["all"]
    if agent_id is not None:
        out.append(f"agent:{agent_id}")
    if topic:
        out.append(f"topic:{topic}")
    return tuple(out)


def _seconds(start: int, end: int) -> float:
    return max(0, end - start) / 1000


def opened(conv: Conversation) -> Contribution:
    """Started; also an offline message when it was opened as one (`pending`)."""
    figures = samples.started()
    if conv.state is State.PENDING:
        figures.merge(samples.offline())
    return Contribution(conv.created, dims(conv), figures)


def message_added(before: Timing, message: Message, frt_target_s: float) -> list[Contribution]:
    """First response (with its SLA) and the response to each visitor turn: an agent's
    text, measured against the conversation as it found it. An offline message's first
    answer counts apart (`offline_frt_s`, from when it became pending), not as either."""
    if message.kind is not Kind.TEXT or message.sender.role is not Role.AGENT:
        return []
    if is_bot_id(message.sender.id):  # issue 17: response times are people's
        return []
    out = []
    where = _dims(message.sender.id, before.topic)
    if before.first_response_at is None and before.pending_at is not None:
        frt = _seconds(before.pending_at, message.ts)
        figures = samples.offline_answered(frt)
        return [Contribution(message.ts, where, figures, (("offline_frt_s", frt),))]
    if before.first_response_at is None:
        frt = _seconds(before.created, message.ts)
        out.append(
            Contribution(
                message.ts, where, samples.first_response(frt, frt_target_s), (("frt_s", frt),)
            )
        )
    if before.visitor_turn_at is not None:
        response = _seconds(before.visitor_turn_at, message.ts)
        out.append(
            Contribution(message.ts, where, samples.response(response), (("response_s", response),))
        )
    return out


def transitioned(
    before: Conversation, after: Conversation, now: int, *, survey: bool = False
) -> list[Contribution]:
    """First assignment (the wait), closes (resolution, abandonment, FCR; with `survey`,
    the server's survey on, a close of a conversation that had an agent shows it), and
    becoming an offline message. An offline message's wait and resolution (hours, by
    design) are left out of the live chats' `wait_s` and `resolution_s`."""
    out = []
    offline = after.pending_at is not None
    if before.pending_at is None and offline:
        out.append(Contribution(now, dims(after), samples.offline()))
    if _first_person(before, after) and not offline:
        wait = _seconds(_wait_start(before, after), after.assigned_at or now)
        out.append(
            Contribution(now, dims(after), samples.assigned_first(wait), (("wait_s", wait),))
        )
    if after.state is State.CLOSED and before.state is not State.CLOSED:
        resolved = bool(after.resolved)
        abandoned = after.first_response_at is None and after.closed_by in {"visitor", "system"}
        resolution = _seconds(after.created, now) if resolved and not offline else None
        figures = samples.closed(
            resolved=resolved,
            resolution_s=resolution,
            abandoned=abandoned,
            inactive=after.close_reason == "inactive",
        )
        if survey and after.assigned_at is not None:  # as node.announce_closed sends it
            figures.merge(samples.surveyed())
        out.append(Contribution(now, dims(after), figures))
    return out


def _first_person(before: Conversation, after: Conversation) -> bool:
    """The first assignment to a person: a bot taking a conversation is not one, and a
    bot's handoff clears `assigned_at` so the person who takes it next is."""
    taken = before.assigned_at is None and after.assigned_at is not None
    return taken and after.agent is not None and not is_bot_id(after.agent.id)


def _wait_start(before: Conversation, after: Conversation) -> int:
    """A handed-off conversation (a bot among those excluded) waited for a person from its
    handoff (`queued_at`); any other from its start."""
    if any(is_bot_id(a) for a in before.excluded_agents):
        return before.queued_at
    return after.created


def transferred(before: Conversation, now: int) -> Contribution:
    """Counted for the agent who handed the conversation on."""
    return Contribution(now, dims(before), samples.transferred())


def rated(conv: Conversation, rating: Rating) -> Contribution:
    frt = (
        _seconds(conv.created, conv.first_response_at)
        if conv.first_response_at is not None
        else None
    )
    figures = samples.rated(csat=rating.csat, nps=rating.nps, ces=rating.ces, frt_s=frt)
    return Contribution(rating.ts, dims(conv), figures)


def recontact(closed_at: int, closed_dims: tuple[str, ...]) -> Contribution:
    """The visitor came back within `fcr_hours`: their last resolved close was not FCR."""
    return Contribution(closed_at, closed_dims, samples.recontacted())
