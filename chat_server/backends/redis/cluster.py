"""Redis Cluster: the `redis+cluster://` URL, the key slot, and which primary serves it.

    redis+cluster://[user:password@]host1[:port1],host2[:port2],...[?partitions=N]

The hosts are seed nodes of the cluster (port 6379 when left out), any of them; a cluster
has only database 0, so no database number may follow. One installation keeps every key
and every channel in one hash slot: its key prefix becomes the hash tag (`{chat}`, see
`keys.for_url`), so each Lua script and each WATCH/MULTI/EXEC transaction touches one slot,
served by one primary, as with a single Redis. Different prefixes spread over the shards,
and so do the N partitions of one installation (`partitions.py`).

redis-py's `RedisCluster` client is not used: the store relies on WATCH/MULTI/EXEC
transactions, which it does not run. Instead every connection (redis-py's pool in
`client.py`, the lean `Wire`) asks `Resolver` where the installation's slot is each time it
connects, and a reply that says the slot is elsewhere or the cluster is unsettled
(`MOVED`, `ASK`, `CLUSTERDOWN`, `TRYAGAIN`, `READONLY`: `moved`) drops the connection like
a failure, so the retry or the next connect finds the new owner after a failover.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import hiredis
from redis.asyncio.connection import parse_url

from chat_server.backends.redis import sentinel

SCHEME = "redis+cluster://"
DEFAULT_PORT = 6379
SLOTS = 16384
MOVED = ("MOVED ", "ASK ", "CLUSTERDOWN", "TRYAGAIN", "READONLY")
"""Error replies that mean: this connection is not (or no longer) at the slot's primary."""
Resolve = Callable[[], Awaitable[tuple[str, int]]]
PARTITIONS_MAX = 64
"""The most partitions of one installation (`partitions.py`)."""


def is_cluster(url: str) -> bool:
    return url[: len(SCHEME)].lower() == SCHEME


def moved(error: object) -> bool:
    """An error reply that only a connection at the slot's current primary avoids."""
    return str(error).startswith(MOVED)


def tag(prefix: str) -> str:
    """The key prefix as a hash tag: every key and channel under it in one slot."""
    return "{" + prefix + "}"


def sharded(source: str) -> str:
    """A Lua script's source with its `PUBLISH`es made sharded (`SPUBLISH`): what the
    subscribers of a cluster installation hear (`bus.py`)."""
    return source.replace("redis.call('PUBLISH'", "redis.call('SPUBLISH'")


@dataclass(frozen=True, slots=True)
class ClusterURL:
    seeds: tuple[tuple[str, int], ...]
    username: str | None = None
    password: str | None = None
    partitions: int = 1

    def redacted(self) -> str:
        """For logs: the seeds, never a password."""
        seeds = ",".join(f"{host}:{port}" for host, port in self.seeds)
        return SCHEME + seeds + (f"?partitions={self.partitions}" if self.partitions > 1 else "")


def parse(url: str) -> ClusterURL:
    """The parts of a `redis+cluster://` URL; `ValueError` naming what is wrong."""
    if not is_cluster(url):
        raise ValueError(f"not a {SCHEME} URL")
    rest, _, query = url[len(SCHEME) :].partition("?")
    if "#" in rest or "#" in query:
        raise ValueError(f"a {SCHEME} URL takes no fragment")
    partitions = _partitions(query)
    netloc, _, path = rest.partition("/")
    if path.strip("/"):
        raise ValueError(
            f"a {SCHEME} URL names no database ({path.strip('/')!r}): a cluster has only db 0"
        )
    userinfo, at, hosts = netloc.rpartition("@")
    username = password = None
    if at:
        user, colon, secret = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if colon else None
    parts = hosts.split(",")
    seeds = tuple(sentinel.address(p, DEFAULT_PORT, SCHEME, "cluster node") for p in parts)
    return ClusterURL(seeds, username, password, partitions)


def partitions(url: str) -> int:
    """How many partitions the installation at `url` has (1 but on a spread cluster)."""
    return parse(url).partitions if is_cluster(url) else 1


def _partitions(query: str) -> int:
    if not query:
        return 1
    name, equals, value = query.partition("=")
    if name != "partitions" or not equals or "&" in value:
        raise ValueError(f"a {SCHEME} URL takes one option, partitions=N: not {query!r}")
    if not value.isdigit() or not 1 <= int(value) <= PARTITIONS_MAX:
        raise ValueError(f"partitions must be a number from 1 to {PARTITIONS_MAX}: {value!r}")
    return int(value)


def endpoint(url: str, slot: int = 0) -> tuple[Resolve | None, dict[str, Any]]:
    """Where a lean `Wire` connection of `url` goes: a resolver asked at each connect (a
    cluster's primary of `slot`, Sentinel's primary) or none (the URL's own host), and
    the options of its handshake (AUTH, SELECT)."""
    if is_cluster(url):
        nodes = parse(url)
        return Resolver(nodes, slot), {"username": nodes.username, "password": nodes.password}
    if sentinel.is_sentinel(url):
        target = sentinel.parse(url)
        options = {"username": target.username, "password": target.password, "db": target.db}
        return sentinel.Resolver(target), options
    return None, dict(parse_url(url))


def _crc16(data: bytes) -> int:
    """CRC16-CCITT (XMODEM), as Redis Cluster hashes keys."""
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def key_slot(key: str | bytes) -> int:
    """The slot of a key (or a shard channel): only the first `{...}` with something
    inside counts, when there is one."""
    raw = key.encode() if isinstance(key, str) else key
    start = raw.find(b"{")
    if start >= 0:
        end = raw.find(b"}", start + 1)
        if end > start + 1:
            raw = raw[start + 1 : end]
    return _crc16(raw) % SLOTS


class Unsubscribing:
    """The `SUNSUBSCRIBE`s a subscriber sent, by channel: a `sunsubscribe` that answers
    none of them is Redis dropping the channel because its slot moved (a failover)."""

    def __init__(self) -> None:
        self._sent: Counter[bytes] = Counter()

    def asked(self, command: tuple[bytes | str | int | float, ...]) -> None:
        if command[0] == "SUNSUBSCRIBE":
            self._sent.update(a if isinstance(a, bytes) else str(a).encode() for a in command[1:])

    def answered(self, channel: bytes) -> bool:
        """Whether the `sunsubscribe` push for `channel` answers one that was asked."""
        if self._sent[channel] <= 0:
            return False
        self._sent[channel] -= 1
        return True

    def clear(self) -> None:
        self._sent.clear()


class NoPrimary(ConnectionError):
    """No seed node answered with a healthy primary for the slot (during a failover, or
    all away): the caller fails at once (`unavailable`) instead of trying a dead one."""


class Resolver:
    """Asks the seed nodes in turn which primary serves `slot` (`CLUSTER SHARDS`, or
    `CLUSTER SLOTS` on a Redis older than 7), on a short connection; the one that
    answered is asked first next time."""

    def __init__(self, target: ClusterURL, slot: int, timeout: float = 1.0) -> None:
        self.target = target
        self.slot = slot
        self.timeout = timeout
        self._order = list(target.seeds)

    async def __call__(self) -> tuple[str, int]:
        problems: list[str] = []
        for i, (host, port) in enumerate(self._order):
            try:
                async with asyncio.timeout(self.timeout):
                    primary = await self._ask(host, port)
            except (OSError, TimeoutError, ValueError) as exc:
                problems.append(f"{host}:{port}: {exc or type(exc).__name__}")
                continue
            if primary is None:
                problems.append(f"{host}:{port}: no healthy primary serves slot {self.slot}")
                continue
            self._order.insert(0, self._order.pop(i))
            return primary
        raise NoPrimary(f"no primary for slot {self.slot}: {'; '.join(problems)}")

    async def _ask(self, host: str, port: int) -> tuple[str, int] | None:
        auth: list[tuple[str, ...]] = []
        if self.target.password is not None:
            user = (self.target.username,) if self.target.username else ()
            auth.append(("AUTH", *user, self.target.password))
        reply = await _commands(host, port, [*auth, ("CLUSTER", "SHARDS")])
        if isinstance(reply, ValueError) and "unknown subcommand" in str(reply).lower():
            reply = await _commands(host, port, [*auth, ("CLUSTER", "SLOTS")])
            if isinstance(reply, ValueError):
                raise reply
            return self._from_slots(reply, host)
        if isinstance(reply, ValueError):
            raise reply
        return self._from_shards(reply, host)

    def _from_shards(self, reply: Any, seed: str) -> tuple[str, int] | None:
        for shard in reply:
            fields = _pairs(shard)
            bounds = [int(x) for x in fields.get("slots", [])]
            ranges = zip(bounds[::2], bounds[1::2], strict=True)
            if not any(a <= self.slot <= b for a, b in ranges):
                continue
            for node in fields.get("nodes", []):
                info = {k: _text(v) for k, v in _pairs(node).items()}
                if info.get("role") != "master" or info.get("health") != "online":
                    continue
                if "port" not in info:
                    continue  # TLS only (`tls-port`): not supported by this client
                return _address(info.get("endpoint", ""), info.get("ip", ""), seed), int(
                    info["port"]
                )
        return None

    def _from_slots(self, reply: Any, seed: str) -> tuple[str, int] | None:
        for start, end, master, *_ in reply:
            if int(start) <= self.slot <= int(end):
                return _address(_text(master[0]), "", seed), int(master[1])
        return None


def _address(endpoint: str, ip: str, seed: str) -> str:
    """A node's address as the cluster announces it; `?` or empty: the seed's host (a
    node that does not know its own address answers so)."""
    for candidate in (endpoint, ip):
        if candidate and candidate != "?":
            return candidate
    return seed


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _pairs(flat: Sequence[Any]) -> dict[str, Any]:
    return {_text(k): v for k, v in zip(flat[::2], flat[1::2], strict=False)}


async def _commands(host: str, port: int, commands: list[tuple[str, ...]]) -> Any:
    """The last command's reply on a short connection (a `ValueError` for an error reply;
    an earlier command's error, such as AUTH's, is raised)."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(b"".join(hiredis.pack_command(c) for c in commands))  # type: ignore[arg-type]
        parser = hiredis.Reader(replyError=ValueError)
        replies: list[object] = []
        while len(replies) < len(commands):
            data = await reader.read(65536)
            if not data:
                raise ConnectionError("the cluster node closed the connection")
            parser.feed(data)
            while (reply := parser.gets()) is not False:
                if isinstance(reply, ValueError) and len(replies) < len(commands) - 1:
                    raise reply
                replies.append(reply)
    finally:
        writer.close()
    return replies[-1]
