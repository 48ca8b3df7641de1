"""`service/accounts`: signing in checks a password even for an unknown email, sessions
keep only the secret's hash and expire after `session_ttl_s`, and the team shows presence,
load and the last hour's figures of each agent."""

from __future__ import annotations

from chat_server.backends.roles.conversations import AgentLoad
from chat_server.core import metrics, tokens
from chat_server.core.model import AgentRole
from chat_server.service.accounts import Accounts, Member
from tests.unit.fake_node import agent, fake_node


class Checks:
    """A password check that records what it was asked (the hash is the password)."""

    def __init__(self) -> None:
        self.asked: list[tuple[str | None, str]] = []

    async def __call__(self, password_hash: str | None, password: str) -> bool:
        self.asked.append((password_hash, password))
        return password_hash is not None and password_hash == password


def accounts() -> tuple[Accounts, Checks]:
    node, store, _, _ = fake_node()
    store.directory.agents_ = [agent("ann"), agent("bob", AgentRole.SUPERVISOR)]
    checks = Checks()
    return Accounts(node, checks), checks


async def test_sign_in_needs_the_right_password() -> None:
    service, checks = accounts()
    signed = await service.sign_in("ann@example.com", "pw")
    assert signed is not None and signed.id == "ann"
    assert await service.sign_in("ann@example.com", "wrong") is None
    assert checks.asked == [("pw", "pw"), ("pw", "wrong")]


async def test_an_unknown_email_costs_a_check_all_the_same() -> None:
    service, checks = accounts()
    assert await service.sign_in("nobody@example.com", "pw") is None
    assert checks.asked == [(None, "pw")]


async def test_a_session_keeps_only_the_hash_and_expires_after_the_ttl() -> None:
    node, store, _, clock = fake_node()
    service = Accounts(node, Checks())
    secret = await service.open_session(agent("ann"))
    assert secret.startswith("cs_")
    expires = clock.now_ms() + node.settings.session_ttl_s * 1000
    credentials = store.directory.credentials
    assert credentials == {tokens.hash_secret(secret): ("ann", "session", expires)}
    await service.end_session(secret)
    assert credentials == {}


async def test_the_team_shows_presence_load_and_the_last_hour() -> None:
    node, store, _, clock = fake_node()
    ann, bob = agent("ann"), agent("bob", AgentRole.SUPERVISOR)
    store.directory.agents_ = [ann, bob]
    store.presence.online_agents = {"bob"}
    store.conversations.load = {"ann": AgentLoad(active=2)}
    hour = metrics.Figures()
    hour.add("answered", 3)
    store.figures.by_dim = {"agent:ann": hour}
    service = Accounts(node, Checks())
    assert await service.team() == [Member(ann, False, 2), Member(bob, True, 0)]
    figured = await service.team_figures()
    assert [m for m, _ in figured] == [Member(ann, False, 2), Member(bob, True, 0)]
    assert [h for _, h in figured] == [
        metrics.window_view(hour),
        metrics.window_view(metrics.Figures()),
    ]
    now = clock.now_ms()
    assert store.figures.reads == [("1h", now, "agent:ann"), ("1h", now, "agent:bob")]
