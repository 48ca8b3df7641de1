"""The SSRF rules (issue 17): which addresses a webhook may reach."""

from __future__ import annotations

import pytest

from chat_server.core import ssrf


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fe80::1%eth0",
        "fc00::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "2002:7f00:1::",
        "64:ff9b::a00:1",
        "::127.0.0.1",
        "2001:db8::1",
    ],
)
def test_refused(address: str) -> None:
    assert ssrf.refusal(address) is not None


@pytest.mark.parametrize(
    "address", ["93.184.216.34", "2606:4700::1111", "::ffff:93.184.216.34", "2002:5db8:d822::"]
)
def test_public(address: str) -> None:
    assert ssrf.refusal(address) is None


def test_reasons_name_the_rule() -> None:
    assert "loopback" in (ssrf.refusal("127.0.0.1") or "")
    assert "CGNAT" in (ssrf.refusal("100.64.0.1") or "")
    assert "inside" in (ssrf.refusal("::ffff:127.0.0.1") or "")
    assert "not an IP" in (ssrf.refusal("example.com") or "")


def test_allow_list_wins_for_its_version_only() -> None:
    allow = ssrf.networks(["127.0.0.1/32", " 10.0.0.0/8 "])
    assert ssrf.refusal("127.0.0.1", allow) is None
    assert ssrf.refusal("10.9.9.9", allow) is None
    assert ssrf.refusal("127.0.0.2", allow) is not None
    assert ssrf.refusal("::1", allow) is not None


def test_bad_network_is_named() -> None:
    with pytest.raises(ValueError, match="nope"):
        ssrf.networks(["nope"])


def test_literal() -> None:
    assert ssrf.literal("[::1]") == "::1"
    assert ssrf.literal("127.0.0.1") == "127.0.0.1"
    assert ssrf.literal("example.com") is None
