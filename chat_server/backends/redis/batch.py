"""The commands of one conversation write, queued like on a redis-py pipeline but sent as
the arguments of a script (`open.lua`, `transition.lua`) that runs them only once its
guard holds: check and write in one atomic step, one round trip.

Each command travels as: how many arguments follow the key, the command, the key's index
in KEYS (0: no key, as for PUBLISH), then its arguments. Every key a command touches is in
KEYS, as Redis asks of scripts; keys given to `guard` come first, in order.
"""

from __future__ import annotations

from collections.abc import Mapping

from chat_server.backends.redis.wire import Arg


def _text(value: Arg) -> bytes | str:
    """As redis-py would send it."""
    return value if isinstance(value, bytes | str) else repr(value)


class Batch:
    def __init__(self, *guarded: str, publish: str = "PUBLISH") -> None:
        """`publish`: `SPUBLISH` on a cluster (`Keys.publish`)."""
        self.keys: list[str] = []
        self._publish = publish
        self._index: dict[str, int] = {}
        self.commands: list[bytes | str] = []
        for key in guarded:
            self._key(key)

    def _key(self, key: str) -> int:
        index = self._index.get(key)
        if index is None:
            self.keys.append(key)
            index = self._index[key] = len(self.keys)
        return index

    def _add(self, command: str, key: str | None, *args: Arg) -> None:
        index = 0 if key is None else self._key(key)
        self.commands += [str(len(args)), command, str(index), *(_text(a) for a in args)]

    # the subset of the pipeline's commands that `Transitions.write` uses

    def set(self, key: str, value: Arg) -> None:
        self._add("SET", key, value)

    def delete(self, key: str) -> None:
        self._add("DEL", key)

    def hset(
        self,
        key: str,
        field: str | None = None,
        value: Arg | None = None,
        *,
        mapping: Mapping[str, Arg] | None = None,
    ) -> None:
        pairs: list[Arg] = [field, value] if field is not None and value is not None else []
        for name, item in (mapping or {}).items():
            pairs += [name, item]
        self._add("HSET", key, *pairs)

    def hdel(self, key: str, *fields: str) -> None:
        self._add("HDEL", key, *fields)

    def zadd(self, key: str, scored: Mapping[str, float]) -> None:
        self._add("ZADD", key, *(x for member, score in scored.items() for x in (score, member)))

    def zrem(self, key: str, member: str) -> None:
        self._add("ZREM", key, member)

    def sadd(self, key: str, member: str) -> None:
        self._add("SADD", key, member)

    def srem(self, key: str, member: str) -> None:
        self._add("SREM", key, member)

    def xadd(self, key: str, fields: Mapping[str, Arg], *, id: str) -> None:
        self._add("XADD", key, id, *(x for name, value in fields.items() for x in (name, value)))

    def publish(self, channel: str, message: bytes) -> None:
        self._add(self._publish, None, channel, message)
