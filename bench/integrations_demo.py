"""Issue 17's evidence, from real processes on 127.0.0.1: a conversation going bot ->
handoff -> human -> closed, the webhook receiver's log of its events (ids, signatures checked
with examples/webhook_verify.py), and the figures of a receiver outage.

Per backend: `chat-server serve` (embedded: one node on a temp data dir; redis: a temp
redis-server and two nodes), set up with the CLI; examples/faq_bot.py as the site's bot; a
human agent and visitors on the WebSocket protocol; a webhook receiver in this process.
Then the receiver goes down, K conversations of M messages run, it comes back on the same
port, and what arrives is counted. Exits 1 if an event is lost or out of order, or the
bot -> human conversation fails. Everything stops by itself.

    python bench/integrations_demo.py                  # both backends (redis if installed)
    python bench/integrations_demo.py --backend embedded --conversations 20 --messages 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from examples.webhook_verify import verify
from tests.client import Client, connect_agent, connect_visitor
from tests.conftest import free_port
from tests.integration.webhook_receiver import Received, Receiver
from tests.processes import ServerProcess, cli
from tests.redis_server import RedisServer

ROOT = Path(__file__).resolve().parent.parent
ORIGIN = "http://demo.test"
JSON = "chat.v1.json"
SETTINGS = {  # short webhook timings (env settings, as any operator sets them)
    "CHAT_WEBHOOK_ALLOW": "127.0.0.1/32",  # the receiver is on loopback (SSRF rules)
    "CHAT_WEBHOOK_POLL_S": "0.1",
    "CHAT_WEBHOOK_REFRESH_S": "0.5",
    "CHAT_WEBHOOK_RETRY_BASE_S": "0.25",
    "CHAT_WEBHOOK_RETRY_CAP_S": "1",
    "CHAT_WEBHOOK_TIMEOUT_S": "2",
    "CHAT_QUEUE_INTERVAL_S": "0.1",
    "CHAT_SWEEP_INTERVAL_S": "0.2",
    "CHAT_NEW_VISITOR_BURST": "100",  # 20 visitors at once from one address
    "CHAT_CHAT_RATE": "200",  # one agent socket sends in 20 conversations at once
    "CHAT_CHAT_BURST": "400",
}
Frame = dict[str, Any]
Step = tuple[str, str | None]  # what the receiver should get: (event type, message text)


@dataclass
class Setup:
    """One backend's running pieces: nodes, the CLI's arguments, the receiver, Alice."""

    nodes: list[ServerProcess]
    data: Path
    store_args: tuple[str, ...]
    receiver: Receiver
    endpoints: dict[str, str]  # site -> endpoint id
    secrets: dict[str, str]  # site -> secret
    alice: Client | None = None
    bot: subprocess.Popen[bytes] | None = None
    redis: RedisServer | None = None

    def chat(self, *args: str, stdin: str | None = None) -> str:
        """`chat-server ARGS`, printed as run (blocking: only while setting up)."""
        print(f"  $ {shlex.join(['chat-server', *args])}")
        return cli(self.data, *args, *self.store_args, stdin=stdin)

    async def visitor(self, site: str, name: str) -> Client:
        client = await connect_visitor(self.nodes[0].ws, site=site, origin=ORIGIN, codec=JSON)
        await client.request("hello", name=name)
        return client

    @property
    def person(self) -> Client:
        assert self.alice is not None
        return self.alice


def signed(hit: Received, secret: str, body: bytes = b"", timestamp: str = "") -> bool:
    ts, signature = hit.headers["x-chat-timestamp"], hit.headers["x-chat-signature"]
    return verify(secret, body or hit.body, signature, timestamp or ts)


async def take(client: Client, t: str, match: Callable[[Frame], bool] = bool) -> Frame:
    """The first event of type `t` that `match`es, kept or coming (within 20 s)."""

    def find() -> Frame | None:
        return next((f for f in client.events if f.get("t") == t and match(f)), None)

    async with client.arrived:
        await asyncio.wait_for(client.arrived.wait_for(lambda: find() is not None), 20)
        frame = find()
        assert frame is not None
        client.events.remove(frame)
    return frame


def start_bot(s: Setup, token: str, log: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, str(ROOT / "examples/faq_bot.py"), "--faq",
               str(ROOT / "examples/faq.json"), "--url", f"{s.nodes[-1].ws}/ws/agent"]  # fmt: skip
    env = {**os.environ, "CHAT_BOT_TOKEN": token}
    with log.open("wb") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)


async def provision(s: Setup, tmp: Path) -> None:
    """Sites `shop` (its bot first) and `outage` (people only), each with a webhook to the
    receiver; the FAQ bot and Alice connected to the last node."""
    for site in ("shop", "outage"):
        s.chat("site", "add", site, "--origin", ORIGIN)
    s.chat("agent", "add", "faq-bot@demo.test", "--name", "Shop assistant", "--role", "bot")
    bot_token = s.chat("agent", "token", "faq-bot@demo.test").split()[-1]
    add = ("agent", "add", "alice@demo.test", "--name", "Alice", "--max-chats", "50")
    s.chat(*add, "--password-stdin", stdin="a long password\n")
    alice_token = s.chat("agent", "token", "alice@demo.test").split()[-1]
    s.chat("site", "bot", "shop", "faq-bot@demo.test")
    for site in ("shop", "outage"):
        added = json.loads(s.chat("webhook", "add", "--site", site, "--url", s.receiver.url))
        s.endpoints[site], s.secrets[site] = added["id"], added["secret"]
    await asyncio.sleep(1.0)  # > CHAT_WEBHOOK_REFRESH_S: every node knows the endpoints
    s.bot = start_bot(s, bot_token, tmp / "faq_bot.log")
    for _ in range(200):
        if "connected as" in (tmp / "faq_bot.log").read_text():
            break
        await asyncio.sleep(0.1)
    else:
        raise RuntimeError("the FAQ bot did not connect (faq_bot.log)")
    s.alice = await connect_agent(s.nodes[-1].ws, codec=JSON)
    await s.person.request("hello", token=alice_token)
    await s.person.request("status", state="online")
    await asyncio.sleep(0.5)  # the bot's presence heard by every node


def who(sender: Frame) -> str:
    if sender.get("role") != "agent":
        return str(sender.get("role"))
    return f"{'bot' if sender.get('bot') else 'agent'} {sender.get('name')}"


async def bot_to_human(s: Setup) -> bool:
    """The bot answers, hands off with a note, Alice takes over and closes; prints it all."""
    vera, alice = await s.visitor("shop", "Vera"), s.person
    start = await vera.request("start", text="Hi! How long does shipping to Norway take?")
    cid = start["conversation"]["id"]
    joined = [(await take(vera, "assigned"))["agent"]]
    await take(vera, "msg", lambda f: f["from"].get("bot") is True)
    await vera.request("msg", cid=cid, text="Thanks. Can I talk to a person?", cmid="v-2")
    taken = await take(alice, "assigned", lambda f: f["conversation"]["id"] == cid)
    joined.append((await take(vera, "assigned", lambda f: not f["agent"].get("bot")))["agent"])
    await alice.request("msg", cid=cid, text="Hi Vera, Alice here: which order?", cmid="a-1")
    await take(vera, "msg", lambda f: f["text"].startswith("Hi Vera"))
    await vera.request("msg", cid=cid, text="Order 1234, it is a gift.", cmid="v-3")
    await take(alice, "msg", lambda f: f["text"].startswith("Order 1234"))
    await alice.request("close", cid=cid, resolved=True)
    closed = await take(vera, "closed")
    history = (await vera.request("sync", cid=cid, after=0))["messages"]
    await vera.close()
    print(f"\n  conversation {cid} as the visitor saw it (its `sync` after the close):")
    for m in history:
        print(f"    {m['seq']:>2} {who(m['from']):<22} {m['text']}")
    print(f"  the visitor's `assigned` events: {joined}; `closed` by {closed['by']}")
    notes = [m for m in taken["messages"] if m["kind"] == "note"]
    print(f"  Alice's `assigned` ({len(taken['messages'])} messages) carries the internal note:")
    for m in notes:
        print(f"    {m['seq']:>2} note by {who(m['from'])}: {m['text']}")

    def hits() -> list[Received]:
        return [h for h in s.receiver.received if h.event["cid"] == cid]

    for _ in range(150):  # in order per conversation: once `closed` is in, all are
        if any(h.event["type"] == "conversation.closed" for h in hits()):
            break
        await asyncio.sleep(0.1)
    secret = s.secrets["shop"]
    print(f"\n  webhook receiver's log ({len(hits())} events of {cid}):")
    for h in hits():
        e = h.event
        seq, ok = e["data"].get("seq", ""), "ok" if signed(h, secret) else "BAD"
        print(f"    {e['id']}  {e['type']:<22} {e['cid']} seq {seq!s:<3} signature {ok}")
    first = hits()[0]
    stale = str(int(first.headers["x-chat-timestamp"]) - 600)
    checks = {
        "a tampered body": signed(first, secret, first.body.replace(b'"cid"', b'"cId"', 1)),
        "another secret": signed(first, "not-the-endpoint-secret"),
        "a timestamp 10 min old": signed(first, secret, timestamp=stale),
    }
    verdicts = ", ".join(f"{k}: {'ACCEPTED' if v else 'rejected'}" for k, v in checks.items())
    print(f"  verify() on the first event with {verdicts}")
    types = [h.event["type"] for h in hits()]
    return (
        all(signed(h, secret) for h in hits())
        and not any(checks.values())
        and (types[0], types[-1]) == ("conversation.started", "conversation.closed")
        and bool(notes)
        and [bool(a.get("bot")) for a in joined] == [True, False]
    )


async def one_conversation(s: Setup, i: int, messages: int) -> tuple[str, list[Step]]:
    """A visitor and Alice in turn, each message stored (`ok`) before the next; the steps
    the receiver should get, in order."""
    visitor = await s.visitor("outage", f"Visitor {i}")
    texts = [f"conversation {i}, message {j}" for j in range(1, messages + 1)]
    cid = (await visitor.request("start", text=texts[0]))["conversation"]["id"]
    await take(s.person, "assigned", lambda f: f["conversation"]["id"] == cid)
    steps: list[Step] = [("conversation.started", None), ("message", texts[0])]
    steps.append(("conversation.assigned", None))
    for j, text in enumerate(texts[1:], 1):
        await (s.person if j % 2 else visitor).request("msg", cid=cid, text=text, cmid=f"m{j}")
        steps.append(("message", text))
    await s.person.request("close", cid=cid, resolved=True)
    await visitor.close()
    return cid, [*steps, ("conversation.closed", None)]


def disorder(events: list[Frame], steps: list[Step]) -> tuple[int, int, int, int]:
    """Lost, unexpected, and events arriving after one that should follow them: against
    the order of what was done (`steps`), and against the server's `ts` and `seq`."""
    got: list[Step] = [(e["type"], e["data"].get("text") if e["type"] == "message" else None)
                       for e in events]  # fmt: skip
    lost = sum((Counter(steps) - Counter(got)).values())
    unexpected = sum((Counter(got) - Counter(steps)).values())
    rank = [steps.index(g) for g in got if g in steps]
    by_action = sum(r < max(rank[:i], default=-1) for i, r in enumerate(rank))
    seqs = [e["data"]["seq"] for e in events if "seq" in e["data"]]
    by_server = sum(x["ts"] > y["ts"] for x, y in pairwise(events))
    by_server += sum(x >= y for x, y in pairwise(seqs))
    return lost, unexpected, by_action, by_server


async def queued_now(s: Setup, env: dict[str, str]) -> tuple[int, int]:
    """The outage endpoint's queue in the server's store, read beside the running server as
    the CLI does: how many deliveries wait, and the most attempts one of them had."""
    from chat_server.app import open_backends
    from chat_server.config import Settings
    from chat_server.core.clock import SystemClock

    store, _ = open_backends(Settings.load(env=env), SystemClock())
    await store.start()
    try:
        waiting = await store.webhooks.queued(s.endpoints["outage"], 1_000_000)
    finally:
        await store.stop()
    return len(waiting), max((d.attempts for d in waiting), default=0)


async def outage(s: Setup, args: Any, env: dict[str, str]) -> list[str]:
    """Receiver down, K conversations, a wait, receiver back: prints the figures; returns
    the problems."""
    await s.receiver.down()
    down_at, before = time.monotonic(), len(s.receiver.received)
    runs = (one_conversation(s, i, args.messages) for i in range(args.conversations))
    expected = dict(await asyncio.gather(*runs))
    total = sum(len(steps) for steps in expected.values())
    await asyncio.sleep(args.down_s)
    queued, attempts = await queued_now(s, env)
    await s.receiver.up()
    back = time.monotonic()

    def hits() -> list[Received]:
        return [h for h in s.receiver.received[before:] if h.event["cid"] in expected]

    first = last = 0.0
    while time.monotonic() - back < 60:
        got = hits()
        first = first or (time.monotonic() - back if got else 0.0)
        if len({h.event["id"] for h in got}) >= total:
            last = time.monotonic() - back
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(1.5)  # anything arriving late or twice
    got = hits()
    once: dict[str, Frame] = {}
    for h in got:
        once.setdefault(h.event["id"], h.event)
    figures = [
        disorder([e for e in once.values() if e["cid"] == cid], steps)
        for cid, steps in expected.items()
    ]
    lost, unexpected, by_action, by_server = (sum(f[k] for f in figures) for k in range(4))
    bad = sum(not signed(h, s.secrets["outage"]) for h in got)
    size = args.messages
    rows = [
        ("conversations x messages (visitor, agent in turn)", f"{len(expected)} x {size}"),
        ("receiver down for", f"{back - down_at:.1f} s"),
        ("events to deliver (counted from what was done)", total),
        ("events queued in the server's store while down", queued),
        ("attempts so far of the most tried delivery", attempts),
        ("events received after it came back (distinct ids)", len(once)),
        ("first delivery after it came back", f"{first:.2f} s"),
        ("all delivered after it came back", f"{last:.2f} s" if last else "NOT ALL within 60 s"),
        ("lost", lost),
        ("duplicates (an event id received again)", len(got) - len(once)),
        ("unexpected events", unexpected),
        ("reordered in a conversation (vs what was done)", by_action),
        ("reordered in a conversation (vs the server's ts and seq)", by_server),
        ("bad signatures", bad),
    ]  # fmt: skip
    for name, value in rows:
        print(f"    {name:<58} {value}")
    problems = {"lost": lost, "reordered": by_action + by_server, "bad signatures": bad}
    return [name for name, count in problems.items() if count]


async def scenario(backend: str, args: Any, tmp: Path, s: Setup) -> bool:
    env = {**os.environ, "CHAT_DATA": str(s.data)}
    if backend == "redis":
        s.redis = RedisServer(args.redis_server, tmp / "redis", free_port())
        s.redis.start()
        s.store_args = ("--redis", s.redis.url)
        env["CHAT_REDIS_URL"] = s.redis.url
    for i in range(2 if backend == "redis" else 1):
        extra = {"CHAT_REDIS_URL": env["CHAT_REDIS_URL"]} if backend == "redis" else {}
        s.nodes.append(ServerProcess(tmp / f"node{i}" if extra else s.data, **extra))
        s.nodes[-1].start()
    await asyncio.gather(*(node.ready() for node in s.nodes))
    ports = [n.port for n in s.nodes]
    print(f"  {len(s.nodes)} node(s) on ports {ports}; webhook receiver at {s.receiver.url}")
    await provision(s, tmp)
    clean = await bot_to_human(s)
    print("\n  receiver outage (visitors on the first node, Alice on the last):")
    problems = await outage(s, args, env)
    print(
        f"  reproduce: python bench/integrations_demo.py --backend {backend} --conversations "
        f"{args.conversations} --messages {args.messages} --down-s {args.down_s:g}"
    )
    problems += [] if clean else ["the bot -> human conversation"]
    print(f"  {backend}: {'CLEAN' if not problems else 'NOT CLEAN: ' + ', '.join(problems)}")
    return not problems


async def run_backend(backend: str, args: Any) -> bool:
    with tempfile.TemporaryDirectory(prefix="integrations-demo-") as tmp_name:
        tmp = Path(tmp_name)
        s = Setup([], tmp / "data", (), Receiver(), {}, {})
        await s.receiver.up()
        try:
            async with asyncio.timeout(args.budget_s):
                return await scenario(backend, args, tmp, s)
        except Exception as exc:  # a step failed: which, and the ends of the processes' logs
            print(f"  FAILED: {type(exc).__name__}: {exc}")
            for log in sorted(tmp.glob("**/*.log")):  # noqa: ASYNC240
                print(f"  --- {log.name}", *log.read_text().splitlines()[-8:], sep="\n    ")
            return False
        finally:
            await s.receiver.down()
            if s.alice is not None:
                await s.alice.close()
            if s.bot is not None:
                s.bot.terminate()
                s.bot.wait(10)
            for node in s.nodes:
                node.stop()
            if s.redis is not None:
                s.redis.stop()


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    redis = shutil.which("redis-server") or ""
    parser.add_argument("--backend", choices=["embedded", "redis", "both"],
                        default="both" if redis else "embedded")  # fmt: skip
    parser.add_argument("--conversations", type=int, default=20)
    parser.add_argument("--messages", type=int, default=10, help="per conversation, >= 1")
    parser.add_argument("--down-s", type=float, default=3.0, help="receiver down after them")
    parser.add_argument("--budget-s", type=float, default=85.0, help="per backend")
    parser.add_argument("--redis-server", default=redis)
    args = parser.parse_args()
    backends = ["embedded", "redis"] if args.backend == "both" else [args.backend]
    if "redis" in backends and not args.redis_server:
        parser.error("redis-server not found (apt-get install redis-server)")
    os.environ.update(SETTINGS)  # for the nodes, the CLI and the in-process store reads
    print("server settings:", " ".join(f"{k}={v}" for k, v in SETTINGS.items()))
    started, clean = time.monotonic(), True
    for backend in backends:
        print(f"\n=== {backend} ===")
        clean = await run_backend(backend, args) and clean
    print(f"\ntotal {time.monotonic() - started:.0f} s: {'clean' if clean else 'NOT CLEAN'}")
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
