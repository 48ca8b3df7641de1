"""The directory: sites, agents (one per email), their status, credentials (expiry,
revocation one by one or all of an agent's), visitors."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from chat_server.backends.base import Store
from chat_server.backends.embedded import directory as embedded_directory
from chat_server.core.clock import ManualClock
from chat_server.core.errors import ChatError, ErrorCode
from chat_server.core.model import Agent, AgentRole, AgentStatus, Page, Site, Visitor
from tests.contract.support import expect

ANN = Agent(
    "a_ann",
    "ann@example.com",
    "Ann",
    AgentRole.SUPERVISOR,
    0,
    frozenset({"billing", "sales"}),
    "argon2-hash",
)
BOB = Agent("a_bob", "bob@example.com", "Bob", AgentRole.AGENT, 3)


async def test_sites(store: Store) -> None:
    shop = Site("shop", ("https://shop.example", "https://www.shop.example"), "secret")
    await store.directory.put_site(shop)
    await store.directory.put_site(Site("blog", ("https://blog.example",)))
    assert await store.directory.site("shop") == shop
    assert await store.directory.site("blog") == Site("blog", ("https://blog.example",))
    assert await store.directory.site("nope") is None
    moved = Site("shop", ("https://new.example",))
    await store.directory.put_site(moved)  # replaced whole
    assert await store.directory.site("shop") == moved


async def test_agents_by_id_email_and_name(store: Store) -> None:
    await store.directory.add_agent(BOB)
    await store.directory.add_agent(ANN)
    assert await store.directory.agent("a_ann") == ANN
    assert await store.directory.agent_by_email("bob@example.com") == BOB
    assert await store.directory.agent("a_nobody") is None
    assert await store.directory.agent_by_email("nobody@example.com") is None
    assert await store.directory.agents() == [ANN, BOB]


async def test_a_taken_email_is_conflict(store: Store) -> None:
    await store.directory.add_agent(ANN)
    await expect(ErrorCode.CONFLICT, store.directory.add_agent(replace(BOB, email=ANN.email)))
    assert await store.directory.agent("a_bob") is None
    assert await store.directory.agents() == [ANN]
    assert await store.directory.agent_by_email(ANN.email) == ANN


async def test_concurrent_adds_of_one_email_keep_one_agent(store: Store) -> None:
    rivals = [replace(BOB, id=f"a_{i}", name=f"Bob {i}") for i in range(5)]
    results = await asyncio.gather(
        *(store.directory.add_agent(a) for a in rivals), return_exceptions=True
    )
    refused = [r for r in results if isinstance(r, ChatError)]
    assert len(refused) == 4 and all(r.code is ErrorCode.CONFLICT for r in refused)
    kept = await store.directory.agents()
    assert len(kept) == 1 and await store.directory.agent_by_email(BOB.email) == kept[0]


async def test_agent_status(store: Store) -> None:
    await store.directory.add_agent(BOB)
    assert (await store.directory.agent("a_bob")) == BOB  # away by default
    await store.directory.set_agent_status("a_bob", AgentStatus.ONLINE)
    assert await store.directory.agent("a_bob") == replace(BOB, status=AgentStatus.ONLINE)
    assert await store.directory.agent_by_email(BOB.email) == replace(
        BOB, status=AgentStatus.ONLINE
    )
    await store.directory.set_agent_status("a_nobody", AgentStatus.ONLINE)  # no error
    assert await store.directory.agent("a_nobody") is None


async def test_credentials_name_their_agent_until_revoked(store: Store, clock: ManualClock) -> None:
    now = clock.now_ms()
    await store.directory.add_credential("h-token", "a_ann", "token", None)
    await store.directory.add_credential("h-session", "a_ann", "session", now + 3_600_000)
    await store.directory.add_credential("h-bob", "a_bob", "token", None)
    assert await store.directory.credential_agent("h-token", now) == "a_ann"
    assert await store.directory.credential_agent("h-session", now) == "a_ann"
    assert await store.directory.credential_agent("h-unknown", now) is None
    await store.directory.revoke_credential("h-token")
    assert await store.directory.credential_agent("h-token", now) is None
    await store.directory.revoke_credential("h-unknown")  # no error
    assert await store.directory.credential_agent("h-session", now) == "a_ann"
    assert await store.directory.credential_agent("h-bob", now) == "a_bob"


async def test_revoking_an_agents_credentials_counts_them(store: Store, clock: ManualClock) -> None:
    now = clock.now_ms()
    await store.directory.add_credential("h-1", "a_ann", "token", None)
    await store.directory.add_credential("h-2", "a_ann", "session", now + 60_000)
    await store.directory.add_credential("h-3", "a_ann", "token", None)
    await store.directory.add_credential("h-bob", "a_bob", "token", None)
    await store.directory.revoke_credential("h-3")
    assert await store.directory.revoke_agent_credentials("a_ann") == 2
    for secret_hash in ("h-1", "h-2", "h-3"):
        assert await store.directory.credential_agent(secret_hash, now) is None
    assert await store.directory.credential_agent("h-bob", now) == "a_bob"
    assert await store.directory.revoke_agent_credentials("a_ann") == 0
    assert await store.directory.revoke_agent_credentials("a_nobody") == 0


async def test_an_expired_credential_names_nobody(store: Store, clock: ManualClock) -> None:
    """Expiry is the store's (Redis: the key's own expiry): `expires` at or before now."""
    now = clock.now_ms()
    await store.directory.add_credential("h-past", "a_ann", "session", now - 1_000)
    await store.directory.add_credential("h-now", "a_ann", "session", now)
    await asyncio.sleep(0.005)  # Redis expires keys on its own clock, by the millisecond
    assert await store.directory.credential_agent("h-past", now) is None
    assert await store.directory.credential_agent("h-now", now) is None


async def test_visitors(store: Store, clock: ManualClock) -> None:
    vera = Visitor(
        "v_1",
        "shop",
        clock.now_ms(),
        "Vera",
        "vera@example.com",
        Page("https://shop.example/", "Shop"),
    )
    anonymous = Visitor("v_2", "shop", clock.now_ms())
    await store.directory.put_visitor(vera)
    await store.directory.put_visitor(anonymous)
    assert await store.directory.visitor("v_1") == vera
    assert await store.directory.visitor("v_2") == anonymous
    assert await store.directory.visitor("v_3") is None
    renamed = replace(vera, name="Vera B.", page=Page("https://shop.example/cart"))
    await store.directory.put_visitor(renamed)
    assert await store.directory.visitor("v_1") == renamed


async def test_online_among(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whether one of these is a person with the status `online` (the availability check)."""
    monkeypatch.setattr(embedded_directory, "AMONG_BATCH", 2)  # several reads embedded
    bot = Agent("b_bot", "bot@example.com", "Bot", AgentRole.BOT, 10)
    cid = Agent("a_cid", "cid@example.com", "Cid", AgentRole.AGENT, 3)
    for agent in (BOB, ANN, cid, bot):
        await store.directory.add_agent(agent)
    online = store.directory.online_among
    assert not await online([])
    assert not await online(["a_bob", "a_ann", "a_cid", "a_nobody"])
    await store.directory.set_agent_status("b_bot", AgentStatus.ONLINE)
    assert not await online(["b_bot", "a_bob"])  # a bot is not a person
    await store.directory.set_agent_status("a_cid", AgentStatus.ONLINE)
    assert await online(["a_nobody", "a_bob", "a_ann", "a_cid"])
    assert not await online(["a_bob", "a_ann"])
    await store.directory.set_agent_status("a_cid", AgentStatus.AWAY)
    assert not await online(["a_cid"])


async def test_agents_among(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedded_directory, "AMONG_BATCH", 2)  # several reads embedded
    cid = Agent("a_cid", "cid@example.com", "Cid", AgentRole.AGENT, 3)
    for agent in (BOB, ANN, cid):
        await store.directory.add_agent(agent)
    among = store.directory.agents_among
    assert await among(["a_cid", "a_nobody", "a_bob", "a_ann"]) == [cid, BOB, ANN]
    assert await among(["a_bob", "a_bob"]) == [BOB, BOB]
    assert await among([]) == []
    await store.directory.set_agent_status("a_bob", AgentStatus.ONLINE)
    assert [a.status for a in await among(["a_bob"])] == [AgentStatus.ONLINE]
