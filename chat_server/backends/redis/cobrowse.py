"""Co-browsing on Redis: the consent state is a hash per conversation, changed by
compare-and-set (WATCH/MULTI/EXEC); the replay buffer is a list and its meta hash, kept
bounded by `lua/cobrowse_record.lua`. Both expire: a forgotten co-browse cleans itself up."""

from __future__ import annotations

from redis.exceptions import WatchError

from chat_server.backends.redis import decoded, lua
from chat_server.backends.redis.client import Client, redis_errors
from chat_server.core import cobrowse
from chat_server.core.cobrowse import CobrowseState, Session

TTL_MS = 6 * 3_600_000


class RedisCobrowse:
    def __init__(self, client: Client) -> None:
        self.client = client
        self.keys = client.keys
        self.redis = client.redis
        self._record_script = client.redis.register_script(lua("cobrowse_record.lua"))

    async def session(self, cid: str) -> Session:
        async with redis_errors():
            raw = await self.redis.hgetall(self.keys.cobrowse(cid))
        if not raw:
            return cobrowse.NONE
        fields = {decoded(k): decoded(v) for k, v in raw.items()}
        return Session(CobrowseState(fields["state"]), fields.get("agent") or None)

    async def change(self, cid: str, expected: Session, new: Session) -> bool:
        key = self.keys.cobrowse(cid)
        async with redis_errors(), self.redis.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(key)
                raw = await pipe.hgetall(key)
                current = (
                    cobrowse.NONE
                    if not raw
                    else Session(
                        CobrowseState(decoded(raw[b"state"])),
                        decoded(raw.get(b"agent", b"")) or None,
                    )
                )
                if current != expected:
                    return False
                pipe.multi()
                pipe.delete(key)
                if new.state is not CobrowseState.NONE:
                    pipe.hset(key, mapping={"state": new.state.value, "agent": new.agent_id or ""})
                    pipe.pexpire(key, TTL_MS)
                await pipe.execute()
                return True
            except WatchError:
                return False

    async def record(self, cid: str, encoded: bytes, *, restarts: bool, max_bytes: int) -> bool:
        keys = [self.keys.cobrowse_replay(cid), self.keys.cobrowse_replay_meta(cid)]
        async with redis_errors():
            kept = await self._record_script(
                keys=keys, args=[encoded, 1 if restarts else 0, max_bytes, TTL_MS]
            )
        return bool(kept)

    async def replay(self, cid: str) -> list[bytes]:
        async with redis_errors():
            return list(await self.redis.lrange(self.keys.cobrowse_replay(cid), 0, -1))

    async def forget(self, cid: str) -> None:
        async with redis_errors():
            await self.redis.delete(
                self.keys.cobrowse_replay(cid), self.keys.cobrowse_replay_meta(cid)
            )
