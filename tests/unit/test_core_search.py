"""`core/search.py` and `core/snippets.py` (issue 16): words without case or accents, the
query a request asks (every parameter checked), ranks and cursors, which open conversations
match, and the snippet cut around the matching words."""

from __future__ import annotations

import pytest

from chat_server.core import search, snippets
from chat_server.core.errors import ChatError, ErrorCode
from chat_server.core.model import AgentRef, Conversation, State, Visitor
from chat_server.core.search import Position, Query

DAY = 86_400_000
JAN1 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def parse(**params: str) -> search.Request:
    return search.parse(params)


def refused(**params: str) -> str:
    with pytest.raises(ChatError) as info:
        search.parse(params)
    assert info.value.code is ErrorCode.BAD_REQUEST
    return info.value.message


# --- words ---------------------------------------------------------------------------------


def test_words_fold_case_accents_and_split_on_everything_else() -> None:
    assert search.words("Hello, WORLD!") == ["hello", "world"]
    assert search.words("Café crème — naïve Straße ﬁne") == [
        "cafe",
        "creme",
        "naive",
        "strasse",
        "fine",
    ]
    assert search.words("snake_case don't 😀emoji😀 a-b 12.5") == [
        "snake",
        "case",
        "don",
        "t",
        "emoji",
        "a",
        "b",
        "12",
        "5",
    ]
    assert search.words("x" * 100) == ["x" * search.MAX_WORD]
    assert search.words('"* NEAR( OR') == ["near", "or"]
    assert search.document_words(["b a", "a c"]) == ["a", "b", "c"]


def test_text_query_the_last_word_a_prefix_when_long_enough() -> None:
    assert search.text_query("Refund order", 12) == (("refund",), "order")
    assert search.text_query("order of", 12) == (("order", "of"), None)
    assert search.text_query("bill bill", 12) == ((), "bill")
    assert search.text_query("", 12) == ((), None)
    with pytest.raises(ValueError):
        search.text_query("a b c", 2)


def test_ranks_and_bounds() -> None:
    assert search.rank(5, 2) == 5 * search.SLOTS + 2
    conv = Conversation("c_1", "shop", "v_1", State.QUEUED, 7)
    assert search.open_rank(conv) == 7 * search.SLOTS + search.OPEN_SLOT
    assert Query().rank_bounds() == (0, None)
    assert Query(start=3, end=4).rank_bounds() == (3 * search.SLOTS, 5 * search.SLOTS - 1)


def test_what_a_query_wants() -> None:
    assert Query().wants_open and Query().wants_closed and not Query().hopeless
    assert not Query(text=True, words=("a",)).wants_open
    assert Query(text=True).hopeless
    assert not Query(text=True, prefix="abc").hopeless
    assert not Query(csat=3).wants_open
    assert not Query(rated=True).wants_open
    assert Query(rated=False).wants_open
    assert not Query(states=frozenset({State.CLOSED})).wants_open
    assert not Query(states=frozenset({State.ACTIVE})).wants_closed


def test_email_or_a_part() -> None:
    assert search.is_email("jane@example.com")
    assert not search.is_email("jane@example")
    assert not search.is_email("@example.com")
    assert not search.is_email("jane@.com.")
    assert not search.is_email("ja ne@example.com")
    assert not search.is_email("jane")


# --- the request ---------------------------------------------------------------------------


def test_parse_every_parameter() -> None:
    asked = parse(
        q="  Refund ORDER ",
        visitor="Jané",
        agent="a_1",
        topic="billing",
        site="shop",
        rating="4",
        state="open",
        limit="10",
        **{"from": "2026-01-01", "to": "2026-01-02"},
    )
    q = asked.query
    assert (q.words, q.prefix, q.text) == (("refund",), "order", True)
    assert (q.visitor, q.email, q.agent, q.topic, q.site) == (
        "jane",
        None,
        "a_1",
        "billing",
        "shop",
    )
    assert (q.start, q.end) == (JAN1, JAN1 + 2 * DAY - 1)
    assert (q.csat, q.rated) == (4, True)
    assert q.states == frozenset({State.QUEUED, State.PENDING, State.ACTIVE})
    assert (asked.after, asked.limit) == (None, 10)
    empty = parse()
    assert (empty.query, empty.after, empty.limit) == (Query(), None, search.LIMIT_DEFAULT)
    assert parse(visitor=" Jane@Example.COM ").query.email == "jane@example.com"
    assert parse(visitor="Jane@Example.COM").query.visitor is None
    assert parse(rating="unrated").query.rated is False
    assert parse(rating="rated").query.rated is True
    assert parse(state="closed").query.states == frozenset({State.CLOSED})
    assert parse(q="  ").query.text is False
    assert parse(q="😀").query.hopeless
    assert parse(**{"from": "2026-01-01T12:00:00+01:00"}).query.start == JAN1 + 11 * 3_600_000
    assert parse(to="2026-01-01T00:00:00").query.end == JAN1
    position = Position(search.rank(JAN1, 3), "c_ab-1")
    assert parse(cursor=search.encode_cursor(position)).after == position


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"q": "x" * 501}, "q is too long"),
        ({"q": " ".join("w" * 13)}, "q: at most"),
        ({"visitor": "v" * 255}, "visitor is too long"),
        ({"from": "2026-02-02", "to": "2026-02-01"}, "from is after to"),
        ({"from": "2026-13-01"}, "from: an ISO date"),
        ({"to": "yesterday"}, "to: an ISO date"),
        ({"to": "9999-12-31"}, "to: an ISO date"),  # one day past the last
        ({"from": "1969-12-31"}, "from is out of range"),
        ({"from": "9000-01-01"}, "from is out of range"),
        ({"rating": "6"}, "rating"),
        ({"state": "gone"}, "state"),
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "²"}, "limit"),
        ({"cursor": "!"}, "cursor"),
        ({"cursor": "_w"}, "cursor"),  # not UTF-8
        ({"cursor": "YWJj"}, "cursor"),  # "abc": no rank
        ({"cursor": "MTI6"}, "cursor"),  # "12:": no id
        ({"cursor": "MTI6YSBi"}, "cursor"),  # "12:a b"
    ],
)
def test_bad_parameters_say_which(params: dict[str, str], says: str) -> None:
    assert refused(**params).startswith(says)


# --- open conversations --------------------------------------------------------------------


def test_open_conversations_match_their_fields() -> None:
    conv = Conversation(
        "c_1", "shop", "v_1", State.ACTIVE, JAN1, topic="billing", agent=AgentRef("a_1", "Ann")
    )
    jane = Visitor("v_1", "shop", 0, "Jane Doe", " Jane@Example.com ")
    assert search.visitor_keys(jane) == ("jane doe", "jane@example.com")
    assert search.visitor_keys(None) == ("", "")
    yes = [
        Query(),
        Query(agent="a_1", site="shop", topic="billing", start=JAN1, end=JAN1),
        Query(visitor="doe"),
        Query(visitor="example"),
        Query(email="jane@example.com"),
    ]
    no = [
        Query(text=True, words=("x",)),
        Query(states=frozenset({State.QUEUED})),
        Query(agent="a_2"),
        Query(site="other"),
        Query(topic="returns"),
        Query(start=JAN1 + 1),
        Query(end=JAN1 - 1),
        Query(visitor="john"),
        Query(email="jane@example.org"),
    ]
    assert [search.matches_open(conv, jane, q) for q in yes] == [True] * len(yes)
    assert [search.matches_open(conv, jane, q) for q in no] == [False] * len(no)
    queued = Conversation("c_2", "shop", "v_2", State.QUEUED, JAN1)
    assert not search.matches_open(queued, None, Query(agent="a_1"))
    assert not search.matches_open(queued, None, Query(visitor="jane"))


# --- snippets ------------------------------------------------------------------------------


def test_the_message_matching_most_words_is_cut_around_them() -> None:
    query = parse(q="refund order").query
    messages = [(1, "hello"), (2, "A refund, please"), (3, "My ORDER needs a Refund now"), (4, "")]
    cut = snippets.snippet(messages, query)
    assert cut == snippets.Snippet(
        3,
        (("My ", False), ("ORDER", True), (" needs a ", False), ("Refund", True), (" now", False)),
    )
    assert snippets.snippet([(1, "hello")], query) is None
    tie = snippets.snippet([(1, "refund"), (2, "refund")], parse(q="refund").query)
    assert tie is not None and tie.seq == 1


def test_highlights_follow_folding_back_to_the_text() -> None:
    query = parse(q="strasse cafe").query
    cut = snippets.snippet([(1, "À la Straße, un CAFÉ")], query)
    assert cut is not None
    assert [part for part, hit in cut.parts if hit] == ["Straße", "CAFÉ"]
    assert "".join(part for part, _ in cut.parts) == "À la Straße, un CAFÉ"


def test_long_texts_are_cut_on_word_boundaries() -> None:
    words = [f"w{n:03d}" for n in range(80)]
    text = " ".join(words)  # 399 characters
    cut = snippets.snippet([(1, text)], parse(q="w040").query)
    assert cut is not None
    shown = "".join(part for part, _ in cut.parts)
    assert cut.parts[0] == ("…", False) and cut.parts[-1] == ("…", False)
    assert shown.startswith("…w03") and shown.endswith(" …") is False
    assert len(shown) <= snippets.SNIPPET_CHARS + 2
    assert ("w040", True) in cut.parts
    near_end = snippets.snippet([(1, text)], parse(q="w079").query)
    assert near_end is not None and near_end.parts[-1] == ("w079", True)
    start = snippets.snippet([(1, text)], parse(q="w000 w079").query)
    assert start is not None and start.parts[0] == ("w000", True)
    assert start.parts[-1] == ("…", False)  # w079 is past the window
    solid = "x" * 400
    one = snippets.snippet([(1, f"{solid} refund {solid}")], parse(q="refund").query)
    assert one is not None and ("refund", True) in one.parts
    preview = snippets.preview([(1, "  "), (2, text)])
    assert preview is not None and preview.seq == 2 and preview.parts[-1] == ("…", False)
    assert snippets.preview([(1, " ")]) is None
