"""Co-browsing (contract §5): each conversation's consent state and the replay buffer
that late-joining agents start from."""

from __future__ import annotations

from typing import Protocol

from chat_server.core.cobrowse import Session


class Cobrowse(Protocol):
    async def session(self, cid: str) -> Session:
        """The consent state of a conversation's co-browse (`none` when there is none)."""

    async def change(self, cid: str, expected: Session, new: Session) -> bool:
        """Compare-and-set: False when another node changed it first."""

    async def record(self, cid: str, encoded: bytes, *, restarts: bool, max_bytes: int) -> bool:
        """Keep a batch for late joiners; False when the bound was passed (buffer dropped)."""

    async def replay(self, cid: str) -> list[bytes]: ...

    async def forget(self, cid: str) -> None: ...
