"""Presence, in memory: one process holds every connection, so a connection lives exactly
as long as this process (no heartbeat needed)."""

from __future__ import annotations

from collections.abc import Iterable

from chat_server.backends.roles.presence import PresenceKind


class EmbeddedPresence:
    def __init__(self) -> None:
        self._conns: dict[PresenceKind, dict[str, set[str]]] = {"agent": {}, "visitor": {}}
        self._gone: dict[PresenceKind, dict[str, int]] = {"agent": {}, "visitor": {}}

    def gone_at_start(self, kind: PresenceKind, ident: str, now: int) -> None:
        """Absent since `now` (at start: see `EmbeddedStore.start`)."""
        self._gone[kind][ident] = now

    async def connected(self, kind: PresenceKind, ident: str, conn_id: str, now: int) -> None:
        self._conns[kind].setdefault(ident, set()).add(conn_id)
        self._gone[kind].pop(ident, None)

    async def heartbeat(self, now: int) -> bool:
        return False  # one process: a connection lives exactly as long as this process

    async def disconnected(self, kind: PresenceKind, ident: str, conn_id: str, now: int) -> int:
        conns = self._conns[kind].get(ident, set())
        if conn_id not in conns:
            return len(conns)  # never seen, or already forgotten: no new absence (as Redis)
        conns.discard(conn_id)
        if conns:
            return len(conns)
        self._conns[kind].pop(ident, None)
        self._gone[kind][ident] = now
        return 0

    async def online(self, kind: PresenceKind, among: Iterable[str] | None = None) -> set[str]:
        conns = self._conns[kind]
        return set(conns) if among is None else {ident for ident in among if ident in conns}

    async def gone_since(self, kind: PresenceKind, before: int) -> list[str]:
        return [ident for ident, since in self._gone[kind].items() if since < before]

    async def forget_gone(self, kind: PresenceKind, ident: str) -> None:
        self._gone[kind].pop(ident, None)
