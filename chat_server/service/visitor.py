"""Visitor frames (contract §3): one `VisitorSession` per visitor WebSocket."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from chat_server.core import channels, hours, ids, site_settings, tokens, views
from chat_server.core import conversation as flow
from chat_server.core.errors import ChatError, ErrorCode, bad_request, conflict
from chat_server.core.model import (
    Conversation,
    Draft,
    Kind,
    Page,
    Rating,
    Role,
    Sender,
    Site,
    State,
    Visitor,
)
from chat_server.protocol import frames as f
from chat_server.protocol.codec import Codec, Frame
from chat_server.protocol.frames import Envelope
from chat_server.service import files, offline
from chat_server.service.dispatch import Dispatcher
from chat_server.service.node import Node
from chat_server.service.session import FollowUp, Handler, Result, Session

AWAY_LINE = "We're away right now: leave your email and we'll answer here."
"""The system line of a conversation started outside business hours (issue 14)."""
SITE_FRESH_S = 1.0
"""How old a socket's copy of its site's settings may be for `hello` and sneak peek (a
`start` or `leave` reads them anew: the hours decide what it opens)."""


class VisitorSession(Session):
    role = "visitor"
    schemas = f.VISITOR_FRAMES

    def __init__(self, node: Node, dispatcher: Dispatcher, codec: Codec, site: Site) -> None:
        super().__init__(node, dispatcher, codec)
        self.site = site
        self.visitor: Visitor | None = None
        self.cid: str | None = None
        """The visitor's current (or last) conversation."""
        self.availability: dict[str, Any] | None = None
        """The site's availability as this socket last told it (issue 14)."""
        self._site_read = asyncio.get_running_loop().time()
        """When `site` was read (the handshake read it to check the origin)."""

    def handlers(self) -> dict[str, Handler]:
        return {
            "hello": self.hello,
            "start": self.start,
            "msg": self.msg,
            "typing": self.typing,
            "read": self.read,
            "sync": self.sync,
            "page": self.page,
            "close": self.close,
            "rate": self.rate,
            "profile": self.profile,
            "leave": self.leave,
        }

    @property
    def me(self) -> Visitor:
        assert self.visitor is not None
        return self.visitor

    def accept(self, channel: str, frame: Frame) -> bool:
        if frame.get("t") == "availability":
            return self._new_availability(frame)
        return self.first_delivery(frame)

    def _new_availability(self, frame: Frame) -> bool:
        """Only a change is sent: several nodes may publish the same value."""
        value = {k: v for k, v in frame.items() if k != "t"}
        if not self.greeted or value == self.availability:
            return False
        self.availability = value
        return True

    def catch_up_targets(self, channel: str | None) -> list[str]:
        if channel == channels.site(self.site.id):
            return []
        return [self.cid] if self.cid is not None else []

    async def state(self) -> tuple[Frame, FollowUp] | None:
        """The visitor's conversation as it is now (assigned, moved in the queue or closed
        while the bus was deaf), or null; one opened meanwhile in another tab is followed
        from then on (its messages come after the frame)."""
        if self.visitor is None:
            return None
        conv = await self.store.conversations.open_of(self.me.id)
        if conv is None and self.cid is not None:
            conv = await self.store.conversations.get(self.cid)
        frame: Frame = {"t": "state", "conversation": await self._view(conv) if conv else None}
        if conv is not None and await self._survey_owed(conv):
            frame["survey"] = list(self.node.settings.survey)

        def follow_up() -> None:
            if conv is not None and conv.id != self.cid:
                self.cid = conv.id
                self.catch_up(conv.id, None)

        return frame, follow_up

    async def _survey_owed(self, conv: Conversation) -> bool:
        """A conversation closed while deaf still gets its survey (as `announce_closed`
        would have sent it), unless it was rated meanwhile."""
        return (
            conv.state is State.CLOSED
            and conv.assigned_at is not None
            and bool(self.node.settings.survey)
            and await self.store.conversations.rating(conv.id) is None
        )

    async def closed(self) -> None:
        await super().closed()
        if self.visitor is not None:
            await self.store.presence.disconnected(
                "visitor", self.visitor.id, self.id, self.node.clock.now_ms()
            )

    # frames -----------------------------------------------------------------------------

    async def hello(self, hello: f.VisitorHello) -> Result:
        if self.greeted:
            raise conflict("hello was already said on this connection")
        now = self.node.clock.now_ms()
        identified = self._identified_id(hello)
        if identified is not None:
            visitor = await self.store.directory.visitor(identified)
            updated = visitor or Visitor(identified, self.site.id, now)
        else:
            visitor = await self._known_visitor(hello.token, now)
            updated = visitor or Visitor(ids.visitor_id(), self.site.id, now)
        page = Page(hello.page.url, hello.page.title) if hello.page else updated.page
        updated = replace(
            updated, name=hello.name or updated.name, email=hello.email or updated.email, page=page
        )
        if updated != visitor:
            await self.store.directory.put_visitor(updated)
        self.visitor = updated
        # a visitor met for the first time has no conversations yet: two reads saved
        conv = await self.store.conversations.open_of(updated.id) if visitor else None
        if conv is not None:
            self.cid = conv.id
            self.mark_seen(conv.id, conv.last_seq)  # the client syncs up to here itself
        await self.store.presence.connected("visitor", updated.id, self.id, now)
        self.greet()
        self.subscribe(channels.visitor(updated.id))
        site = await self.site_now(max_age_s=SITE_FRESH_S)  # the handshake just read it
        self.subscribe(channels.site(site.id))
        self.dispatcher.availability.follow(site.id)
        self.availability = await self.dispatcher.availability.of(site)
        token = tokens.sign_visitor(
            self.node.secret,
            updated.id,
            self.site.id,
            now + self.node.settings.visitor_token_ttl_s * 1000,
        )
        last = await offline.last_conversation(self.node, updated.id, conv) if visitor else None
        return {
            "visitor": {"id": updated.id, "name": updated.name, "email": updated.email},
            "token": token,
            "conversation": await self._view(conv) if conv else None,
            "site": site_settings.widget_json(site),
            "availability": self.availability,
            "last": last,
        }

    async def site_now(self, max_age_s: float = 0.0) -> Site:
        """The site's settings as they are now (changed since this socket opened, maybe),
        or as read less than `max_age_s` ago where that is fresh enough."""
        loop_now = asyncio.get_running_loop().time()
        if loop_now - self._site_read >= max_age_s:
            self.site = await self.store.directory.site(self.site.id) or self.site
            self._site_read = loop_now
        return self.site

    def _identified_id(self, hello: f.VisitorHello) -> str | None:
        """The visitor of a site-verified user id (contract extension `user_id`, `user_hash`).

        Only sites with an identity secret verify ids; a wrong hash is refused, so nobody
        reaches another user's history by claiming their id."""
        secret = self.site.identity_secret
        if secret is None or hello.user_id is None:
            return None
        if not hello.user_hash or not tokens.identity_matches(
            secret, hello.user_id, hello.user_hash
        ):
            raise ChatError(ErrorCode.UNAUTHORIZED, "identity verification failed")
        return tokens.identified_visitor_id(self.node.secret, self.site.id, hello.user_id)

    async def _known_visitor(self, token: str | None, now: int) -> Visitor | None:
        if not token:
            return None
        visitor_id = tokens.verify_visitor(self.node.secret, token, self.site.id, now)
        if visitor_id is None:
            return None
        visitor = await self.store.directory.visitor(visitor_id)
        return visitor if visitor is not None and visitor.site == self.site.id else None

    async def start(self, start: f.Start) -> Result:
        conv = await self.open_conversation(
            start.text, start.cmid, start.topic, start.fields, offline=False
        )
        self.dispatcher.kick()
        stored = await self.store.conversations.get(conv.id)
        return {"conversation": await self._view(stored or conv)}

    async def open_conversation(
        self,
        text: str,
        cmid: str | None,
        topic: str | None,
        fields: dict[str, str | bool] | None,
        *,
        offline: bool,
    ) -> Conversation:
        """The visitor's one open conversation, `text` as seq 1 (`start`, and `leave`
        without a cid when `offline`), checked against the site's topics and form. It opens
        `pending` when `offline` or outside the site's business hours."""
        if await self.store.conversations.open_of(self.me.id) is not None:
            raise conflict("you already have an open conversation")
        now = self.node.clock.now_ms()
        site = await self.site_now()
        site_settings.check_topic(site, topic)
        closed = not hours.is_open(site.hours, now)
        conv = flow.open_conversation(
            ids.conversation_id(self.me.id),
            site.id,
            self.me.id,
            topic,
            now,
            pending=offline or closed,
        )
        conv = replace(conv, fields=site_settings.check_answers(site, fields))
        first = Draft(Kind.TEXT, self._sender(), text, cmid)
        message = await self.store.conversations.open(conv, first, origin=self.id)
        self.cid = conv.id
        self.mark_seen(conv.id, message.seq)
        if closed and not offline:  # a chat asked for outside business hours (issue 14)
            await self.store.conversations.append(conv.id, flow.system_line(AWAY_LINE))
        self.node.metrics.conversations_started.inc()
        self.node.metrics.message_stored(message)
        await self.node.measure_opened(conv)
        if offline or closed:
            self.dispatcher.pending.previews.remember(conv.id, text)
        else:
            self.dispatcher.remember_preview(conv.id, text)
        return conv

    async def msg(self, msg: f.Msg) -> Result:
        refs = (
            await files.attach(self.store, msg.cid, self._sender(), msg.files) if msg.files else ()
        )
        appended = await self.store.conversations.append(
            msg.cid,
            Draft(Kind.TEXT, self._sender(), msg.text, msg.cmid, refs),
            origin=self.id,
            guarded=True,
        )
        self.mark_sent(msg.cid, appended.message.seq)
        if appended.created:
            self.node.metrics.message_stored(appended.message)
            await self.node.measure_message(appended)
        return {"seq": appended.message.seq, "ts": appended.message.ts}

    async def typing(self, typing: f.Typing) -> Result:
        conv = await self._own_open(typing.cid)
        frame: dict[str, Any] = {"t": "typing", "cid": conv.id, "on": typing.on, "by": "visitor"}
        peek = typing.preview is not None and typing.on
        if peek and (await self.site_now(max_age_s=SITE_FRESH_S)).sneak_peek:
            frame["preview"] = typing.preview  # the draft only where the site opted in
        await self.node.hub.publish(channels.conversation(conv.id), frame)
        return None

    async def read(self, read: f.Read) -> Result:
        conv = await self._own(read.cid)
        frame = {"t": "read", "cid": conv.id, "seq": read.seq, "by": "visitor"}
        await self.node.hub.publish(channels.conversation(conv.id), frame)
        await self.node.hub.publish(channels.visitor(self.me.id), frame, skip=self.id)
        return None

    async def sync(self, sync: f.Sync) -> Result:
        await self._own(sync.cid)
        return await self.sync_page(sync, for_visitor=True)

    async def page(self, page: f.PageChange) -> Result:
        self.visitor = replace(self.me, page=Page(page.url, page.title))
        await self.store.directory.put_visitor(self.visitor)
        conv = await self.store.conversations.open_of(self.me.id)
        if conv is not None:
            await self.node.hub.publish(
                channels.conversation(conv.id),
                {
                    "t": "visitor_page",
                    "cid": conv.id,
                    "url": page.url,
                    "title": page.title,
                },
            )
        return None

    async def profile(self, profile: f.Profile) -> Result:
        self.visitor = replace(
            self.me, name=profile.name or self.me.name, email=profile.email or self.me.email
        )
        await self.store.directory.put_visitor(self.visitor)
        conv = await self.store.conversations.open_of(self.me.id)
        if conv is not None:
            await self.node.hub.publish(
                channels.conversation(conv.id),
                {
                    "t": "visitor_profile",
                    "cid": conv.id,
                    "name": self.visitor.name,
                    "email": self.visitor.email,
                },
            )
        return {
            "visitor": {"id": self.me.id, "name": self.visitor.name, "email": self.visitor.email}
        }

    async def close(self, close: f.VisitorClose) -> Result:
        await self._own(close.cid)
        changed = await self.store.conversations.close(
            close.cid,
            self.node.clock.now_ms(),
            by="visitor",
            reason="visitor_closed",
            resolved=None,
        )
        await self.node.announce_closed(changed)
        self.dispatcher.kick()
        return None

    async def rate(self, rate: f.Rate) -> Result:
        conv = await self._own(rate.cid)
        if conv.state is not State.CLOSED:
            raise conflict("a conversation is rated after it is closed")
        if rate.csat is None and rate.nps is None and rate.ces is None and not rate.comment:
            raise bad_request("a rating needs csat, nps, ces or a comment")
        rating = Rating(
            cid=conv.id,
            ts=self.node.clock.now_ms(),
            csat=rate.csat,
            nps=rate.nps,
            ces=rate.ces,
            comment=rate.comment,
            agent_id=conv.agent.id if conv.agent else None,
            topic=conv.topic,
        )
        await self.store.conversations.rate(rating)
        await self.node.measure_rating(conv, rating)
        return None

    async def leave(self, leave: f.Leave) -> Result:
        """An offline message (issue 14, `service/offline.py`)."""
        return await offline.leave(self, leave)

    async def cobrowse(self, envelope: Envelope) -> Result:
        frame: f.Cobrowse = envelope.body
        conv = await self._own(frame.cid)
        await self.node.cobrowse.from_visitor(conv, frame.op, envelope.raw, self.id)
        return None

    # helpers ----------------------------------------------------------------------------

    def _sender(self) -> Sender:
        return Sender(Role.VISITOR, self.me.id, self.me.name)

    async def _own(self, cid: str) -> Conversation:
        conv = await self.store.conversations.get(cid)
        if conv is None or conv.visitor_id != self.me.id:
            raise flow.unknown_conversation()
        return conv

    async def _own_open(self, cid: str) -> Conversation:
        conv = await self._own(cid)
        flow.ensure_open(conv)
        return conv

    async def _view(self, conv: Conversation) -> dict[str, Any]:
        position = eta = None
        if conv.state is State.QUEUED:
            position, eta = (await self.dispatcher.positions()).get(conv.id, (None, None))
        return views.conversation(
            conv, self.visitor, for_visitor=True, position=position, eta_s=eta
        )
