"""Issue 15: uploads that must be refused, cut short or rewritten, on both backends, and
what is left of them afterwards: nothing (no record, no stored bytes, no temporary file).
"""

from __future__ import annotations

import asyncio
import io
import os
import random
import time
import zlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from chat_server.core.clock import ManualClock
from chat_server.core.model import Site
from chat_server.service import files as service_files
from tests.conftest import Live, ServerFactory, redis_of
from tests.integration.test_files import (
    FILE_CSP,
    ORIGIN,
    PDF,
    as_visitor,
    chat,
    get,
    png,
    upload,
    uploaded,
)
from tests.raw_http import hang_up

MiB = 1024 * 1024


@pytest.fixture
async def live(start_server: ServerFactory, tmp_path: Path) -> Live:
    return await start_server(data=tmp_path / "node")


async def nothing_kept(live: Live, cid: str) -> None:
    """No record, no bytes in the store, no temporary file of an upload into `cid`."""
    assert await live.store.files.count(cid) == 0
    uploads = live.settings.data / "uploads"
    assert not uploads.exists() or not list(uploads.iterdir())
    if live.settings.redis_url:
        keys = [str(k) for r in redis_of(live.store) async for k in r.scan_iter(match=f"*{cid}*")]
        assert not [k for k in keys if "file" in k or "upload" in k], keys
    else:
        stored = live.settings.data / "files"
        assert not [p for p in stored.iterdir() if cid in p.name]


async def refused(live: Live, cid: str, body: bytes, headers: dict[str, str], **kw: Any) -> str:
    """Upload, expecting a refusal: its error code (and nothing kept)."""
    answer = await upload(live, cid, body, headers, **kw)
    assert answer.status_code >= 400, answer.text
    assert answer.headers["access-control-allow-origin"] == ORIGIN
    await nothing_kept(live, cid)
    code: str = answer.json()["error"]
    return f"{answer.status_code} {code}"


# --- the body over the limit -----------------------------------------------------------------


async def send_chunked(
    live: Live, path: str, headers: dict[str, str], pieces: Iterator[bytes]
) -> tuple[bytes, int]:
    """POST a chunked body from `pieces` while reading the answer: the answer, and the
    bytes sent when it began."""
    reader, writer = await asyncio.open_connection("127.0.0.1", live.settings.port)
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    sent = 0

    async def pump() -> None:
        nonlocal sent
        writer.write(head.encode())
        for piece in pieces:
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
            sent += len(piece)
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    sender = asyncio.create_task(pump())
    try:
        first = await asyncio.wait_for(reader.read(1), 30)
        sent_then = sent
        answer = first + await asyncio.wait_for(reader.read(), 30)
    finally:
        await hang_up(sender, writer)
    return answer, sent_then


async def test_a_body_over_the_limit_stops_at_the_limit(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    visitor, cid = await chat(live)
    await live.store.directory.put_site(Site("shop", (ORIGIN,), file_max_bytes=MiB))
    consumed = 0
    real_upload = service_files.upload

    async def counting(*args: Any) -> Any:
        """What the route read of the request's body."""
        *head, body = args

        async def counted() -> AsyncIterator[bytes]:
            nonlocal consumed
            async for chunk in body:
                consumed += len(chunk)
                yield chunk

        return await real_upload(*head, counted())  # type: ignore[call-arg]

    monkeypatch.setattr(service_files, "upload", counting)
    piece = b"a" * 65536
    answer, sent_then = await send_chunked(
        live, f"/api/files?cid={cid}&name=big.txt", as_visitor(visitor), iter([piece] * 4096)
    )
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert b'"error":"too_large"' in answer and b"files are limited to 1 MiB" in answer
    assert MiB < consumed <= MiB + 4 * len(piece)  # the limit and a few chunks, of 256 MiB
    assert sent_then < 48 * MiB  # and answered long before the client was through
    await nothing_kept(live, cid)


async def test_a_declared_length_over_the_route_bound_is_refused_unread(live: Live) -> None:
    visitor, cid = await chat(live)
    reader, writer = await asyncio.open_connection("127.0.0.1", live.settings.port)
    head = f"POST /api/files?cid={cid} HTTP/1.1\r\nHost: x\r\nContent-Length: {200 * MiB}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in as_visitor(visitor).items()) + "\r\n"
    writer.write(head.encode())
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 413 ")
    await nothing_kept(live, cid)


async def test_a_client_that_goes_away_mid_body_leaves_nothing(live: Live) -> None:
    visitor, cid = await chat(live)
    reader, writer = await asyncio.open_connection("127.0.0.1", live.settings.port)
    head = f"POST /api/files?cid={cid} HTTP/1.1\r\nHost: x\r\nContent-Length: {4 * MiB}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in as_visitor(visitor).items()) + "\r\n"
    writer.write(head.encode() + png() + b"\0" * MiB)
    await writer.drain()
    uploads = live.settings.data / "uploads"
    for _ in range(200):  # the upload is being written to its temporary file
        if uploads.exists() and list(uploads.iterdir()):
            break
        await asyncio.sleep(0.025)
    else:
        raise AssertionError("the upload never started")
    writer.close()
    for _ in range(200):
        if not list(uploads.iterdir()):
            break
        await asyncio.sleep(0.025)
    await nothing_kept(live, cid)
    del reader


# --- types --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"\x7fELF\x02\x01\x01\x00" + b"\0" * 4096,  # an executable named x.png
        b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" + b"\0" * 4096,
        b"PK\x03\x04" + b"\0" * 100,  # a zip
        b"<svg onload=alert(1)>\0",  # text, until a NUL
    ],
)
async def test_what_is_none_of_the_types_is_refused(live: Live, body: bytes) -> None:
    visitor, cid = await chat(live)
    assert await refused(live, cid, body, as_visitor(visitor), name="x.png") == ("415 refused_type")
    answer = await upload(live, cid, body, as_visitor(visitor))
    assert answer.json()["message"].endswith("png, jpeg, gif, webp, pdf, txt")


@pytest.mark.parametrize(
    "body",
    [
        b"fine text\n" * 100 + b"then binary \x00",  # after the first bytes
        b"fine text\n" * 100 + b"then not UTF-8 \xe9t\xe9",
        b"fine text\n" * 100 + "ends inside a character \u2603".encode()[:-1],
    ],
)
async def test_text_is_checked_to_its_end(live: Live, body: bytes) -> None:
    visitor, cid = await chat(live)
    assert await refused(live, cid, body, as_visitor(visitor)) == "415 refused_type"


def png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data).to_bytes(4, "big")
    return len(data).to_bytes(4, "big") + kind + data + crc


async def test_a_polyglot_is_served_rewritten(live: Live) -> None:
    """A valid PNG with HTML in a text chunk and after its end: accepted as the image it
    is, and served without a byte of the HTML."""
    agent = await live.agent()
    visitor, cid = await chat(live, agent)
    image = png((20, 10))
    script = b"<html><script>alert(document.cookie)</script></html>"
    iend = image.rindex(b"IEND") - 4
    polyglot = image[:iend] + png_chunk(b"tEXt", b"Comment\0" + script) + image[iend:] + script
    opened = Image.open(io.BytesIO(polyglot))
    opened.load()
    assert "<script" in opened.info["Comment"]  # a PNG Pillow reads, script and all
    sent = await uploaded(live, cid, polyglot, as_visitor(visitor), name="page.html")
    assert (sent["type"], sent["name"]) == ("png", "page.png")
    await visitor.request("msg", cid=cid, text="look", cmid="1", files=[sent["id"]])
    served = await get(live, f"/api/files/{sent['id']}", as_visitor(visitor))
    assert served.status_code == 200
    assert b"<script" not in served.content and b"<html" not in served.content
    assert served.headers["content-type"] == "image/png"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["content-security-policy"] == FILE_CSP
    assert Image.open(io.BytesIO(served.content)).size == (20, 10)


def bilevel(size: tuple[int, int]) -> bytes:
    """A large image in a few bytes (one bit a pixel, all white)."""
    out = io.BytesIO()
    Image.new("1", size, 1).save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize(
    "body",
    [
        png()[:60],  # cut short
        b"\x89PNG\r\n\x1a\n" + random.Random(7).randbytes(2000),  # a signature, then noise
        b"\xff\xd8\xff\xe0" + b"\0" * 600,  # a JPEG that is not one
        b"GIF89a" + b"\xff" * 600,
        b"RIFF\x00\x01\x00\x00WEBPVP8 " + b"\0" * 600,
        bilevel((8000, 6000)),  # 48 megapixels: over the 40 megapixel bound
    ],
    ids=["cut-png", "png-noise", "not-jpeg", "not-gif", "not-webp", "48-megapixels"],
)
async def test_broken_and_oversized_images_are_refused(live: Live, body: bytes) -> None:
    visitor, cid = await chat(live)
    assert await refused(live, cid, body, as_visitor(visitor)) == "415 refused_type"
    answer = await upload(live, cid, body, as_visitor(visitor))
    assert answer.json()["message"].startswith("this image could not be read")


async def test_an_empty_body_is_a_bad_request(live: Live) -> None:
    visitor, cid = await chat(live)
    assert await refused(live, cid, b"", as_visitor(visitor)) == "400 bad_request"


# --- ids that are not the sender's ------------------------------------------------------------


async def test_another_conversations_file_is_not_found(live: Live) -> None:
    agent = await live.agent()
    visitor, cid = await chat(live, agent)
    other, other_cid = await chat(live, agent)
    theirs = await uploaded(live, other_cid, PDF, as_visitor(other))
    await other.request("msg", cid=other_cid, text="mine", cmid="1", files=[theirs["id"]])
    unsent = await uploaded(live, other_cid, PDF, as_visitor(other))
    before = (await visitor.request("sync", cid=cid, after=0))["messages"]
    for file_id in (theirs["id"], unsent["id"], "f_" + "0" * 24 + "." + cid):
        code = await visitor.error("msg", cid=cid, text="x", cmid=f"m{file_id}", files=[file_id])
        assert code == "not_found"
        assert (await get(live, f"/api/files/{file_id}", as_visitor(visitor))).status_code == 404
    # the agent cannot send the visitor's unsent upload either, nor another conversation's
    mine = await uploaded(live, cid, PDF, as_visitor(visitor))
    assert await agent.error("msg", cid=cid, text="x", cmid="a1", files=[mine["id"]]) == (
        "not_found"
    )
    assert await agent.error("msg", cid=cid, text="x", cmid="a2", files=[theirs["id"]]) == (
        "not_found"
    )
    after = (await visitor.request("sync", cid=cid, after=0))["messages"]
    assert after == before  # nothing stored, no seq used
    ok = await visitor.request("msg", cid=cid, text="now", cmid="ok", files=[mine["id"]])
    assert ok["seq"] == before[-1]["seq"] + 1


async def test_the_101st_file_is_refused(live: Live) -> None:
    visitor, cid = await chat(live)
    auth = as_visitor(visitor)
    for i in range(100):
        await uploaded(live, cid, b"note %d\n" % i, auth, name=f"{i}.txt")
    full = await upload(live, cid, b"one more\n", auth)
    assert (full.status_code, full.json()["error"]) == (409, "conflict")
    assert await live.store.files.count(cid) == 100


# --- unsent uploads expire ------------------------------------------------------------------


async def test_uploads_no_message_sent_are_deleted_after_an_hour(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    clock = ManualClock(int(time.time() * 1000))
    live = await start_server(clock, data=tmp_path / "node")
    visitor, cid = await chat(live)
    sent = await uploaded(live, cid, PDF, as_visitor(visitor))
    await visitor.request("msg", cid=cid, text="x", cmid="1", files=[sent["id"]])
    forgotten = await uploaded(live, cid, PDF, as_visitor(visitor))
    clock.advance(30 * 60)
    recent = await uploaded(live, cid, PDF, as_visitor(visitor))
    stale = live.settings.data / "uploads" / "up-left-by-a-dead-process"
    stale.write_bytes(b"x")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    fresh = stale.with_name("up-being-written")
    fresh.write_bytes(b"x")
    clock.advance(31 * 60)  # `forgotten` is 61 minutes old, `recent` 31
    node = live.runtime.node
    assert await service_files.expire_unsent(node) == 1
    gone = await get(live, f"/api/files/{forgotten['id']}", as_visitor(visitor))
    assert gone.status_code == 404
    code = await visitor.error("msg", cid=cid, text="x", cmid="2", files=[forgotten["id"]])
    assert code == "not_found"
    for kept in (sent, recent):
        assert (await get(live, f"/api/files/{kept['id']}", as_visitor(visitor))).status_code == (
            200
        )
    assert not stale.exists() and fresh.exists()
    assert await service_files.expire_unsent(node) == 0


async def trickle(live: Live, path: str, headers: dict[str, str], body: bytes, gap: float) -> bytes:
    """POST `body` in four pieces, `gap` seconds apart: the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", live.settings.port)
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    writer.write(head.encode())
    step = -(-len(body) // 4)
    for i in range(0, len(body), step):
        await asyncio.sleep(gap)
        writer.write(body[i : i + step])
        await writer.drain()
    answer = await asyncio.wait_for(reader.read(12), 10)
    writer.close()
    return answer


async def test_uploads_have_their_own_body_time(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    """`upload_timeout_s`, not the 30 s of other bodies (`body_timeout_s`)."""
    live = await start_server(data=tmp_path / "node", body_timeout_s=0.3, upload_timeout_s=1.5)
    visitor, cid = await chat(live)
    path = f"/api/files?cid={cid}"
    assert await trickle(live, path, as_visitor(visitor), PDF, gap=0.2) == b"HTTP/1.1 201"
    assert await trickle(live, path, as_visitor(visitor), PDF, gap=0.6) == b"HTTP/1.1 408"
    assert await live.store.files.count(cid) == 1
    uploads = live.settings.data / "uploads"
    assert not list(uploads.iterdir())
