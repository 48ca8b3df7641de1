"""`chat-server visitor export | erase` (issue 16) run as a user would (a subprocess), on data
a real server made, both backends: the export holds everything (messages, notes, the
rating, files and their bytes), the erase removes it all and the REST API no longer finds
it, both are audited without the email; an open conversation is closed first (Redis: while
the server runs; embedded: once it has stopped); the confirmation rule, and the errors."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import sqlite3
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from chat_server.core.model import AgentRole
from tests.client import Client, connect_visitor
from tests.conftest import Live, ServerFactory, backend_url, redis_like, redis_of
from tests.http import http_client
from tests.integration.test_files import ORIGIN, as_visitor, uploaded
from tests.processes import ServerProcess, provision

EMAIL = "Vera.Lind@Example.com"
RECEIPT = b"receipt: 2 x mugs, 1 x teapot\n" * 40
OPS = "ops@shop.example"


@dataclass
class Where:
    """The state a CLI run works on: its flags and environment."""

    args: list[str]
    env: dict[str, str] = field(default_factory=dict)


def where_of(live: Live) -> Where:
    s = live.settings
    if s.redis_url:
        return Where(["--redis", s.redis_url], {"CHAT_REDIS_PREFIX": s.redis_prefix})
    return Where(["--data", str(s.data)])


def command(where: Where, *args: str) -> tuple[list[str], dict[str, str]]:
    argv = [sys.executable, "-m", "chat_server", "visitor", *args, *where.args]
    return argv, {**os.environ, "CHAT_LOG_LEVEL": "warning", **where.env}


async def visitor_cli(where: Where, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `chat-server visitor ARGS` (stdin not a terminal), off the event loop: the
    server under test shares it."""
    argv, env = command(where, *args)
    return await asyncio.to_thread(
        subprocess.run,
        argv,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def on_a_terminal(where: Where, answer: str, *args: str) -> tuple[int, str, str]:
    """Run it with a terminal as standard input, typing `answer`."""
    argv, env = command(where, *args)
    main, child = pty.openpty()
    try:
        proc = subprocess.Popen(
            argv, stdin=child, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
        )
        os.write(main, answer.encode() + b"\n")
        out, err = proc.communicate(timeout=60)
    finally:
        os.close(child)
        os.close(main)
    return proc.returncode, out.decode(), err.decode()


async def rest(live: Live, token: str, path: str) -> httpx.Response:
    async with http_client(base_url=live.base, timeout=30) as http:
        return await http.get(path, headers={"Authorization": f"Bearer {token}"})


PRESENCE = (":gone:", ":online:", ":holders:", ":node-present:")
"""Redis keys naming connected (or lately gone) visitors by id: they go by themselves."""


async def traces(live: Live, *needles: str) -> list[str]:
    """Where the storage still names one of `needles` (case-insensitive), but for the audit
    log (visitor ids, by design), the embedded `meta` table (the running server's FCR marks,
    documented) and presence."""
    wanted = [n.lower() for n in needles]
    found: list[str] = []
    if not live.settings.redis_url:
        con = sqlite3.connect(live.settings.data / "chat.sqlite3")
        try:
            tables = [
                t for (t,) in con.execute("SELECT name FROM sqlite_master WHERE type='table'")
            ]
            for table in set(tables) - {"audit", "meta"}:
                for row in con.execute(f"SELECT * FROM {table}"):
                    if any(n in repr(row).lower() for n in wanted):
                        found.append(f"{table}: {row!r}")
        finally:
            con.close()
        return found
    for redis in redis_of(live.store):
        found += await _held_in(redis, f"*{live.settings.redis_prefix}*", wanted)
    return found


async def _held_in(redis: Any, pattern: str, wanted: list[str]) -> list[str]:
    found: list[str] = []
    for raw in await redis.keys(pattern):
        key, kind = raw.decode(), (await redis.type(raw)).decode()
        if kind == "stream" or any(p in key for p in PRESENCE):
            continue
        held = key
        if kind == "string":
            held += repr(await redis.get(raw))
        elif kind == "hash":
            held += repr(await redis.hgetall(raw))
        elif kind in ("set", "zset"):
            held += repr(await (redis.smembers(raw) if kind == "set" else redis.zrange(raw, 0, -1)))
        if any(n in held.lower() for n in wanted):
            found.append(held[:200])
    return found


async def supervisor_token(live: Live) -> str:
    return await live.token(await live.add_agent("Sue", role=AgentRole.SUPERVISOR))


async def closed_chat(live: Live, alice: Client, visitor: Client, text: str) -> str:
    cid: str = (await visitor.request("start", text=text))["conversation"]["id"]
    await alice.event("assigned", timeout=10)
    await visitor.request("close", cid=cid)
    return cid


@pytest.fixture
async def live(start_server: ServerFactory, tmp_path: Path) -> Live:
    """A server whose data directory (uploads, in Redis mode too) is the test's own."""
    return await start_server(data=tmp_path / "node")


# --- export, then erase, while the server runs ------------------------------------------------


async def test_a_persons_data_is_exported_whole_then_erased_whole(
    live: Live, tmp_path: Path
) -> None:
    where, sue = where_of(live), await supervisor_token(live)
    alice = await live.agent(name="Alice")
    page = {"url": "https://shop.example/cart", "title": "Cart"}
    vera = await live.visitor(name="Vera", email=EMAIL, page=page)
    vid = vera.hello["visitor"]["id"]
    cid = (await vera.request("start", text="My order is late"))["conversation"]["id"]
    await alice.event("assigned")
    await alice.request("msg", cid=cid, text="Let me check", cmid="a1")
    await alice.request("note", cid=cid, text="VIP: refund if needed", cmid="n1")
    receipt = await uploaded(live, cid, RECEIPT, as_visitor(vera), name="../my receipt.txt")
    sent = await vera.request("msg", cid=cid, text="Here", cmid="v2", files=[receipt["id"]])
    await alice.request("close", cid=cid, resolved=True)
    await vera.event("closed", cid=cid)
    await vera.request("rate", cid=cid, csat=4, comment="Quick")
    # the same person in another browser, and someone else
    vera_too = await live.visitor(email="vera.lind@example.com")
    other_vid = vera_too.hello["visitor"]["id"]
    cid_too = await closed_chat(live, alice, vera_too, "Me again")
    olaf = await live.visitor(name="Olaf", email="olaf@example.com")
    cid_olaf = await closed_chat(live, alice, olaf, "Hi")
    for client in (vera, vera_too):
        await client.close()
    vids = sorted([vid, other_vid])

    out, files = tmp_path / "export.json", tmp_path / "files"
    args = ("--email", "VERA.LIND@example.com", "--by", OPS)
    done = await visitor_cli(where, "export", *args, "--out", str(out), "--files", str(files))
    assert done.returncode == 0, done.stderr
    summary = {
        vid: "1 conversation(s), 3 messages, 1 notes, 1 files, 1 files copied, 1 ratings",
        other_vid: "1 conversation(s), 1 messages, 0 notes, 0 files, 0 files copied, 0 ratings",
    }
    assert done.stdout.splitlines() == [f"exported visitor {v}: {summary[v]}" for v in vids]
    assert out.stat().st_mode & 0o777 == 0o600  # personal data
    exported = json.loads(out.read_text())
    assert [p["visitor"]["id"] for p in exported["visitors"]] == vids
    part = next(p for p in exported["visitors"] if p["visitor"]["id"] == vid)
    created = part["visitor"]["created"]
    assert part["visitor"] == dict(
        id=vid, site="shop", created=created, name="Vera", email=EMAIL, page=page
    )
    [conv] = part["conversations"]
    assert (conv["id"], conv["state"], conv["agent"]["name"]) == (cid, "closed", "Alice")
    closed = conv["closed"]
    assert closed == dict(ts=closed["ts"], by="agent", reason="resolved", resolved=True)
    said = [(m["kind"], m["from"]["role"], m["text"]) for m in conv["messages"]]
    assert [s for s in said if s[0] != "event"] == [
        ("text", "visitor", "My order is late"),
        ("text", "agent", "Let me check"),
        ("note", "agent", "VIP: refund if needed"),  # staff notes about them: included
        ("text", "visitor", "Here"),
    ]
    rated = conv["rating"]
    assert rated == dict(ts=rated["ts"], csat=4, nps=None, ces=None, comment="Quick")
    path = f"{cid}/{receipt['id']}-my_receipt.txt"
    assert conv["files"] == [{**receipt, "seq": sent["seq"], "from": "visitor", "path": path}]
    assert (files / path).read_bytes() == RECEIPT
    assert sorted(p.name for p in files.rglob("*") if p.is_file()) == [path.split("/")[1]]

    to_stdout = await visitor_cli(where, "export", "--id", vid, "--by", OPS)
    assert to_stdout.returncode == 0, to_stdout.stderr
    [again] = json.loads(to_stdout.stdout)["visitors"]
    del conv["files"][0]["path"]  # no --files: no copies
    assert again == part

    erased = await visitor_cli(where, "erase", *args, "--yes")
    assert erased.returncode == 0, erased.stderr
    summary = {
        vid: "1 conversation(s), 3 messages, 1 notes, 1 files, 1 ratings, identity forgotten",
        other_vid: "1 conversation(s), 1 messages, 0 notes, 0 files, 0 ratings, identity forgotten",
    }
    assert erased.stdout.splitlines() == [f"erased visitor {v}: {summary[v]}" for v in vids]

    for gone in (cid, cid_too):
        assert (await rest(live, sue, f"/api/conversations/{gone}")).status_code == 404
    assert (await rest(live, sue, f"/api/files/{receipt['id']}")).status_code == 404
    listed = (await rest(live, sue, f"/api/conversations?visitor={vid}")).json()
    assert listed == {"conversations": []}
    assert await live.store.directory.visitor(vid) is None
    assert await live.store.directory.visitors_by_email(EMAIL) == []
    assert await traces(live, vid, other_vid, "vera.lind", "VIP: refund", "my receipt.txt") == []
    assert (await rest(live, sue, f"/api/conversations/{cid_olaf}")).status_code == 200
    assert [v.name for v in await live.store.directory.visitors_by_email("olaf@example.com")] == [
        "Olaf"
    ]

    audit = await rest(live, sue, f"/api/audit?agent={OPS}")
    entries = audit.json()["entries"]
    assert sorted((e["action"], e["detail"]["visitor"]) for e in entries) == sorted(
        [("visitor_export", v) for v in [*vids, vid]] + [("visitor_erase", v) for v in vids]
    )
    mine = next(
        e for e in entries if e["action"] == "visitor_erase" and e["detail"]["visitor"] == vid
    )
    assert mine["detail"]["conversations"] == 1 and mine["detail"]["files"] == 1
    assert mine["agent"] == OPS and mine["cid"] is None
    assert "vera" not in audit.text.lower().replace(vid, "").replace(other_vid, "")  # no email

    twice = await visitor_cli(where, "erase", *args, "--yes")
    assert twice.returncode == 1
    assert twice.stderr == (
        "chat-server: no visitor with email VERA.LIND@example.com (never seen, or erased already)\n"
    )


# --- an open conversation ---------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["redis"])
async def test_redis_an_open_conversation_is_closed_first_while_the_server_runs(
    live: Live,
) -> None:
    """Announced like any close (no survey: nobody is left to answer it); the agent it
    freed takes the next waiting conversation at once."""
    where, sue = where_of(live), await supervisor_token(live)
    alice = await live.agent(name="Alice", max_chats=1)
    vera = await live.visitor(name="Vera", email=EMAIL)
    vid = vera.hello["visitor"]["id"]
    cid = (await vera.request("start", text="Still there?"))["conversation"]["id"]
    await alice.event("assigned", timeout=10)
    bob = await live.visitor(name="Bob")
    bobs = (await bob.request("start", text="Hello?"))["conversation"]["id"]
    await alice.no_event("assigned")  # she is full: Bob waits

    erased = await visitor_cli(where, "erase", "--id", vid, "--by", OPS, "--yes")
    assert erased.returncode == 0, erased.stderr
    assert erased.stdout.startswith(f"erased visitor {vid}: 1 conversation(s) (1 closed first), ")
    assert f"visitor {vid} is connected now" in erased.stderr  # her socket is still open

    for client in (alice, vera):
        closed = await client.event("closed", cid=cid)
        assert (closed["by"], closed["reason"]) == ("system", "erased")
    await vera.no_event("survey")
    assert (await alice.event("assigned"))["conversation"]["id"] == bobs
    assert (await rest(live, sue, f"/api/conversations/{cid}")).status_code == 404
    assert await live.store.directory.visitor(vid) is None


async def test_embedded_an_open_conversation_is_erased_once_the_server_has_stopped(
    tmp_path: Path,
) -> None:
    """The server holds it in memory: erase refuses, and touches nothing, while it runs."""
    data = tmp_path / "data"
    token = provision(data)
    server = ServerProcess(data)
    where = Where(["--data", str(data)])
    server.start()
    try:
        await server.ready()
        vera = await connect_visitor(server.ws, site="shop", origin=ORIGIN, codec="chat.v1.json")
        vid = (await vera.request("hello", email=EMAIL))["visitor"]["id"]
        cid = (await vera.request("start", text="Anyone?"))["conversation"]["id"]
        refused = await visitor_cli(where, "erase", "--id", vid, "--by", OPS, "--yes")
        assert refused.returncode == 1
        assert refused.stderr == (
            f"chat-server: visitor {vid} has an open conversation ({cid}) held by the server "
            "running on this data directory: close it from the console, or stop the server, "
            "then erase again (nothing was erased)\n"
        )
        async with http_client(base_url=server.base) as http:
            auth = {"Authorization": f"Bearer {token}"}
            assert (await http.get(f"/api/conversations/{cid}", headers=auth)).status_code == 200
        await vera.close()
    finally:
        server.stop()

    erased = await visitor_cli(where, "erase", "--email", EMAIL, "--by", OPS, "--yes")
    assert erased.returncode == 0, erased.stderr
    assert erased.stdout == (
        f"erased visitor {vid}: 1 conversation(s) (1 closed first), 1 messages, 0 notes, "
        "0 files, 0 ratings, identity forgotten\n"
    )
    server.start()
    try:
        await server.ready()
        async with http_client(base_url=server.base) as http:
            auth = {"Authorization": f"Bearer {token}"}
            assert (await http.get(f"/api/conversations/{cid}", headers=auth)).status_code == 404
            listed = await http.get("/api/conversations?state=queued", headers=auth)
            assert listed.json() == {"conversations": []}
    finally:
        server.stop()


# --- confirmation, and errors ------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["embedded"])
async def test_erase_asks_on_a_terminal_and_refuses_without_one(live: Live) -> None:
    where, alice = where_of(live), await live.agent()
    vera = await live.visitor(email=EMAIL)
    vid = vera.hello["visitor"]["id"]
    await closed_chat(live, alice, vera, "Hello")
    await vera.close()
    erase = ("erase", "--id", vid, "--by", OPS)

    piped = await visitor_cli(where, *erase)
    assert piped.returncode == 2
    assert piped.stderr == (
        "chat-server: erase asks for confirmation: run it on a terminal, or add --yes\n"
    )
    code, out, err = await asyncio.to_thread(on_a_terminal, where, "no", *erase)
    assert (code, out) == (1, "")
    assert f"visitor {vid}: 1 conversation(s)" in err
    assert err.endswith("Type 'yes' to go on: chat-server: nothing was erased\n")
    assert await live.store.directory.visitor(vid) is not None

    code, out, err = await asyncio.to_thread(on_a_terminal, where, "yes", *erase)
    assert code == 0, err
    assert out.startswith(f"erased visitor {vid}: 1 conversation(s), ")
    assert await live.store.directory.visitor(vid) is None


async def test_unknown_visitors_and_bad_arguments(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    where = Where(["--data", str(tmp_path / "data")])
    if redis_like(backend):
        url = backend_url(backend, request)
        where = Where(["--redis", url], {"CHAT_REDIS_PREFIX": f"e{os.getpid()}"})
    for action in (["export"], ["erase", "--yes"]):
        unknown = await visitor_cli(where, *action, "--id", "v_nobody", "--by", OPS)
        assert (unknown.returncode, unknown.stderr) == (
            1,
            "chat-server: no visitor v_nobody (never seen, or erased already)\n",
        )
        unknown = await visitor_cli(where, *action, "--email", "x@example.com", "--by", OPS)
        assert unknown.returncode == 1
        assert "no visitor with email x@example.com" in unknown.stderr
    for bad, why in (
        (("--email", "not-an-email", "--by", OPS), "'not-an-email' is not an email address"),
        (("--id", "v_1"), "the following arguments are required: --by"),
        (("--id", "v_1", "--by", "  "), "give the operator's name or email"),
        (("--id", "v_1", "--email", "a@example.com", "--by", OPS), "not allowed with argument"),
        (("--by", OPS), "one of the arguments --id --email is required"),
    ):
        refused = await visitor_cli(where, "export", *bad)
        assert refused.returncode == 2, bad
        assert why in refused.stderr
