"""Conversation search on the embedded store (issue 16): the same corpus as
`bench/search_redis.py` (its conversations, words and queries) in SQLite FTS5.

Writes N closed conversations straight into a fresh database in a temporary directory (the
rows `EmbeddedStore` keeps), indexes each through the role (`store.search.index`, 64 at a
time), reports the file's growth (after VACUUM) and times the same six queries:

    python bench/search_embedded.py [--conversations 100000] [--seed 1]

About three minutes on the 2-core development machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import search_redis as corpus_of

from chat_server.backends.embedded.bus import LocalBus
from chat_server.backends.embedded.store import EmbeddedStore
from chat_server.backends.embedded.transcript import MESSAGE_COLUMNS
from chat_server.backends.records import (
    conversation_to_dict,
    message_row,
    visitor_row,
)
from chat_server.core.clock import ManualClock
from chat_server.core.search import Query

RUNS = 100


def fill(path: Path, corpus: corpus_of.Corpus, conversations: int) -> list[corpus_of.Made]:
    made = []
    db = sqlite3.connect(path)
    with db:
        for n in range(conversations):
            conv, visitor, messages = corpus_of.conversation(corpus, n, conversations)
            made.append((conv, visitor))
            assert conv.agent is not None
            data = json.dumps(conversation_to_dict(conv))
            db.execute(
                "INSERT INTO conversations VALUES (?, ?, 'closed', ?, ?, ?)",
                (conv.id, conv.visitor_id, conv.agent.id, conv.created, data),
            )
            db.execute(
                "INSERT INTO visitors (id, site, created, name, email, page_url, page_title) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                visitor_row(visitor),
            )
            db.executemany(
                f"INSERT INTO messages ({MESSAGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(*message_row(m)[:9], None) for m in messages],
            )
    db.close()
    return made


async def main(conversations: int, seed: int, folder: Path) -> None:
    began = time.perf_counter()
    rng = random.Random(seed)
    corpus = corpus_of.Corpus(rng)
    path = folder / "chat.sqlite3"
    store = EmbeddedStore(folder, LocalBus(), ManualClock())
    await store.start()  # the schema
    await store.stop()
    made = fill(path, corpus, conversations)
    before = path.stat().st_size
    print(f"wrote {conversations:,} closed conversations ({before / 2**20:.0f} MiB)")

    store = EmbeddedStore(folder, LocalBus(), ManualClock())
    await store.start()
    started, lock = time.perf_counter(), asyncio.Semaphore(64)

    async def index(cid: str) -> None:
        async with lock:
            assert await store.search.index(cid)

    await asyncio.gather(*(index(conv.id) for conv, _ in made))
    took = time.perf_counter() - started
    await store.stop()
    db = sqlite3.connect(path)
    db.execute("VACUUM")
    db.close()
    after = path.stat().st_size
    print(
        f"indexed in {took:.1f} s: {took / conversations * 1e6:.0f} us per conversation; "
        f"file {before / 2**20:.0f} -> {after / 2**20:.0f} MiB after VACUUM, "
        f"{(after - before) / conversations:.0f} bytes per conversation"
    )

    store = EmbeddedStore(folder, LocalBus(), ManualClock())
    await store.start()
    rare = corpus.words[12000::37]
    emails = [visitor.email or "" for _, visitor in made]
    parsed = corpus_of.parsed
    cases: dict[str, Callable[[], Query]] = {
        'one common word ("the")': lambda: parsed(q="the"),
        "a rare word (~50 conversations)": lambda: parsed(q=rng.choice(rare)),
        "an order number (1)": lambda: parsed(q=rng.choice(corpus.orders)),
        'two words ("refund tracking")': lambda: parsed(q="refund tracking"),
        "an email": lambda: parsed(visitor=rng.choice(emails)),
        "7 days + an agent": lambda: corpus_of.week_of_agent(rng),
    }
    print(f"queries (one page of 25 at {conversations:,} conversations, {RUNS} runs each):")
    for name, make in cases.items():
        times, found = [], 0
        for _ in range(RUNS):
            query = make()
            start = time.perf_counter()
            found = len(await store.search.query(query, None, 26))
            times.append((time.perf_counter() - start) * 1000)
        times.sort()
        p50, p95 = statistics.median(times), times[int(RUNS * 0.95) - 1]
        print(f"  {name:32s} p50 {p50:6.2f} ms   p95 {p95:6.2f} ms   ({found} on one run)")
    await store.stop()
    print(f"whole run: {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print("command: python bench/search_embedded.py " + " ".join(sys.argv[1:]))
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(main(args.conversations, args.seed, Path(folder)))
