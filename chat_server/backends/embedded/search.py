"""The embedded store's search (issue 16): SQLite FTS5 over each closed conversation's
distinct words, and its structured fields in a table filtered by SQL.

`search_docs` has one row per indexed conversation, keyed by its rank (so rows, and the
FTS rows that share their rowid, sort newest first by the primary key); `search_words` is a
`detail=none` FTS5 table (no positions: words and prefixes only, a smaller index) holding
the words `core/search.words` gave, so the tokenizer sees plain folded words and both
backends agree on what matches. `search_held` says who held a conversation (with its rank
once indexed). A query walks the most selective of: the FTS matches, the agent's held
rows, the visitor's email, or every row, newest first, and checks the rest in SQL.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from chat_server.backends.embedded import durable, transcript
from chat_server.backends.embedded.sqlite import Database
from chat_server.backends.roles.search import Found
from chat_server.core import search
from chat_server.core.model import Kind, Role, State
from chat_server.core.search import OPEN_SLOT, Query

CLOSED = State.CLOSED.value


@dataclass(frozen=True, slots=True)
class Doc:
    cid: str
    created: int
    site: str
    topic: str | None
    name: str
    email: str
    agents: tuple[str, ...]
    words: str


class EmbeddedSearch:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def hold(self, cid: str, agent_id: str) -> None:
        def op(c: sqlite3.Connection) -> None:
            c.execute(
                "INSERT INTO search_held (agent_id, cid, rank) VALUES "
                "(?, ?, (SELECT rank FROM search_docs WHERE cid = ?)) ON CONFLICT DO NOTHING",
                (agent_id, cid, cid),
            )

        await durable.write(self._db, op)

    async def held(self, cid: str, agent_id: str) -> bool:
        row = await self._db.read(
            lambda c: c.execute(
                "SELECT 1 FROM search_held WHERE agent_id = ? AND cid = ?", (agent_id, cid)
            ).fetchone()
        )
        return row is not None

    async def index(self, cid: str) -> bool:
        doc = await self._db.read(lambda c: _document(c, cid))
        if doc is None:
            return False
        return await durable.write(self._db, lambda c: _put(c, doc))

    async def query(self, query: Query, before: int | None, limit: int) -> list[Found]:
        if not query.wants_closed or query.hopeless:
            return []
        sql, args = _select(query, before, limit)
        rows = await self._db.read(lambda c: c.execute(sql, args).fetchall())
        return [Found(cid, rank) for rank, cid in rows]

    async def unindexed(self, limit: int) -> list[str]:
        rows = await self._db.read(
            lambda c: c.execute(
                "SELECT id FROM conversations c WHERE state = ? AND NOT EXISTS "
                "(SELECT 1 FROM search_docs d WHERE d.cid = c.id) ORDER BY created LIMIT ?",
                (CLOSED, limit),
            ).fetchall()
        )
        return [cid for (cid,) in rows]


def _document(c: sqlite3.Connection, cid: str) -> Doc | None:
    """What the index keeps of a closed conversation, read in one go (the reader thread
    also folds the words)."""
    conv = transcript.conversation(c, cid)
    if conv is None or conv.state is not State.CLOSED:
        return None
    texts, agents = [], set()
    for role, sender, text in c.execute(
        "SELECT role, sender_id, text FROM messages WHERE cid = ? AND kind != ?",
        (cid, Kind.EVENT.value),
    ):
        texts.append(text)
        if role == Role.AGENT.value and sender:
            agents.add(sender)
    agents.update(
        aid for (aid,) in c.execute("SELECT agent_id FROM search_held WHERE cid = ?", (cid,))
    )
    if conv.agent is not None:
        agents.add(conv.agent.id)
    row = c.execute("SELECT name, email FROM visitors WHERE id = ?", (conv.visitor_id,)).fetchone()
    name, email = search.visitor_keys_of(*(row or (None, None)))
    return Doc(
        cid,
        conv.created,
        conv.site,
        conv.topic,
        name,
        email,
        tuple(sorted(agents)),
        " ".join(search.document_words(texts)),
    )


def _put(c: sqlite3.Connection, doc: Doc) -> bool:
    """The document, at its rank (kept when indexed again), only while the conversation is
    there and closed (retention may have removed it since it was read)."""
    state = c.execute("SELECT state FROM conversations WHERE id = ?", (doc.cid,)).fetchone()
    if state is None or state[0] != CLOSED:
        return False
    kept = c.execute("SELECT rank FROM search_docs WHERE cid = ?", (doc.cid,)).fetchone()
    if kept is not None:
        rank = int(kept[0])
        c.execute("DELETE FROM search_words WHERE rowid = ?", (rank,))
    else:
        low = search.rank(doc.created, 0)
        top = c.execute(
            "SELECT max(rank) FROM search_docs WHERE rank BETWEEN ? AND ?",
            (low, low + OPEN_SLOT - 1),
        ).fetchone()[0]
        rank = low if top is None else int(top) + 1
    c.execute(
        "INSERT OR REPLACE INTO search_docs (rank, cid, site, topic, name, email) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (rank, doc.cid, doc.site, doc.topic, doc.name, doc.email),
    )
    c.execute("INSERT INTO search_words (rowid, words) VALUES (?, ?)", (rank, doc.words))
    c.executemany(
        "INSERT INTO search_held (agent_id, cid, rank) VALUES (?, ?, ?) "
        "ON CONFLICT DO UPDATE SET rank = excluded.rank",
        [(aid, doc.cid, rank) for aid in doc.agents],
    )
    return True


def forget(c: sqlite3.Connection, cid: str) -> None:
    """Take a conversation out of the index (retention's delete, in its transaction)."""
    kept = c.execute("SELECT rank FROM search_docs WHERE cid = ?", (cid,)).fetchone()
    if kept is not None:
        c.execute("DELETE FROM search_words WHERE rowid = ?", (kept[0],))
        c.execute("DELETE FROM search_docs WHERE rank = ?", (kept[0],))
    c.execute("DELETE FROM search_held WHERE cid = ?", (cid,))


def match_expression(query: Query) -> str:
    """FTS5 syntax from folded words only (letters and digits): each quoted, the prefix
    starred. Nothing of what the user typed reaches FTS5 as syntax."""
    terms = [f'"{w}"' for w in query.words]
    if query.prefix is not None:
        terms.append(f'"{query.prefix}"*')
    return " AND ".join(terms)


def _select(query: Query, before: int | None, limit: int) -> tuple[str, list[Any]]:
    """One SELECT, driven by the most selective source the query gives: its words (FTS5,
    which walks its matches by rowid, newest first), the agent's held rows, the email, or
    the documents themselves."""
    low, high = query.rank_bounds()
    if before is not None:
        high = before - 1 if high is None else min(high, before - 1)
    where: list[str] = []
    args: list[Any] = []
    if query.words or query.prefix is not None:
        source, key = "search_words w JOIN search_docs d ON d.rank = w.rowid", "w.rowid"
        where.append("search_words MATCH ?")
        args.append(match_expression(query))
    elif query.agent is not None:
        source, key = "search_held h JOIN search_docs d ON d.rank = h.rank", "h.rank"
        where.append("h.agent_id = ?")
        args.append(query.agent)
    else:
        source, key = "search_docs d", "d.rank"
    where.append(f"{key} >= ?")
    args.append(low)
    if high is not None:
        where.append(f"{key} <= ?")
        args.append(high)
    if query.agent is not None and key != "h.rank":
        where.append("EXISTS (SELECT 1 FROM search_held x WHERE x.agent_id = ? AND x.cid = d.cid)")
        args.append(query.agent)
    for column, value in (("site", query.site), ("topic", query.topic), ("email", query.email)):
        if value is not None:
            where.append(f"d.{column} = ?")
            args.append(value)
    if query.visitor is not None:
        where.append("(instr(d.name, ?) > 0 OR instr(d.email, ?) > 0)")
        args += [query.visitor, query.visitor]
    rated = "EXISTS (SELECT 1 FROM ratings r WHERE r.cid = d.cid{})"
    if query.csat is not None:
        where.append(rated.format(" AND r.csat = ?"))
        args.append(query.csat)
    elif query.rated is not None:
        where.append(rated.format("") if query.rated else "NOT " + rated.format(""))
    sql = f"SELECT d.rank, d.cid FROM {source} WHERE {' AND '.join(where)} "
    return sql + f"ORDER BY {key} DESC LIMIT ?", [*args, limit]
