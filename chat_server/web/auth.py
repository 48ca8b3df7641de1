"""Who is asking: passwords (argon2id), session cookies, API tokens, origins, throttling."""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from starlette.requests import HTTPConnection

from chat_server.config import Settings
from chat_server.core.model import Agent, Site
from chat_server.service.node import Node

SESSION_COOKIE = "chat_session"
DEVICE_COOKIE = "chat_device"
DEVICE_TTL_S = 365 * 24 * 3600
_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    """argon2id, memory-hard: a stolen database is slow to crack."""
    return _hasher.hash(password)


@functools.cache
def _dummy_hash() -> str:
    """A hash of nothing anyone knows, with the same parameters as real ones."""
    return hash_password(os.urandom(16).hex())


async def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether `password` matches; with no hash (no such account, or a bot's empty one) it
    is checked against a dummy hash all the same, so an unknown email or a bot's takes as
    long as a wrong password."""

    def check() -> bool:
        try:
            if not password_hash:
                _hasher.verify(_dummy_hash(), password)
                return False
            return _hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(check)


def device_cookie(secret: bytes, email: str) -> str:
    """A "known device" mark for this browser and account, set at a successful login."""
    nonce = base64.urlsafe_b64encode(os.urandom(12)).decode()
    return f"{nonce}.{_device_mac(secret, email, nonce)}"


def known_device(secret: bytes, email: str, cookie: str | None) -> bool:
    """Whether `cookie` is a mark this server gave a browser that logged in as `email`."""
    if not cookie or len(cookie) > 128 or "." not in cookie:
        return False
    nonce, mac = cookie.split(".", 1)
    return hmac.compare_digest(mac, _device_mac(secret, email, nonce))


def _device_mac(secret: bytes, email: str, nonce: str) -> str:
    message = f"device\0{email}\0{nonce}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()[:32]


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
    """The agent of the session cookie, or of an `Authorization: Bearer` API token.

    The cookie counts only for the console's own `fetch` calls: a browser that loads an
    image, a style, a frame or a page (`Sec-Fetch-Dest` other than `empty`) from the API
    is not the console asking, e.g. a URL in replayed co-browse content
    (docs/security.md, "Co-browse replay")."""
    secret = conn.cookies.get(SESSION_COOKIE)
    if conn.headers.get("sec-fetch-dest", "empty") != "empty":
        secret = None
    token = bearer(conn)
    if token is not None:
        secret = token
    return await node.agent_of_secret(secret)


def bearer(conn: HTTPConnection) -> str | None:
    """The token of an `Authorization: Bearer` header ('' when it holds none); None
    without one."""
    header = conn.headers.get("authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else None


async def cookie_agent(conn: HTTPConnection, node: Node) -> Agent | None:
    return await node.agent_of_secret(conn.cookies.get(SESSION_COOKIE))


@dataclass(slots=True)
class _Attempts:
    count: int
    last: float
    """When the last counted attempt began, or ended if it failed (the throttle's clock)."""


class LoginThrottle:
    """Login attempts per key (an account, an address), counted when an attempt begins,
    before its password is checked, so that guesses sent in parallel are counted as they
    arrive. A successful login takes its attempt back.

    A key's first `attempts` attempts go through; after them, one attempt per backoff delay
    after the last, doubling from 1 s to half of `window_s`: guessing slows to a trickle,
    and an owner whose account is being guessed waits at most that long, never for ever
    (backoff, not lockout). A key is forgotten after `window_s` without attempts.
    """

    MAX_KEYS = 100_000
    """Accounts and addresses tracked at most (the least recently tried are forgotten
    first): random emails cannot grow memory for ever."""

    def __init__(
        self, attempts: int, window_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.attempts = attempts
        self.window_s = window_s
        self.max_delay_s = window_s / 2
        self.clock = clock
        self._keys: dict[str, _Attempts] = {}

    def delay_s(self, count: int) -> float:
        """How long after the last attempt the next one may begin, after `count`."""
        if count < self.attempts:
            return 0.0
        return float(min(self.max_delay_s, 2.0 ** min(count - self.attempts, 64)))

    def begin(self, *keys: str) -> bool:
        """Count an attempt for every key, unless one of them must wait (then False, and
        nothing is counted: refused attempts do not lengthen the wait)."""
        now = self.clock()
        current = [self._current(key, now) for key in keys]
        if any(a is not None and now - a.last < self.delay_s(a.count) for a in current):
            return False
        for key, attempts in zip(keys, current, strict=True):
            self._keys.pop(key, None)  # re-inserted last: the dict is in order of use
            self._keys[key] = _Attempts((attempts.count if attempts else 0) + 1, now)
        while len(self._keys) > self.MAX_KEYS:
            del self._keys[next(iter(self._keys))]
        return True

    def failed(self, *keys: str) -> None:
        """An attempt ended in failure: its keys' delays run from now (a slow check must
        not use the wait up)."""
        now = self.clock()
        for key in keys:
            attempts = self._keys.get(key)
            if attempts is not None:
                attempts.last = max(attempts.last, now)

    def succeeded(self, *, clear: tuple[str, ...], refund: tuple[str, ...]) -> None:
        """A login succeeded: forget the `clear` keys, take the attempt back from `refund`."""
        for key in clear:
            self._keys.pop(key, None)
        for key in refund:
            attempts = self._keys.get(key)
            if attempts is not None:
                attempts.count -= 1
                if attempts.count <= 0:
                    del self._keys[key]

    def _current(self, key: str, now: float) -> _Attempts | None:
        attempts = self._keys.get(key)
        if attempts is not None and now - attempts.last >= self.window_s:
            del self._keys[key]
            return None
        return attempts
