"""Close codes of the contract (PROTOCOL.md §2); error codes live in `core.errors`."""

from __future__ import annotations

from enum import IntEnum

from chat_server.core.errors import ChatError, ErrorCode

__all__ = ["ChatError", "CloseCode", "ErrorCode", "ProtocolClose"]


class CloseCode(IntEnum):
    NORMAL = 1000
    INVALID_DATA = 1007
    """A text frame that is not UTF-8 (closed by `server.LeanWebSocketProtocol`)."""
    POLICY = 1008
    TOO_BIG = 1009
    INTERNAL = 1011
    RESTARTING = 1012
    SLOW_READER = 1013
    UNAUTHENTICATED = 4401
    FORBIDDEN = 4403
    RATE_ABUSED = 4429


class ProtocolClose(Exception):
    """The connection must end now with this close code."""

    def __init__(self, code: CloseCode, reason: str = "", error: ChatError | None = None) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.error = error
        """An `error` frame to answer the current frame with before closing."""
