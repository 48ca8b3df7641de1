"""The tests' HTTP client: httpx with one TLS context for the whole run.

httpx builds a TLS context for every client it makes, loading the CA bundle (about 47 ms
of CPU), even for the plain-HTTP servers the tests talk to; the tests make hundreds."""

from __future__ import annotations

import ssl
from typing import Any

import httpx

TLS = ssl.create_default_context()


def http_client(**kwargs: Any) -> httpx.AsyncClient:
    """`httpx.AsyncClient(**kwargs)` with the run's TLS context."""
    return httpx.AsyncClient(verify=TLS, **kwargs)
