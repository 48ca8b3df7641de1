"""`serve --demo`: a demo site, agent and supervisor, so the product can be tried at once."""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass

from chat_server.backends.base import Store
from chat_server.core import ids
from chat_server.core.errors import ChatError
from chat_server.core.model import Agent, AgentRole, Site


@dataclass(frozen=True, slots=True)
class DemoAccount:
    email: str
    password: str
    name: str
    role: AgentRole
    max_chats: int


DEMO_SITE = "demo"
DEMO_ACCOUNTS = (
    DemoAccount("agent@demo.test", "demo-agent", "Alice (demo agent)", AgentRole.AGENT, 3),
    DemoAccount(
        "supervisor@demo.test", "demo-supervisor", "Sam (demo supervisor)", AgentRole.SUPERVISOR, 0
    ),
)


@functools.cache
def demo_password_hash(password: str) -> str:
    """A demo password's argon2 hash, made once per process: the password is printed for
    anyone to read, and a hash costs about a quarter of a second of CPU (the tests start
    a demo server dozens of times in one process)."""
    from chat_server.web.auth import hash_password

    return hash_password(password)


async def seed_demo(store: Store) -> None:
    """Create what is missing; never overwrite an existing account's password, nor the
    demo site's settings once made (its hours or form set with `chat-server site ...`)."""
    if await store.directory.site(DEMO_SITE) is None:
        # sneak peek on, so the demo shows agents the visitor's draft as it is typed
        await store.directory.put_site(Site(DEMO_SITE, ("self",), sneak_peek=True))
    for account in DEMO_ACCOUNTS:
        if await store.directory.agent_by_email(account.email) is not None:
            continue
        with contextlib.suppress(ChatError):  # another node seeded it at the same moment
            await store.directory.add_agent(
                Agent(
                    id=ids.agent_id(),
                    email=account.email,
                    name=account.name,
                    role=account.role,
                    max_chats=account.max_chats,
                    password_hash=demo_password_hash(account.password),
                )
            )


def banner(base_url: str) -> str:
    lines = [
        "Demo is ready:",
        f"  shop page with the chat widget   {base_url}/",
        f"  agent console                    {base_url}/console",
        f"  supervisor dashboard             {base_url}/dashboard",
    ]
    for account in DEMO_ACCOUNTS:
        lines.append(f"  {account.role.value:<10} {account.email} / {account.password}")
    return "\n".join(lines)
