"""Conversation search (issue 16): how text becomes words, what a query asks, where a result
sits in the order, and how a result's snippet is cut.

Both stores index the words `words` gives and match the words a `Query` holds, so one query
finds the same conversations on either backend. Words are runs of letters and digits,
compared without case or accents ("Café" finds "cafe"); punctuation, symbols and emoji
separate them, so nothing a user types can be query syntax to a store.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from chat_server.core.errors import bad_request
from chat_server.core.model import Conversation, State, Visitor

WORD = re.compile(r"[^\W_]+")
MAX_WORD = 64
"""Longer runs (a pasted token, a hash) are kept by their first characters."""
PREFIX_MIN = 3
"""The last word of a query matches as a prefix when it is at least this long."""

SLOTS = 1024
"""A result's rank is `created * SLOTS + slot`: unique per indexed conversation (two created
in the same millisecond take the next slot), exact in a double (Redis scores) until 2248."""
OPEN_SLOT = SLOTS - 1
"""Open conversations (not indexed) rank at the top of their millisecond, ties by id."""


def fold(text: str) -> str:
    """Case- and accent-free: NFKD without its combining marks, case-folded. Character by
    character, so folding a text folds each of its characters in place."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def words(text: str) -> list[str]:
    """The words of `text` in order, folded (each cut at `MAX_WORD`)."""
    return [w[:MAX_WORD] for w in WORD.findall(fold(text))]


def document_words(texts: Iterable[str]) -> list[str]:
    """A conversation's distinct words, sorted: what the stores index, once each."""
    found: set[str] = set()
    for text in texts:
        found.update(words(text))
    return sorted(found)


def rank(created: int, slot: int) -> int:
    return created * SLOTS + slot


def open_rank(conv: Conversation) -> int:
    return rank(conv.created, OPEN_SLOT)


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """Where a page ends: results sort by (rank, cid), newest first."""

    rank: int
    cid: str


@dataclass(frozen=True, slots=True)
class Query:
    """What a search asks. Every filter that is set must hold (AND)."""

    words: tuple[str, ...] = ()
    """Whole words the conversation's text and notes must all contain."""
    prefix: str | None = None
    """A word the text must contain a word starting with (the query's last word)."""
    text: bool = False
    """Text was asked for: only closed (indexed) conversations can match."""
    visitor: str | None = None
    """Folded: found in the visitor's folded name or email."""
    email: str | None = None
    """Folded: the visitor's whole email."""
    agent: str | None = None
    """Closed: an agent who held it (claimed, was given or wrote); open: its agent now."""
    topic: str | None = None
    site: str | None = None
    start: int | None = None
    """Created at or after (ms)."""
    end: int | None = None
    """Created at or before (ms)."""
    csat: int | None = None
    rated: bool | None = None
    """True: the visitor rated it (any score); False: no rating."""
    states: frozenset[State] = frozenset(State)

    @property
    def hopeless(self) -> bool:
        """Text was asked for but holds no word (only punctuation, emoji...): nothing
        matches it."""
        return self.text and not self.words and self.prefix is None

    @property
    def wants_open(self) -> bool:
        """Open conversations have no text index, and no rating yet."""
        return (
            not self.text
            and self.csat is None
            and self.rated is not True
            and any(s is not State.CLOSED for s in self.states)
        )

    @property
    def wants_closed(self) -> bool:
        return State.CLOSED in self.states

    def rank_bounds(self) -> tuple[int, int | None]:
        """The lowest and highest rank the date range allows (inclusive)."""
        low = rank(self.start, 0) if self.start is not None else 0
        high = rank(self.end, SLOTS - 1) if self.end is not None else None
        return low, high


def text_query(q: str, max_words: int) -> tuple[tuple[str, ...], str | None]:
    """The distinct whole words of `q`, and its last word as a prefix when long enough.
    More than `max_words` words: ValueError."""
    found = words(q)
    if len(found) > max_words:
        raise ValueError(f"at most {max_words} words")
    prefix = None
    if found and len(found[-1]) >= PREFIX_MIN:
        prefix = found.pop()
    whole = tuple(dict.fromkeys(w for w in found if w != prefix))
    return whole, prefix


def is_email(value: str) -> bool:
    """A whole address (`x@y.z`, no spaces) is matched exactly; anything else as a part."""
    local, at, domain = value.partition("@")
    return bool(local and at and "." in domain.strip(".") and not any(c.isspace() for c in value))


def matches_open(conv: Conversation, visitor: Visitor | None, query: Query) -> bool:
    """Whether an open conversation matches `query` (its structured filters: open ones are
    not indexed). The stores check the same of closed ones."""
    if not query.wants_open or conv.state not in query.states:
        return False
    if query.agent is not None and (conv.agent is None or conv.agent.id != query.agent):
        return False
    if query.site is not None and conv.site != query.site:
        return False
    if query.topic is not None and conv.topic != query.topic:
        return False
    if query.start is not None and conv.created < query.start:
        return False
    if query.end is not None and conv.created > query.end:
        return False
    return visitor_matches(query, *visitor_keys(visitor))


def visitor_keys(visitor: Visitor | None) -> tuple[str, str]:
    """A visitor's folded name and email, as the index keeps them ('' when unknown)."""
    return visitor_keys_of(visitor.name, visitor.email) if visitor else ("", "")


def visitor_keys_of(name: str | None, email: str | None) -> tuple[str, str]:
    return fold(name or ""), fold((email or "").strip())


def visitor_matches(query: Query, name: str, email: str) -> bool:
    if query.email is not None and email != query.email:
        return False
    return query.visitor is None or query.visitor in name or query.visitor in email


# the HTTP query -------------------------------------------------------------------------

LIMIT_DEFAULT, LIMIT_MAX = 25, 100
MAX_QUERY_WORDS = 12
MAX_TEXT = 500
MAX_NAME = 254
STATES = {
    "": frozenset(State),
    "open": frozenset(State) - {State.CLOSED},
    **{s.value: frozenset({s}) for s in State},
}
CID = re.compile(r"[A-Za-z0-9_-]{1,64}")
DIGITS = re.compile(r"[0-9]{1,19}")


@dataclass(frozen=True, slots=True)
class Request:
    query: Query
    after: Position | None
    limit: int


def parse(params: Mapping[str, str]) -> Request:
    """`GET /api/search`'s parameters; `bad_request` (saying which) for any that is wrong."""

    def get(name: str, longest: int = MAX_NAME) -> str | None:
        value = params.get(name, "").strip()
        if len(value) > longest:
            raise bad_request(f"{name} is too long")
        return value or None

    q = get("q", MAX_TEXT)
    try:
        whole, prefix = text_query(q or "", MAX_QUERY_WORDS)
    except ValueError:
        raise bad_request(f"q: at most {MAX_QUERY_WORDS} words") from None
    visitor = get("visitor")
    folded = fold(visitor) if visitor else None
    email = folded if folded and is_email(folded) else None
    start, end = day_bound(get("from"), "from"), day_bound(get("to"), "to")
    if start is not None and end is not None and start > end:
        raise bad_request("from is after to")
    csat, rated = rating(get("rating"))
    state = params.get("state", "").strip()
    if state not in STATES:
        raise bad_request("state: open, closed, queued, pending or active")
    query = Query(
        words=whole,
        prefix=prefix,
        text=q is not None,
        visitor=None if email else folded,
        email=email,
        agent=get("agent"),
        topic=get("topic"),
        site=get("site"),
        start=start,
        end=end,
        csat=csat,
        rated=rated,
        states=STATES[state],
    )
    cursor = get("cursor")
    return Request(query, decode_cursor(cursor) if cursor else None, limit(get("limit")))


def limit(value: str | None) -> int:
    if value is None:
        return LIMIT_DEFAULT
    if not DIGITS.fullmatch(value) or not 1 <= int(value) <= LIMIT_MAX:
        raise bad_request(f"limit: 1 to {LIMIT_MAX}")
    return int(value)


def rating(value: str | None) -> tuple[int | None, bool | None]:
    """(csat, rated) of the `rating` parameter: 1 to 5, `rated` or `unrated`."""
    if value is None:
        return None, None
    if value in ("rated", "unrated"):
        return None, value == "rated"
    if value in ("1", "2", "3", "4", "5"):
        return int(value), True
    raise bad_request("rating: 1 to 5, rated or unrated")


def day_bound(value: str | None, name: str) -> int | None:
    """An ISO date (a UTC day: `from` its first millisecond, `to` its last) or date and
    time (without an offset: UTC), as ms since the epoch."""
    if value is None:
        return None
    try:
        if len(value) == 10:
            day = datetime.combine(date.fromisoformat(value), time(), UTC)
            moment = day + timedelta(days=1) - timedelta(milliseconds=1) if name == "to" else day
        else:
            moment = datetime.fromisoformat(value)
            moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        ms = int(moment.timestamp() * 1000)
    except (ValueError, OverflowError):
        raise bad_request(f"{name}: an ISO date (2026-01-31) or date and time") from None
    if not 0 <= ms < 10**13:
        raise bad_request(f"{name} is out of range")
    return ms


def encode_cursor(position: Position) -> str:
    raw = f"{position.rank}:{position.cid}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(value: str) -> Position:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise bad_request("cursor: not one of ours") from None
    number, _, cid = raw.partition(":")
    if not DIGITS.fullmatch(number) or len(number) > 19 or not CID.fullmatch(cid):
        raise bad_request("cursor: not one of ours")
    return Position(int(number), cid)
