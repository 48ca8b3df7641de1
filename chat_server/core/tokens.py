"""Signed visitor tokens and hashed secrets: HMAC-SHA256 and SHA-256, standard library only.

A visitor token says "visitor V of site S, until T"; a forged, expired or foreign-site
token is simply not accepted (the visitor gets a new identity, contract §3 `hello`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_visitor(secret: bytes, visitor_id: str, site: str, expires_ms: int) -> str:
    payload = _b64(
        json.dumps({"v": visitor_id, "s": site, "e": expires_ms}, separators=(",", ":")).encode()
    )
    mac = hmac.new(secret, payload.encode("ascii"), hashlib.sha256).digest()
    return f"{payload}.{_b64(mac)}"


def verify_visitor(secret: bytes, token: str, site: str, now_ms: int) -> str | None:
    """The visitor id in a valid, unexpired token for this site; otherwise None."""
    payload, _, signature = token.partition(".")
    try:
        expected = hmac.new(secret, payload.encode("ascii"), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _unb64(signature)):
            return None
        claims = json.loads(_unb64(payload))
    except (UnicodeEncodeError, binascii.Error, ValueError):
        return None
    if not isinstance(claims, dict) or claims.get("s") != site:
        return None
    expires, visitor_id = claims.get("e"), claims.get("v")
    if not isinstance(expires, int) or expires <= now_ms or not isinstance(visitor_id, str):
        return None
    return visitor_id


def new_secret_token(prefix: str) -> str:
    """A bearer secret (API token, session id): 256 random bits."""
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def hash_secret(token: str) -> str:
    """What the store keeps of a bearer secret: a leaked database yields no usable token."""
    return hashlib.sha256(token.encode()).hexdigest()


def identity_hash(identity_secret: str, user_id: str) -> str:
    """What a website computes for its user: hex HMAC-SHA256 of the user id."""
    return hmac.new(identity_secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def identity_matches(identity_secret: str, user_id: str, user_hash: str) -> bool:
    return hmac.compare_digest(identity_hash(identity_secret, user_id), user_hash.lower())


def identified_visitor_id(server_secret: bytes, site: str, user_id: str) -> str:
    """One visitor id per (site, user): the same history on every device."""
    digest = hmac.new(server_secret, f"{site}|{user_id}".encode(), hashlib.sha256).hexdigest()
    return f"v_{digest[:16]}"
