"""Sites, agents, credentials and visitors: one key each (JSON rows), and for agents the
email index and the list of agents, kept with the agent in one transaction; for visitors
an email index (issue 16: export and erase by email), kept with the visitor likewise."""

from __future__ import annotations

import json
from collections.abc import Sequence

from redis.exceptions import WatchError

from chat_server.backends.records import (
    agent_from_row,
    agent_row,
    site_from_json,
    site_to_json,
    visitor_from_row,
    visitor_row,
)
from chat_server.backends.redis import decoded, lua, rows
from chat_server.backends.redis.client import RETRIES, Client, contended, redis_errors
from chat_server.backends.redis.wire import Script
from chat_server.backends.roles.directory import email_key
from chat_server.core.errors import conflict
from chat_server.core.model import Agent, AgentStatus, Site, Visitor

STATUS_FIELD = 7
"""The status's place in an agent's row (`records.agent_row`)."""


class RedisDirectory:
    def __init__(self, client: Client) -> None:
        self.client = client
        self.keys = client.keys
        self.redis = client.redis
        self._online = Script(client.wire, lua("agents_online.lua"))

    # sites ------------------------------------------------------------------------------

    async def put_site(self, site: Site) -> None:
        async with redis_errors(), self.redis.pipeline(transaction=True) as pipe:
            pipe.set(self.keys.site(site.id), site_to_json(site))
            pipe.sadd(self.keys.sites(), site.id)
            await self.client.execute(pipe)

    async def site(self, site_id: str) -> Site | None:
        async with redis_errors():
            raw = await self.redis.get(self.keys.site(site_id))
        return site_from_json(site_id, raw) if raw else None

    async def adopt_sites(self) -> int:
        """At start, while there is no `sites` set: put in it the sites a version before it
        stored (one SCAN of the keyspace, only until the set exists). Returns how many."""
        async with redis_errors():
            if await self.redis.exists(self.keys.sites()):
                return 0
            head = self.keys.site("")
            pattern = _glob_escaped(head) + "*"
            ids = [decoded(k)[len(head) :] async for k in self.redis.scan_iter(pattern, 1000)]
            if ids:
                await self.redis.sadd(self.keys.sites(), *ids)
        return len(ids)

    async def sites(self) -> list[Site]:
        """The sites in the `sites` set (kept by `put_site`; sites stored before it are
        adopted at start)."""
        async with redis_errors():
            ids = sorted(decoded(i) for i in await self.redis.smembers(self.keys.sites()))
            raws = await self.redis.mget([self.keys.site(i) for i in ids]) if ids else []
        return [site_from_json(i, raw) for i, raw in zip(ids, raws, strict=True) if raw]

    # agents -----------------------------------------------------------------------------

    async def add_agent(self, agent: Agent) -> None:
        """The email, the agent and the list of agents in one transaction: an email is never
        taken by an agent that was not stored. A lost reply is recognised by the agent's id."""
        emails, row = self.keys.agent_email(), rows.dumps(agent_row(agent))
        attempted = False
        async with redis_errors(), self.redis.pipeline(transaction=True) as pipe:
            for _ in range(RETRIES):
                try:
                    await pipe.watch(emails)
                    holder = await pipe.hget(emails, agent.email)
                    if holder is not None:
                        if attempted and decoded(holder) == agent.id:
                            return  # our EXEC ran; its reply was lost
                        raise conflict(f"an agent with email {agent.email} exists")
                    pipe.multi()
                    pipe.hset(emails, agent.email, agent.id)
                    pipe.set(self.keys.agent(agent.id), row)
                    pipe.sadd(self.keys.agents(), agent.id)
                    attempted = True
                    await self.client.execute(pipe)
                    return
                except WatchError:
                    continue
        raise contended()

    async def agent(self, agent_id: str) -> Agent | None:
        async with redis_errors():
            raw = await self.redis.get(self.keys.agent(agent_id))
        return agent_from_row(tuple(json.loads(raw))) if raw else None

    async def agent_by_email(self, email: str) -> Agent | None:
        async with redis_errors():
            agent_id = await self.redis.hget(self.keys.agent_email(), email)
        return await self.agent(decoded(agent_id)) if agent_id else None

    async def agents(self) -> list[Agent]:
        async with redis_errors():
            ids = sorted(decoded(i) for i in await self.redis.smembers(self.keys.agents()))
            raws = await self.redis.mget([self.keys.agent(i) for i in ids]) if ids else []
        found = [agent_from_row(tuple(json.loads(r))) for r in raws if r]
        return sorted(found, key=lambda a: a.name)

    async def agents_among(self, agent_ids: Sequence[str]) -> list[Agent]:
        if not agent_ids:
            return []
        async with redis_errors():
            raws = await self.redis.mget([self.keys.agent(i) for i in agent_ids])
        return [agent_from_row(tuple(json.loads(r))) for r in raws if r]

    async def online_among(self, agent_ids: Sequence[str]) -> bool:
        if not agent_ids:
            return False
        async with redis_errors():
            found = await self._online([self.keys.agent(i) for i in agent_ids], [])
        return bool(found)

    async def set_agent_status(self, agent_id: str, status: AgentStatus) -> None:
        key = self.keys.agent(agent_id)
        async with redis_errors(), self.redis.pipeline(transaction=True) as pipe:
            for _ in range(RETRIES):
                try:
                    await pipe.watch(key)
                    raw = await pipe.get(key)
                    if raw is None:
                        return
                    row = json.loads(raw)
                    row[STATUS_FIELD] = status.value
                    pipe.multi()
                    pipe.set(key, rows.dumps(row))
                    await self.client.execute(pipe)
                    return
                except WatchError:
                    continue
        raise contended()

    # credentials: a hash per secret (expiring with it), and a set per agent to revoke all

    async def add_credential(
        self, secret_hash: str, agent_id: str, kind: str, expires: int | None
    ) -> None:
        key = self.keys.credential(secret_hash)
        async with redis_errors(), self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"agent_id": agent_id, "kind": kind})
            pipe.sadd(self.keys.agent_credentials(agent_id), secret_hash)
            if expires is not None:
                pipe.pexpire(key, max(1, expires - self.client.clock.now_ms()))
            await pipe.execute()

    async def credential_agent(self, secret_hash: str, now: int) -> str | None:
        async with redis_errors():
            agent_id = await self.redis.hget(self.keys.credential(secret_hash), "agent_id")
        return decoded(agent_id) if agent_id else None

    async def credential(self, secret_hash: str, now: int) -> tuple[str, str] | None:
        async with redis_errors():
            agent_id, kind = await self.redis.hmget(
                self.keys.credential(secret_hash), "agent_id", "kind"
            )
        return (decoded(agent_id), decoded(kind or b"token")) if agent_id else None

    async def revoke_credential(self, secret_hash: str) -> None:
        async with redis_errors():
            await self.redis.delete(self.keys.credential(secret_hash))

    async def revoke_agent_credentials(self, agent_id: str) -> int:
        async with redis_errors():
            members = await self.redis.smembers(self.keys.agent_credentials(agent_id))
            hashes = [decoded(h) for h in members]
            async with self.redis.pipeline(transaction=True) as pipe:
                for secret_hash in hashes:
                    pipe.delete(self.keys.credential(secret_hash))
                pipe.delete(self.keys.agent_credentials(agent_id))
                results = await pipe.execute()
        return sum(int(n) for n in results[:-1])

    # visitors ---------------------------------------------------------------------------

    async def put_visitor(self, visitor: Visitor) -> None:
        """The record, and with an email its two index entries, in one transaction (one
        round trip). A changed email leaves the old entry: reads check the record."""
        key, row = self.keys.visitor(visitor.id), rows.dumps(visitor_row(visitor))
        async with redis_errors():
            if not visitor.email:
                await self.redis.set(key, row)
                return
            email = email_key(visitor.email)
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.set(key, row)
                pipe.sadd(self.keys.visitors_of_email(email), visitor.id)
                pipe.sadd(self.keys.emails_of_visitor(visitor.id), email)
                await self.client.execute(pipe)

    async def visitor(self, visitor_id: str) -> Visitor | None:
        async with redis_errors():
            raw = await self.redis.get(self.keys.visitor(visitor_id))
        return visitor_from_row(tuple(json.loads(raw))) if raw else None

    async def visitors_by_email(self, email: str) -> list[Visitor]:
        """Visitors stored before this index existed are found once stored again."""
        wanted = email_key(email)
        async with redis_errors():
            ids = sorted(
                decoded(i) for i in await self.redis.smembers(self.keys.visitors_of_email(wanted))
            )
            raws = await self.redis.mget([self.keys.visitor(i) for i in ids]) if ids else []
        found = [visitor_from_row(tuple(json.loads(r))) for r in raws if r]
        return [v for v in found if v.email and email_key(v.email) == wanted]

    async def forget_visitor(self, visitor_id: str) -> bool:
        """The record and every email entry at once; watched, so an email a concurrent
        `put_visitor` adds meanwhile is not left behind."""
        key, emails_key = self.keys.visitor(visitor_id), self.keys.emails_of_visitor(visitor_id)
        async with redis_errors(), self.redis.pipeline(transaction=True) as pipe:
            for _ in range(RETRIES):
                try:
                    await pipe.watch(key, emails_key)
                    emails = {decoded(e) for e in await pipe.smembers(emails_key)}
                    raw = await pipe.get(key)
                    current = visitor_from_row(tuple(json.loads(raw))) if raw else None
                    if current is not None and current.email:
                        emails.add(email_key(current.email))
                    pipe.multi()
                    pipe.delete(key, emails_key)
                    for email in sorted(emails):
                        pipe.srem(self.keys.visitors_of_email(email), visitor_id)
                    await self.client.execute(pipe)
                    return raw is not None
                except WatchError:
                    continue
        raise contended()


def _glob_escaped(text: str) -> str:
    """`text` matched literally by a Redis glob pattern (a prefix may hold `*?[]\\`)."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)
