"""`service/health` and `service/sites`: readiness is the store's and the bus's, the
gauges are read from the store at scrape time, and an empty or overlong site id is not
looked up."""

from __future__ import annotations

from chat_server.backends.roles.conversations import AgentLoad
from chat_server.core.model import Conversation, Site, State
from chat_server.service import health, sites
from tests.unit.fake_node import fake_node


async def test_ready_when_store_and_bus_are() -> None:
    node, store, bus, _ = fake_node()
    assert await health.readiness(node) == health.Readiness(store=True, bus=True)
    assert (await health.readiness(node)).ready
    bus.up = False
    assert not (await health.readiness(node)).ready
    bus.up, store.up = True, False
    state = await health.readiness(node)
    assert (state.ready, state.store, state.bus) == (False, False, True)


async def test_gauges_count_the_queue_and_the_active_conversations() -> None:
    node, store, _, _ = fake_node()
    store.conversations.all = [Conversation(f"c_{i}", "s", "v", State.QUEUED, 1) for i in range(3)]
    store.conversations.load = {"ann": AgentLoad(active=2), "bob": AgentLoad(active=1)}
    await health.refresh_gauges(node)
    registry = node.metrics.registry
    name = "chat_conversations"
    sample = registry.get_sample_value
    queued = {"state": "queued"}
    active = {"state": "active"}
    assert (sample(name, queued), sample(name, active)) == (3, 3)


async def test_a_site_is_looked_up_only_by_a_plausible_id() -> None:
    node, store, _, _ = fake_node()
    store.directory.sites = {"shop": Site("shop", ("*",))}
    assert await sites.site_named(node, "shop") == Site("shop", ("*",))
    assert await sites.site_named(node, "nope") is None
    assert await sites.site_named(node, "") is None
    assert await sites.site_named(node, "x" * 65) is None
    assert store.directory.site_lookups == ["shop", "nope"]
