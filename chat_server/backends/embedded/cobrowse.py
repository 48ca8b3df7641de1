"""Co-browsing, held in memory only: one process, and a restart ends every co-browse."""

from __future__ import annotations

from chat_server.core import cobrowse
from chat_server.core.cobrowse import Session


class EmbeddedCobrowse:
    def __init__(self) -> None:
        self._sessions: dict[str, Session] = {}
        self._replay: dict[str, cobrowse.ReplayBuffer] = {}

    async def session(self, cid: str) -> Session:
        return self._sessions.get(cid, cobrowse.NONE)

    async def change(self, cid: str, expected: Session, new: Session) -> bool:
        if self._sessions.get(cid, cobrowse.NONE) != expected:
            return False
        if new.state is cobrowse.CobrowseState.NONE:
            self._sessions.pop(cid, None)
        else:
            self._sessions[cid] = new
        return True

    async def record(self, cid: str, encoded: bytes, *, restarts: bool, max_bytes: int) -> bool:
        buffer = self._replay.setdefault(cid, cobrowse.ReplayBuffer(max_bytes))
        return buffer.add(encoded, restarts=restarts)

    async def replay(self, cid: str) -> list[bytes]:
        buffer = self._replay.get(cid)
        return list(buffer.batches) if buffer else []

    async def forget(self, cid: str) -> None:
        self._replay.pop(cid, None)
