"""`chat_server/protocol/errors.py`: a `ProtocolClose` carries the close code, a reason
and, when the frame that caused it deserves an answer, the `error` to send first."""

from __future__ import annotations

from chat_server.core.errors import ChatError, ErrorCode, bad_request
from chat_server.protocol.errors import CloseCode, ProtocolClose


def test_a_close_without_an_answer() -> None:
    close = ProtocolClose(CloseCode.SLOW_READER)
    assert (close.code, close.reason, close.error, str(close)) == (1013, "", None, "")


def test_a_close_that_answers_the_frame_first() -> None:
    error = ChatError(ErrorCode.RATE_LIMITED, "slow down")
    close = ProtocolClose(CloseCode.RATE_ABUSED, "abuse", error)
    assert (close.code, close.reason, close.error, str(close)) == (4429, "abuse", error, "abuse")


def test_bad_request_is_a_chat_error_with_its_message() -> None:
    error = bad_request("no")
    assert (error.code, error.message, str(error)) == (ErrorCode.BAD_REQUEST, "no", "no")
