"""Webhooks (issue 17): each site's endpoints, the outbox that the conversation writes fill
in the same step as the change (see `Conversations`' `webhooks`/`outbox` arguments), each
endpoint's queue of deliveries, the parked ones, and a lease per endpoint so one node at a
time delivers to it."""

from __future__ import annotations

from typing import Protocol

from chat_server.core.webhooks import Delivery, Endpoint, Event


class Webhooks(Protocol):
    # endpoints ----------------------------------------------------------------------------

    async def add_endpoint(self, endpoint: Endpoint) -> None: ...

    async def endpoints(self, site: str | None = None) -> list[Endpoint]:
        """Oldest first."""

    async def remove_endpoint(self, endpoint_id: str) -> Endpoint | None:
        """The removed endpoint (None: unknown); its queued deliveries go with it."""

    # the outbox ---------------------------------------------------------------------------

    async def record(self, events: list[Event]) -> None:
        """Add events to the outbox on their own (the writes add theirs in their own step)."""

    async def fan_out(self, limit: int = 200) -> int:
        """Move up to `limit` outbox events, oldest first, to the queue of every endpoint of
        their site that takes their type (those with none are dropped), atomically: each
        event is queued once, by whichever node moves it. Returns how many were moved."""

    async def queued(self, endpoint_id: str, limit: int) -> list[Delivery]:
        """The first `limit` deliveries of the endpoint's queue, in order."""

    async def delivered(self, delivery: Delivery) -> None: ...

    async def retry(self, delivery: Delivery, due: int, error: str) -> None:
        """Count a failed attempt; try again at `due`."""

    async def park(self, delivery: Delivery, error: str) -> None:
        """Out of the queue, into the parked list (`failures`), until replayed."""

    async def parked(self, site: str | None = None, limit: int = 100) -> list[Delivery]:
        """Oldest first."""

    async def replay(self, n: int | None = None) -> int:
        """A parked delivery (all of them with None) back to its endpoint's queue with its
        attempts reset, if the endpoint still exists. Returns how many went back."""

    async def forget(self, cid: str) -> int:
        """Away with every event and delivery of the conversation, queued or parked (they
        hold its text): retention and a visitor's erase. Returns how many were removed."""

    # the lease ------------------------------------------------------------------------------

    async def lease(self, endpoint_id: str, holder: str, ttl_ms: int) -> bool:
        """Take or renew the endpoint's lease for `ttl_ms`: True while `holder` has it."""

    async def release(self, endpoint_id: str, holder: str) -> None: ...
