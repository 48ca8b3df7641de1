"""Who is asking: passwords (argon2id), session cookies, API tokens, origins, throttling."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from urllib.parse import urlsplit

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from starlette.requests import HTTPConnection

from chat_server.config import Settings
from chat_server.core.model import Agent, Site
from chat_server.service.node import Node

SESSION_COOKIE = "chat_session"
_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    """argon2id, memory-hard: a stolen database is slow to crack."""
    return _hasher.hash(password)


async def verify_password(password_hash: str, password: str) -> bool:
    def check() -> bool:
        try:
            return _hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(check)


def own_origins(conn: HTTPConnection, settings: Settings) -> set[str]:
    """The origins this server is reached at, as a browser would name them."""
    host = conn.headers.get("host", "")
    scheme = conn.url.scheme
    if settings.behind_proxy:
        host = conn.headers.get("x-forwarded-host", host).split(",")[0].strip()
        scheme = conn.headers.get("x-forwarded-proto", scheme).split(",")[0].strip()
    http_scheme = {"ws": "http", "wss": "https"}.get(scheme, scheme)
    return {f"{http_scheme}://{host}".lower(), *(o.lower() for o in settings.public_origins)}


def is_secure(conn: HTTPConnection, settings: Settings) -> bool:
    scheme = conn.url.scheme
    if settings.behind_proxy:
        scheme = conn.headers.get("x-forwarded-proto", scheme).split(",")[0].strip()
    return scheme in {"https", "wss"}


def same_origin(conn: HTTPConnection, settings: Settings) -> bool:
    origin = conn.headers.get("origin")
    return origin is not None and origin.lower() in own_origins(conn, settings)


def site_allows(site: Site, origin: str | None, own: set[str]) -> bool:
    """A site's origins are exact `scheme://host[:port]`, or `self` (this server), or `*`."""
    if "*" in site.origins:
        return True
    if origin is None:
        return False
    origin = origin.lower()
    if "self" in site.origins and origin in own:
        return True
    return any(_normal(o) == origin for o in site.origins if o not in {"self", "*"})


def _normal(origin: str) -> str:
    parts = urlsplit(origin.lower())
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else origin.lower()


async def request_agent(conn: HTTPConnection, node: Node) -> Agent | None:
    """The agent of the session cookie, or of an `Authorization: Bearer` API token."""
    secret = conn.cookies.get(SESSION_COOKIE)
    auth = conn.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        secret = auth[7:].strip()
    return await node.agent_of_secret(secret)


async def cookie_agent(conn: HTTPConnection, node: Node) -> Agent | None:
    return await node.agent_of_secret(conn.cookies.get(SESSION_COOKIE))


class LoginThrottle:
    """At most `attempts` failed logins per account and per address in a sliding window."""

    MAX_KEYS = 100_000
    """Accounts and addresses tracked at most: random emails cannot grow memory forever."""

    def __init__(self, attempts: int, window_s: float) -> None:
        self.attempts = attempts
        self.window_s = window_s
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> int:
        failures = self._failures.get(key)
        if failures is None:
            return 0
        while failures and failures[0] <= now - self.window_s:
            failures.popleft()
        if not failures:
            del self._failures[key]
        return len(failures)

    def blocked(self, *keys: str) -> bool:
        now = time.monotonic()
        return any(self._recent(k, now) >= self.attempts for k in keys)

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        if len(self._failures) >= self.MAX_KEYS:  # forget the stalest half
            for key in sorted(self._failures, key=lambda k: self._failures[k][-1])[
                : self.MAX_KEYS // 2
            ]:
                del self._failures[key]
        for key in keys:
            self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, account_key: str) -> None:
        self._failures.pop(account_key, None)
