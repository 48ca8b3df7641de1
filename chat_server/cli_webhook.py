"""`chat-server webhook add | list | remove | failures | replay` (issue 17): a site's
webhook endpoints, and the deliveries parked after their retries ran out.

They work beside running servers (Redis: any node; embedded: the database they share): a
running node sees an added or removed endpoint within `webhook_refresh_s`."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chat_server.config import Settings
from chat_server.core.webhooks import EVENT_TYPES

if TYPE_CHECKING:
    from chat_server.backends.base import Store

Common = Callable[[argparse.ArgumentParser], None]


def add_parser(sub: Any, common: Common) -> None:
    """`webhook ...`, under the top-level subparsers action."""
    actions = sub.add_parser("webhook", help="a site's webhooks and their failures").add_subparsers(
        dest="action", required=True
    )
    add = actions.add_parser("add", help="add an endpoint (prints its secret once)")
    add.add_argument("--site", required=True)
    add.add_argument("--url", required=True, help="http:// or https://")
    add.add_argument(
        "--events", nargs="+", choices=EVENT_TYPES, metavar="TYPE", help="default: all"
    )
    add.add_argument("--secret", help="at least 16 characters (default: a random one)")
    listing = actions.add_parser("list", help="the endpoints")
    listing.add_argument("--site")
    remove = actions.add_parser("remove", help="remove an endpoint and its queued deliveries")
    remove.add_argument("id")
    failures = actions.add_parser("failures", help="the parked deliveries")
    failures.add_argument("--site")
    replay = actions.add_parser("replay", help="queue parked deliveries again")
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument("n", nargs="?", type=int, help="a parked delivery (see `failures`)")
    which.add_argument("--all", action="store_true")
    for parser in (add, listing, remove, failures, replay):
        common(parser)


async def run(store: Store, settings: Settings, args: argparse.Namespace) -> None:
    from chat_server.core import ssrf
    from chat_server.core.clock import SystemClock
    from chat_server.service import webhooks

    if args.action == "add":
        endpoint = await webhooks.add_endpoint(
            store,
            args.site,
            args.url,
            args.events or (),
            args.secret,
            SystemClock().now_ms(),
            ssrf.networks(settings.webhook_allow),
        )
        _print(webhooks.endpoint_view(endpoint, secret=True))
    elif args.action == "list":
        for e in await store.webhooks.endpoints(args.site):
            _print(webhooks.endpoint_view(e))
    elif args.action == "remove":
        removed = await webhooks.remove_endpoint(store, args.id, SystemClock().now_ms())
        _print(webhooks.endpoint_view(removed))
    elif args.action == "failures":
        for d in await store.webhooks.parked(args.site, limit=10_000):
            _print(webhooks.delivery_view(d))
    else:
        count = await store.webhooks.replay(None if args.all else args.n)
        if not args.all and count == 0:
            sys.exit(f"chat-server: no parked delivery {args.n} (or its endpoint is gone)")
        print(f"queued {count} delivery(ies) again")


def _print(value: object) -> None:
    print(json.dumps(value, ensure_ascii=False))
