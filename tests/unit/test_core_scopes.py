"""Write API token scopes (issue 17): every site, some sites, or not a token at all."""

from __future__ import annotations

import pytest

from chat_server.core.errors import ChatError, ErrorCode
from chat_server.core.scopes import Scope, scope_of, token_kind


def test_kinds_round_trip() -> None:
    assert token_kind([]) == "token"
    assert token_kind(["shop", "blog", "shop"]) == "token:blog,shop"
    assert scope_of("token") == Scope(None)
    assert scope_of("token:blog,shop") == Scope(frozenset({"blog", "shop"}))


@pytest.mark.parametrize("kind", ["session", "token:", "tokens:shop", ""])
def test_other_credentials_have_no_scope(kind: str) -> None:
    assert scope_of(kind) is None


def test_allows_and_require() -> None:
    every, some = Scope(None), Scope(frozenset({"shop"}))
    assert every.allows("x") and some.allows("shop") and not some.allows("blog")
    some.require("shop")
    with pytest.raises(ChatError) as caught:
        some.require("blog")
    assert caught.value.code is ErrorCode.FORBIDDEN
