"""What open sockets see across a Redis restart (issue 23), N runs in a row.

Each run starts its own redis-server (AOF, `appendfsync always`) on a free 127.0.0.1 port
and two `chat-server serve` nodes on it, opens 20 conversations (visitors and agents over
both nodes, two supervisors watching), sends 5 messages a second in each (visitor and
agent in turn), SIGKILLs redis-server and restarts it on its AOF after 3 s (or, with
`--outage pubsub`, kills one node's pub/sub connection 15 times), then compares what every
socket received (no `sync`) with the stored history. Prints per run: missing, duplicate
and reordered seqs, each node's time to `/readyz` 200 after Redis was back, how soon an
agent heard of a visitor who arrived meanwhile, and the nodes' catch-up log lines. Exits 1
if any run was not clean. Everything stops by itself.

    python bench/redis_restart.py              # 10 restarts
    python bench/redis_restart.py --runs 3 --outage pubsub
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.bus_outage import Report, run_once

CAUGHT_UP = re.compile(r"caught up (\d+) sessions, (\d+) messages in ([\d.]+) s")


def catch_up_figures(report: Report) -> str:
    """The nodes' "caught up" lines, per node: how many, messages in all, the longest."""
    per_node: dict[str, list[tuple[int, float]]] = {}
    for line in report.catchup:
        found = CAUGHT_UP.search(line)
        if found:
            node = line.split(":", 1)[0]
            per_node.setdefault(node, []).append((int(found[2]), float(found[3])))
    out = [
        f"{node} {len(runs)}x, {sum(m for m, _ in runs)} msgs, "
        f"longest {max(t for _, t in runs):.2f} s"
        for node, runs in sorted(per_node.items())
    ]
    return "; ".join(out) or "none logged"


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--outage", choices=["restart", "pubsub"], default="restart")
    parser.add_argument("--outage-s", type=float, default=3.0, help="Redis down for (restart)")
    parser.add_argument("--conversations", type=int, default=20)
    parser.add_argument("--rate", type=float, default=5.0, help="messages/s per conversation")
    parser.add_argument("--redis-server", default=shutil.which("redis-server") or "")
    parser.add_argument("-v", "--verbose", action="store_true", help="every problem and log line")
    args = parser.parse_args()
    if not args.redis_server:
        print("redis-server not found (apt-get install redis-server)", file=sys.stderr)
        return 2
    clean = 0
    for run in range(1, args.runs + 1):
        with tempfile.TemporaryDirectory(prefix="redis-restart-") as tmp:
            report = await run_once(
                args.redis_server,
                Path(tmp),
                args.outage,
                conversations=args.conversations,
                rate=args.rate,
                outage_s=args.outage_s,
            )
        clean += report.clean
        ready = " ".join(f"node{i} {s:.2f} s" for i, s in enumerate(report.ready_s))
        print(
            f"run {run}: {'clean' if report.clean else 'NOT CLEAN'}: missing {report.missing}, "
            f"duplicates {report.duplicates}, reorders {report.reorders} over "
            f"{report.sockets} sockets; sent {report.sent} ({report.acked} ok, "
            f"{report.refused} refused); ready after: {ready}; arriving visitor's agent "
            f"heard within {report.heard_delay_s:.2f} s; state frames {report.states}; "
            f"catch-up: {catch_up_figures(report)}",
            flush=True,
        )
        if args.verbose or not report.clean:
            for line in [*report.arrivals, *report.catchup, *report.problems]:
                print("   ", line)
    print(f"{clean}/{args.runs} runs clean ({args.outage})")
    return 0 if clean == args.runs else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
