"""Presence as both stores must keep it (`Store.connected` ... `gone_since`): one check,
run on each store by its own tests."""

from __future__ import annotations

from chat_server.backends.base import Store


async def connected_and_disconnected(store: Store) -> None:
    """Several connections per person, kinds kept apart, counts per node."""
    await store.connected("agent", "a_ann", "conn-1", 100)
    await store.connected("agent", "a_ann", "conn-2", 110)
    await store.connected("visitor", "v_1", "conn-3", 120)
    assert await store.online("agent") == {"a_ann"}
    assert await store.online("visitor") == {"v_1"}
    assert await store.disconnected("agent", "a_ann", "conn-1", 200) == 1
    assert await store.online("agent") == {"a_ann"}
    assert await store.gone_since("agent", 10_000) == []
    assert await store.disconnected("agent", "a_ann", "conn-2", 300) == 0
    assert await store.online("agent") == set()
    assert await store.online("visitor") == {"v_1"}  # kinds are separate
