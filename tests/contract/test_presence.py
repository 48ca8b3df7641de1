"""Presence: who is connected (several connections each, kinds apart), who left and
since when, until they come back or the absence is forgotten."""

from __future__ import annotations

from chat_server.backends.base import Store


async def test_connected_and_disconnected(store: Store) -> None:
    """Several connections per person, kinds kept apart, counts per node."""
    await store.presence.connected("agent", "a_ann", "conn-1", 100)
    await store.presence.connected("agent", "a_ann", "conn-2", 110)
    await store.presence.connected("visitor", "v_1", "conn-3", 120)
    assert await store.presence.online("agent") == {"a_ann"}
    assert await store.presence.online("visitor") == {"v_1"}
    assert await store.presence.disconnected("agent", "a_ann", "conn-1", 200) == 1
    assert await store.presence.online("agent") == {"a_ann"}
    assert await store.presence.gone_since("agent", 10_000) == []
    assert await store.presence.disconnected("agent", "a_ann", "conn-2", 300) == 0
    assert await store.presence.online("agent") == set()
    assert await store.presence.online("visitor") == {"v_1"}  # kinds are separate
    assert await store.presence.gone_since("agent", 300) == []  # gone at 300, not before it
    assert await store.presence.gone_since("agent", 301) == ["a_ann"]
    assert await store.presence.gone_since("visitor", 10_000) == []


async def test_the_same_connection_twice_counts_once(store: Store) -> None:
    await store.presence.connected("agent", "a_ann", "conn-1", 100)
    await store.presence.connected("agent", "a_ann", "conn-1", 110)
    assert await store.presence.disconnected("agent", "a_ann", "conn-1", 200) == 0
    assert await store.presence.online("agent") == set()


async def test_online_among(store: Store) -> None:
    await store.presence.connected("visitor", "v_1", "conn-1", 100)
    assert await store.presence.heartbeat(150) is False  # alive all along: nothing rewritten
    assert await store.presence.online("visitor", among=["v_1", "v_2"]) == {"v_1"}
    assert await store.presence.online("visitor", among=[]) == set()
    assert await store.presence.online("agent", among=["v_1"]) == set()


async def test_coming_back_cancels_the_absence(store: Store) -> None:
    await store.presence.connected("visitor", "v_1", "conn-1", 100)
    await store.presence.disconnected("visitor", "v_1", "conn-1", 200)
    assert await store.presence.gone_since("visitor", 1_000) == ["v_1"]
    await store.presence.connected("visitor", "v_1", "conn-2", 300)
    assert await store.presence.gone_since("visitor", 1_000) == []
    await store.presence.disconnected("visitor", "v_1", "conn-2", 400)
    assert await store.presence.gone_since("visitor", 400) == []  # gone since the last leave
    assert await store.presence.gone_since("visitor", 401) == ["v_1"]


async def test_forget_gone(store: Store) -> None:
    await store.presence.connected("visitor", "v_1", "conn-1", 100)
    await store.presence.connected("visitor", "v_2", "conn-2", 100)
    await store.presence.disconnected("visitor", "v_1", "conn-1", 200)
    await store.presence.disconnected("visitor", "v_2", "conn-2", 250)
    assert sorted(await store.presence.gone_since("visitor", 1_000)) == ["v_1", "v_2"]
    await store.presence.forget_gone("visitor", "v_1")
    assert await store.presence.gone_since("visitor", 1_000) == ["v_2"]
    await store.presence.forget_gone("visitor", "v_never")  # no error
    await store.presence.forget_gone("agent", "v_2")  # another kind: nothing
    assert await store.presence.gone_since("visitor", 1_000) == ["v_2"]


async def test_a_repeated_leave_does_not_start_the_absence_again(store: Store) -> None:
    """A retried write: after the absence was acted on and forgotten, or of someone never
    seen, a leave marks nobody gone."""
    await store.presence.connected("visitor", "v_1", "conn-1", 100)
    await store.presence.disconnected("visitor", "v_1", "conn-1", 200)
    await store.presence.forget_gone("visitor", "v_1")
    assert await store.presence.disconnected("visitor", "v_1", "conn-1", 500) == 0
    assert await store.presence.gone_since("visitor", 1_000) == []
    assert await store.presence.disconnected("agent", "a_ghost", "conn-x", 5) == 0
    assert await store.presence.gone_since("agent", 1_000) == []
