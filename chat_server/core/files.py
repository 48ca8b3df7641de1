"""Attachments (issue 15): which types a site may accept, recognised by their first bytes
(never by name or `Content-Type`), the ids that tie a file to its conversation, and who may
send or read one.

A file is uploaded into one conversation (its id names it), stays private to its uploader
until a `msg` sends it (the store binds it in the same step as the message), and is then
readable by the conversation's visitor, the agent holding it and supervisors.
"""

from __future__ import annotations

import secrets
import unicodedata
from dataclasses import dataclass

from chat_server.core.errors import ChatError, ErrorCode
from chat_server.core.model import FileRef, Role, Sender, StoredFile


@dataclass(frozen=True, slots=True)
class FileType:
    id: str
    mime: str
    ext: str
    image: bool
    """Images are shown inline (and get a thumbnail); every other type is a download."""


TYPES: dict[str, FileType] = {
    t.id: t
    for t in (
        FileType("png", "image/png", "png", image=True),
        FileType("jpeg", "image/jpeg", "jpg", image=True),
        FileType("gif", "image/gif", "gif", image=True),
        FileType("webp", "image/webp", "webp", image=True),
        FileType("pdf", "application/pdf", "pdf", image=False),
        FileType("txt", "text/plain; charset=utf-8", "txt", image=False),
    )
}
DEFAULT_TYPES: tuple[str, ...] = tuple(TYPES)
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
MAX_BYTES_CAP = 100 * 1024 * 1024
"""The largest per-site limit a setting may ask for (the upload route's own bound)."""
SNIFF_BYTES = 512
"""How much of the start of a file `sniff` looks at."""
MAX_FILES_PER_MSG = 10
NAME_MAX = 200

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"%PDF-", "pdf"),
)


def sniff(head: bytes) -> str | None:
    """The type of a file from its first bytes (up to `SNIFF_BYTES`), or None when it is
    none of `TYPES`. Text is UTF-8 (a BOM allowed) without NUL or other control bytes
    than tab, newline, carriage return and form feed."""
    for magic, type_id in _MAGIC:
        if head.startswith(magic):
            return type_id
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return "txt" if _looks_like_text(head) else None


def _looks_like_text(head: bytes) -> bool:
    if not head:
        return False
    body = head.removeprefix(b"\xef\xbb\xbf")
    if not text_continues(body):
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        # the head may end inside a character: only that cut is forgiven
        if exc.start < len(body) - 3 or exc.reason != "unexpected end of data":
            return False
    return True


def text_continues(chunk: bytes) -> bool:
    """Whether a later part of a text file is still text (no NUL or control bytes)."""
    return not chunk.translate(None, _TEXT_BYTES)


_TEXT_BYTES = bytes(b for b in range(256) if (b >= 0x20 and b != 0x7F) or b in b"\t\n\r\x0c")


def safe_name(name: str | None, type_id: str) -> str:
    """A display and download name: no path, no control or format characters, at most
    `NAME_MAX` characters, and the extension of the type it really is."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(
        ch for ch in unicodedata.normalize("NFC", base) if unicodedata.category(ch)[0] != "C"
    ).strip(" .")
    stem = base.rsplit(".", 1)[0].strip(" .") if "." in base else base
    ext = TYPES[type_id].ext
    stem = stem[: NAME_MAX - len(ext) - 1] or "file"
    return f"{stem}.{ext}"


def new_file_id(cid: str) -> str:
    """`f_<random>.<cid>`: the conversation a file belongs to is part of its id."""
    return f"f_{secrets.token_hex(12)}.{cid}"


def cid_of(file_id: str) -> str | None:
    """The conversation named by a file id, or None when it is not one."""
    head, sep, cid = file_id.partition(".")
    if not sep or not head.startswith("f_") or len(head) != 26 or not cid or "/" in cid:
        return None
    return cid


def owner_key(sender: Sender) -> str:
    """Who uploaded a file, as stored until it is sent: `visitor:v_…` or `agent:a_…`."""
    return f"{sender.role.value}:{sender.id}"


def require_sendable(stored: StoredFile | None, cid: str, sender: Sender) -> FileRef:
    """A file a `msg` in `cid` may carry: one of this conversation's, and either sent
    before or uploaded by this sender. Anything else is `not_found` (never tell whether
    another conversation's file exists)."""
    if (
        stored is None
        or stored.cid != cid
        or (stored.seq is None and stored.owner != owner_key(sender))
    ):
        raise unknown_file()
    return stored.ref


def unknown_file() -> ChatError:
    """The one answer for a file a message may not carry, whatever the reason (the stores
    give it too when they re-check at append)."""
    return ChatError(ErrorCode.NOT_FOUND, "no such file in this conversation")


def readable_by_uploader(stored: StoredFile, role: Role, who: str) -> bool:
    """An unsent upload is its uploader's alone."""
    return stored.owner == f"{role.value}:{who}"
