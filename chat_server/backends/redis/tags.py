"""Tags on Redis (issue 17): a set per conversation (`{cid}:tags`, under its hash tag) and
a sorted set per tag (`tag:<tag>`, scored by the conversation's creation) to find them.
`lua/tags_change.lua` changes both in one step; it is given the index keys of the tags it
may touch, read just before, and asks for a retry when the set changed meanwhile.

Retention removes both with the conversation (`tags_keys`, `retention_remove.lua`).
"""

from __future__ import annotations

from collections.abc import Sequence

from chat_server.backends.redis import decoded, lua
from chat_server.backends.redis.client import RETRIES, Client, contended, redis_errors
from chat_server.backends.redis.keys import Keys
from chat_server.core import tags as rules
from chat_server.core.errors import bad_request, not_found


def conv_tags_key(keys: Keys, cid: str) -> str:
    return f"{keys.prefix}:{{{cid}}}:tags"


def tag_key(keys: Keys, tag: str) -> str:
    return f"{keys.prefix}:tag:{tag}"


class RedisTags:
    def __init__(self, client: Client) -> None:
        self.keys = client.keys
        self.redis = client.redis
        self._change = client.redis.register_script(lua("tags_change.lua"))

    async def change(
        self,
        cid: str,
        created: int,
        *,
        add: Sequence[str] = (),
        remove: Sequence[str] = (),
        replace: bool = False,
    ) -> tuple[str, ...]:
        k = self.keys
        for _ in range(RETRIES):
            async with redis_errors():
                current = [decoded(t) for t in await self.redis.smembers(conv_tags_key(k, cid))]
                named = [*add, *remove, *current]
                result = await self._change(
                    keys=[k.live(cid), conv_tags_key(k, cid), *(tag_key(k, t) for t in named)],
                    args=[
                        cid,
                        created,
                        "1" if replace else "0",
                        rules.TAGS_MAX,
                        len(add),
                        len(remove),
                        *named,
                    ],
                )
            if result == -1:
                raise not_found("no such conversation")
            if result == -2:
                raise bad_request(f"a conversation holds at most {rules.TAGS_MAX} tags")
            if result != -3:
                return tuple(sorted(decoded(t) for t in result))
        raise contended()

    async def of(self, cids: Sequence[str]) -> dict[str, tuple[str, ...]]:
        wanted = list(dict.fromkeys(cids))
        if not wanted:
            return {}
        async with redis_errors(), self.redis.pipeline(transaction=False) as pipe:
            for cid in wanted:
                pipe.smembers(conv_tags_key(self.keys, cid))
            found = await pipe.execute()
        return {
            cid: tuple(sorted(decoded(t) for t in members))
            for cid, members in zip(wanted, found, strict=True)
        }

    async def find(self, tag: str, *, before: int | None, limit: int) -> list[str]:
        return [cid for cid, _ in await self.find_created(tag, before=before, limit=limit)]

    async def find_created(
        self, tag: str, *, before: int | None, limit: int
    ) -> list[tuple[str, int]]:
        """`find`, each with its creation (the index's score): what a spread installation
        merges its partitions' pages by."""
        top = f"({before}" if before is not None else "+inf"
        async with redis_errors():
            found = await self.redis.zrevrangebyscore(
                tag_key(self.keys, tag), top, "-inf", start=0, num=limit, withscores=True
            )
        return [(decoded(c), int(score)) for c, score in found]
