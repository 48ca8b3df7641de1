"""Which sites an API token may act on through the write API (issue 17). The scope lives
in the credential's kind: `token` acts on every site, `token:shop,blog` on those sites
only; a console session (`session`) is no write API credential at all."""

from __future__ import annotations

from dataclasses import dataclass

from chat_server.core.errors import forbidden

TOKEN = "token"


@dataclass(frozen=True, slots=True)
class Scope:
    sites: frozenset[str] | None
    """None: every site."""

    def allows(self, site: str) -> bool:
        return self.sites is None or site in self.sites

    def require(self, site: str) -> None:
        if not self.allows(site):
            raise forbidden("this token does not act on this site")


def token_kind(sites: list[str]) -> str:
    """The credential kind of a token for `sites` (none: every site)."""
    return f"{TOKEN}:{','.join(sorted(set(sites)))}" if sites else TOKEN


def scope_of(kind: str) -> Scope | None:
    """The scope of a credential of this kind; None when it is not an API token."""
    if kind == TOKEN:
        return Scope(None)
    name, _, sites = kind.partition(":")
    if name != TOKEN or not sites:
        return None
    return Scope(frozenset(s for s in sites.split(",") if s))
