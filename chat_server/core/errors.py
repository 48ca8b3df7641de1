"""The one error family: every refusal carries a contract error code (PROTOCOL.md §2).

Raised anywhere below the web edge; `web/session.py` maps it once to an `error` frame.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    BAD_FRAME = "bad_frame"
    BAD_REQUEST = "bad_request"
    UNKNOWN_TYPE = "unknown_type"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    CLOSED = "closed"
    TOO_LARGE = "too_large"
    REFUSED_TYPE = "refused_type"
    """REST only: an upload of a type its site does not take, or a broken image (issue 15)."""
    RATE_LIMITED = "rate_limited"
    ALREADY_RATED = "already_rated"
    UNAVAILABLE = "unavailable"


class ChatError(Exception):
    """A request the server refuses, with the code and a message safe to show a client."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def conflict(message: str) -> ChatError:
    return ChatError(ErrorCode.CONFLICT, message)


def forbidden(message: str) -> ChatError:
    return ChatError(ErrorCode.FORBIDDEN, message)


def not_found(message: str) -> ChatError:
    return ChatError(ErrorCode.NOT_FOUND, message)


def bad_request(message: str) -> ChatError:
    return ChatError(ErrorCode.BAD_REQUEST, message)


def unavailable(message: str = "a backend is unavailable, retry later") -> ChatError:
    return ChatError(ErrorCode.UNAVAILABLE, message)
