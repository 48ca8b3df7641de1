"""The demo accounts' passwords are hashed once per process (argon2 costs about a quarter
of a second of CPU a hash, and the tests start dozens of demo servers in one process)."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from chat_server import demo
from chat_server.web import auth


def test_a_demo_password_is_hashed_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def counted(password: str) -> str:
        calls.append(password)
        return PasswordHasher().hash(password)

    monkeypatch.setattr(auth, "hash_password", counted)
    demo.demo_password_hash.cache_clear()
    try:
        password = demo.DEMO_ACCOUNTS[0].password
        first = demo.demo_password_hash(password)
        assert demo.demo_password_hash(password) == first
        assert calls == [password]
        assert PasswordHasher().verify(first, password)
    finally:
        demo.demo_password_hash.cache_clear()
