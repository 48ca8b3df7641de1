"""Staff accounts: signing in with a password, console sessions, and the team as the
dashboards show it (status, presence, load, the last hour's figures)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from chat_server.core import metrics, tokens
from chat_server.core.model import Agent
from chat_server.service.node import Node

PasswordCheck = Callable[[str | None, str], Awaitable[bool]]
"""Whether a password matches a hash. Given None (no such account) it must cost what a
wrong password costs, so that timing does not tell which emails have accounts."""


@dataclass(frozen=True, slots=True)
class Member:
    """An agent as the team views show them."""

    agent: Agent
    connected: bool
    """At least one live socket on some node."""
    active: int
    """Conversations they hold now."""


class Accounts:
    """The password check comes from the web edge (`web/auth.verify_password`, argon2 off
    the event loop), so this module stays free of the hashing parameters."""

    __slots__ = ("check_password", "node")

    def __init__(self, node: Node, check_password: PasswordCheck) -> None:
        self.node = node
        self.check_password = check_password

    async def sign_in(self, email: str, password: str) -> Agent | None:
        """The agent with this email and password, or None. An unknown email is checked
        all the same (see `PasswordCheck`)."""
        agent = await self.node.store.directory.agent_by_email(email)
        valid = await self.check_password(agent.password_hash if agent else None, password)
        return agent if agent is not None and valid else None

    async def open_session(self, agent: Agent) -> str:
        """A new console session, valid `session_ttl_s`: its secret, for the cookie. Only
        the secret's hash is stored."""
        secret = tokens.new_secret_token("cs")
        expires = self.node.clock.now_ms() + self.node.settings.session_ttl_s * 1000
        await self.node.store.directory.add_credential(
            tokens.hash_secret(secret), agent.id, "session", expires
        )
        return secret

    async def end_session(self, secret: str) -> None:
        """Logout: the session (or whatever credential this secret is) stops counting."""
        await self.node.store.directory.revoke_credential(tokens.hash_secret(secret))

    async def team(self) -> list[Member]:
        """Every agent, by name, with presence and load."""
        store = self.node.store
        online, loads = await store.presence.online("agent"), await store.conversations.loads()
        return [
            Member(agent, agent.id in online, loads[agent.id].active if agent.id in loads else 0)
            for agent in await store.directory.agents()
        ]

    async def team_figures(self) -> list[tuple[Member, dict[str, Any]]]:
        """Every member with the last hour's figures of their own (the window view)."""
        now = self.node.clock.now_ms()
        figures = self.node.store.figures
        return [
            (member, metrics.window_view(await figures.read("1h", now, f"agent:{member.agent.id}")))
            for member in await self.team()
        ]
