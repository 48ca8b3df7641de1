"""Attachments (issue 15): the upload pipeline, files sent in a `msg`, who may read a file,
and the expiry of uploads no message sent.

An upload is checked before any byte is kept (the right to the conversation, the site's
`files` setting, the conversation's cap), then streamed to a local temporary file while
its first bytes tell its type and its size is counted, so a refused type or an oversized
body stops at once and is never read further. Images are written anew
(`service/images.py`). The store (`store.files`) then takes the file, private to its
uploader until a `msg` sends it; the temporary files are deleted whatever happens.

The web layer (`web/files.py`) says who is asking; what a file may do is decided here.
"""

from __future__ import annotations

import codecs
import contextlib
import logging
import os
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from chat_server.backends.base import Store
from chat_server.core import conversation as flow
from chat_server.core import files as filetypes
from chat_server.core.errors import ChatError, ErrorCode, bad_request, conflict, forbidden
from chat_server.core.model import (
    Agent,
    Conversation,
    FileRef,
    Role,
    Sender,
    Site,
    State,
    StoredFile,
)
from chat_server.service import records
from chat_server.service.node import Node

log = logging.getLogger(__name__)

MAX_PER_CONVERSATION = 100
UNSENT_TTL_MS = 3_600_000
"""An upload that no message sent within this time is deleted."""
EXPIRE_EVERY_S = 60.0
"""How often every node looks for such uploads (the dispatcher's sweep loop)."""
UPLOADS_DIR = "uploads"
"""Under the data directory: the temporary files of uploads being received."""


@dataclass(frozen=True, slots=True)
class Who:
    """Who uploads or reads a file: a visitor (its token checked) or an agent."""

    sender: Sender
    agent: Agent | None = None

    @classmethod
    def visitor(cls, visitor_id: str) -> Who:
        return cls(Sender(Role.VISITOR, visitor_id, None))

    @classmethod
    def staff(cls, agent: Agent) -> Who:
        return cls(Sender(Role.AGENT, agent.id, agent.name), agent)


async def conversation(node: Node, cid: str) -> Conversation | None:
    """The conversation a file goes into or belongs to, if there is one."""
    if not 0 < len(cid) <= 64:
        return None
    return await node.store.conversations.get(cid)


async def site_of(node: Node, conv: Conversation) -> Site | None:
    return await node.store.directory.site(conv.site)


# upload ---------------------------------------------------------------------------------


async def upload(
    node: Node,
    conv: Conversation,
    site: Site | None,
    who: Who,
    name: str | None,
    body: AsyncIterator[bytes],
) -> StoredFile:
    """Receive one file into `conv` from `body` (the request's stream) and store it,
    unsent. Refusals are `ChatError`s: not_found, closed, forbidden (the site takes no
    files), conflict (the conversation is full), too_large, refused_type, bad_request
    (an empty body), unavailable."""
    _require_uploader(conv, who)
    if site is None or site.file_max_bytes <= 0 or not site.file_types:
        raise forbidden("this site does not take files")
    if await node.store.files.count(conv.id) >= MAX_PER_CONVERSATION:
        raise conflict(f"a conversation holds at most {MAX_PER_CONVERSATION} files")
    folder = node.settings.data / UPLOADS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=folder, prefix="up-")
    data = Path(temp)
    made = [data, data.with_name(data.name + ".image"), data.with_name(data.name + ".thumb")]
    try:
        with os.fdopen(fd, "wb") as out:
            type_id, size = await _receive(body, out, site)
        width = height = None
        if filetypes.TYPES[type_id].image:
            # Pillow is imported at the first image, not at start: a node that never sees
            # one keeps some 3 MiB less
            from chat_server.service import images

            try:
                width, height = await images.rewritten(data, type_id, made[1], made[2])
            except images.Broken as exc:
                log.info("upload refused: %s image does not decode (%s)", type_id, exc)
                raise _refused(site, "this image could not be read") from None
            data, size = made[1], made[1].stat().st_size
        ref = FileRef(
            filetypes.new_file_id(conv.id),
            filetypes.safe_name(name, type_id),
            type_id,
            size,
            width,
            height,
        )
        stored = StoredFile(
            ref,
            conv.id,
            conv.site,
            filetypes.owner_key(who.sender),
            node.clock.now_ms(),
            thumb=width is not None,
        )
        await node.store.files.put(stored, data, made[2] if stored.thumb else None)
        return stored
    finally:
        for path in made:
            path.unlink(missing_ok=True)


def _require_uploader(conv: Conversation, who: Who) -> None:
    """A visitor uploads into its own open conversation, an agent into the one it holds;
    to anyone else the conversation does not exist."""
    if who.agent is None:
        if conv.visitor_id != who.sender.id:
            raise flow.unknown_conversation()
        flow.ensure_open(conv)
        return
    if not flow.is_agent_of(conv, who.agent.id):
        raise flow.unknown_conversation()
    flow.ensure_open(conv)
    if conv.state is not State.ACTIVE:
        raise flow.unknown_conversation()


async def _receive(body: AsyncIterator[bytes], out: BinaryIO, site: Site) -> tuple[str, int]:
    """Copy `body` to `out`: its type (told once `SNIFF_BYTES` came, or the body ended) and
    its size. Stops, raising, at the first byte over the site's limit, at a type the site
    does not take, and at text that stops being text."""
    head = b""
    type_id: str | None = None
    size = 0
    text = codecs.getincrementaldecoder("utf-8")()
    async for chunk in body:
        size += len(chunk)
        if size > site.file_max_bytes:
            raise ChatError(
                ErrorCode.TOO_LARGE, f"files are limited to {_amount(site.file_max_bytes)}"
            )
        if type_id is None:
            head += chunk
            if len(head) < filetypes.SNIFF_BYTES:
                continue
            type_id = _sniffed(head, site)
            chunk, head = head, b""
        elif type_id == "txt" and not filetypes.text_continues(chunk):
            raise _refused(site, "this text file holds binary data")
        if type_id == "txt":
            _decode(text, chunk, site)
        out.write(chunk)
    if size == 0:
        raise bad_request("the body is empty: send the file's bytes")
    if type_id is None:
        type_id = _sniffed(head, site)
        if type_id == "txt":
            _decode(text, head, site)
        out.write(head)
    if type_id == "txt":
        _decode(text, b"", site, final=True)
    return type_id, size


def _sniffed(head: bytes, site: Site) -> str:
    type_id = filetypes.sniff(head)
    if type_id is None or type_id not in site.file_types:
        raise _refused(site, "this type of file is not accepted")
    return type_id


def _decode(
    decoder: codecs.IncrementalDecoder, chunk: bytes, site: Site, *, final: bool = False
) -> None:
    """Text must be UTF-8 all through, across the chunks it arrives in."""
    try:
        decoder.decode(chunk, final)
    except UnicodeDecodeError:
        raise _refused(site, "this text file is not UTF-8") from None


def _refused(site: Site, why: str) -> ChatError:
    accepted = ", ".join(site.file_types)
    return ChatError(ErrorCode.REFUSED_TYPE, f"{why}: the accepted types are {accepted}")


def _amount(n: int) -> str:
    """A byte count as people read it: `10 MiB`, `1.5 MiB`, `500 KiB`, `100 bytes`."""
    for unit, size in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f}".removesuffix(".0") + f" {unit}"
    return f"{n} bytes"


# sending --------------------------------------------------------------------------------


async def attach(
    store: Store, cid: str, sender: Sender, file_ids: list[str] | None
) -> tuple[FileRef, ...]:
    """The files a `msg` in `cid` sends (`msg.files`), for its `Draft`: each one of this
    conversation's, uploaded by `sender` or sent before; anything else is `not_found` and
    nothing is stored. The store checks them again in the same step as the append."""
    if not file_ids:
        return ()
    found = await store.files.many(cid, file_ids)
    return tuple(filetypes.require_sendable(stored, cid, sender) for stored in found)


# reading --------------------------------------------------------------------------------


async def readable(node: Node, conv: Conversation, who: Who, file_id: str) -> StoredFile:
    """The file, if `who` may read it: the conversation's visitor, the agent holding it,
    any agent while it is queued or pending or while serving its visitor (who reads that
    visitor's earlier conversations, as `GET /api/conversations/{cid}` allows), and
    supervisors; an unsent upload only its uploader. To anyone else it does not exist
    (`not_found`, never `forbidden`)."""
    stored = await node.store.files.get(file_id)
    if stored is None or stored.cid != conv.id:
        raise ChatError(ErrorCode.NOT_FOUND, "no such file")
    if not _may_read(conv, who, stored) and not (
        stored.seq is not None
        and who.agent is not None
        and await records.serving_visitor(node, who.agent, conv.visitor_id)
    ):
        raise ChatError(ErrorCode.NOT_FOUND, "no such file")
    return stored


def _may_read(conv: Conversation, who: Who, stored: StoredFile) -> bool:
    if stored.seq is None:
        return filetypes.readable_by_uploader(stored, who.sender.role, who.sender.id or "")
    if who.agent is None:
        return conv.visitor_id == who.sender.id
    return (
        who.agent.is_supervisor
        or flow.is_agent_of(conv, who.agent.id)
        or conv.state in (State.QUEUED, State.PENDING)
    )


def read(node: Node, file_id: str, *, thumb: bool = False) -> AsyncIterator[bytes]:
    """The bytes (or the thumbnail's), in pieces: never a whole file in memory."""
    return node.store.files.read(file_id, thumb=thumb)


# expiry ---------------------------------------------------------------------------------


async def expire_unsent(node: Node) -> int:
    """Delete uploads that no message sent within `UNSENT_TTL_MS`, and this node's own
    temporary files left that old (a process that died mid-upload); how many uploads."""
    expired = await node.store.files.expire_unsent(node.clock.now_ms() - UNSENT_TTL_MS)
    folder = node.settings.data / UPLOADS_DIR
    stale = time.time() - UNSENT_TTL_MS / 1000
    with contextlib.suppress(FileNotFoundError):
        for path in folder.iterdir():
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_mtime < stale:
                    path.unlink()
    if expired:
        log.info("deleted %d upload(s) that no message sent within an hour", expired)
    return expired
