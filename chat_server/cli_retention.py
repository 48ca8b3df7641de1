"""`chat-server retention run [--days N]` (issue 16): what the server's sweep does with
`retention_days`, once and to the end, by hand (e.g. a first run over a large backlog, or a
cut other than the configured one)."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from typing import Any

Common = Callable[[argparse.ArgumentParser], None]


def add_parser(sub: Any, common: Common) -> None:
    """`retention run`, under the top-level subparsers action."""
    actions = sub.add_parser("retention", help="remove old closed conversations").add_subparsers(
        dest="action", required=True
    )
    run_parser = actions.add_parser(
        "run", help="remove closed conversations whose close is older than N days, once"
    )
    common(run_parser)
    run_parser.add_argument(
        "--days", type=float, help="the cut-off in days (default: CHAT_RETENTION_DAYS)"
    )


async def run(store: Any, days: float) -> None:
    from chat_server.core.clock import SystemClock
    from chat_server.service import retention

    if not 0 < days < math.inf:  # nan too
        sys.exit("chat-server: retention is off: give --days N or set CHAT_RETENTION_DAYS")
    removed = await retention.run(store, retention.cutoff(SystemClock().now_ms(), days))
    print(f"removed {removed} closed conversation(s) closed over {days:g} days ago")
