"""Who is connected, on any node, and who left and when (for the grace periods)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, Protocol

PresenceKind = Literal["agent", "visitor"]


class Presence(Protocol):
    async def connected(self, kind: PresenceKind, ident: str, conn_id: str, now: int) -> None: ...

    async def heartbeat(self, now: int) -> bool:
        """This node, and so every connection it holds, is still alive (once a second or
        so; with Redis a node that stops beating has its people counted gone). True when
        the node had expired and its connections were written again: they may have been
        counted gone meanwhile, so what was decided without them (routing) looks again."""

    async def disconnected(self, kind: PresenceKind, ident: str, conn_id: str, now: int) -> int:
        """Forget one connection; returns how many the agent or visitor still has on this
        node (when 0, they are gone unless another node holds them)."""

    async def online(self, kind: PresenceKind, among: Iterable[str] | None = None) -> set[str]:
        """Ids with at least one live connection on any node (only those of `among`, if
        given: a cheap check of a few)."""

    async def gone_since(self, kind: PresenceKind, before: int) -> list[str]:
        """Ids whose last connection ended before `before` and who have not come back."""

    async def forget_gone(self, kind: PresenceKind, ident: str) -> None:
        """Stop tracking an absence that has been acted on."""
