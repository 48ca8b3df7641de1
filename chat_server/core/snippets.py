"""Search results' snippets (issue 16): the part of a conversation's text that matched,
with the matching words marked, as plain text parts (the page shows them with `textContent`,
never as markup)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from chat_server.core.search import MAX_WORD, WORD, Query, fold, words

SNIPPET_CHARS = 160
SNIPPET_BEFORE = 50
"""Characters of context kept before the first matching word."""


@dataclass(frozen=True, slots=True)
class Snippet:
    """A part of one message: `parts` are (text, is a matching word), plain text."""

    seq: int
    parts: tuple[tuple[str, bool], ...]


def matched(text_words: Iterable[str], query: Query) -> int:
    """How many of the query's words (and its prefix) a text's words satisfy."""
    present = set(text_words)
    count = sum(1 for w in query.words if w in present)
    if query.prefix is not None and any(w.startswith(query.prefix) for w in present):
        count += 1
    return count


def snippet(messages: Sequence[tuple[int, str]], query: Query) -> Snippet | None:
    """The (seq, text) that matches the most of the query's words (the first of those),
    cut around its first match; None when none matches."""
    best: tuple[int, int, str] | None = None
    for seq, text in messages:
        score = matched(words(text), query)
        if score and (best is None or score > best[0]):
            best = (score, seq, text)
    if best is None:
        return None
    _, seq, text = best
    return Snippet(seq, cut(text, hits(text, query)))


def preview(messages: Sequence[tuple[int, str]]) -> Snippet | None:
    """The start of the first message, for a result found without text."""
    for seq, text in messages:
        if text.strip():
            return Snippet(seq, cut(text, []))
    return None


def hits(text: str, query: Query) -> list[tuple[int, int]]:
    """The spans of `text` (character offsets) whose words match the query."""
    folded: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text):
        f = fold(ch)
        folded.append(f)
        origin.extend([i] * len(f))
    spans = []
    for m in WORD.finditer("".join(folded)):
        word = m.group()[:MAX_WORD]
        if word in query.words or (query.prefix is not None and word.startswith(query.prefix)):
            spans.append((origin[m.start()], origin[m.end() - 1] + 1))
    return spans


def cut(text: str, spans: list[tuple[int, int]]) -> tuple[tuple[str, bool], ...]:
    """At most `SNIPPET_CHARS` of `text` around its first span, on word boundaries, with
    the spans marked and an ellipsis where text was left out."""
    start = 0
    if len(text) > SNIPPET_CHARS and spans:
        start = max(0, min(spans[0][0] - SNIPPET_BEFORE, len(text) - SNIPPET_CHARS))
        if start > 0:
            space = text.find(" ", start, spans[0][0])
            start = space + 1 if space >= 0 else start
    end = min(len(text), start + SNIPPET_CHARS)
    if end < len(text):
        space = text.rfind(" ", start + SNIPPET_CHARS // 2, end)
        end = space if space > 0 else end
    parts: list[tuple[str, bool]] = [("…", False)] if start > 0 else []
    at = start
    for a, b in spans:
        a, b = max(a, start), min(b, end)
        if a >= b:  # outside the window
            continue
        if a > at:
            parts.append((text[at:a], False))
        parts.append((text[a:b], True))
        at = b
    if at < end:
        parts.append((text[at:end], False))
    if end < len(text):
        parts.append(("…", False))
    return tuple(parts)
