"""Who is who: sites, agents, their credentials (API tokens, console sessions), visitors."""

from __future__ import annotations

from typing import Protocol

from chat_server.core.model import Agent, AgentStatus, Site, Visitor


class Directory(Protocol):
    async def put_site(self, site: Site) -> None: ...

    async def site(self, site_id: str) -> Site | None: ...

    async def add_agent(self, agent: Agent) -> None:
        """Raises `conflict` when the email is taken."""

    async def agent(self, agent_id: str) -> Agent | None: ...

    async def agent_by_email(self, email: str) -> Agent | None: ...

    async def agents(self) -> list[Agent]:
        """By name."""

    async def set_agent_status(self, agent_id: str, status: AgentStatus) -> None: ...

    async def add_credential(
        self, secret_hash: str, agent_id: str, kind: str, expires: int | None
    ) -> None: ...

    async def credential_agent(self, secret_hash: str, now: int) -> str | None:
        """The agent a token or session belongs to, if it exists and has not expired."""

    async def revoke_credential(self, secret_hash: str) -> None: ...

    async def revoke_agent_credentials(self, agent_id: str) -> int:
        """Every API token and session of an agent; returns how many there were."""

    async def put_visitor(self, visitor: Visitor) -> None: ...

    async def visitor(self, visitor_id: str) -> Visitor | None: ...
