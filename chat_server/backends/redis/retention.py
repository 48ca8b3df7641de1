"""Retention on Redis (issue 16): a closed conversation is its keys under its hash tag plus
its id in the global sorted sets (`keys.py`); `lua/retention_remove.lua` removes both in one
step, only while the conversation is closed, so several nodes sweeping at once remove it
once and the others hear "gone already".

Which agents' indexes name it is not stored with it, so every agent's is given (agents are
never deleted, and ZREM of an absent member costs nothing). Its search entries go in the
same step (`search_forget.lua`, which the script is loaded with). The closed index is scored
by creation: `expired` pages through the ones created before the cut-off and keeps those
closed before it.
"""

from __future__ import annotations

from chat_server.backends.redis import decoded, lua, stored
from chat_server.backends.redis.client import Client, redis_errors
from chat_server.backends.redis.search import FORGET, index_keys, key_prefixes
from chat_server.backends.redis.tags import conv_tags_key, tag_key
from chat_server.backends.roles.files import Files
from chat_server.core.errors import conflict
from chat_server.core.model import State

CLOSED = State.CLOSED.value


class RedisRetention:
    def __init__(self, client: Client, files: Files, *, accounts: Client | None = None) -> None:
        """`accounts`: where the agents are, when not with the conversations (a spread
        installation's own prefix, `spread_store.py`)."""
        self.client = client
        self._accounts = accounts or client
        self.keys = client.keys
        self.redis = client.redis
        self._files = files
        self._remove = client.redis.register_script(FORGET + lua("retention_remove.lua"))

    async def expired(self, before: int, limit: int) -> list[str]:
        found: list[str] = []
        offset = 0
        while len(found) < limit:
            async with redis_errors():
                page = [
                    decoded(c)
                    for c in await self.redis.zrangebyscore(
                        self.keys.convs(CLOSED), "-inf", f"({before}", start=offset, num=limit
                    )
                ]
            convs = await stored.load_many(self.client, page)
            found += [c.id for c in convs if c.closed_at is not None and c.closed_at < before][
                : limit - len(found)
            ]
            if len(page) < limit:
                break
            offset += limit
        return found

    async def remove(self, cid: str) -> bool:
        k = self.keys
        accounts = self._accounts
        async with redis_errors(), self.redis.pipeline(transaction=False) as pipe:
            pipe.hmget(k.live(cid), "state", "visitor")
            pipe.smembers(conv_tags_key(k, cid))
            (state, visitor), tagged = await pipe.execute()
            agents = await accounts.redis.smembers(accounts.keys.agents())
        if state is None:
            return False
        if decoded(state) != CLOSED:
            raise conflict("the conversation is not closed")
        await self._files.forget(cid)
        own = [
            k.conv(cid),
            k.messages(cid),
            k.cmids(cid),
            k.rating(cid),
            k.files(cid),
            k.cobrowse(cid),
            k.cobrowse_replay(cid),
            k.cobrowse_replay_meta(cid),
            k.search_held(cid),
        ]
        indexes = [k.convs(), k.convs(CLOSED), k.queue(), k.visitor_convs(decoded(visitor))]
        async with redis_errors():
            done = int(
                await self._remove(
                    keys=[
                        k.live(cid),
                        *indexes,
                        *own,
                        *index_keys(k),
                        conv_tags_key(k, cid),
                        *(k.agent_convs(decoded(a)) for a in sorted(agents)),
                        *(tag_key(k, decoded(t)) for t in sorted(tagged)),
                    ],
                    args=[cid, *key_prefixes(k)],
                )
            )
        if done < 0:  # not reached: closed is final
            raise conflict("the conversation is not closed")
        return done == 1

    async def prune(self, before: int, limit: int) -> int:
        """Nothing: the audit stream is capped by length (`redis/audit.py`)."""
        return 0
