"""Conversation search on Redis (issue 16): index memory, indexing time and query latency at
100,000 conversations.

Starts its own redis-server on 127.0.0.1 (a free port, no persistence, a temporary
directory) unless given `--redis URL`, and uses a fresh key prefix. Writes N closed
conversations straight into the store's keys (what `RedisStore` keeps of a closed
conversation: its JSON, live hash, message stream and visitor; ~10 messages each, lines
of 5 to 14 words drawn from a Zipf distribution over a 20,000-word vocabulary, English
words at the head, taken from a pool of 100,000 such lines; an order number, a name and an
email per visitor), then indexes each through the role (`store.search.index`, 32 at a
time) and times it, reads `INFO memory` before and after, and times six kinds of query
(`store.search.query`, one page of 25, 100 runs each):

    python bench/search_redis.py [--conversations 100000] [--seed 1] [--redis URL]

The whole run takes three to four minutes on the 2-core development machine.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

from chat_server.backends.records import conversation_to_dict, message_row, visitor_row
from chat_server.backends.redis import rows, search
from chat_server.backends.redis.store import RedisStore
from chat_server.core import search as core_search
from chat_server.core.clock import ManualClock
from chat_server.core.model import (
    AgentRef,
    Conversation,
    Kind,
    Message,
    Role,
    Sender,
    State,
    Visitor,
)

T0 = 1_735_689_600_000  # 2025-01-01
YEAR_MS = 365 * 86_400_000
RUNS = 100
AGENTS = [f"a_agent{n:02d}" for n in range(20)]
TOPICS = [None, "billing", "shipping", "returns", "account"]
SITES = ["shop", "outlet", "pro"]
HEAD = """the to i you a and it is my for of in that this on have be with can your we not do
me was what are at if so but order just get please will no thanks hi there all hello how up
an would any one know yes like when about now out they need help time from by has its got
been did still could see or here back as more which check thank also them only sure then
want their some again had let today our new can't don't i'm it's make refund shipping
delivery package tracking number account password email address payment card invoice return
item size color price discount code cancel subscription update login reset received arrived
damaged wrong missing week days available stock store website app problem issue error
message working phone call contact support team manager"""
"""The head of the vocabulary, most frequent first (the rest is made up)."""
NAMES = "Jane John Maria Ahmed Wei Olga Pierre Sofia Luca Emma Noah Aiko Ravi Fatima Lars"
SURNAMES = "Doe Smith Garcia Khan Zhang Ivanova Martin Rossi Bianchi Muller Kim Sato Patel Haddad"


def vocabulary(rng: random.Random, size: int) -> list[str]:
    """English words first (the frequent ones), then made-up words for the long tail."""
    syllables = [c + v for c in "bcdfghklmnprstvz" for v in "aeiou"] + ["ing", "er", "on"]
    words = list(dict.fromkeys(HEAD.split()))
    seen = set(words)
    while len(words) < size:
        word = "".join(rng.choice(syllables) for _ in range(rng.randint(2, 4)))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


Made = tuple[Conversation, Visitor]


class Corpus:
    def __init__(self, rng: random.Random, size: int = 20_000) -> None:
        self.rng = rng
        self.words = vocabulary(rng, size)
        weights = [1 / (rank**1.07) for rank in range(1, size + 1)]
        self.cum = list(itertools.accumulate(weights))
        self.orders: list[str] = []
        self.pool: list[str] = []

    def draw(self) -> str:
        count = self.rng.randint(5, 14)
        return " ".join(self.rng.choices(self.words, cum_weights=self.cum, k=count))

    def line(self) -> str:
        """A message line: one of 100,000 drawn at the start (drawing each of a million
        would take longer than indexing them; each conversation's words are as varied)."""
        if not self.pool:
            self.pool = [self.draw() for _ in range(100_000)]
        return self.rng.choice(self.pool)


def conversation(
    corpus: Corpus, n: int, conversations: int
) -> tuple[Conversation, Visitor, list[Message]]:
    """Conversation `n` of a year: a visitor, an agent, ~10 messages, closed."""
    rng = corpus.rng
    cid, vid = f"c_{n:016x}", f"v_{n:016x}"
    created = T0 + n * YEAR_MS // conversations + rng.randrange(1000)
    agent = rng.choice(AGENTS)
    first, last = rng.choice(NAMES.split()), rng.choice(SURNAMES.split())
    email = f"{first.lower()}.{last.lower()}{n}@example.com"
    visitor = Visitor(vid, rng.choice(SITES), created, f"{first} {last}", email)
    you, me = Sender(Role.VISITOR, vid, None), Sender(Role.AGENT, agent, agent)
    order = f"A{rng.randrange(10**6):06d}"
    corpus.orders.append(order)
    lines = [f"hello my order {order} " + corpus.line()]
    lines += [corpus.line() for _ in range(rng.randint(7, 11))]
    messages = [
        Message(cid, seq, created + seq * 20_000, Kind.TEXT, you if seq % 2 else me, text)
        for seq, text in enumerate(lines, start=1)
    ]
    conv = Conversation(
        cid,
        visitor.site,
        vid,
        State.CLOSED,
        created,
        last_seq=len(messages),
        topic=rng.choice(TOPICS),
        agent=AgentRef(agent, agent),
        assigned_at=created + 5000,
        closed_at=created + 600_000,
        closed_by="agent",
        close_reason="resolved",
        resolved=True,
    )
    return conv, visitor, messages


async def fill(store: RedisStore, corpus: Corpus, conversations: int) -> list[Made]:
    """The closed conversations, as the store keeps them, on the store's lean connection
    (its commands of one loop turn leave in one write)."""
    k, wire, made = store.keys, store.wire, []
    for start in range(0, conversations, 500):
        sent = []
        for n in range(start, min(start + 500, conversations)):
            conv, visitor, messages = conversation(corpus, n, conversations)
            made.append((conv, visitor))
            cid = conv.id
            sent += [
                wire.send("SET", k.conv(cid), rows.dumps(conversation_to_dict(conv))),
                wire.send(
                    "HSET",
                    k.live(cid),
                    "seq",
                    conv.last_seq,
                    "state",
                    "closed",
                    "created",
                    conv.created,
                    "visitor",
                    conv.visitor_id,
                ),
                wire.send("SET", k.visitor(visitor.id), rows.dumps(visitor_row(visitor))),
                wire.send("ZADD", k.convs(State.CLOSED.value), conv.created, cid),
            ]
            for m in messages:
                row = rows.dumps(message_row(m))
                sent.append(wire.send("XADD", k.messages(cid), f"{m.seq}-0", "m", row))
        await asyncio.gather(*sent)
    return made


async def used_memory(store: RedisStore) -> int:
    info = await store.redis.info("memory")
    return int(info["used_memory"])


async def timed(call: Callable[[], Awaitable[object]], runs: int) -> tuple[float, float]:
    """p50 and p95 of `runs` calls, in ms."""
    took = []
    for _ in range(runs):
        start = time.perf_counter()
        await call()
        took.append((time.perf_counter() - start) * 1000)
    took.sort()
    return statistics.median(took), took[int(len(took) * 0.95) - 1]


def start_redis(directory: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    binary = shutil.which("redis-server") or sys.exit("redis-server not found")
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(directory),
            "--loglevel",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), 0.1).close()
            break
        except OSError:
            time.sleep(0.05)
    return proc, f"redis://127.0.0.1:{port}/0"


async def main(conversations: int, seed: int, url: str) -> None:
    began = time.perf_counter()
    rng = random.Random(seed)
    store = RedisStore(url, ManualClock(), prefix=f"bench{rng.randrange(10**9)}")
    await store.start()
    corpus = Corpus(rng)
    started = time.perf_counter()
    made = await fill(store, corpus, conversations)
    print(f"wrote {conversations:,} closed conversations in {time.perf_counter() - started:.1f} s")

    before = await used_memory(store)
    started = time.perf_counter()
    lock = asyncio.Semaphore(32)

    async def index(cid: str) -> None:
        async with lock:
            assert await store.search.index(cid)

    await asyncio.gather(*(index(conv.id) for conv, _ in made))
    took = time.perf_counter() - started
    after = await used_memory(store)
    common = await store.redis.hlen(store.keys.search_floors())
    terms = await store.redis.zcard(store.keys.search_terms())
    print(
        f"indexed in {took:.1f} s: {took / conversations * 1e6:.0f} us per conversation "
        f"(32 in flight), {conversations / took:,.0f} per second"
    )
    print(
        f"index memory: {(after - before) / 2**20:.1f} MiB, "
        f"{(after - before) / conversations:.0f} bytes per conversation (used_memory "
        f"{before / 2**20:.1f} -> {after / 2**20:.1f} MiB); {terms:,} words, {common:,} common "
        f"(in over {search.COMMON_MIN:,} and 1/{search.COMMON_SHARE} of the conversations: "
        f"their newest {search.COMMON_MIN:,} postings kept)"
    )
    alone = await timed(lambda: store.search.index(rng.choice(made)[0].id), 300)
    print(f"indexing one again, alone: p50 {alone[0]:.2f} ms, p95 {alone[1]:.2f} ms")

    rare = corpus.words[12000::37]  # each in some 50 of 100,000 conversations
    emails = [visitor.email or "" for _, visitor in made]
    page = 26  # a page of 25, and one more to know there is a next
    cases: dict[str, Callable[[], Awaitable[object]]] = {
        'one common word ("the")': lambda: store.search.query(parsed(q="the"), None, page),
        "a rare word (~50 conversations)": lambda: store.search.query(
            parsed(q=rng.choice(rare)), None, page
        ),
        "an order number (1)": lambda: store.search.query(
            parsed(q=rng.choice(corpus.orders)), None, page
        ),
        'two words ("refund tracking")': lambda: store.search.query(
            parsed(q="refund tracking"), None, page
        ),
        "an email": lambda: store.search.query(parsed(visitor=rng.choice(emails)), None, page),
        "7 days + an agent": lambda: store.search.query(week_of_agent(rng), None, page),
    }
    print(f"queries (one page of 25 at {conversations:,} conversations, {RUNS} runs each):")
    for name, call in cases.items():
        found = await call()
        p50, p95 = await timed(call, RUNS)
        size = len(found) if isinstance(found, list) else 0
        print(f"  {name:32s} p50 {p50:6.2f} ms   p95 {p95:6.2f} ms   ({size} on one run)")
    await store.stop()
    print(f"whole run: {time.perf_counter() - began:.0f} s")


def parsed(**params: str) -> core_search.Query:
    return core_search.parse(params).query


def week_of_agent(rng: random.Random) -> core_search.Query:
    start = T0 + rng.randrange(350) * 86_400_000
    query = parsed(agent=rng.choice(AGENTS))
    return replace(query, start=start, end=start + 7 * 86_400_000 - 1)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--redis", default=None, help="an existing Redis (else one is started)")
    args = parser.parse_args()
    print("command: python bench/search_redis.py " + " ".join(sys.argv[1:]))
    if args.redis:
        asyncio.run(main(args.conversations, args.seed, args.redis))
    else:
        with tempfile.TemporaryDirectory() as folder:
            proc, url = start_redis(Path(folder))
            try:
                asyncio.run(main(args.conversations, args.seed, url))
            finally:
                proc.terminate()
                proc.wait()
