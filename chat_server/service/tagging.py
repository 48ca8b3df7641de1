"""Tags on conversations (issue 17): the one change that the console's `tag` frame and the
write API share (who may, the store's atomic change, the audit entry, the `tagged` event to
the staff following the conversation), and the reads by tag.

Agents tag their own conversations (those they hold, closed ones included), supervisors
any. `tagged {cid, tags}` goes on the conversation's channel: its agent and the
supervisors watching it; never to the visitor.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from chat_server.core import channels
from chat_server.core import conversation as flow
from chat_server.core import tags as rules
from chat_server.core.model import Agent, AuditEntry, State
from chat_server.protocol import frames as f
from chat_server.service import records
from chat_server.service.node import Node

if TYPE_CHECKING:
    from chat_server.service.agent import AgentSession

FIND_MAX = 500
"""Tagged conversations one listing looks at (before the reader's rights and filters)."""


async def change(
    node: Node,
    agent: Agent,
    cid: str,
    *,
    add: Sequence[str] = (),
    remove: Sequence[str] = (),
    replace: bool = False,
    origin: str | None = None,
) -> tuple[str, ...]:
    """Tags already normalised (`core/tags.normalise_all`). The tags after the change;
    `not_found`, `forbidden` (not the agent's), `bad_request` (past the cap). `origin`:
    the connection that asked, which gets `ok` instead of the event."""
    conv = await node.store.conversations.get(cid)
    if conv is None:
        raise flow.unknown_conversation()
    flow.require_own_or_supervisor(conv, agent)
    after = await node.store.tags.change(cid, conv.created, add=add, remove=remove, replace=replace)
    detail = {"tags": list(after)} if replace else {"add": list(add), "remove": list(remove)}
    await node.store.audit.record(
        AuditEntry(
            node.clock.now_ms(), agent.id, "tag", cid, json.dumps(detail, separators=(",", ":"))
        )
    )
    await node.hub.publish(
        channels.conversation(cid), {"t": "tagged", "cid": cid, "tags": list(after)}, skip=origin
    )
    return after


async def tag(session: AgentSession, frame: f.Tag) -> dict[str, Any]:
    """`tag {cid, add?, remove?}` -> `ok {tags}` (registered in `AgentSession.handlers`)."""
    after = await change(
        session.node,
        session.me,
        frame.cid,
        add=rules.normalise_all(frame.add),
        remove=rules.normalise_all(frame.remove),
        origin=session.id,
    )
    return {"tags": list(after)}


async def tagged_conversations(
    node: Node,
    viewer: Agent,
    tag: str,
    *,
    state: State | None = None,
    before: int | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """The views of the conversations holding `tag` that `viewer` may read (`records`),
    newest first, created before `before` when given."""
    store = node.store
    found: list[dict[str, Any]] = []
    cids = await store.tags.find(rules.normalise(tag), before=before, limit=FIND_MAX)
    for cid in cids:
        conv = await store.conversations.get(cid)
        if conv is None or (state is not None and conv.state is not state):
            continue
        if await records.may_read(node, viewer, conv):
            found.append(await node.conversation_view(conv))
            if len(found) >= limit:
                break
    return found
