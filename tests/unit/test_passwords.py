"""Passwords are stored as argon2id at the library's recommended cost (the tests' own
agents use the lowest cost to save CPU, so this is where the deployed one is checked)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.profiles import RFC_9106_LOW_MEMORY

from chat_server.web import auth


async def test_a_password_is_hashed_with_argon2id_at_the_recommended_cost() -> None:
    stored = auth.hash_password("correct horse")
    assert stored.startswith("$argon2id$")
    assert not PasswordHasher().check_needs_rehash(stored), "not argon2-cffi's default cost"
    assert f"m={RFC_9106_LOW_MEMORY.memory_cost},t={RFC_9106_LOW_MEMORY.time_cost}" in stored
    assert await auth.verify_password(stored, "correct horse")
    assert not await auth.verify_password(stored, "wrong horse")
