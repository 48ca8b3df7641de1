#!/usr/bin/env python3
"""Load generator: our chat server against python-socketio and Node socket.io, same workload.

The workload (issue 8): N conversations, each a visitor connection and an agent connection;
a fixed total rate R of messages per second for T seconds, spread evenly over the
conversations, visitor->agent and agent->visitor alternating in each one. Every message
carries its send time (monotonic ns, in the text); the receiving side takes the latency
when the `msg` event arrives. Sending is open-loop: the schedule never waits for replies.

Targets:
  ours      chat.v1.msgpack over /ws/visitor and /ws/agent (PROTOCOL.md sections 1-4):
            visitor `hello` + `start`, agent `hello {token}` + `claim`, then `msg`
            frames; `ok` is the durable ack, the other side's `msg` event is delivery.
            `--redis URL` runs it in Redis mode, without it embedded (SQLite).
  socketio  bench/peers/socketio_server.py (python-socketio + AsyncRedisManager).
  node      bench/peers/node/server.js (socket.io + @socket.io/redis-adapter).
            Both peers: `join` the conversation's room (acked), `msg` relayed to the rest
            of the room through Redis and acked to its sender.

The client is picows (a C WebSocket client) on uvloop, callback-driven, for every target;
the peers are spoken to in Engine.IO v4 / Socket.IO v5 text packets directly over it (no
python-socketio client: see docs/performance.md for why). `--workers W` splits the
conversations over W processes (only useful when the load side has more than one core).

Modes:
  fixed  one run at --rate for --duration.
  step   from --start-rate, raise the rate by --factor until p99 passes --p99-ms or a message
         is lost (or an error, or the load side cannot hold the rate), then bisect
         --refine times; prints the highest clean rate.
  idle   C visitor connections (after `hello`; for the peers after the namespace connect
         and a `join` of the visitor's own room): RSS per connection and setup rate.

It starts the target itself (pinned with taskset to --server-cpu, the load to --load-cpu),
and a private redis-server when one is needed and --redis is `auto`. Results: a table on
stdout and a JSON file (bench/results/ by default).

    python bench/loadgen.py --target ours --redis auto --mode step
    python bench/loadgen.py --target ours --mode fixed --rate 500 --duration 10
    python bench/loadgen.py --target node --mode idle --connections 5000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import gc
import itertools
import json
import math
import multiprocessing
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import msgpack

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is a runtime dependency of the server
    uvloop = None

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
SITE = "bench"
ORIGIN = "http://bench.localhost"
MSGPACK = "chat.v1.msgpack"
TARGETS = ("ours", "socketio", "node")
SETUP_CONCURRENCY = 32
IDLE_CONCURRENCY = 128


# ---------------------------------------------------------------------------------------
# /proc


def clk_tck() -> int:
    return os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid: int) -> float:
    """utime + stime of a process, in seconds (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / clk_tck()


def tree_cpu_s(pid: int) -> float:
    """`proc_cpu_s` of a process and its live descendants (`serve --workers N`: the
    parent only supervises, the workers serve)."""
    total = proc_cpu_s(pid)
    for child in children(pid):
        total += tree_cpu_s(child)
    return total


def children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                found += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return found


def proc_rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def loadavg() -> list[float]:
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def self_cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(sorted_values: list[int], q: float) -> float | None:
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, math.ceil(q * len(sorted_values)) - 1))
    return float(sorted_values[k])


NICE = 0
"""Niceness for the processes the bench starts (`set_nice`)."""


def set_nice(value: int) -> None:
    """Run the server, Redis and the load at this niceness (negative needs root): on a
    shared machine it keeps other people's work from stalling the measurement."""
    global NICE
    NICE = value
    if value:
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, 0, value)


def taskset(cpu: str | None) -> list[str]:
    """The command prefix that pins to `cpu` (and applies `NICE`)."""
    prefix = ["nice", "-n", str(NICE)] if NICE else []
    if cpu is not None and shutil.which("taskset"):
        prefix += ["taskset", "-c", cpu]
    return prefix


# ---------------------------------------------------------------------------------------
# processes: redis-server and the three targets


class Redis:
    """A private redis-server on a free loopback port (AOF on, fsync every second: what
    our server calls durable by default)."""

    def __init__(self, cpu: str | None = None, port: int | None = None) -> None:
        self.port = port or free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="bench-redis-"))
        self.cpu = cpu
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> Redis:
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit(
                "loadgen: redis-server is not installed (apt-get install redis-server)"
            )
        self.proc = subprocess.Popen(
            [
                *taskset(self.cpu),
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--dir",
                str(self.dir),
                "--protected-mode",
                "yes",
                "--loglevel",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.command(b"PING").startswith(b"+PONG"):
                return self
            time.sleep(0.02)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def command(self, *words: bytes) -> bytes:
        payload = b"*%d\r\n" % len(words) + b"".join(b"$%d\r\n%s\r\n" % (len(w), w) for w in words)
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                s.sendall(payload)
                return s.recv(4096)
        except OSError:
            return b""

    def flush(self) -> None:
        self.command(b"FLUSHALL")

    def reset_stats(self) -> None:
        self.command(b"CONFIG", b"RESETSTAT")

    def commands(self) -> dict[str, int]:
        """Calls per command since the last `reset_stats` (INFO commandstats)."""
        out: dict[str, int] = {}
        reply = b""
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", self.port), timeout=2) as s,
        ):
            s.sendall(b"*2\r\n$4\r\nINFO\r\n$12\r\ncommandstats\r\n")
            header = s.recv(64)
            size = int(header[1 : header.index(b"\r\n")])
            reply = header[header.index(b"\r\n") + 2 :]
            while len(reply) < size:
                chunk = s.recv(65536)
                if not chunk:
                    break
                reply += chunk
        for line in reply.decode(errors="replace").splitlines():
            if line.startswith("cmdstat_"):
                name, _, rest = line.partition(":")
                calls = rest.split(",")[0].split("=")[1]
                out[name[len("cmdstat_") :]] = int(calls)
        return out

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)


@dataclasses.dataclass
class Server:
    target: str
    label: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path
    workdir: Path
    tokens: list[str] = dataclasses.field(default_factory=list)
    visitor_tokens: list[str] = dataclasses.field(default_factory=list)
    version: str = ""

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        with contextlib.suppress(OSError):
            if self.log.stat().st_size:  # keep what the server said (warnings, tracebacks)
                RESULTS.mkdir(parents=True, exist_ok=True)
                shutil.copy(self.log, RESULTS / f"{self.label}-server.log")
        shutil.rmtree(self.workdir, ignore_errors=True)


def label_of(target: str, redis_url: str | None) -> str:
    if target == "ours":
        return "ours-redis" if redis_url else "ours-embedded"
    return target


def ours_env(redis_url: str | None) -> dict[str, str]:
    env = {
        **os.environ,
        "CHAT_LOG_LEVEL": "warning",
        # all the load comes from 127.0.0.1 at rates no browser sends: lift the
        # per-connection and per-address limits (they are not what is measured)
        "CHAT_CHAT_RATE": "1000000",
        "CHAT_CHAT_BURST": "1000000",
        "CHAT_MAX_CONNECTIONS_PER_ADDRESS": "1000000",
        "CHAT_MAX_HTTP_CONNECTIONS_PER_ADDRESS": "1000000",
        "CHAT_HANDSHAKE_RATE": "1000000",
        "CHAT_HANDSHAKE_BURST": "1000000",
        "CHAT_NEW_VISITOR_RATE": "1000000",
        "CHAT_NEW_VISITOR_BURST": "1000000",
        "CHAT_ABUSE_REFUSALS": "1000000",
        "CHAT_SECRET": "bench-secret-not-for-production",
        "CHAT_REDIS_PREFIX": "bench",
    }
    if redis_url:
        env["CHAT_REDIS_URL"] = redis_url
    else:
        env.pop("CHAT_REDIS_URL", None)
    return env


@dataclasses.dataclass
class OursSetup:
    agent_tokens: list[str]
    visitor_tokens: list[str]
    """Per conversation (empty: the load generator opens them over the wire)."""


def setup_ours_store(
    data: Path,
    redis_url: str | None,
    agents: int,
    max_chats: int,
    conversations: int = 0,
    chats_per_agent: int = 1,
) -> OursSetup:
    """Before the server starts, through its store (what `chat-server site add`, `agent add`
    and `agent token` write): the site, `agents` agents with an API token each (one password
    hash for all: argon2 per agent would take minutes for thousands) and, when
    `conversations` is given, that many conversations, each already assigned to agent
    `c // chats_per_agent`, with a signed token for its visitor. Over the wire, every `start`
    makes the server list every agent (`Dispatcher.positions`), so opening 5,000
    conversations that way takes longer than the whole benchmark; the setup is not what is
    measured. The load itself goes over the wire only."""
    sys.path.insert(0, str(ROOT))
    from chat_server.app import open_backends
    from chat_server.config import Settings
    from chat_server.core import conversation as flow
    from chat_server.core import ids, tokens
    from chat_server.core.clock import SystemClock
    from chat_server.core.model import (
        Agent,
        AgentRole,
        Draft,
        Kind,
        Role,
        Sender,
        Site,
        Visitor,
    )
    from chat_server.web.auth import hash_password

    env = ours_env(redis_url)
    settings = Settings.load({"data": data, "redis_url": redis_url}, env=env)
    assert settings.secret is not None
    secret = settings.secret.encode()
    password_hash = hash_password("bench-password")
    agent_tokens = [tokens.new_secret_token("cat") for _ in range(agents)]
    visitor_tokens: list[str] = [""] * conversations
    made: list[Agent] = []

    async def run() -> None:
        clock = SystemClock()
        store, _ = open_backends(settings, clock)
        await store.start()
        try:
            await store.directory.put_site(Site(SITE, (ORIGIN,)))

            async def agent(i: int) -> None:
                a = Agent(
                    id=ids.agent_id(),
                    email=f"agent{i}@bench.localhost",
                    name=f"Agent {i}",
                    role=AgentRole.AGENT,
                    max_chats=max_chats,
                    password_hash=password_hash,
                )
                await store.directory.add_agent(a)
                await store.directory.add_credential(
                    tokens.hash_secret(agent_tokens[i]), a.id, "token", None
                )
                made[i] = a

            async def conversation(c: int) -> None:
                now = clock.now_ms()
                visitor = Visitor(ids.visitor_id(), SITE, now, name=f"Visitor {c}")
                await store.directory.put_visitor(visitor)
                cid = ids.conversation_id(visitor.id)
                conv = flow.open_conversation(cid, SITE, visitor.id, None, now)
                first = Draft(Kind.TEXT, Sender(Role.VISITOR, visitor.id, visitor.name), "hello")
                await store.conversations.open(conv, first, origin=None)
                await store.conversations.transfer(
                    conv.id, made[c // chats_per_agent], now, ignore_capacity=True
                )
                visitor_tokens[c] = tokens.sign_visitor(
                    secret, visitor.id, SITE, now + 24 * 3600 * 1000
                )

            made.extend([None] * agents)  # type: ignore[list-item]
            # at most 50 at once: redis-py's pool fails commands past 100 connections
            for start in range(0, agents, 50):
                await asyncio.gather(*(agent(i) for i in range(start, min(agents, start + 50))))
            for start in range(0, conversations, 50):
                await asyncio.gather(
                    *(conversation(c) for c in range(start, min(conversations, start + 50)))
                )
        finally:
            await store.stop()

    asyncio.run(run())
    return OursSetup(agent_tokens, visitor_tokens)


def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"{url}: the server exited ({proc.returncode}); see {log}:\n"
                + log.read_text(errors="replace")[-2000:]
            )
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} not ready in {timeout}s; see {log}")


def start_server(
    target: str,
    *,
    redis: Redis | None,
    cpu: str | None,
    agents: int = 0,
    max_chats: int = 1,
    conversations: int = 0,
    chats_per_agent: int = 1,
    extra_args: Sequence[str] = (),
) -> Server:
    """Start one target on a free port, pinned to `cpu`; wait until it is ready. For ours,
    `conversations` > 0 makes them in the store first (`setup_ours_store`)."""
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-{target}-"))
    log = workdir / "server.log"
    port = free_port()
    redis_url = redis.url if redis is not None else None
    if redis is not None:
        redis.flush()
    made = OursSetup([], [])
    if target == "ours":
        data = workdir / "data"
        made = setup_ours_store(data, redis_url, agents, max_chats, conversations, chats_per_agent)
        command = [
            sys.executable,
            "-m",
            "chat_server",
            "serve",
            "--port",
            str(port),
            "--data",
            str(data),
            *extra_args,
        ]
        env = ours_env(redis_url)
        health = f"http://127.0.0.1:{port}/readyz"
        cwd = ROOT
    elif target == "socketio":
        if redis_url is None:
            raise SystemExit("loadgen: the socketio peer needs Redis (--redis)")
        command = [
            sys.executable,
            str(BENCH / "peers" / "socketio_server.py"),
            "--port",
            str(port),
            "--redis",
            redis_url,
        ]
        env = dict(os.environ)
        health = f"http://127.0.0.1:{port}/healthz"
        cwd = ROOT
    elif target == "node":
        if redis_url is None:
            raise SystemExit("loadgen: the node peer needs Redis (--redis)")
        node_dir = BENCH / "peers" / "node"
        if not (node_dir / "node_modules" / "socket.io").is_dir():
            raise SystemExit("loadgen: the node peer is not installed: run bench/setup-peers")
        command = ["node", str(node_dir / "server.js"), "--port", str(port), "--redis", redis_url]
        env = dict(os.environ)
        health = f"http://127.0.0.1:{port}/healthz"
        cwd = node_dir
    else:
        raise SystemExit(f"loadgen: unknown target {target}")
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [*taskset(cpu), *command], env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT
        )
    server = Server(
        target,
        label_of(target, redis_url),
        port,
        proc,
        log,
        workdir,
        made.agent_tokens,
        made.visitor_tokens,
    )
    try:
        wait_http(health, proc, log)
    except BaseException:
        server.stop()
        raise
    server.version = target_version(target)
    return server


def target_version(target: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        if target == "ours":
            return f"chat-server {version('chat-server')}, uvicorn {version('uvicorn')}"
        if target == "socketio":
            return f"python-socketio {version('python-socketio')}, uvicorn {version('uvicorn')}"
    except PackageNotFoundError:
        return "?"
    pkg = BENCH / "peers" / "node" / "node_modules"
    try:
        sio = json.loads((pkg / "socket.io" / "package.json").read_text())["version"]
        adapter = json.loads((pkg / "@socket.io" / "redis-adapter" / "package.json").read_text())
        node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout
        return f"socket.io {sio}, redis-adapter {adapter['version']}, node {node.strip()}"
    except OSError:
        return "?"


# ---------------------------------------------------------------------------------------
# the clients (run in the worker processes)


class Stats:
    """What one worker counts during a run."""

    def __init__(self) -> None:
        self.reset(0)
        self.disconnects = 0
        self.close_codes: Counter[str] = Counter()

    def reset(self, start_ns: int) -> None:
        self.start_ns = start_ns
        self.sent = 0
        self.acked = 0
        self.errors = 0
        self.error_codes: Counter[str] = Counter()
        self.received = 0
        self.late = 0
        self.duplicates = 0
        self.seen: set[int] = set()
        self.latencies_us: list[int] = []

    def delivered(self, stamp_ns: int) -> None:
        if stamp_ns < self.start_ns:
            self.late += 1  # a message of an earlier run that came after its drain
            return
        if stamp_ns in self.seen:  # the contract lets the server send a msg twice (a
            self.duplicates += 1  # catch-up after a resubscribe); clients drop it by seq
            return
        self.seen.add(stamp_ns)
        self.received += 1
        self.latencies_us.append((time.monotonic_ns() - stamp_ns) // 1000)


class Client:
    """One picows connection; `request` for the setup (a future per id), counters for the
    load (acks and deliveries go straight to `Stats`)."""

    ids = itertools.count(1)

    def __init__(self, stats: Stats) -> None:
        from picows import WSMsgType

        self.stats = stats
        self.transport: Any = None
        self.waiters: dict[Any, asyncio.Future[Any]] = {}
        self.closing = False
        self.BINARY = WSMsgType.BINARY
        self.TEXT = WSMsgType.TEXT
        self.CLOSE = WSMsgType.CLOSE

    # picows callbacks
    def on_ws_connected(self, transport: Any) -> None:
        self.transport = transport

    def on_ws_disconnected(self, transport: Any) -> None:
        if not self.closing:
            self.stats.disconnects += 1
        for future in self.waiters.values():
            if not future.done():
                future.set_exception(ConnectionError("disconnected"))
        self.waiters.clear()

    def on_ws_frame(self, transport: Any, frame: Any) -> None:
        if frame.msg_type == self.CLOSE:
            self.stats.close_codes[str(frame.get_close_code())] += 1
            return
        self.frame(frame)

    def frame(self, frame: Any) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.closing = True
        if self.transport is not None:
            with contextlib.suppress(Exception):
                self.transport.disconnect()


_listeners: dict[type, type] = {}


def listener_class(base: type[Client]) -> type:
    """Mix picows' listener base in (imported only in workers)."""
    from picows import WSListener

    if base not in _listeners:
        _listeners[base] = type(base.__name__ + "Listener", (base, WSListener), {})
    return _listeners[base]


class OursClient(Client):
    def frame(self, frame: Any) -> None:
        if frame.msg_type != self.BINARY:
            return
        obj = msgpack.unpackb(frame.get_payload_as_memoryview(), raw=False)
        t = obj.get("t")
        if t == "msg":
            text = obj.get("text")
            if obj.get("kind") == "text" and text and text[0] == "@":
                self.stats.delivered(int(text[1 : text.index("|")]))
        elif t == "ok" or t == "error" or t == "pong":
            future = self.waiters.pop(obj.get("re"), None)
            if future is not None:
                if not future.done():
                    future.set_result(obj)
            elif t == "ok":
                self.stats.acked += 1
            else:
                self.stats.errors += 1
                self.stats.error_codes[str(obj.get("code"))] += 1

    async def request(self, frame: dict[str, Any], wait_s: float = 30) -> dict[str, Any]:
        frame_id = next(Client.ids)
        future = asyncio.get_running_loop().create_future()
        self.waiters[frame_id] = future
        self.transport.send(self.BINARY, msgpack.packb({**frame, "id": frame_id}))
        answer: dict[str, Any] = await asyncio.wait_for(future, wait_s)
        if answer.get("t") == "error":
            raise RuntimeError(f"{frame['t']}: {answer.get('code')}: {answer.get('message')}")
        return answer

    def send_msg(self, cid: str, pad: str) -> None:
        k = next(Client.ids)
        now = time.monotonic_ns()
        self.transport.send(
            self.BINARY,
            msgpack.packb(
                {"t": "msg", "id": k, "cid": cid, "text": f"@{now}|{pad}", "cmid": f"b{k}"}
            ),
        )


class SioClient(Client):
    """Engine.IO v4 + Socket.IO v5 over a WebSocket: `0` open, `40` namespace connect,
    `42[...]` events, `42N[...]` with an ack id, `43N[...]` acks, `2` ping -> `3` pong."""

    def __init__(self, stats: Stats) -> None:
        super().__init__(stats)
        self.connected: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def frame(self, frame: Any) -> None:
        if frame.msg_type != self.TEXT:
            return
        s = frame.get_payload_as_utf8_text()
        kind = s[0]
        if kind == "4":
            sub = s[1]
            if sub == "2":  # event
                if s.startswith('42["msg"'):
                    self.stats.delivered(json.loads(s[2:])[1]["s"])
            elif sub == "3":  # ack
                j = s.index("[", 2)
                future = self.waiters.pop(int(s[2:j]), None)
                if future is not None:
                    if not future.done():
                        future.set_result(json.loads(s[j:]))
                else:
                    self.stats.acked += 1
            elif sub == "0":
                if not self.connected.done():
                    self.connected.set_result(None)
            elif sub == "4" and not self.connected.done():
                self.connected.set_exception(RuntimeError(f"connect refused: {s}"))
        elif kind == "2":
            self.transport.send(self.TEXT, b"3" + s[1:].encode())
        # "0" (open) needs nothing: the namespace connect is sent at once

    def on_ws_connected(self, transport: Any) -> None:
        super().on_ws_connected(transport)
        transport.send(self.TEXT, b"40")

    async def emit(self, event: str, data: Any, wait_s: float = 30) -> Any:
        ack_id = next(Client.ids)
        future = asyncio.get_running_loop().create_future()
        self.waiters[ack_id] = future
        self.transport.send(self.TEXT, f"42{ack_id}{json.dumps([event, data])}".encode())
        return await asyncio.wait_for(future, wait_s)

    def send_msg(self, room: str, pad: str) -> None:
        k = next(Client.ids)
        now = time.monotonic_ns()
        self.transport.send(
            self.TEXT, f'42{k}["msg",{{"room":"{room}","s":{now},"text":"{pad}"}}]'.encode()
        )


async def open_client(target: str, base_ws: str, path: str, stats: Stats, origin: bool) -> Any:
    from picows import ws_connect

    if target == "ours":
        cls = listener_class(OursClient)
        headers = {"Sec-WebSocket-Protocol": MSGPACK}
        if origin:
            headers["Origin"] = ORIGIN
        url = base_ws + path
    else:
        cls = listener_class(SioClient)
        headers = {}
        url = base_ws + "/socket.io/?EIO=4&transport=websocket"
    _, client = await ws_connect(
        lambda: cls(stats), url, extra_headers=headers, websocket_handshake_timeout=30
    )
    if target != "ours":
        await asyncio.wait_for(client.connected, 30)
    return client


@dataclasses.dataclass
class Pair:
    visitor: Any
    agent: Any
    key: str  # cid (ours) or room (peers)
    turn: int = 0


class Worker:
    """One load process: its share of the conversations, driven on its own event loop."""

    def __init__(self, target: str, base_ws: str) -> None:
        self.target = target
        self.base_ws = base_ws
        self.stats = Stats()
        self.pairs: list[Pair] = []
        self.agents: list[Any] = []
        self.idle: list[Any] = []
        self.pad = ""
        self.setup_retries = 0

    async def setup(
        self,
        conversations: list[int],
        tokens: dict[int, str],
        chats_per_agent: int,
        size: int,
        visitor_tokens: dict[int, str] | None = None,
    ) -> dict[str, Any]:
        """Connect the agents, then per conversation the visitor (hello, start) and the
        agent's claim (ours) or both joins (peers)."""
        started = time.monotonic()
        self.pad = "x" * max(1, size - 22)
        gate = asyncio.Semaphore(SETUP_CONCURRENCY)
        agent_ids = sorted({c // chats_per_agent for c in conversations})
        agents: dict[int, Any] = {}

        async def retried(make: Any) -> Any:
            """Setup is not measured: a refused handshake or an `unavailable` under the
            connection burst is tried again (3 times) rather than ending the run."""
            for attempt in range(3):
                try:
                    return await make()
                except Exception:
                    if attempt == 2:
                        raise
                    self.setup_retries += 1
                    await asyncio.sleep(0.2)
            return None

        async def agent(a: int) -> None:
            async def make() -> Any:
                client = await open_client(
                    self.target, self.base_ws, "/ws/agent", self.stats, origin=False
                )
                if self.target == "ours":
                    await client.request({"t": "hello", "token": tokens[a]})
                return client

            async with gate:
                agents[a] = await retried(make)

        await asyncio.gather(*(agent(a) for a in agent_ids))
        self.agents = list(agents.values())
        pairs: dict[int, Pair] = {}

        async def pair(c: int) -> None:
            the_agent = agents[c // chats_per_agent]

            async def make() -> Pair:
                if self.target == "ours":
                    visitor = await open_client(
                        self.target, self.base_ws, f"/ws/visitor?site={SITE}", self.stats, True
                    )
                    try:
                        if visitor_tokens:  # made in the store, already assigned
                            hello = await visitor.request(
                                {"t": "hello", "token": visitor_tokens[c]}
                            )
                            cid = hello["conversation"]["id"]
                        else:
                            await visitor.request({"t": "hello", "name": f"Visitor {c}"})
                            opened = await visitor.request({"t": "start", "text": "hello"})
                            cid = opened["conversation"]["id"]
                            await the_agent.request({"t": "claim", "cid": cid})
                    except BaseException:
                        visitor.close()
                        raise
                    return Pair(visitor, the_agent, cid)
                visitor = await open_client(self.target, self.base_ws, "", self.stats, True)
                room = f"c{c}"
                await visitor.emit("join", room)
                await the_agent.emit("join", room)
                return Pair(visitor, the_agent, room)

            async with gate:
                pairs[c] = await retried(make)

        await asyncio.gather(*(pair(c) for c in conversations))
        self.pairs = [pairs[c] for c in conversations]
        self.stats.disconnects = 0  # connections given up during the setup do not count
        return {
            "pairs": len(self.pairs),
            "agents": len(self.agents),
            "retries": self.setup_retries,
            "setup_s": time.monotonic() - started,
        }

    async def run(
        self, rate: float, duration: float, start_at: float, drain_s: float
    ) -> dict[str, Any]:
        """Send `rate` msgs/s for `duration` s from `start_at` (time.monotonic), alternating
        direction per conversation; then wait up to `drain_s` for deliveries and acks."""
        pairs, n, pad = self.pairs, len(self.pairs), self.pad
        stats = self.stats
        await asyncio.sleep(max(0.0, start_at - time.monotonic()))
        t0 = time.monotonic()
        stats.reset(time.monotonic_ns())
        cpu0 = self_cpu_s()
        sent, i, max_lag = 0, 0, 0.0
        lags: list[float] = []
        total = int(duration * rate)
        if n and rate > 0:
            while sent < total:
                now = time.monotonic()
                due = min(int((now - t0) * rate) + 1, total)
                if due > sent:
                    lag = now - (t0 + sent / rate)
                    lags.append(lag)
                    max_lag = max(max_lag, lag)
                while sent < due:
                    p = pairs[i]
                    i = i + 1 if i + 1 < n else 0
                    if p.turn & 1:
                        p.agent.send_msg(p.key, pad)
                    else:
                        p.visitor.send_msg(p.key, pad)
                    p.turn += 1
                    sent += 1
                    stats.sent = sent
                await asyncio.sleep(0.001)
        send_s = time.monotonic() - t0
        cpu_send = self_cpu_s() - cpu0
        deadline = time.monotonic() + drain_s
        while time.monotonic() < deadline:
            if stats.received >= sent and stats.acked + stats.errors >= sent:
                break
            await asyncio.sleep(0.01)
        lags.sort()
        return {
            "sent": sent,
            "send_s": send_s,
            "acked": stats.acked,
            "errors": stats.errors,
            "error_codes": dict(stats.error_codes),
            "received": stats.received,
            "late": stats.late,
            "duplicates": stats.duplicates,
            "disconnects": stats.disconnects,
            "close_codes": dict(stats.close_codes),
            "latencies_us": stats.latencies_us,
            "lag_p99_ms": (percentile(lags, 0.99) or 0.0) * 1000 if lags else 0.0,  # type: ignore[arg-type]
            "lag_max_ms": max_lag * 1000,
            "cpu_s": cpu_send,
            "drain_s": time.monotonic() - t0 - send_s,
        }

    async def open_idle(self, count: int, offset: int) -> dict[str, Any]:
        """`count` visitor connections, each after its `hello` (peers: connect + join)."""
        gate = asyncio.Semaphore(IDLE_CONCURRENCY)
        failures: Counter[str] = Counter()

        async def one(i: int) -> None:
            async with gate:
                try:
                    if self.target == "ours":
                        c = await open_client(
                            self.target, self.base_ws, f"/ws/visitor?site={SITE}", self.stats, True
                        )
                        self.idle.append(c)
                        await c.request({"t": "hello", "name": f"Idle {i}"})
                    else:
                        c = await open_client(self.target, self.base_ws, "", self.stats, True)
                        self.idle.append(c)
                        await c.emit("join", f"v{i}")
                except Exception as exc:
                    failures[f"{type(exc).__name__}: {str(exc)[:80]}"] += 1

        started = time.monotonic()
        await asyncio.gather(*(one(offset + i) for i in range(count)))
        return {
            "opened": count - sum(failures.values()),
            "failures": dict(failures),
            "elapsed_s": time.monotonic() - started,
        }

    async def close_idle(self) -> dict[str, Any]:
        for c in self.idle:
            c.close()
        closed = len(self.idle)
        self.idle = []
        await asyncio.sleep(0.2)
        return {"closed": closed}

    async def close_all(self) -> dict[str, Any]:
        for p in self.pairs:
            p.visitor.close()
        for a in self.agents:
            a.close()
        await self.close_idle()
        self.pairs, self.agents = [], []
        return {}


def run_loop(coro: Any) -> Any:
    """Run a coroutine on uvloop when it is installed."""
    if uvloop is not None:
        return uvloop.run(coro)
    return asyncio.run(coro)


@contextlib.contextmanager
def quiet_collector(quiet: bool) -> Iterator[None]:
    """No cyclic garbage collection in the load while it measures: a full collection over
    thousands of client connections took 30-165 ms, and every message in flight then
    counted that pause as the server's (the p99 at 5,000 conversations showed it)."""
    if not quiet:
        yield
        return
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()


def worker_main(conn: Any, target: str, base_ws: str) -> None:
    """A worker process: read commands from the pipe, answer each with its result."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop

    async def serve() -> None:
        worker = Worker(target, base_ws)
        loop = asyncio.get_running_loop()
        while True:
            command, kwargs = await loop.run_in_executor(None, conn.recv)
            if command == "stop":
                await worker.close_all()
                conn.send(("ok", {}))
                return
            try:
                with quiet_collector(command == "run"):
                    result = await getattr(worker, command)(**kwargs)
                conn.send(("ok", result))
            except Exception:
                conn.send(("error", traceback.format_exc()))

    run_loop(serve())


class Workers:
    def __init__(self, count: int, target: str, base_ws: str) -> None:
        ctx = multiprocessing.get_context("fork")
        self.pipes = []
        self.procs = []
        for _ in range(count):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=worker_main, args=(child, target, base_ws), daemon=True)
            proc.start()
            self.pipes.append(parent)
            self.procs.append(proc)

    def call(
        self, command: str, per_worker: list[dict[str, Any]], timeout: float = 600
    ) -> list[Any]:
        for pipe, kwargs in zip(self.pipes, per_worker, strict=True):
            pipe.send((command, kwargs))
        return self.collect(command, timeout)

    def collect(self, command: str, timeout: float = 600) -> list[Any]:
        out = []
        for pipe in self.pipes:
            if not pipe.poll(timeout):
                raise RuntimeError(f"a load worker did not answer {command} in {timeout}s")
            status, result = pipe.recv()
            if status != "ok":
                raise RuntimeError(f"load worker failed in {command}:\n{result}")
            out.append(result)
        return out

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.call("stop", [{} for _ in self.pipes], timeout=15)
        for proc in self.procs:
            proc.join(5)
            if proc.is_alive():
                proc.kill()


# ---------------------------------------------------------------------------------------
# a bench session against one running target


@dataclasses.dataclass
class Options:
    p99_ms: float = 50.0
    duration: float = 5.0
    drain_s: float = 3.0
    size: int = 64
    workers: int = 1
    chats_per_agent: int = 1


class Session:
    """Workers connected to one server; runs, steps and idle measurements against it."""

    def __init__(self, server: Server, opts: Options, redis: Redis | None = None) -> None:
        self.server = server
        self.opts = opts
        self.redis = redis
        self.workers = Workers(opts.workers, server.target, server.ws)
        self.conversations = 0

    def close(self) -> None:
        self.workers.stop()

    def setup(self, conversations: int, chats_per_agent: int | None = None) -> dict[str, Any]:
        w = self.opts.workers
        k = chats_per_agent or self.opts.chats_per_agent
        tokens = self.server.tokens
        plans = []
        for i in range(w):
            agent_ids = [a for a in range(math.ceil(conversations / k)) if a % w == i]
            convs = [c for a in agent_ids for c in range(a * k, min(conversations, (a + 1) * k))]
            plans.append(
                {
                    "conversations": convs,
                    "tokens": {a: tokens[a] for a in agent_ids} if tokens else {},
                    "chats_per_agent": k,
                    "size": self.opts.size,
                    "visitor_tokens": {c: self.server.visitor_tokens[c] for c in convs}
                    if self.server.visitor_tokens
                    else None,
                }
            )
        self.share = [len(p["conversations"]) for p in plans]
        started = time.monotonic()
        results = self.workers.call("setup", plans)
        self.conversations = conversations
        return {
            "conversations": conversations,
            "setup_s": time.monotonic() - started,
            "connections": conversations + sum(r["agents"] for r in results),
            "retries": sum(r["retries"] for r in results),
        }

    def run(self, rate: float, duration: float | None = None) -> dict[str, Any]:
        duration = duration or self.opts.duration
        pid = self.server.pid
        start_at = time.monotonic() + 0.2
        per_worker = [
            {
                "rate": rate * share / self.conversations,
                "duration": duration,
                "start_at": start_at,
                "drain_s": self.opts.drain_s,
            }
            for share in self.share
        ]
        load = loadavg()
        if self.redis:
            self.redis.reset_stats()
        for pipe, kwargs in zip(self.workers.pipes, per_worker, strict=True):
            pipe.send(("run", kwargs))
        time.sleep(max(0.0, start_at - time.monotonic()))
        cpu0 = tree_cpu_s(pid)
        rcpu0 = proc_cpu_s(self.redis.pid) if self.redis else 0.0
        t0 = time.monotonic()
        time.sleep(duration)
        cpu1 = tree_cpu_s(pid)
        rcpu1 = proc_cpu_s(self.redis.pid) if self.redis else 0.0
        elapsed = time.monotonic() - t0
        rss = proc_rss_kib(pid)
        results = self.workers.collect("run", timeout=duration + self.opts.drain_s + 60)
        redis_commands = self.redis.commands() if self.redis else {}
        latencies = sorted(x for r in results for x in r["latencies_us"])
        sent = sum(r["sent"] for r in results)
        received = sum(r["received"] for r in results)
        errors = sum(r["errors"] for r in results)
        send_s = max(r["send_s"] for r in results)
        error_codes: Counter[str] = Counter()
        for r in results:
            error_codes.update(r["error_codes"])

        def ms(q: float) -> float | None:
            v = percentile(latencies, q)
            return None if v is None else round(v / 1000, 3)

        out = {
            "target": self.server.label,
            "conversations": self.conversations,
            "rate": rate,
            "duration_s": duration,
            "sent": sent,
            "delivered": received,
            "lost": max(0, sent - received),
            "acked": sum(r["acked"] for r in results),
            "errors": errors,
            "error_codes": dict(error_codes),
            "late": sum(r["late"] for r in results),
            "duplicates": sum(r["duplicates"] for r in results),
            "disconnects": sum(r["disconnects"] for r in results),
            "achieved_rate": round(sent / send_s, 1) if send_s else 0.0,
            "delivered_rate": round(received / send_s, 1) if send_s else 0.0,
            "p50_ms": ms(0.50),
            "p90_ms": ms(0.90),
            "p99_ms": ms(0.99),
            "max_ms": None if not latencies else round(latencies[-1] / 1000, 3),
            "server_cpu_pct": round(100 * (cpu1 - cpu0) / elapsed, 1),
            "redis_cpu_pct": round(100 * (rcpu1 - rcpu0) / elapsed, 1) if self.redis else None,
            # over the run and its drain, the server's periodic work included
            "redis_cmds_per_msg": round(sum(redis_commands.values()) / sent, 1)
            if self.redis and sent
            else None,
            "redis_commands": redis_commands,
            "server_rss_mib": round(rss / 1024, 1),
            "load_cpu_pct": round(100 * sum(r["cpu_s"] for r in results) / send_s, 1),
            "load_lag_p99_ms": round(max(r["lag_p99_ms"] for r in results), 2),
            "loadavg": load,
        }
        out["clean"] = bool(
            sent > 0
            and out["lost"] == 0
            and errors == 0
            and out["disconnects"] == 0
            and out["p99_ms"] is not None
            and out["p99_ms"] <= self.opts.p99_ms
            and out["achieved_rate"] >= 0.97 * rate
        )
        out["load_bound"] = bool(out["achieved_rate"] < 0.97 * rate or out["load_lag_p99_ms"] > 10)
        return out

    def settle(self, max_s: float = 15.0, below: float = 0.15) -> None:
        """Wait until the server is idle again (a failed step can leave a backlog)."""
        deadline = time.monotonic() + max_s
        while time.monotonic() < deadline:
            c0 = tree_cpu_s(self.server.pid)
            time.sleep(0.5)
            if tree_cpu_s(self.server.pid) - c0 < below * 0.5:
                return

    def step(
        self,
        start_rate: float,
        factor: float,
        refine: int,
        max_rate: float,
        deadline_s: float,
        echo: Any = None,
        retries: int = 1,
    ) -> dict[str, Any]:
        """Raise the rate until a run is not clean, then bisect between the last clean
        and the first failed rate `refine` times. A run that is not clean is tried again
        `retries` times before the rate counts as failed: on a shared machine a stall of
        another process's making should not end the search."""
        started = time.monotonic()
        steps: list[dict[str, Any]] = []
        best: dict[str, Any] | None = None
        failed: dict[str, Any] | None = None
        rate = start_rate

        def one(r: float) -> dict[str, Any]:
            for attempt in range(1 + retries):
                self.settle()
                result = self.run(round(r))
                result["attempt"] = attempt + 1
                steps.append(result)
                if echo:
                    echo(result)
                if result["clean"] or result["disconnects"]:
                    break
                if time.monotonic() - started >= deadline_s:
                    break
            return result

        one(min(start_rate, 100))  # warm-up (not counted: caches, JIT-free but lazy imports)
        steps.clear()
        while rate <= max_rate and time.monotonic() - started < deadline_s:
            result = one(rate)
            if not result["clean"]:
                failed = result
                break
            best = result
            rate *= factor
        for _ in range(refine if failed is not None else 0):
            if time.monotonic() - started >= deadline_s or failed["disconnects"]:
                break
            lo = best["rate"] if best else 0
            r = math.sqrt(lo * failed["rate"]) if lo else failed["rate"] / 2
            result = one(r)
            if result["clean"]:
                best = result
            else:
                failed = result
        stop = (
            "limit"
            if failed is None
            else (
                "load side could not hold the rate"
                if failed["load_bound"]
                and failed["lost"] == 0
                and (failed["p99_ms"] or 0) <= self.opts.p99_ms
                else "p99 or loss"
            )
        )
        return {
            "target": self.server.label,
            "conversations": self.conversations,
            "clean_rate": best["rate"] if best else 0,
            "best": best,
            "first_failed": failed,
            "stopped_by": stop,
            "steps": [{k: v for k, v in s.items() if k != "latencies_us"} for s in steps],
            "elapsed_s": round(time.monotonic() - started, 1),
        }

    def idle(self, connections: int) -> dict[str, Any]:
        pid = self.server.pid
        time.sleep(1.0)
        rss0 = proc_rss_kib(pid)
        w = self.opts.workers
        shares = [connections // w + (1 if i < connections % w else 0) for i in range(w)]
        offsets = list(itertools.accumulate([0, *shares[:-1]]))
        started = time.monotonic()
        results = self.workers.call(
            "open_idle", [{"count": s, "offset": o} for s, o in zip(shares, offsets, strict=True)]
        )
        elapsed = time.monotonic() - started
        time.sleep(2.0)
        rss1 = proc_rss_kib(pid)
        opened = sum(r["opened"] for r in results)
        failures: Counter[str] = Counter()
        for r in results:
            failures.update(r["failures"])
        self.workers.call("close_idle", [{} for _ in range(w)])
        return {
            "target": self.server.label,
            "connections": connections,
            "opened": opened,
            "failures": dict(failures),
            "rss_before_mib": round(rss0 / 1024, 1),
            "rss_after_mib": round(rss1 / 1024, 1),
            "rss_per_conn_kib": round((rss1 - rss0) / opened, 2) if opened else None,
            "setup_rate": round(opened / elapsed, 1) if elapsed else None,
            "setup_s": round(elapsed, 2),
            "loadavg": loadavg(),
        }


# ---------------------------------------------------------------------------------------
# output


RUN_COLUMNS = [
    ("target", "target", "{}"),
    ("conversations", "convs", "{}"),
    ("rate", "rate", "{:.0f}"),
    ("achieved_rate", "sent/s", "{:.0f}"),
    ("delivered", "delivered", "{}"),
    ("sent", "sent", "{}"),
    ("p50_ms", "p50 ms", "{:.2f}"),
    ("p90_ms", "p90 ms", "{:.2f}"),
    ("p99_ms", "p99 ms", "{:.2f}"),
    ("max_ms", "max ms", "{:.1f}"),
    ("server_cpu_pct", "srv cpu%", "{:.0f}"),
    ("redis_cpu_pct", "redis cpu%", "{:.0f}"),
    ("redis_cmds_per_msg", "redis cmds/msg", "{:.1f}"),
    ("server_rss_mib", "rss MiB", "{:.0f}"),
    ("load_cpu_pct", "load cpu%", "{:.0f}"),
    ("clean", "clean", "{}"),
]
IDLE_COLUMNS = [
    ("target", "target", "{}"),
    ("opened", "conns", "{}"),
    ("rss_before_mib", "rss before MiB", "{:.1f}"),
    ("rss_after_mib", "rss after MiB", "{:.1f}"),
    ("rss_per_conn_kib", "KiB/conn", "{:.1f}"),
    ("setup_rate", "conns/s", "{:.0f}"),
]


def fmt(value: Any, spec: str) -> str:
    if value is None:
        return "-"
    try:
        return spec.format(value)
    except (ValueError, TypeError):
        return str(value)


def table(rows: list[dict[str, Any]], columns: list[tuple[str, str, str]]) -> str:
    cells = [[title for _, title, _ in columns]]
    cells += [[fmt(row.get(key), spec) for key, _, spec in columns] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def echo_run(result: dict[str, Any]) -> None:
    flags = "" if result["clean"] else "  <- not clean"
    if result.get("load_bound"):
        flags += " (load side lagging)"
    print(
        f"  {result['target']:>13} {result['conversations']:>5} convs {result['rate']:>7.0f}/s: "
        f"{result['delivered']}/{result['sent']} delivered, "
        f"p50 {fmt(result['p50_ms'], '{:.2f}')} p99 {fmt(result['p99_ms'], '{:.2f}')} "
        f"max {fmt(result['max_ms'], '{:.1f}')} ms, server cpu {result['server_cpu_pct']:.0f}%, "
        f"load cpu {result['load_cpu_pct']:.0f}%{flags}",
        flush=True,
    )


def machine() -> dict[str, Any]:
    model = "?"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    redis_version = (
        subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.strip()
        if shutil.which("redis-server")
        else "?"
    )
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": sys.version.split()[0],
        "redis": redis_version,
        "kernel": os.uname().release,
        "loadavg": loadavg(),
        "ulimit_n": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
    }


def raise_nofile(need: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(need, soft)), hard))
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft < need:
        print(f"warning: ulimit -n is {soft}, {need} wanted; raise the hard limit", file=sys.stderr)


def cpu_set(cpu: str) -> set[int]:
    """`0`, `0,1`, `0-3` as taskset writes them."""
    cpus = set()
    for part in cpu.split(","):
        lo, _, hi = part.partition("-")
        cpus.update(range(int(lo), int(hi or lo) + 1))
    return cpus


def pin_load(cpu: str | None) -> None:
    if cpu is None:
        return
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, cpu_set(cpu))


def pin_pid(pid: int, cpu: str | None) -> None:
    """Move a running process (Redis, between bench/run's placements) to `cpu`."""
    if cpu is None:
        return
    with contextlib.suppress(OSError):
        os.sched_setaffinity(pid, cpu_set(cpu))


def exit_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so that every process the bench started is stopped."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def default_cpus() -> tuple[str | None, str | None]:
    return ("0", "1") if (os.cpu_count() or 1) >= 2 else (None, None)


def write_json(path: Path, payload: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str))
    return path


# ---------------------------------------------------------------------------------------
# command line


def main(argv: list[str] | None = None) -> int:
    server_cpu, load_cpu = default_cpus()
    p = argparse.ArgumentParser(
        description="Load generator for chat-server and its socket.io peers (issue 8).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--target", choices=TARGETS, default="ours")
    p.add_argument(
        "--redis",
        default=None,
        help="Redis URL, or `auto` for a private redis-server (peers: default auto; "
        "ours: embedded without it)",
    )
    p.add_argument("--mode", choices=("fixed", "step", "idle"), default="fixed")
    p.add_argument("--conversations", "-n", type=int, default=100)
    p.add_argument("--rate", "-r", type=float, default=500, help="msgs/s (fixed mode)")
    p.add_argument("--duration", "-t", type=float, default=10, help="seconds per run")
    p.add_argument("--size", type=int, default=64, help="bytes of text per message")
    p.add_argument("--connections", "-c", type=int, default=5000, help="idle mode")
    p.add_argument("--workers", "-w", type=int, default=1, help="load processes")
    p.add_argument("--chats-per-agent", type=int, default=1)
    p.add_argument(
        "--setup",
        choices=("store", "wire"),
        default="store",
        help="ours: open the conversations in the store before the server starts "
        "(fast), or over the wire (hello, start, claim)",
    )
    p.add_argument("--start-rate", type=float, default=250)
    p.add_argument("--factor", type=float, default=1.5)
    p.add_argument("--refine", type=int, default=2)
    p.add_argument("--retries", type=int, default=1, help="tries again of a run not clean")
    p.add_argument(
        "--nice",
        type=int,
        default=0,
        help="niceness of server, redis and load "
        "(negative: ahead of other work on a shared machine; needs root)",
    )
    p.add_argument("--max-rate", type=float, default=40000)
    p.add_argument("--step-budget", type=float, default=150, help="seconds for a step search")
    p.add_argument("--p99-ms", type=float, default=50)
    p.add_argument("--drain", type=float, default=3, help="seconds to wait for stragglers")
    p.add_argument("--server-cpu", default=server_cpu, help="taskset list for the server")
    p.add_argument("--load-cpu", default=load_cpu, help="CPUs for the load generator")
    p.add_argument(
        "--profile",
        type=Path,
        help="py-spy the server during the fixed run "
        "(.svg: flame graph; else collapsed stacks and a top-functions table)",
    )
    p.add_argument("--json", type=Path, help="result file (default bench/results/...)")
    args = p.parse_args(argv)

    pin_load(args.load_cpu)
    set_nice(args.nice)
    exit_on_sigterm()
    raise_nofile(3 * max(args.connections, 2 * args.conversations) + 1000)
    redis: Redis | None = None
    redis_url = args.redis
    if args.target != "ours" and redis_url is None:
        redis_url = "auto"
    if redis_url == "auto":
        redis = Redis(cpu=args.server_cpu).start()
    elif redis_url:
        raise SystemExit(
            "loadgen: give --redis auto (a private redis-server) — the bench "
            "flushes the Redis it uses"
        )
    opts = Options(
        p99_ms=args.p99_ms,
        duration=args.duration,
        drain_s=args.drain,
        size=args.size,
        workers=args.workers,
        chats_per_agent=args.chats_per_agent,
    )
    agents = math.ceil(args.conversations / args.chats_per_agent) if args.mode != "idle" else 0
    server = None
    session = None
    payload: dict[str, Any] = {"machine": machine(), "args": vars(args)}
    try:
        server = start_server(
            args.target,
            redis=redis,
            cpu=args.server_cpu,
            agents=agents,
            max_chats=max(args.chats_per_agent, 3),
            conversations=args.conversations
            if args.mode != "idle" and args.setup == "store"
            else 0,
            chats_per_agent=args.chats_per_agent,
        )
        payload["version"] = server.version
        print(
            f"{server.label} ({server.version}) pid {server.pid} port {server.port}; "
            f"load average {loadavg()}",
            flush=True,
        )
        session = Session(server, opts, redis)
        if args.mode == "idle":
            result = session.idle(args.connections)
            payload["idle"] = result
            print(table([result], IDLE_COLUMNS))
        else:
            setup = session.setup(args.conversations)
            print(
                f"setup: {setup['connections']} connections in {setup['setup_s']:.1f}s", flush=True
            )
            if args.mode == "fixed":
                session.run(min(args.rate, 100), 2)  # warm-up
                session.settle()
                profiler = start_profile(server.pid, args.profile, args.duration)
                result = session.run(args.rate)
                if profiler is not None:
                    payload["profile"] = finish_profile(profiler, args.profile)
                result.pop("latencies_us", None)
                payload["run"] = result
                print(table([result], RUN_COLUMNS))
            else:
                result = session.step(
                    args.start_rate,
                    args.factor,
                    args.refine,
                    args.max_rate,
                    args.step_budget,
                    echo=echo_run,
                    retries=args.retries,
                )
                payload["step"] = result
                print(table(result["steps"], RUN_COLUMNS))
                print(f"highest clean rate: {result['clean_rate']} msgs/s ({result['stopped_by']})")
    finally:
        if session is not None:
            session.close()
        if server is not None:
            server.stop()
        if redis is not None:
            redis.stop()
    path = (
        args.json
        or RESULTS / f"{label_of(args.target, redis_url)}-{args.mode}-{int(time.time())}.json"
    )
    print(f"wrote {write_json(path, payload)}")
    return 0


# ---------------------------------------------------------------------------------------
# profiling


def start_profile(pid: int, out: Path | None, duration: float) -> subprocess.Popen[bytes] | None:
    if out is None:
        return None
    spy = shutil.which("py-spy")
    if spy is None:
        raise SystemExit("loadgen: --profile needs py-spy (pip install -r bench/requirements.txt)")
    out.parent.mkdir(parents=True, exist_ok=True)
    fmt_ = "flamegraph" if out.suffix == ".svg" else "raw"
    return subprocess.Popen(
        [
            spy,
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(int(duration) + 1),
            "--rate",
            "250",
            "--format",
            fmt_,
            "--output",
            str(out),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def finish_profile(proc: subprocess.Popen[bytes], out: Path) -> dict[str, Any]:
    _, err = proc.communicate(timeout=120)
    if proc.returncode != 0:
        return {"error": err.decode(errors="replace")[-500:]}
    if out.suffix == ".svg":
        return {"svg": str(out)}
    top = summarize_collapsed(out)
    print(profile_table(top))
    return {"collapsed": str(out), "top": top}


def summarize_collapsed(path: Path, limit: int = 25) -> dict[str, Any]:
    """Self and inclusive sample shares per function from py-spy's collapsed stacks."""
    self_: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in path.read_text(errors="replace").split("\n"):
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue  # a frame name with a line break in it (py-spy prints it raw)
        n = int(count)
        samples += n
        # "function (file.py:123)" -> "function (file.py)": one row per function
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";") if f]
        if frames:
            self_[frames[-1]] += n
        for f in set(frames):
            total[f] += n

    def pct(c: Counter[str]) -> list[tuple[str, float]]:
        return [(f, round(100 * n / samples, 1)) for f, n in c.most_common(limit)]

    return {"samples": samples, "self": pct(self_), "inclusive": pct(total)}


def profile_table(top: dict[str, Any], limit: int = 15) -> str:
    lines = [f"profile: {top['samples']} samples", "  self%  function"]
    lines += [f"  {p:5.1f}  {f}" for f, p in top["self"][:limit]]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
