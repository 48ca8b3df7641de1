"""Issue 15, attachments (docs/protocol.md §10), end to end on both backends: uploads over
HTTP, files sent in `msg`, downloads with their headers, who may read what, CORS.

The helpers here are shared by `test_files_bad_input.py` and `test_files_nodes.py`.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from PIL import Image

from chat_server.core.model import AgentRole, Site
from tests.client import Client
from tests.conftest import PASSWORD, Live, ServerFactory
from tests.http import http_client

ORIGIN = "https://shop.example"
FILE_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
GPS = {1: "N", 2: (48.0, 51.0, 24.0), 3: "E", 4: (2.0, 21.0, 3.0)}


@pytest.fixture
async def live(start_server: ServerFactory, tmp_path: Path) -> Live:
    """A server whose data directory (the temporary uploads, in Redis mode too) is the
    test's own."""
    return await start_server(data=tmp_path / "node")


# --- files -------------------------------------------------------------------------------


def png(size: tuple[int, int] = (64, 48), *, gps: bool = False, **save: Any) -> bytes:
    """A real PNG made by Pillow; with `gps`, EXIF holding a GPS position."""
    image = Image.new("RGB", size, (200, 30, 30))
    out = io.BytesIO()
    if gps:
        exif = Image.Exif()
        exif[0x8825] = GPS
        save["exif"] = exif.tobytes()
    image.save(out, "PNG", **save)
    return out.getvalue()


PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)


# --- clients -----------------------------------------------------------------------------


def as_visitor(visitor: Client, origin: str | None = ORIGIN) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {visitor.hello['token']}"}
    return headers | ({"Origin": origin} if origin else {})


async def as_agent(live: Live, agent: Client) -> dict[str, str]:
    return {"Authorization": f"Bearer {await live.token(agent.agent)}"}


async def upload(
    live: Live, cid: str, body: bytes, headers: dict[str, str], name: str | None = "a.png"
) -> httpx.Response:
    query = f"cid={cid}" + (f"&name={quote(name)}" if name is not None else "")
    async with http_client(base_url=live.base, timeout=30) as http:
        return await http.post(f"/api/files?{query}", content=body, headers=headers)


async def uploaded(live: Live, cid: str, body: bytes, headers: dict[str, str], **kw: Any) -> Any:
    """Upload, expecting 201: the File."""
    answer = await upload(live, cid, body, headers, **kw)
    assert answer.status_code == 201, answer.text
    return answer.json()["file"]


async def get(live: Live, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    async with http_client(base_url=live.base, timeout=30) as http:
        return await http.get(path, headers=headers or {})


async def chat(live: Live, agent: Client | None = None) -> tuple[Client, str]:
    """A visitor with a conversation (assigned to `agent` when one is given and online)."""
    visitor = await live.visitor()
    cid = (await visitor.request("start", text="Hello"))["conversation"]["id"]
    if agent is not None:
        assigned = await agent.event("assigned")
        assert assigned["conversation"]["id"] == cid
    return visitor, cid


def assert_file_headers(answer: httpx.Response, *, mime: str, disposition: str) -> None:
    h = answer.headers
    assert h["content-type"] == mime
    assert h["content-disposition"].startswith(disposition + "; filename*=UTF-8''")
    assert h["x-content-type-options"] == "nosniff"
    assert h["content-security-policy"] == FILE_CSP
    assert h["cross-origin-resource-policy"] == "cross-origin"
    assert h["cache-control"] == "private, max-age=3600"
    assert "content-encoding" not in h  # never compressed on the way


# --- the walk ------------------------------------------------------------------------------


async def test_a_screenshot_and_an_invoice_both_ways(live: Live) -> None:
    agent = await live.agent(codec="chat.v1.msgpack", name="Alice")
    visitor, cid = await chat(live, agent)
    assert visitor.hello["site"]["files"] == {
        "max_bytes": 10 * 1024 * 1024,
        "types": ["png", "jpeg", "gif", "webp", "pdf", "txt"],
    }

    # the visitor's screenshot: EXIF with a GPS position, which the download lacks
    shot = png((640, 400), gps=True)
    assert Image.open(io.BytesIO(shot)).getexif().get_ifd(0x8825)
    answer = await upload(live, cid, shot, as_visitor(visitor), name="C:\\tmp\\my shot.PNG")
    assert answer.status_code == 201, answer.text
    assert answer.headers["access-control-allow-origin"] == ORIGIN
    assert "origin" in answer.headers["vary"].lower()
    sent = answer.json()["file"]
    assert sent["id"].startswith("f_") and sent["id"].endswith("." + cid)
    assert (sent["name"], sent["type"], sent["width"], sent["height"]) == (
        "my shot.png",
        "png",
        640,
        400,
    )
    ok = await visitor.request("msg", cid=cid, text="", cmid="v-shot", files=[sent["id"]])
    got = await agent.event("msg", cid=cid, seq=ok["seq"])
    assert got["files"] == [sent] and got["text"] == ""

    agent_auth = await as_agent(live, agent)
    image = await get(live, f"/api/files/{sent['id']}", agent_auth)
    assert image.status_code == 200
    assert_file_headers(image, mime="image/png", disposition="inline")
    assert image.headers["content-disposition"].endswith("''my%20shot.png")
    assert int(image.headers["content-length"]) == len(image.content) == sent["size"]
    rewritten = Image.open(io.BytesIO(image.content))
    assert rewritten.size == (640, 400) and not rewritten.getexif()
    assert b"Exif" not in image.content and b"eXIf" not in image.content
    thumb = await get(live, f"/api/files/{sent['id']}/thumb", agent_auth)
    assert thumb.status_code == 200 and thumb.headers["content-type"] in {
        "image/webp",
        "image/png",
    }
    assert_file_headers(thumb, mime=thumb.headers["content-type"], disposition="inline")
    assert Image.open(io.BytesIO(thumb.content)).size == (320, 200)
    saved = await get(live, f"/api/files/{sent['id']}?download=1", agent_auth)
    assert saved.headers["content-disposition"].startswith("attachment;")
    assert saved.content == image.content

    # the agent's invoice, sent with a few words; the visitor downloads it
    invoice = await uploaded(live, cid, PDF, agent_auth, name="invoice 12.pdf")
    assert invoice == {
        "id": invoice["id"],
        "name": "invoice 12.pdf",
        "type": "pdf",
        "size": len(PDF),
    }
    ok = await agent.request("msg", cid=cid, text="Here it is", cmid="a-1", files=[invoice["id"]])
    shown = await visitor.event("msg", cid=cid, seq=ok["seq"])
    assert shown["files"] == [invoice] and shown["text"] == "Here it is"
    pdf = await get(live, f"/api/files/{invoice['id']}", as_visitor(visitor))
    assert pdf.status_code == 200 and pdf.content == PDF
    assert_file_headers(pdf, mime="application/pdf", disposition="attachment")
    assert pdf.headers["access-control-allow-origin"] == ORIGIN
    assert (await get(live, f"/api/files/{invoice['id']}/thumb", agent_auth)).status_code == 404

    # the transcript and a later sync carry the files too
    history = await visitor.request("sync", cid=cid, after=0)
    assert [m.get("files") for m in history["messages"] if m.get("files")] == [[sent], [invoice]]
    # a resend of the same msg (same cmid) is the same message, files and all
    again = await visitor.request("msg", cid=cid, text="", cmid="v-shot", files=[sent["id"]])
    assert again["seq"] == got["seq"]


async def test_text_and_a_file_sent_again_in_a_later_message(live: Live) -> None:
    agent = await live.agent()
    visitor, cid = await chat(live, agent)
    notes = await uploaded(live, cid, "caf\u00e9 notes\n".encode() * 100, as_visitor(visitor))
    assert (notes["type"], notes["name"], notes["size"]) == ("txt", "a.txt", 1200)
    first = await visitor.request("msg", cid=cid, text="notes", cmid="1", files=[notes["id"]])
    await agent.event("msg", seq=first["seq"])
    # once sent, the file is the conversation's: the agent may forward it in its own msg
    ok = await agent.request("msg", cid=cid, text="this one?", cmid="a", files=[notes["id"]])
    assert (await visitor.event("msg", seq=ok["seq"]))["files"] == [notes]
    text = await get(live, f"/api/files/{notes['id']}", as_visitor(visitor))
    assert text.headers["content-type"] == "text/plain; charset=utf-8"
    assert text.content == "caf\u00e9 notes\n".encode() * 100


# --- who may read what -----------------------------------------------------------------------


async def status(live: Live, file_id: str, headers: dict[str, str], thumb: bool = False) -> int:
    answer = await get(live, f"/api/files/{file_id}" + ("/thumb" if thumb else ""), headers)
    return answer.status_code


async def test_rights(live: Live) -> None:
    """The conversation's visitor, the agent holding it (any agent while it is queued or
    pending) and supervisors; an unsent upload only its uploader; anyone else 404."""
    alice = await live.agent(name="Alice", max_chats=1)
    bob = await live.agent(name="Bob", online=False)
    boss = await live.agent(name="Sue", role=AgentRole.SUPERVISOR, online=False)
    visitor, cid = await chat(live, alice)
    other_visitor, other_cid = await chat(live)  # queued: Alice is full
    a_auth, b_auth, s_auth = [await as_agent(live, c) for c in (alice, bob, boss)]

    sent = await uploaded(live, cid, png(), as_visitor(visitor))
    unsent = await uploaded(live, cid, png(), as_visitor(visitor))
    alices = await uploaded(live, cid, PDF, a_auth)
    await visitor.request("msg", cid=cid, text="see", cmid="1", files=[sent["id"]])

    assert await status(live, sent["id"], as_visitor(visitor)) == 200
    assert await status(live, sent["id"], as_visitor(visitor), thumb=True) == 200
    assert await status(live, sent["id"], a_auth) == 200
    assert await status(live, sent["id"], s_auth) == 200
    assert await status(live, sent["id"], s_auth, thumb=True) == 200
    assert await status(live, sent["id"], b_auth) == 404  # active, and not Bob's
    assert await status(live, sent["id"], b_auth, thumb=True) == 404
    assert await status(live, sent["id"], as_visitor(other_visitor)) == 404
    # unsent uploads: their uploader's alone, supervisors included
    assert await status(live, unsent["id"], as_visitor(visitor)) == 200
    for who in (a_auth, s_auth, b_auth, as_visitor(other_visitor)):
        assert await status(live, unsent["id"], who) == 404
    assert await status(live, alices["id"], a_auth) == 200
    for who in (as_visitor(visitor), s_auth, b_auth):
        assert await status(live, alices["id"], who) == 404
    # unknown ids, and ids that are not ids
    unknown = "f_" + "0" * 24 + "." + cid
    for file_id in (unknown, "f_" + "0" * 24 + ".c_nope", "nope", sent["id"] + "x"):
        assert await status(live, file_id, s_auth) == 404
    # no credentials, or bad ones
    assert await status(live, sent["id"], {}) == 401
    assert await status(live, sent["id"], {"Authorization": "Bearer nope"}) == 401
    assert await status(live, "f_" + "0" * 24 + ".c_nope", {"Authorization": "Bearer x"}) == 404
    # a visitor's token is for its site's conversations: another's conversation is unknown
    assert (await upload(live, cid, png(), as_visitor(other_visitor))).status_code == 404
    assert (await upload(live, other_cid, png(), a_auth)).status_code == 404  # queued
    assert (await upload(live, cid, png(), b_auth)).status_code == 404
    assert (await upload(live, cid, png(), s_auth)).status_code == 404

    # a queued conversation (Alice is full): any agent reads what was sent in it
    queued_file = await uploaded(live, other_cid, png(), as_visitor(other_visitor))
    await other_visitor.request("msg", cid=other_cid, text="x", cmid="1", files=[queued_file["id"]])
    assert await status(live, queued_file["id"], b_auth) == 200
    assert await status(live, queued_file["id"], a_auth) == 200
    assert await status(live, queued_file["id"], as_visitor(visitor)) == 404
    await bob.request("claim", cid=other_cid)
    assert await status(live, queued_file["id"], b_auth) == 200
    assert await status(live, queued_file["id"], a_auth) == 404  # Bob's now

    # closed: no more uploads; what was sent stays readable to those who could read it
    await alice.request("close", cid=cid, resolved=True)
    closed = await upload(live, cid, png(), as_visitor(visitor))
    assert closed.status_code == 409 and closed.json()["error"] == "closed"
    assert (await upload(live, cid, PDF, a_auth)).json()["error"] == "closed"
    assert await status(live, sent["id"], as_visitor(visitor)) == 200
    assert await status(live, sent["id"], a_auth) == 200
    assert await status(live, sent["id"], b_auth) == 404
    # an agent serving the visitor again reads their earlier conversation's files, as the
    # console's history shows them (GET /api/conversations/{cid} allows it), unsent ones not
    again = await visitor.request("start", text="me again", cmid="2")
    await boss.request("assign", cid=again["conversation"]["id"], to=bob.agent.id)
    assert await status(live, sent["id"], b_auth) == 200
    assert await status(live, unsent["id"], b_auth) == 404


async def test_upload_errors_name_themselves(live: Live) -> None:
    visitor, cid = await chat(live)
    auth = as_visitor(visitor)
    no_cid = await upload(live, "", png(), auth)
    assert (no_cid.status_code, no_cid.json()["error"]) == (400, "bad_request")
    assert (await upload(live, "c_nope", png(), auth)).status_code == 404
    assert (await upload(live, cid, png(), {})).status_code == 401
    bad = await upload(live, cid, png(), {"Authorization": "Bearer x", "Origin": ORIGIN})
    assert (bad.status_code, bad.json()["error"]) == (401, "unauthorized")
    assert bad.headers["access-control-allow-origin"] == ORIGIN  # the widget reads why


# --- CORS and the agent's cookie ------------------------------------------------------------


async def preflight(live: Live, path: str, origin: str) -> httpx.Response:
    async with http_client(base_url=live.base) as http:
        return await http.options(
            path,
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )


async def test_cors_for_the_sites_pages_only(live: Live) -> None:
    agent = await live.agent()
    visitor, cid = await chat(live, agent)
    for path in (f"/api/files?cid={cid}", f"/api/files/f_{'0' * 24}.{cid}"):
        allowed = await preflight(live, path, ORIGIN)
        assert allowed.status_code == 204
        assert allowed.headers["access-control-allow-origin"] == ORIGIN
        assert allowed.headers["access-control-allow-methods"] == "GET, POST"
        assert allowed.headers["access-control-allow-headers"] == "authorization, content-type"
        assert allowed.headers["access-control-max-age"] == "600"
        assert "origin" in allowed.headers["vary"].lower()
        other = await preflight(live, path, "https://evil.example")
        assert other.status_code == 204
        assert not any(h.startswith("access-control-") for h in other.headers)
    unknown = await preflight(live, "/api/files?cid=c_nope", ORIGIN)
    assert "access-control-allow-origin" not in unknown.headers

    refused = await upload(live, cid, png(), as_visitor(visitor, "https://evil.example"))
    assert (refused.status_code, refused.json()["error"]) == (403, "forbidden")
    assert "access-control-allow-origin" not in refused.headers
    no_origin = await upload(live, cid, png(), as_visitor(visitor, None))
    assert no_origin.status_code == 403
    sent = await uploaded(live, cid, png(), as_visitor(visitor))
    await visitor.request("msg", cid=cid, text="x", cmid="1", files=[sent["id"]])
    elsewhere = await get(live, f"/api/files/{sent['id']}", as_visitor(visitor, "https://x.test"))
    assert elsewhere.status_code == 200  # readable, but no other page's script may read it
    assert "access-control-allow-origin" not in elsewhere.headers


async def test_the_consoles_cookie(live: Live) -> None:
    """Same origin only for uploads; downloads by `<img>` and `<a download>` too."""
    agent = await live.agent(name="Cora")
    _, cid = await chat(live, agent)
    async with http_client(base_url=live.base) as http:
        login = await http.post(
            "/api/login", json={"email": agent.agent.email, "password": PASSWORD}
        )
        assert login.status_code == 200
        own = {"Origin": live.base}
        answer = await http.post(f"/api/files?cid={cid}&name=x.pdf", content=PDF, headers=own)
        assert answer.status_code == 201, answer.text
        file_id = answer.json()["file"]["id"]
        foreign = {"Origin": "https://evil.example"}
        cross = await http.post(f"/api/files?cid={cid}", content=PDF, headers=foreign)
        assert (cross.status_code, cross.json()["error"]) == (403, "forbidden")
        for dest in ("empty", "image", "document"):
            loaded = await http.get(
                f"/api/files/{file_id}",
                headers={"Sec-Fetch-Dest": dest, "Sec-Fetch-Site": "same-origin"},
            )
            assert loaded.status_code == 200 and loaded.content == PDF, dest
        from_elsewhere = await http.get(
            f"/api/files/{file_id}",
            headers={"Sec-Fetch-Dest": "image", "Sec-Fetch-Site": "cross-site"},
        )
        assert from_elsewhere.status_code == 401


async def test_a_site_can_take_fewer_types_or_none(live: Live) -> None:
    visitor, cid = await chat(live)
    only_pdf = Site("shop", (ORIGIN,), file_max_bytes=1024, file_types=("pdf",))
    await live.store.directory.put_site(only_pdf)
    refused = await upload(live, cid, png(), as_visitor(visitor))
    assert (refused.status_code, refused.json()["error"]) == (415, "refused_type")
    assert refused.json()["message"].endswith("the accepted types are pdf")
    assert (await upload(live, cid, PDF, as_visitor(visitor))).status_code == 201
    await live.store.directory.put_site(Site("shop", (ORIGIN,), file_max_bytes=0))
    off = await upload(live, cid, PDF, as_visitor(visitor))
    assert (off.status_code, off.json()["error"]) == (403, "forbidden")
    again = await live.visitor(token=visitor.hello["token"])
    assert again.hello["site"]["files"]["max_bytes"] == 0
