"""Conversation tags (issue 17): what a tag may be and how a change applies, the same rule
for the console's `tag` frame, the REST write API and both stores."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from chat_server.core.errors import bad_request

TAG_MAX_CHARS = 32
TAGS_MAX = 20
"""Tags one conversation holds at most."""
CHANGE_MAX = 40
"""Tags one change may name (add and remove together): more is a bad request."""
_TAG = re.compile(r"[a-z0-9_-]{1,32}")


def normalise(raw: object) -> str:
    """A tag as stored: trimmed, lower case, 1 to 32 ASCII letters, digits, `-` or `_`."""
    if not isinstance(raw, str):
        raise bad_request("a tag must be a string")
    tag = raw.strip().lower()
    if not _TAG.fullmatch(tag):
        raise bad_request(
            f"a tag is 1 to {TAG_MAX_CHARS} letters, digits, '-' or '_' (got {raw[:40]!r})"
        )
    return tag


def normalise_all(raw: object) -> tuple[str, ...]:
    """A list of tags, normalised, duplicates dropped, in the order given."""
    if raw is None:
        return ()
    if not isinstance(raw, list) or len(raw) > CHANGE_MAX:
        raise bad_request(f"tags must be a list of at most {CHANGE_MAX}")
    return tuple(dict.fromkeys(normalise(t) for t in raw))


def applied(
    current: Iterable[str], add: Sequence[str], remove: Sequence[str], *, replace: bool = False
) -> tuple[str, ...]:
    """The tags after a change, sorted: `replace` sets them to `add`; otherwise `add` then
    `remove` (a tag in both ends removed). More than `TAGS_MAX` is a bad request."""
    tags = set(add) if replace else (set(current) | set(add)) - set(remove)
    if len(tags) > TAGS_MAX:
        raise bad_request(f"a conversation holds at most {TAGS_MAX} tags")
    return tuple(sorted(tags))
