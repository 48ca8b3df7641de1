"""Verify a chat-server webhook (docs/protocol.md, "Webhooks"): the signature is
`v1=` + hex HMAC-SHA256(secret, f"{timestamp}.{body}"), the timestamp recent.

Use the raw request body (the bytes received), not a re-serialized JSON object.
"""

from __future__ import annotations

import hashlib
import hmac
import time


def verify(
    secret: str,
    body: bytes,
    signature: str,
    timestamp: str,
    *,
    tolerance_s: int = 300,
    now: float | None = None,
) -> bool:
    """True when `X-Chat-Signature` matches and `X-Chat-Timestamp` is within `tolerance_s`."""
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - ts) > tolerance_s:
        return False  # too old (a replay) or from the future
    signed = timestamp.encode() + b"." + body
    expected = "v1=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)
