"""Search on Redis (issue 16), without a search module: an inverted index in sorted sets,
scored by rank (`core/search.rank`: created, then a slot), walked newest first by a Lua
script that checks every other filter on each candidate.

Per indexed conversation: its structured fields (`search:meta`, one hash field: site,
topic, folded visitor name and email, `|agents|`) and its distinct words (`search:words`,
one hash field: ` a b c `); its rank in `search:all`, in the sorted set of each agent who
held it, of its visitor's email and of each of its words. A common word (in more than
`COMMON_MIN` conversations and `1/COMMON_SHARE` of them) keeps only its newest
`COMMON_MIN` postings, and its floor (`search:floors`) says where they stop: complete
postings of the few words in most conversations would be most of the memory, and a page
of results is the newest. `search:terms` lists the words, for the prefix's expansions.

A query picks the smallest source (a word's postings, the union of the prefix's
expansions, the agent's, the email's, or every conversation in the date range; a common
word's down to its floor, then the smallest complete one below it) and calls
`lua/search_scan.lua` over it in bounded steps (up to `STEP` candidates), so Redis is never
held long, until the page is full or the source ends. Candidates' words are checked in
`search:words`.
"""

from __future__ import annotations

import asyncio
import json

from chat_server.backends.records import conversation_from_dict, visitor_from_row
from chat_server.backends.redis import decoded, lua
from chat_server.backends.redis.client import Client, redis_errors
from chat_server.backends.redis.keys import Keys
from chat_server.backends.redis.wire import Script
from chat_server.backends.roles.search import Found
from chat_server.core import search
from chat_server.core.model import Kind, Role, State
from chat_server.core.search import Query

COMMON_MIN = 1000
COMMON_SHARE = 50
COMMON_CHECK = 32
"""Words are checked for being common at every this many conversations indexed."""
STEP = 1000
"""Candidates one script call reads (each source, for a union: `STEP // sources`)."""
EXPANSIONS = 32
"""A prefix with more words than this is checked on candidates, not walked."""
FORGET = lua("search_forget.lua")
Phase = tuple[list[str], int, int | None]
"""Sources to walk, from the highest rank (None: the newest) down to the lowest."""


class RedisSearch:
    def __init__(
        self, client: Client, *, accounts: Client | None = None, partition: tuple[int, int] = (0, 1)
    ) -> None:
        """`accounts`: where the visitors are, when not with the conversations; `partition`:
        which of how many (a spread installation, `spread_store.py`: the visitors are under
        its own prefix, and each partition ranks in slots of its own)."""
        self.client = client
        self._slots = partition
        self._accounts = accounts or client
        self.keys = client.keys
        self.redis = client.redis
        self._index = Script(client.wire, FORGET + lua("search_index.lua"))
        self._scan = Script(client.wire, lua("search_scan.lua"))
        before, _, after = self.keys.rating("\0").partition("\0")
        self._rating = (before, after)

    async def hold(self, cid: str, agent_id: str) -> None:
        async with redis_errors():
            await self.redis.sadd(self.keys.search_held(cid), agent_id)

    async def held(self, cid: str, agent_id: str) -> bool:
        async with redis_errors():
            return bool(await self.redis.sismember(self.keys.search_held(cid), agent_id))

    async def index(self, cid: str) -> bool:
        """Read on the lean wire (two round trips), fold the words here, write in one
        script: most of an index's cost is the script's two commands per word."""
        k, wire = self.keys, self.client.wire
        async with redis_errors():
            raw, state, entries = await asyncio.gather(
                wire.execute("GET", k.conv(cid)),
                wire.execute("HGET", k.live(cid), "state"),
                wire.execute("XRANGE", k.messages(cid), "-", "+"),
            )
            if raw is None or state is None or decoded(state) != State.CLOSED.value:
                return False
            conv = conversation_from_dict(json.loads(raw))
            accounts = self._accounts
            visitor = await accounts.wire.execute("GET", accounts.keys.visitor(conv.visitor_id))
        texts, agents = [], set()
        for _, (_, raw_row) in entries:
            # `records.message_row`: cid, seq, ts, kind, role, sender id, name, text, ...
            _, _, _, kind, role, sender, _, text, *_ = json.loads(raw_row)
            if kind != Kind.EVENT.value:
                texts.append(text)
                if role == Role.AGENT.value and sender:
                    agents.add(sender)
        if conv.agent is not None:
            agents.add(conv.agent.id)
        row = json.loads(visitor) if visitor else None
        name, email = search.visitor_keys(visitor_from_row(tuple(row)) if row else None)
        words = " ".join(search.document_words(texts))
        async with redis_errors():
            rank = await self._index(
                [k.live(cid), k.search_held(cid), *index_keys(k)],
                [
                    cid,
                    conv.created,
                    conv.site,
                    conv.topic or "",
                    name,
                    email,
                    f" {words} ",
                    *key_prefixes(k),
                    COMMON_MIN,
                    COMMON_SHARE,
                    COMMON_CHECK,
                    *self._slots,
                    *sorted(agents),
                ],
            )
        return rank is not None

    async def query(self, query: Query, before: int | None, limit: int) -> list[Found]:
        if not query.wants_closed or query.hopeless:
            return []
        low, high = query.rank_bounds()
        if before is not None:
            high = before - 1 if high is None else min(high, before - 1)
        if high is not None and high < low:
            return []
        found: list[Found] = []
        for sources, floor, top in await self._plan(query, low, high):
            found += await self._walk(query, sources, max(low, floor), top, limit - len(found))
            if len(found) >= limit:
                break
        return found[:limit]

    async def _walk(
        self, query: Query, sources: list[str], low: int, high: int | None, want: int
    ) -> list[Found]:
        """Up to `want` matches from `sources` between the ranks, in bounded script calls:
        a dense source fills a page from a few candidates, so start small and double."""
        found: list[Found] = []
        top: str | None = "+inf" if high is None else str(high)
        most = max(1, STEP // len(sources))
        step = min(most, max(16, 2 * want))
        async with redis_errors():
            while top is not None and len(found) < want:
                matches, top = await self._scan(
                    [self.keys.search_meta(), self.keys.search_words(), *sources],
                    [top, low, step, want - len(found), *self._filters(query)],
                )
                found += [
                    Found(decoded(matches[i]), int(matches[i + 1]))
                    for i in range(0, len(matches), 2)
                ]
                top = decoded(top) if top else None
                step = min(most, 2 * step)
        return found

    def _filters(self, query: Query) -> list[str]:
        if query.csat is not None:
            rating = str(query.csat)
        else:
            rating = {None: "", True: "rated", False: "unrated"}[query.rated]
        return [
            query.site or "",
            query.topic or "",
            query.visitor or "",
            query.email or "",
            query.agent or "",
            rating,
            *self._rating,
            query.prefix or "",
            *query.words,
        ]

    async def _plan(self, query: Query, low: int, high: int | None) -> list[Phase]:
        """What to walk, in order: the smallest source the query allows (a word's postings,
        the union of the prefix's, the agent's, the email's, or every conversation); when
        that is a common word's, whose postings stop at its floor, it is walked down to
        there and the smallest complete source below. Nothing when a word or the prefix is
        in no conversation at all."""
        k = self.keys
        top = "+inf" if high is None else high
        async with redis_errors(), self.redis.pipeline(transaction=False) as pipe:
            pipe.zcount(k.search_all(), low, top)
            for word in query.words:
                pipe.hget(k.search_floors(), word)
                pipe.zcard(k.search_word(word))
            if query.agent is not None:
                pipe.zcard(k.search_agent(query.agent))
            if query.email is not None:
                pipe.zcard(k.search_email(query.email))
            if query.prefix is not None:
                start = query.prefix.encode()
                pipe.zrangebylex(
                    k.search_terms(), b"[" + start, b"[" + start + b"\xff", 0, EXPANSIONS + 1
                )
            replies = await pipe.execute()
        complete: list[tuple[int, list[str]]] = [(int(replies[0]), [k.search_all()])]
        cut: list[tuple[int, list[str], int]] = []
        at = 1
        for word in query.words:
            floor, size = replies[at], int(replies[at + 1])
            at += 2
            if floor is not None:
                cut.append((size, [k.search_word(word)], int(floor)))
            elif size == 0:
                return []  # no conversation has this word
            else:
                complete.append((size, [k.search_word(word)]))
        for given, key in ((query.agent, k.search_agent), (query.email, k.search_email)):
            if given is not None:
                complete.append((int(replies[at]), [key(given)]))
                at += 1
        if query.prefix is not None:
            expansions = [decoded(t) for t in replies[at]]
            if not expansions:
                return []
            if len(expansions) <= EXPANSIONS:
                union = await self._union(expansions)
                if union is not None:
                    complete.append(union)
        size, best = min(complete, key=lambda option: option[0])
        narrow = [o for o in cut if o[0] < size and (high is None or o[2] <= high)]
        if not narrow:
            return [(best, 0, high)]
        _, posted, floor = min(narrow, key=lambda option: option[0])
        below = floor - 1 if high is None else min(high, floor - 1)
        return [(posted, floor, high), *([(best, 0, below)] if below >= low else [])]

    async def _union(self, expansions: list[str]) -> tuple[int, list[str]] | None:
        """The prefix's words' postings and their total size; None if one is common (its
        postings are cut)."""
        k = self.keys
        async with redis_errors(), self.redis.pipeline(transaction=False) as pipe:
            pipe.hmget(k.search_floors(), expansions)
            for word in expansions:
                pipe.zcard(k.search_word(word))
            floors, *sizes = await pipe.execute()
        if any(f is not None for f in floors):
            return None
        return sum(int(s) for s in sizes), [k.search_word(w) for w in expansions]

    async def unindexed(self, limit: int) -> list[str]:
        found: list[str] = []
        start, page = 0, 1000
        closed, meta = self.keys.convs(State.CLOSED.value), self.keys.search_meta()
        async with redis_errors():
            while len(found) < limit:
                cids = [
                    decoded(c) for c in await self.redis.zrange(closed, start, start + page - 1)
                ]
                if not cids:
                    break
                present = await self.redis.hmget(meta, cids)
                found += [cid for cid, p in zip(cids, present, strict=True) if p is None]
                start += page
        return found[:limit]


def index_keys(k: Keys) -> list[str]:
    """The index's own keys, as `search_forget.lua` takes them (after a conversation's own)."""
    return [k.search_meta(), k.search_words(), k.search_all(), k.search_floors(), k.search_terms()]


def key_prefixes(k: Keys) -> list[str]:
    """What the scripts put a word, an agent id or an email after to name its sorted set."""
    return [k.search_word(""), k.search_agent(""), k.search_email("")]
