"""`chat_server/core/tokens.py`: signed visitor tokens and hashed bearer secrets."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chat_server.core.tokens import (
    hash_secret,
    identified_visitor_id,
    identity_hash,
    identity_matches,
    new_secret_token,
    sign_visitor,
    verify_visitor,
)

SECRET = b"s" * 32
NOW = 1_767_225_600_000
LATER = NOW + 3_600_000


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(claims: object, secret: bytes = SECRET) -> str:
    """A correctly signed token with arbitrary claims (what a leaked secret would allow)."""
    payload = b64(json.dumps(claims).encode())
    mac = hmac.new(secret, payload.encode(), hashlib.sha256).digest()
    return f"{payload}.{b64(mac)}"


def test_round_trip() -> None:
    token = sign_visitor(SECRET, "v_abc", "shop", LATER)
    assert isinstance(token, str)
    assert verify_visitor(SECRET, token, "shop", NOW) == "v_abc"


def test_token_is_url_safe_ascii() -> None:
    token = sign_visitor(SECRET, "v_é", "shop", LATER)
    assert token.isascii()
    assert not set(token) & set("+/= \n")
    assert verify_visitor(SECRET, token, "shop", NOW) == "v_é"


def test_wrong_secret_is_refused() -> None:
    token = sign_visitor(SECRET, "v_abc", "shop", LATER)
    assert verify_visitor(b"t" * 32, token, "shop", NOW) is None


def test_tampered_payload_is_refused() -> None:
    token = sign_visitor(SECRET, "v_abc", "shop", LATER)
    _, signature = token.split(".")
    other = b64(
        json.dumps({"v": "v_evil", "s": "shop", "e": LATER}, separators=(",", ":")).encode()
    )
    assert verify_visitor(SECRET, f"{other}.{signature}", "shop", NOW) is None
    # A later expiry, same visitor: still refused.
    longer = b64(json.dumps({"v": "v_abc", "s": "shop", "e": LATER * 2}).encode())
    assert verify_visitor(SECRET, f"{longer}.{signature}", "shop", NOW) is None


def test_tampered_signature_is_refused() -> None:
    token = sign_visitor(SECRET, "v_abc", "shop", LATER)
    payload, signature = token.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    assert verify_visitor(SECRET, f"{payload}.{flipped}", "shop", NOW) is None
    assert verify_visitor(SECRET, f"{payload}.{signature[:-4]}", "shop", NOW) is None
    assert verify_visitor(SECRET, f"{payload}.", "shop", NOW) is None
    assert verify_visitor(SECRET, payload, "shop", NOW) is None


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        ".",
        "..",
        "abc",
        "a.b",
        "a.b.c",
        "é.é",
        "\x00",
        "====.====",
        "!!!.???",
        " . ",
        "a" * 5000,
    ],
)
def test_garbage_is_refused(garbage: str) -> None:
    assert verify_visitor(SECRET, garbage, "shop", NOW) is None


def test_other_site_is_refused() -> None:
    token = sign_visitor(SECRET, "v_abc", "shop", LATER)
    assert verify_visitor(SECRET, token, "other-shop", NOW) is None
    assert verify_visitor(SECRET, token, "", NOW) is None


def test_expired_is_refused() -> None:
    token = sign_visitor(SECRET, "v_abc", "shop", NOW + 1)
    assert verify_visitor(SECRET, token, "shop", NOW) == "v_abc"
    assert verify_visitor(SECRET, token, "shop", NOW + 1) is None
    assert verify_visitor(SECRET, token, "shop", NOW + 10**9) is None


@pytest.mark.parametrize(
    "claims",
    [
        ["v_abc", "shop", LATER],
        "v_abc",
        None,
        {"v": "v_abc", "s": "shop"},
        {"v": "v_abc", "s": "shop", "e": str(LATER)},
        {"v": "v_abc", "s": "shop", "e": float(LATER)},
        {"v": 42, "s": "shop", "e": LATER},
        {"s": "shop", "e": LATER},
        {"v": "v_abc", "e": LATER},
    ],
)
def test_signed_but_malformed_claims_are_refused(claims: object) -> None:
    assert verify_visitor(SECRET, forge(claims), "shop", NOW) is None


def test_forge_helper_matches_the_real_format() -> None:
    assert (
        verify_visitor(SECRET, forge({"v": "v_1", "s": "shop", "e": LATER}), "shop", NOW) == "v_1"
    )


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=120))
def test_arbitrary_strings_never_raise(token: str) -> None:
    assert verify_visitor(SECRET, token, "shop", NOW) is None


def test_hash_secret_is_stable_and_differs_per_token() -> None:
    token = new_secret_token("at")
    assert hash_secret(token) == hash_secret(token)
    assert hash_secret(token) != hash_secret(token + "x")
    assert hash_secret("a") != hash_secret("b")
    digest = hash_secret(token)
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert token not in digest


def test_new_secret_token_has_the_prefix_and_is_unique() -> None:
    tokens = {new_secret_token("at") for _ in range(200)}
    assert len(tokens) == 200
    for token in tokens:
        prefix, _, rest = token.partition("_")
        assert prefix == "at"
        assert len(rest) >= 43  # 256 random bits, base64url
    assert new_secret_token("sess").startswith("sess_")


# --- identified visitors -----------------------------------------------------------------


def test_identity_hash_is_the_hex_hmac_a_website_computes() -> None:
    expected = hmac.new(b"site-secret", b"user-1", hashlib.sha256).hexdigest()
    assert identity_hash("site-secret", "user-1") == expected


def test_identity_matches_only_the_right_hash_in_any_case() -> None:
    good = identity_hash("site-secret", "user-1")
    assert identity_matches("site-secret", "user-1", good)
    assert identity_matches("site-secret", "user-1", good.upper())
    assert not identity_matches("site-secret", "user-2", good)
    assert not identity_matches("other-secret", "user-1", good)


def test_an_identified_user_has_one_visitor_id_per_site() -> None:
    first = identified_visitor_id(SECRET, "shop", "user-1")
    assert first == identified_visitor_id(SECRET, "shop", "user-1")
    assert first.startswith("v_") and len(first) == 18
    others = {
        identified_visitor_id(SECRET, "blog", "user-1"),
        identified_visitor_id(SECRET, "shop", "user-2"),
        identified_visitor_id(b"t" * 32, "shop", "user-1"),
    }
    assert first not in others and len(others) == 3
