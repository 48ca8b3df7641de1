"""A site's availability for its visitors (issue 14): open by its business hours, an agent
online, the typical reply time; pushed as `availability` events when it changes.

Each node follows the sites whose visitors are connected to it and re-evaluates them when
told (agent status or presence changed here) and on every dispatcher sweep (hours turn,
reply times move; changes made on other nodes are seen there). What it publishes goes over
the bus on `site:{id}`, so every node's visitors of the site hear it; a visitor socket
drops a value equal to the last one it sent (several nodes may see the same change).
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

from chat_server.core import channels, hours, ids
from chat_server.core.model import Site
from chat_server.service.node import Node

log = logging.getLogger(__name__)
REPLY_WINDOW = "1h"
SHARED_FOR_S = 1.0
"""How long what every site shares (an agent online, the reply time) is reused: a burst of
visitor `hello`s reads it once, not once each. A kick (a status or presence change on this
node) forgets it at once; other changes show within a second anyway."""


REPLY_EVERY_MS = 60_000
"""How long (node time) a measured typical reply time is reused. It is shown in whole
minutes, and reading it sums an hour of figures: every second, at 5,000 conversations, that
held the event loop for tens of milliseconds, and every message around it waited. While none
is measured it is read at every check, so a site's first answer shows at once (where people
answer chats, that is from the first answer on), and by a visitor's `hello` at most once in
`SHARED_FOR_S` (read by each, a burst of a thousand visitors to a closed site read an hour
of figures a thousand times)."""

PROBE_BATCH = 50
"""Connected agents read per round trip while looking for one who is online."""


def reply_s(p50_s: float | None) -> int | None:
    """The median first response rounded up to whole minutes, in seconds (None: none
    measured, and the widget names no time)."""
    if p50_s is None:
        return None
    return max(1, math.ceil(p50_s / 60)) * 60


class Availability:
    def __init__(self, node: Node) -> None:
        self.node = node
        self._sites: set[str] = set()
        """The sites with visitors connected to this node (dropped once they are gone)."""
        self._last: dict[str, dict[str, Any]] = {}
        """What this node last published per site."""
        self._dirty = asyncio.Event()
        self._shared: tuple[float, bool, frozenset[str]] | None = None
        """(loop time, online, the bots connected) as last read."""
        self._reply: tuple[int, int] | None = None
        """(node time, reply_s) as last measured (`REPLY_EVERY_MS`)."""
        self._unmeasured_at = -SHARED_FOR_S
        """Loop time when a read last found none measured (`SHARED_FOR_S`)."""
        self._reading = asyncio.Lock()
        """Held by a `hello`'s read of the reply time: the hellos that come meanwhile wait
        for it and reuse what it found (each read its own when they came together)."""
        self._kicks = 0
        """Counts kicks: a read that a kick overtook is used once, not kept."""

    def follow(self, site_id: str) -> None:
        """A visitor of the site connected here: re-evaluate it from now on."""
        self._sites.add(site_id)

    def kick(self) -> None:
        """Something that availability depends on may have changed: re-evaluate soon
        (coalesced: any number of kicks during a check cause one more check)."""
        self._shared = None
        self._kicks += 1
        self._dirty.set()

    def recheck(self) -> None:
        """Time passed (hours turn, reply times move, other nodes' agents come and go):
        re-evaluate soon, with what was read recently enough."""
        self._dirty.set()

    def forget(self) -> None:
        """The bus lost events: publish every site's current value again."""
        self._last.clear()
        self.kick()

    async def run(self) -> None:
        """The checking loop (one per node, started with the dispatcher)."""
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            try:
                await self.check()
            except Exception:  # a backend down: the next sweep kicks again
                log.warning("availability check failed", exc_info=True)

    async def of(self, site: Site) -> dict[str, Any]:
        """The site's availability now: `{open, online, reply_s, next_change}`."""
        online, reply, bots = await self._read_shared()
        value = self._value(site, online, reply, bots)
        last = self._last.get(site.id)
        return last if last == value else value  # one object for the site's many sockets

    async def check(self) -> None:
        hub = self.node.hub
        for site_id in list(self._sites):
            if not hub.local(channels.site(site_id)):
                self._sites.discard(site_id)
                self._last.pop(site_id, None)
        if not self._sites:
            return
        online, reply, bots = await self._read_shared(fresh=True)
        for site_id in sorted(self._sites):
            site = await self.node.store.directory.site(site_id)
            if site is None:
                continue
            value = self._value(site, online, reply, bots)
            if self._last.get(site_id) != value:
                self._last[site_id] = value
                await hub.publish(channels.site(site_id), {"t": "availability", **value})

    def _value(
        self, site: Site, online: bool, reply: int | None, bots: frozenset[str]
    ) -> dict[str, Any]:
        now = self.node.clock.now_ms()
        value: dict[str, Any] = {
            "open": hours.is_open(site.hours, now),
            "online": online,
            "reply_s": reply,
            "next_change": hours.next_change(site.hours, now),
        }
        if site.bot is not None and site.bot in bots:
            value["bot"] = True  # issue 17: the site's bot answers while no person is online
        return value

    async def _person_online(self, people: list[str]) -> bool:
        """Whether one of these connected agents has the status `online`: asked of the
        store a batch at a time until one has (a busy team has one in the first batch),
        which answers without handing the rows over (decoding every agent of a large
        installation every second took several percent of a node at 1,000 agents)."""
        directory = self.node.store.directory
        for start in range(0, len(people), PROBE_BATCH):
            if await directory.online_among(people[start : start + PROBE_BATCH]):
                return True
        return False

    async def _read_shared(self, fresh: bool = False) -> tuple[bool, int | None, frozenset[str]]:
        """What every site shares: a person connected (any node) with status `online` and
        the bots connected (reused for `SHARED_FOR_S`), and the last hour's median first
        response (for `REPLY_EVERY_MS`; none measured, for `SHARED_FOR_S` unless `fresh`)."""
        loop_now = asyncio.get_running_loop().time()
        reply = await self._reply_s(loop_now, fresh)
        if self._shared is not None and loop_now - self._shared[0] < SHARED_FOR_S:
            return self._shared[1], reply, self._shared[2]
        kicks = self._kicks
        store = self.node.store
        connected = await store.presence.online("agent")
        bot_ids = [i for i in connected if ids.is_bot_id(i)]
        bots = frozenset(a.id for a in await store.directory.agents_among(bot_ids) if a.is_bot)
        online = await self._person_online(sorted(set(connected) - set(bot_ids)))
        if kicks == self._kicks:  # else a kick overtook this read: used once, not kept
            self._shared = (loop_now, online, bots)
        return online, reply, bots

    async def _reply_s(self, loop_now: float, fresh: bool) -> int | None:
        known, reply = self._known_reply(loop_now, fresh)
        if known:
            return reply
        if fresh:
            return await self._read_reply(loop_now)
        async with self._reading:  # a burst of hellos: the first one reads, the rest reuse it
            known, reply = self._known_reply(loop_now, fresh)
            return reply if known else await self._read_reply(loop_now)

    def _known_reply(self, loop_now: float, fresh: bool) -> tuple[bool, int | None]:
        """(True, reply_s) while the last read still holds, (False, None) when it is due."""
        if self._reply is not None and self.node.clock.now_ms() - self._reply[0] < REPLY_EVERY_MS:
            return True, self._reply[1]
        if self._reply is None and not fresh and loop_now - self._unmeasured_at < SHARED_FOR_S:
            return True, None
        return False, None

    async def _read_reply(self, loop_now: float) -> int | None:
        now = self.node.clock.now_ms()
        figures = await self.node.store.figures.read(REPLY_WINDOW, now, "all")
        measured = reply_s(figures.quantile("frt_s", 0.5))
        self._reply = None if measured is None else (now, measured)
        self._unmeasured_at = loop_now
        return measured
