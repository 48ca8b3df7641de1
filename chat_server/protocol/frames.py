"""Client frame schemas (PROTOCOL.md §3, §4, §5) and the one parser that checks them.

Each client frame is a frozen dataclass; a field's metadata says how long a string may be
and whether going over is `too_large` (user text) or `bad_request` (ids, tokens). Unknown
fields are ignored; missing or mistyped required fields are `bad_request`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chat_server.core.errors import ChatError, ErrorCode
from chat_server.protocol.codec import Frame, is_text
from chat_server.protocol.schema import ID_MAX, build
from chat_server.protocol.schema import cid as _cid
from chat_server.protocol.schema import cmid as _cmid
from chat_server.protocol.schema import limit as _limit
from chat_server.protocol.schema import number_range as _range
from chat_server.protocol.schema import opt as _opt
from chat_server.protocol.schema import required_flag as _required_flag

__all__ = ["ID_MAX", "build"]

TEXT_MAX = 4000
NAME_MAX = 200
FILES_MAX = 10
"""Attachments in one `msg` (`core/files.MAX_FILES_PER_MSG`)."""
FIELDS_MAX = 40
"""Pre-chat answers in one frame (a site's form has at most 20 fields)."""


@dataclass(frozen=True, slots=True)
class PageInfo:
    url: str = _limit(2048)
    title: str = field(default="", metadata={"max": 500, "user_text": True, "empty": True})
    referrer: str | None = _opt(2048)


# --- visitor frames (§3) -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VisitorHello:
    token: str | None = _opt(1024)
    name: str | None = _opt(NAME_MAX, user_text=True)
    email: str | None = _opt(254, user_text=True)
    page: PageInfo | None = None
    lang: str | None = _opt(35)
    user_id: str | None = _opt(256)
    user_hash: str | None = _opt(128)


@dataclass(frozen=True, slots=True)
class Profile:
    """Extension: the visitor tells their name or email after `hello` (pre-chat form)."""

    name: str | None = _opt(NAME_MAX, user_text=True)
    email: str | None = _opt(254, user_text=True)


@dataclass(frozen=True, slots=True)
class Start:
    text: str = _limit(TEXT_MAX, user_text=True, allow_empty=False)
    topic: str | None = _opt(NAME_MAX, user_text=True)
    cmid: str | None = _opt(ID_MAX)
    fields: dict[str, Any] | None = field(default=None, metadata={"max_keys": FIELDS_MAX})
    """Answers to the site's pre-chat form (issue 14): a map, its values checked by the core
    against the site's form."""


@dataclass(frozen=True, slots=True)
class Leave:
    """Issue 14: an offline message. Without `cid`, a new pending conversation (`text`
    required); with it, the visitor's queued conversation made pending."""

    email: str = _limit(254, user_text=True, allow_empty=False)
    name: str | None = _opt(NAME_MAX, user_text=True)
    text: str | None = _opt(TEXT_MAX, user_text=True)
    cid: str | None = _opt(ID_MAX)
    fields: dict[str, Any] | None = field(default=None, metadata={"max_keys": FIELDS_MAX})
    topic: str | None = _opt(NAME_MAX, user_text=True)
    cmid: str | None = _opt(ID_MAX)


@dataclass(frozen=True, slots=True)
class Msg:
    """`text` may be empty only when `files` (issue 15: uploaded file ids) are sent."""

    cid: str = _cid()
    text: str = _limit(TEXT_MAX, user_text=True)
    cmid: str = _cmid()
    files: list[str] | None = field(default=None, metadata={"max_items": FILES_MAX, "max": ID_MAX})

    def __post_init__(self) -> None:
        if not self.files and not self.text.strip():
            raise ChatError(ErrorCode.BAD_REQUEST, "'text' must not be empty")


@dataclass(frozen=True, slots=True)
class Typing:
    cid: str = _cid()
    on: bool = _required_flag()
    preview: str | None = _opt(TEXT_MAX, user_text=True)


@dataclass(frozen=True, slots=True)
class Read:
    cid: str = _cid()
    seq: int = _range(0, 2**53)


@dataclass(frozen=True, slots=True)
class Sync:
    cid: str = _cid()
    after: int = _range(0, 2**53)
    limit: int | None = _range(1, 200, optional=True)


@dataclass(frozen=True, slots=True)
class PageChange:
    url: str = _limit(2048)
    title: str = field(default="", metadata={"max": 500, "user_text": True, "empty": True})


@dataclass(frozen=True, slots=True)
class VisitorClose:
    cid: str = _cid()


@dataclass(frozen=True, slots=True)
class Rate:
    cid: str = _cid()
    csat: int | None = _range(1, 5, optional=True)
    nps: int | None = _range(0, 10, optional=True)
    ces: int | None = _range(1, 7, optional=True)
    comment: str | None = _opt(TEXT_MAX, user_text=True)


@dataclass(frozen=True, slots=True)
class Cobrowse:
    """`cobrowse {cid, op, ...}`: the op's own fields are checked by the co-browse relay."""

    cid: str = _cid()
    op: str = _limit(32, allow_empty=False)


@dataclass(frozen=True, slots=True)
class Ping:
    pass


# --- agent frames (§4) ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AgentHello:
    token: str | None = _opt(1024)


@dataclass(frozen=True, slots=True)
class Status:
    state: str = _limit(16)


@dataclass(frozen=True, slots=True)
class Claim:
    cid: str = _cid()


@dataclass(frozen=True, slots=True)
class Note:
    cid: str = _cid()
    text: str = _limit(TEXT_MAX, user_text=True, allow_empty=False)
    cmid: str = _cmid()


@dataclass(frozen=True, slots=True)
class Transfer:
    cid: str = _cid()
    to: str | None = _opt(ID_MAX)
    topic: str | None = _opt(NAME_MAX, user_text=True)
    note: str | None = _opt(TEXT_MAX, user_text=True)
    """Issue 17: an internal note for the staff who take it over."""


@dataclass(frozen=True, slots=True)
class Handoff:
    """Issue 17: a bot gives its conversation to people, at the front of their queue."""

    cid: str = _cid()
    reason: str = _limit(ID_MAX, allow_empty=False)
    note: str | None = _opt(TEXT_MAX, user_text=True)


@dataclass(frozen=True, slots=True)
class Tag:
    """Issue 17: tags to add and remove on a conversation (`core/tags` normalises them)."""

    cid: str = _cid()
    add: list[str] | None = field(default=None, metadata={"max_items": 40, "max": ID_MAX})
    remove: list[str] | None = field(default=None, metadata={"max_items": 40, "max": ID_MAX})


@dataclass(frozen=True, slots=True)
class AgentClose:
    cid: str = _cid()
    resolved: bool = _required_flag()


@dataclass(frozen=True, slots=True)
class Assign:
    cid: str = _cid()
    to: str = _limit(ID_MAX, allow_empty=False)


@dataclass(frozen=True, slots=True)
class Watch:
    cid: str = _cid()
    on: bool = _required_flag()


@dataclass(frozen=True, slots=True)
class Snooze:
    """Issue 14: no inactivity warning or close for `minutes` (default 30)."""

    cid: str = _cid()
    minutes: int | None = _range(1, 1440, optional=True)


@dataclass(frozen=True, slots=True)
class Subscribe:
    stats: bool = _required_flag()


VISITOR_FRAMES: dict[str, type] = {
    "hello": VisitorHello,
    "start": Start,
    "msg": Msg,
    "typing": Typing,
    "read": Read,
    "sync": Sync,
    "page": PageChange,
    "close": VisitorClose,
    "rate": Rate,
    "cobrowse": Cobrowse,
    "ping": Ping,
    "profile": Profile,
    "leave": Leave,
}
AGENT_FRAMES: dict[str, type] = {
    "hello": AgentHello,
    "status": Status,
    "claim": Claim,
    "msg": Msg,
    "typing": Typing,
    "read": Read,
    "sync": Sync,
    "note": Note,
    "transfer": Transfer,
    "handoff": Handoff,
    "close": AgentClose,
    "assign": Assign,
    "watch": Watch,
    "subscribe": Subscribe,
    "snooze": Snooze,
    "tag": Tag,
    "cobrowse": Cobrowse,
    "ping": Ping,
}


@dataclass(frozen=True, slots=True)
class Envelope:
    """A parsed client frame: its type, its `id` (if any) and its checked body."""

    t: str
    id: int | str | None
    body: Any
    raw: Frame


def frame_id(obj: Frame) -> int | str | None:
    """The frame's `id` if it is a usable one (an int, or a string of at most 64 chars
    that is Unicode text: a reply echoes it)."""
    value = obj.get("id")
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and -(2**53) <= value <= 2**53:
        return value
    if isinstance(value, str) and len(value) <= ID_MAX and is_text(value):
        return value
    return None


def parse(obj: Frame, schemas: dict[str, type]) -> Envelope:
    t = obj.get("t")
    if not isinstance(t, str):
        raise ChatError(ErrorCode.BAD_REQUEST, "a frame needs a string 't'")
    if "id" in obj and obj["id"] is not None and frame_id(obj) is None:
        raise ChatError(
            ErrorCode.BAD_REQUEST, "'id' must be an int or a string of at most 64 chars"
        )
    schema = schemas.get(t)
    if schema is None:
        raise ChatError(ErrorCode.UNKNOWN_TYPE, f"unknown frame type {t[:32]!r}")
    return Envelope(t, frame_id(obj), build(schema, obj), obj)
