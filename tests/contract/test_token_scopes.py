"""The write API's token scopes (issue 17), the directory part on both backends: a
credential's kind comes back with its agent while it is valid."""

from __future__ import annotations

from chat_server.backends.base import Store
from chat_server.core.clock import ManualClock
from chat_server.core.scopes import token_kind


async def test_a_credential_reads_back_with_its_kind(store: Store, clock: ManualClock) -> None:
    now = clock.now_ms()
    directory = store.directory
    await directory.add_credential("h-all", "a_ann", token_kind([]), None)
    await directory.add_credential("h-some", "a_ann", token_kind(["shop", "blog"]), None)
    await directory.add_credential("h-session", "a_bob", "session", now + 1000)
    assert await directory.credential("h-all", now) == ("a_ann", "token")
    assert await directory.credential("h-some", now) == ("a_ann", "token:blog,shop")
    assert await directory.credential("h-session", now) == ("a_bob", "session")
    assert await directory.credential("h-nope", now) is None
    await directory.revoke_credential("h-some")
    assert await directory.credential("h-some", now) is None
