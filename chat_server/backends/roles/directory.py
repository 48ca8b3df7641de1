"""Who is who: sites, agents, their credentials (API tokens, console sessions), visitors."""

from __future__ import annotations

import string
from collections.abc import Sequence
from typing import Protocol

from chat_server.core.model import Agent, AgentStatus, Site, Visitor


class Directory(Protocol):
    async def put_site(self, site: Site) -> None: ...

    async def site(self, site_id: str) -> Site | None: ...

    async def sites(self) -> list[Site]:
        """Every site, by id (reports list their topics and offer a choice of site)."""

    async def add_agent(self, agent: Agent) -> None:
        """Raises `conflict` when the email is taken."""

    async def agent(self, agent_id: str) -> Agent | None: ...

    async def agent_by_email(self, email: str) -> Agent | None: ...

    async def agents(self) -> list[Agent]:
        """By name."""

    async def agents_among(self, agent_ids: Sequence[str]) -> list[Agent]:
        """Those of these agents that exist, in that order: a read of who is connected
        (the availability check) reads them, not every agent of the installation."""

    async def online_among(self, agent_ids: Sequence[str]) -> bool:
        """Whether one of these agents is a person (not a bot) with the status `online`:
        the availability check asks it of every connected agent each second, so it is
        answered where the rows are, none decoded."""

    async def set_agent_status(self, agent_id: str, status: AgentStatus) -> None: ...

    async def add_credential(
        self, secret_hash: str, agent_id: str, kind: str, expires: int | None
    ) -> None: ...

    async def credential_agent(self, secret_hash: str, now: int) -> str | None:
        """The agent a token or session belongs to, if it exists and has not expired."""

    async def credential(self, secret_hash: str, now: int) -> tuple[str, str] | None:
        """Issue 17: `(agent_id, kind)` of a valid token or session (the write API reads
        a token's site scope from its kind: `token` or `token:<site>,<site>`)."""

    async def revoke_credential(self, secret_hash: str) -> None: ...

    async def revoke_agent_credentials(self, agent_id: str) -> int:
        """Every API token and session of an agent; returns how many there were."""

    async def put_visitor(self, visitor: Visitor) -> None: ...

    async def visitor(self, visitor_id: str) -> Visitor | None: ...

    async def visitors_by_email(self, email: str) -> list[Visitor]:
        """Every visitor whose email is `email` (as `email_key` compares them), by id: one
        person may have several visitor ids (browsers, sites). For export and erase."""

    async def forget_visitor(self, visitor_id: str) -> bool:
        """Erase (issue 16): the visitor's record (name, email, page) and every index entry
        that finds it by an email; False when there was no record. Idempotent."""


ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def email_key(email: str) -> str:
    """How visitors' emails are compared: without surrounding spaces, ASCII letters in
    lower case (what SQLite's `lower(trim(...))` does, so both backends agree)."""
    return email.strip(" ").translate(ASCII_LOWER)
