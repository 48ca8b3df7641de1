"""Search (issue 16), the role, on both backends: a closed conversation is indexed from what
is stored of it and found by its words (whole, the last as a prefix; notes too, system lines
not; without case or accents), its visitor, agents who held it, topic, site, dates and
rating, newest first, page after page; user text never reaches a store as query syntax;
retention takes it out of the index."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

import pytest

from chat_server.backends.base import Store
from chat_server.backends.redis import search as redis_search
from chat_server.backends.redis.store import RedisStore
from chat_server.core import conversation as flow
from chat_server.core import search
from chat_server.core.clock import ManualClock
from chat_server.core.model import Agent, Rating, Visitor
from tests.contract.support import agent, note, speaker, text, visitor

ANN, BOB, CAT = agent("a_ann"), agent("a_bob"), agent("a_cat")


async def chat(
    store: Store,
    clock: ManualClock,
    cid: str,
    *lines: str,
    vid: str | None = None,
    agents: Iterable[Agent] = (ANN,),
    notes: Iterable[str] = (),
    topic: str | None = None,
    site: str = "shop",
    who: tuple[str | None, str | None] = (None, None),
    close: bool = True,
    index: bool = True,
) -> str:
    """A conversation: the visitor's lines, given to each of `agents` in turn (the first
    answering), with `notes` by the last; closed and indexed unless told otherwise. One
    second later than the previous one."""
    clock.advance(1)
    vid = vid or f"v_{cid}"
    await store.directory.put_visitor(Visitor(vid, site, clock.now_ms(), *who))
    conv = flow.open_conversation(cid, site, vid, topic, clock.now_ms())
    first, *rest = lines or ("hello",)
    await store.conversations.open(conv, text(visitor(vid), first), None)
    last = None
    for n, a in enumerate(agents):
        give = store.conversations.transfer if n else store.conversations.claim
        await give(cid, a, clock.now_ms())
        await store.search.hold(cid, a.id)
        if n == 0:
            await store.conversations.append(cid, text(speaker(a), "Hi, how can I help?"))
        last = a
    for line in rest:
        await store.conversations.append(cid, text(visitor(vid), line))
    for body in notes:
        assert last is not None
        await store.conversations.append(cid, note(speaker(last), body))
    if close:
        await store.conversations.close(cid, clock.now_ms(), by="agent", reason="x", resolved=True)
        if index:
            assert await store.search.index(cid) is True
    return cid


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).date().isoformat()


async def ids(store: Store, before: int | None = None, limit: int = 50, **params: str) -> list[str]:
    query = search.parse(params).query
    return [f.cid for f in await store.search.query(query, before, limit)]


async def test_words_are_whole_the_last_a_prefix_notes_included(
    store: Store, clock: ManualClock
) -> None:
    await chat(store, clock, "c_1", "My refund for order 12345 is late")
    await chat(store, clock, "c_2", "Shipping question", "was it refunded?")
    await chat(store, clock, "c_3", "Where is my parcel", notes=["customer wants a refund"])
    assert await ids(store, q="refund") == ["c_3", "c_2", "c_1"]  # prefix: refunded too
    assert await ids(store, q="refund order") == ["c_1"]  # AND, the last a prefix
    assert await ids(store, q="refun") == ["c_3", "c_2", "c_1"]
    assert await ids(store, q="order 1234") == ["c_1"]
    assert await ids(store, q="1234 order") == []  # only the last word is a prefix
    assert await ids(store, q="12345 shipping") == []
    assert await ids(store, q="parcel customer") == ["c_3"]  # a note is searched (staff)
    assert await ids(store, q="joined") == []  # system lines are not
    assert await ids(store, q="help") == ["c_3", "c_2", "c_1"]  # the agent's words too
    assert await ids(store, q="is") == ["c_3", "c_1"]  # short: whole word only
    assert await ids(store, q="refundable") == []


async def test_text_without_case_or_accents_unicode_and_emoji(
    store: Store, clock: ManualClock
) -> None:
    await chat(store, clock, "c_1", "Un café crème, s'il vous plaît 🍰 — naïve Straße")
    await chat(store, clock, "c_2", "Привет, мир! 你好 Ελληνικά ÅNGSTRÖM")
    await chat(store, clock, "c_3", "plain cafe")
    assert await ids(store, q="CAFÉ") == ["c_3", "c_1"]
    assert await ids(store, q="creme plait") == ["c_1"]
    assert await ids(store, q="strasse") == ["c_1"]
    assert await ids(store, q="NAIVE") == ["c_1"]
    assert await ids(store, q="привет мир") == ["c_2"]
    assert await ids(store, q="ελληνικα angstrom") == ["c_2"]
    assert await ids(store, q="你好") == ["c_2"]
    assert await ids(store, q="🍰") == []  # no word in it: nothing matches
    assert await ids(store, q="🍰 cafe") == ["c_3", "c_1"]


BOTH, FIRST = ["c_2", "c_1"], ["c_1"]


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ('"', []),
        ("*", []),
        ("NEAR(", []),
        ("OR", FIRST),
        ("refund OR", FIRST),
        ('"refund', BOTH),
        ("refund*", BOTH),
        ("-refund", BOTH),
        ("^refund", BOTH),
        ("(refund)", BOTH),
        ("col:refund", []),
        ("a AND b", []),
        ("refund NOT order", []),
        ("'; DROP TABLE search_docs; --", []),
        ("%_\\", []),
        ("\x00refund", BOTH),
        ("refund\u200border", ["c_2"]),  # a zero-width space separates words
    ],
)
async def test_query_syntax_in_text_is_only_words(
    store: Store, clock: ManualClock, q: str, expected: list[str]
) -> None:
    await chat(store, clock, "c_1", "refund please, or else")
    await chat(store, clock, "c_2", "refund order")
    assert await ids(store, q=q) == expected


async def test_structured_filters(store: Store, clock: ManualClock) -> None:
    for a in (ANN, BOB, CAT):
        await store.directory.add_agent(a)
    await chat(store, clock, "c_1", who=("Jane Doe", "Jane.Doe@Example.com"), topic="billing")
    await chat(store, clock, "c_2", who=("Élodie", "elodie@shop.fr"), agents=[ANN, BOB])
    await chat(store, clock, "c_3", who=("Janet", None), site="other", agents=[CAT])
    await chat(store, clock, "c_4", agents=[])  # nobody took it
    assert await ids(store, visitor="jane") == ["c_3", "c_1"]  # name or email, a part
    assert await ids(store, visitor="EXAMPLE") == ["c_1"]
    assert await ids(store, visitor="jane.doe@example.com") == ["c_1"]  # whole: exact
    assert await ids(store, visitor="e.doe@example.com") == []  # not a part of an email
    assert await ids(store, visitor="elodie") == ["c_2"]
    assert await ids(store, agent=ANN.id) == ["c_2", "c_1"]  # held, then transferred
    assert await ids(store, agent=BOB.id) == ["c_2"]
    assert await ids(store, agent=CAT.id) == ["c_3"]
    assert await ids(store, topic="billing") == ["c_1"]
    assert await ids(store, site="other") == ["c_3"]
    assert await ids(store, site="other", agent=ANN.id) == []
    assert await ids(store, state="closed") == ["c_4", "c_3", "c_2", "c_1"]
    assert await ids(store, state="open") == []  # open ones are not indexed
    assert await ids(store, visitor="jane", q="hello") == ["c_3", "c_1"]
    assert await store.search.held("c_2", ANN.id) is True
    assert await store.search.held("c_2", CAT.id) is False


async def test_an_agent_who_wrote_or_closed_it_held_it(store: Store, clock: ManualClock) -> None:
    await chat(store, clock, "c_1", close=False)  # claimed by Ann, who answers
    await store.conversations.transfer("c_1", BOB, clock.now_ms())  # never recorded (`hold`)
    await store.conversations.close("c_1", clock.now_ms(), by="agent", reason="x", resolved=None)
    assert await store.search.index("c_1") is True
    assert await ids(store, agent=ANN.id) == ["c_1"]  # wrote in it
    assert await ids(store, agent=BOB.id) == ["c_1"]  # had it at the close


async def test_dates_and_ratings(store: Store, clock: ManualClock) -> None:
    await chat(store, clock, "c_1")
    day_one = clock.now_ms()
    clock.advance(86_400)
    await chat(store, clock, "c_2")
    await chat(store, clock, "c_3")
    clock.advance(86_400)
    await chat(store, clock, "c_4")
    await store.conversations.rate(Rating("c_1", clock.now_ms(), csat=5))
    await store.conversations.rate(Rating("c_2", clock.now_ms(), csat=2, nps=9))
    await store.conversations.rate(Rating("c_3", clock.now_ms(), nps=3))
    assert await ids(store, **{"from": iso(day_one), "to": iso(day_one)}) == ["c_1"]
    assert await ids(store, **{"from": iso(day_one + 86_400_000)}) == ["c_4", "c_3", "c_2"]
    assert await ids(store, to=iso(day_one + 86_400_000)) == ["c_3", "c_2", "c_1"]
    assert await ids(store, rating="5") == ["c_1"]
    assert await ids(store, rating="2") == ["c_2"]
    assert await ids(store, rating="rated") == ["c_3", "c_2", "c_1"]
    assert await ids(store, rating="unrated") == ["c_4"]
    assert await ids(store, rating="rated", q="hello", to=iso(day_one)) == ["c_1"]


async def test_pages_newest_first_without_gaps_or_repeats(store: Store, clock: ManualClock) -> None:
    for n in range(7):
        await chat(store, clock, f"c_{n}", "same words here")
    clock.advance(-7)  # three more in one millisecond: each its own rank
    for n in range(7, 10):
        await chat(store, clock, f"c_{n}", "same words here")
        clock.advance(-1)
    everything = await store.search.query(search.parse({"q": "words"}).query, None, 50)
    assert len({f.rank for f in everything}) == 10
    assert [f.rank for f in everything] == sorted((f.rank for f in everything), reverse=True)
    for params in ({"q": "same words"}, {}, {"agent": ANN.id}):
        query = search.parse(params).query
        seen: list[str] = []
        before = None
        while True:
            page = await store.search.query(query, before, 3)
            seen += [f.cid for f in page]
            if len(page) < 3:
                break
            before = page[-1].rank
        assert seen == [f.cid for f in everything], params


async def test_index_is_idempotent_and_only_of_closed_ones(
    store: Store, clock: ManualClock
) -> None:
    await chat(store, clock, "c_1", "first words", close=False)
    assert await store.search.index("c_1") is False  # open
    assert await store.search.index("c_none") is False
    assert await store.search.unindexed(10) == []
    await store.conversations.close("c_1", clock.now_ms(), by="agent", reason="x", resolved=None)
    await chat(store, clock, "c_2", "second words", index=False)
    assert await store.search.unindexed(10) == ["c_1", "c_2"]
    assert await store.search.unindexed(1) == ["c_1"]
    assert await ids(store, q="words") == []
    assert await store.search.index("c_1") is True
    rank = (await store.search.query(search.Query(), None, 10))[0].rank
    assert await store.search.index("c_1") is True  # again: the same rank, once
    assert [(f.cid, f.rank) for f in await store.search.query(search.Query(), None, 10)] == [
        ("c_1", rank)
    ]
    assert rank // search.SLOTS == (await store.conversations.get("c_1")).created  # type: ignore[union-attr]
    assert await store.search.unindexed(10) == ["c_2"]
    assert await ids(store, q="first") == ["c_1"]


async def test_retention_takes_it_out_of_the_index(store: Store, clock: ManualClock) -> None:
    await store.directory.add_agent(ANN)
    await chat(store, clock, "c_1", "unique zebra words", who=("Zed", "zed@example.com"))
    await chat(store, clock, "c_2", "other zebra words")
    assert await store.retention.remove("c_1") is True
    assert await ids(store, q="zebra") == ["c_2"]
    assert await ids(store, q="unique") == []
    assert await ids(store, visitor="zed@example.com") == []
    assert await ids(store, agent=ANN.id) == ["c_2"]
    assert await store.search.held("c_1", ANN.id) is False
    assert await store.search.index("c_1") is False  # gone: not indexed again
    if isinstance(store, RedisStore):
        k = store.keys
        assert await store.redis.hget(k.search_meta(), "c_1") is None
        assert await store.redis.hget(k.search_words(), "c_1") is None
        assert await store.redis.exists(k.search_word("unique"), k.search_held("c_1")) == 0
        assert await store.redis.zscore(k.search_terms(), "unique") is None
        assert await store.redis.zscore(k.search_terms(), "zebra") is not None


async def test_common_words_and_wide_prefixes_are_found_all_the_same(
    store: Store, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis keeps only a common word's newest postings, then walks another source below
    them; a prefix with many words is checked on candidates: the results are the same."""
    monkeypatch.setattr(redis_search, "COMMON_MIN", 3)
    monkeypatch.setattr(redis_search, "COMMON_SHARE", 100)
    monkeypatch.setattr(redis_search, "COMMON_CHECK", 1)
    monkeypatch.setattr(redis_search, "EXPANSIONS", 2)
    monkeypatch.setattr(redis_search, "STEP", 2)
    extra = {1: "zebra1", 4: "zebra4 lion4", 6: "zebra6 lion6"}
    for n in range(8):
        line = f"the parcel number{n} arrived {extra.get(n, '')}"
        await chat(store, clock, f"c_{n}", line, agents=[ANN, BOB][: n % 3])
    if isinstance(store, RedisStore):
        assert await store.redis.hget(store.keys.search_floors(), "parcel") is not None
        assert await store.redis.zcard(store.keys.search_word("parcel")) <= 4
    every = [f"c_{n}" for n in reversed(range(8))]
    assert await ids(store, q="parcel") == every
    assert await ids(store, q="the parcel arrived") == every
    assert await ids(store, q="parcel numb") == every  # a prefix of eight words
    assert await ids(store, q="number3") == ["c_3"]
    assert await ids(store, q="parcel", agent=BOB.id) == ["c_5", "c_2"]
    assert await ids(store, q="parcel", limit=3) == every[:3]
    ranks = {f.cid: f.rank for f in await store.search.query(search.Query(), None, 50)}
    assert await ids(store, before=ranks["c_4"], q="parcel") == every[4:]  # below the floor
    assert await ids(store, before=ranks["c_6"], q="parcel arrived") == every[2:]
    assert await ids(store, q="zebr") == ["c_6", "c_4", "c_1"]  # more words than expansions
    assert await ids(store, q="zebra4") == ["c_4"]
    assert await ids(store, q="lio") == ["c_6", "c_4"]  # the union of two words' postings
    assert await ids(store, q="zebra1 lio") == []
    assert await ids(store, q="parcel zebra") == ["c_6", "c_4", "c_1"]
    assert await ids(store, q="zzz") == []
    assert await ids(store, q="parcel zzz") == []
