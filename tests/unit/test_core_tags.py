"""Tags (issue 17): normalised, bounded, and a change applies the same way everywhere."""

from __future__ import annotations

import pytest

from chat_server.core import tags
from chat_server.core.errors import ChatError, ErrorCode


def refused(fn: object, *args: object, **kwargs: object) -> str:
    with pytest.raises(ChatError) as caught:
        fn(*args, **kwargs)  # type: ignore[operator]
    assert caught.value.code is ErrorCode.BAD_REQUEST
    return caught.value.message


def test_normalise_trims_and_lowers() -> None:
    assert tags.normalise("  Billing ") == "billing"
    assert tags.normalise("VIP_2-x") == "vip_2-x"
    assert tags.normalise("a" * 32) == "a" * 32


@pytest.mark.parametrize("raw", ["", "   ", "a" * 33, "two words", "émoji", "a.b", "a\nb", 3, None])
def test_normalise_refuses(raw: object) -> None:
    refused(tags.normalise, raw)


def test_normalise_all_dedupes_in_order() -> None:
    assert tags.normalise_all(["B", "a", "b"]) == ("b", "a")
    assert tags.normalise_all(None) == ()
    assert tags.normalise_all([]) == ()


def test_normalise_all_refuses_non_lists_and_long_ones() -> None:
    refused(tags.normalise_all, "billing")
    refused(tags.normalise_all, ["x"] * (tags.CHANGE_MAX + 1))
    refused(tags.normalise_all, ["ok", "not ok"])


def test_applied_adds_removes_and_sorts() -> None:
    assert tags.applied(("b",), ("a", "c"), ()) == ("a", "b", "c")
    assert tags.applied(("a", "b"), (), ("a", "zz")) == ("b",)
    assert tags.applied(("a",), ("x",), ("x",)) == ("a",)
    assert tags.applied(("a", "b"), ("c",), ("b",), replace=True) == ("c",)
    assert tags.applied((), (), (), replace=True) == ()


def test_applied_caps_the_count() -> None:
    twenty = tuple(f"t{i}" for i in range(tags.TAGS_MAX))
    assert len(tags.applied(twenty, (), ())) == tags.TAGS_MAX
    assert "at most 20" in refused(tags.applied, twenty, ("one-more",), ())
    assert tags.applied(twenty, ("one-more",), ("t0",)) == tuple(
        sorted({*twenty, "one-more"} - {"t0"})
    )
    refused(tags.applied, (), (*twenty, "x"), (), replace=True)
