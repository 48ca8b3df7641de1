"""A message is one script (`lua/append.lua`: the checks, cmid dedupe, seq, XADD to the
conversation's stream, whose ids are the seqs, and PUBLISH), sent over the lean `Wire`: one
round trip, and nothing of it stays if it fails. A message's files are checked and bound
(their records get its seq) in that same script.

The seq is allocated inside the script, so the stored row and the published events are
sent split around it (`rows.spliced_row`, `rows.spliced_event`) and joined there. When the
reply is lost, a resend with the same cmid finds the stored message (`dup`) and answers
with it.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from chat_server.backends.records import message_from_row
from chat_server.backends.redis import decoded, lua, rows, stored
from chat_server.backends.redis.audit import audit_args
from chat_server.backends.redis.client import Client, redis_errors
from chat_server.backends.redis.webhooks import outbox_key
from chat_server.backends.redis.wire import Script
from chat_server.backends.roles.conversations import Appended
from chat_server.core import channels, files, views
from chat_server.core import conversation as flow
from chat_server.core import webhooks as hooks
from chat_server.core.errors import ChatError
from chat_server.core.ids import new_id
from chat_server.core.model import AuditEntry, Draft, Message, Timing
from chat_server.core.webhooks import Wants

REFUSED: dict[str, Callable[[], ChatError]] = {
    "not_found": flow.unknown_conversation,
    "forbidden": flow.not_yours,
    "closed": flow.closed_conversation,
    "no_file": files.unknown_file,
}
"""append.lua's refusals: those of `conversation.require_author` and `ensure_open`, and
`files.require_sendable`'s."""


class Appender:
    def __init__(self, client: Client) -> None:
        self.client = client
        self.script = Script(client.wire, lua("append.lua"), durable=True)
        # the visitor's channel name around the visitor id, which only append.lua knows
        head, tail = client.keys.channel(channels.visitor("\0")).split("\0")
        self._visitor_channel = (head, tail)

    async def append(
        self,
        cid: str,
        draft: Draft,
        origin: str | None,
        *,
        guarded: bool,
        audit: AuditEntry | None,
        webhooks: Wants | None = None,
    ) -> Appended:
        """One round trip: append.lua checks, dedupes, stores, audits and publishes."""
        ts = self.client.clock.now_ms()
        message = Message(cid, 0, ts, draft.kind, draft.sender, draft.text, draft.cmid, draft.files)
        row_head, row_tail = rows.spliced_row(message)
        event_head, event_tail = rows.spliced_event(views.msg_event(message), origin)
        visitor_channel, visitor_head, visitor_tail = ("", ""), b"", b""
        if views.visible_to_visitor(message):
            visitor_channel = self._visitor_channel
            visitor_head, visitor_tail = rows.spliced_event(
                views.msg_event(message, for_visitor=True), origin
            )
        sender = draft.sender
        k = self.client.keys
        keys = [k.live(cid), k.cmids(cid), k.messages(cid), k.audit()]
        bound: list[str | int] = []
        if draft.files:  # only then: a plain message's script work stays as it was
            keys.append(k.files(cid))
            bound = [files.owner_key(sender), len(draft.files), *(f.id for f in draft.files)]
        hook = self._hook(message, webhooks)
        if hook:  # only for a site that takes it: the files' key and arguments come first
            if not draft.files:
                keys.append(k.files(cid))
                bound = ["", 0]
            keys.append(outbox_key(self.client))
        async with redis_errors():
            reply = await self.script(
                keys=keys,
                args=[
                    sender.role.value,
                    sender.id or "",
                    1 if guarded else 0,
                    f"{sender.id}|{draft.cmid}" if draft.cmid is not None else "",
                    ts,
                    draft.kind.value,
                    row_head,
                    row_tail,
                    k.channel(channels.conversation(cid)),
                    event_head,
                    event_tail,
                    *visitor_channel,
                    visitor_head,
                    visitor_tail,
                    *bound,
                    *hook,
                    *(audit_args(audit) if audit is not None else [""]),
                ],
            )
        status = decoded(reply[0])
        if status == "ok":
            created, topic, frt, turn, pend, site = (decoded(v) for v in reply[2:8])
            timing = Timing(
                int(created),
                topic or None,
                stored.opt_int(frt),
                stored.opt_int(turn),
                stored.opt_int(pend),
                site,
            )
            stored_message = Message(  # not `replace`: it inspects the fields every call
                cid, int(reply[1]), ts, draft.kind, sender, draft.text, draft.cmid, draft.files
            )
            return Appended(stored_message, created=True, timing=timing)
        if status == "dup":
            async with redis_errors():
                await self.client.replicated()  # its first `ok` may have been refused
                found = await self.message(cid, int(reply[1]))
            assert found is not None
            return Appended(found, created=False)
        raise REFUSED[status]()

    def _hook(self, message: Message, webhooks: Wants | None) -> list[str | int]:
        """append.lua's webhook arguments: the sites that take this message's event, and
        the event but its site and seq (the script knows them); [] when no site does."""
        type_ = hooks.message_type(message.kind)
        sites = sorted(webhooks.sites(type_)) if webhooks and type_ else []
        if not sites:
            return []
        event = hooks.Event(
            new_id("evt"), type_ or "", message.ts, "", message.cid, hooks.message_data(message)
        )
        fields = hooks.event_fields(event)
        del fields["site"], fields["seq"]
        pairs = [x for item in fields.items() for x in item]
        return [len(sites), *sites, len(pairs), *pairs]

    async def message(self, cid: str, seq: int) -> Message | None:
        entries = await self.client.redis.xrange(
            self.client.keys.messages(cid), f"{seq}-0", f"{seq}-0"
        )
        return message_from_row(tuple(json.loads(entries[0][1][b"m"]))) if entries else None
