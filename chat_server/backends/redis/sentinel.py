"""Redis behind Sentinel: the `redis+sentinel://` URL, and where the primary is now.

    redis+sentinel://[user:password@]host1[:port1],host2[:port2]/MASTER_NAME[/DB][?sentinel_password=P]

The hosts are Sentinels (port 26379 when left out); `MASTER_NAME` is the name they monitor
the primary under; the user and password are the data nodes' (as in `redis://`), and
`sentinel_password` the Sentinels' own, when they ask for one (`requirepass` in their
config). Every connection asks the Sentinels where the primary is each time it connects,
so after a failover the next connection goes to the promoted replica.

redis-py's pool does that with its own Sentinel client (`client.connect`); the lean `Wire`
asks through `Resolver`, one short connection to a Sentinel per connect (never per
command), and then checks with `ROLE` that it reached the primary.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote

import hiredis

SCHEME = "redis+sentinel://"
DEFAULT_PORT = 26379


def is_sentinel(url: str) -> bool:
    return url[: len(SCHEME)].lower() == SCHEME


@dataclass(frozen=True, slots=True)
class SentinelURL:
    sentinels: tuple[tuple[str, int], ...]
    master: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_password: str | None = None

    def redacted(self) -> str:
        """For logs: the Sentinels and the name, never a password."""
        hosts = ",".join(f"{host}:{port}" for host, port in self.sentinels)
        return f"{SCHEME}{hosts}/{self.master}/{self.db}"


def parse(url: str) -> SentinelURL:
    """The parts of a `redis+sentinel://` URL; `ValueError` naming what is wrong."""
    if not is_sentinel(url):
        raise ValueError(f"not a {SCHEME} URL")
    rest, _, query = url[len(SCHEME) :].partition("?")
    netloc, _, path = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    username = password = None
    if at:
        user, colon, secret = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if colon else None
    sentinels = tuple(address(p, DEFAULT_PORT, SCHEME, "Sentinel") for p in hosts.split(","))
    path = path.removesuffix("/")
    parts = [unquote(p) for p in path.split("/")] if path else []
    if not parts or not parts[0]:
        raise ValueError(f"a {SCHEME} URL names the primary: {SCHEME}HOSTS/MASTER_NAME[/DB]")
    if len(parts) > 2 or (len(parts) == 2 and not parts[1].isdigit()):
        raise ValueError(f"after the master name only a database number may follow, got {path!r}")
    options = parse_qs(query, keep_blank_values=True)
    unknown = set(options) - {"sentinel_password"}
    if unknown:
        raise ValueError(f"unknown {SCHEME} option(s): {', '.join(sorted(unknown))}")
    sentinel_password = options.get("sentinel_password", [None])[-1]
    db = int(parts[1]) if len(parts) == 2 else 0
    return SentinelURL(sentinels, parts[0], db, username, password, sentinel_password)


def address(part: str, default_port: int, scheme: str, what: str) -> tuple[str, int]:
    """One host of a URL's comma-separated list: `host`, `host:port`, `[v6]` or
    `[v6]:port`. `what` names the hosts in errors (`Sentinel`, `cluster node`)."""
    if not part:
        raise ValueError(f"a {scheme} URL lists {what}s as host:port,host:port")
    if part.startswith("["):
        host, bracket, tail = part[1:].partition("]")
        port = tail[1:] if tail.startswith(":") else ""
        if not bracket or (tail and not tail.startswith(":")):
            raise ValueError(f"bad {what} address {part!r}")
    else:
        host, _, port = part.partition(":")
    if not host or (port and not port.isdigit()) or (port and not 0 < int(port) < 65536):
        raise ValueError(f"bad {what} address {part!r}")
    return host, int(port) if port else default_port


class NoPrimary(ConnectionError):
    """No Sentinel answered with a primary it sees up (during a failover, or all away)."""


class Resolver:
    """Asks the Sentinels in turn for the primary's address; the one that answered is
    asked first next time. A Sentinel that sees the primary down (`s_down`, `o_down`) or
    that knows no such name is passed over: while the primary is down no address is
    given, and the caller fails at once (`unavailable`) instead of trying a dead one."""

    def __init__(self, target: SentinelURL, timeout: float = 1.0) -> None:
        self.target = target
        self.timeout = timeout
        self._order = list(target.sentinels)

    async def __call__(self) -> tuple[str, int]:
        problems: list[str] = []
        for i, (host, port) in enumerate(self._order):
            try:
                async with asyncio.timeout(self.timeout):
                    state = await self._ask(host, port)
            except (OSError, TimeoutError, ValueError) as exc:
                problems.append(f"{host}:{port}: {exc or type(exc).__name__}")
                continue
            flags = set(state.get("flags", "").split(","))
            if "master" not in flags or flags & {"s_down", "o_down"}:
                problems.append(f"{host}:{port}: primary is {state.get('flags', '?')}")
                continue
            self._order.insert(0, self._order.pop(i))
            return state["ip"], int(state["port"])
        raise NoPrimary(f"no primary for {self.target.master!r}: {'; '.join(problems)}")

    async def _ask(self, host: str, port: int) -> dict[str, str]:
        """`SENTINEL MASTER name` on a short connection: its fields."""
        commands: list[tuple[str, ...]] = []
        if self.target.sentinel_password is not None:
            commands.append(("AUTH", self.target.sentinel_password))
        commands.append(("SENTINEL", "MASTER", self.target.master))
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(b"".join(hiredis.pack_command(c) for c in commands))  # type: ignore[arg-type]
            parser = hiredis.Reader(replyError=ValueError)
            replies: list[object] = []
            while len(replies) < len(commands):
                data = await reader.read(65536)
                if not data:
                    raise ConnectionError("the Sentinel closed the connection")
                parser.feed(data)
                while (reply := parser.gets()) is not False:
                    if isinstance(reply, ValueError):
                        raise reply
                    replies.append(reply)
        finally:
            writer.close()
        items = [v.decode() if isinstance(v, bytes) else str(v) for v in replies[-1]]  # type: ignore[attr-defined]
        return dict(zip(items[::2], items[1::2], strict=False))
