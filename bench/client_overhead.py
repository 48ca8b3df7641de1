#!/usr/bin/env python3
"""Why the load generator speaks Engine.IO itself: the CPU one load process spends per
message with python-socketio's `AsyncClient` and with picows speaking the Socket.IO
packets directly (what `loadgen.py` does), against the same Node peer.

Each client: a visitor and an agent per room, `msg` with an ack, the other side's `msg`
event counted; R msgs/s in total for T seconds; the load process's CPU time over the run.
When the client needs most of a core per N msgs/s, it measures itself, not the server.

    python bench/client_overhead.py [--rate 1000] [--duration 5] [--rooms 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import loadgen


async def run_asyncclient(url: str, rooms: int, rate: float, duration: float) -> dict[str, Any]:
    import socketio

    received = 0
    acked = 0

    def on_msg(data: Any) -> None:
        nonlocal received
        received += 1

    clients = []
    for i in range(rooms):
        pair = []
        for _ in range(2):
            c = socketio.AsyncClient(reconnection=False)
            c.on("msg", on_msg)
            await c.connect(url, transports=["websocket"])
            await c.call("join", f"c{i}")
            pair.append(c)
        clients.append(pair)

    def ack(*_: Any) -> None:
        nonlocal acked
        acked += 1

    sent = 0
    cpu0 = loadgen.self_cpu_s()
    t0 = time.monotonic()
    total = int(rate * duration)
    while sent < total:
        due = min(total, int((time.monotonic() - t0) * rate) + 1)
        while sent < due:
            pair = clients[sent % rooms]
            c = pair[(sent // rooms) % 2]
            await c.emit(
                "msg",
                {"room": f"c{sent % rooms}", "s": time.monotonic_ns(), "text": "x" * 40},
                callback=ack,
            )
            sent += 1
        await asyncio.sleep(0.001)
    send_s = time.monotonic() - t0
    deadline = time.monotonic() + 5
    while (received < sent or acked < sent) and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.01)  # the counters move in callbacks: poll them
    cpu = loadgen.self_cpu_s() - cpu0
    for pair in clients:
        for c in pair:
            await c.disconnect()
    return {
        "client": "python-socketio AsyncClient",
        "sent": sent,
        "received": received,
        "acked": acked,
        "achieved_rate": round(sent / send_s),
        "cpu_s": round(cpu, 2),
        "cpu_pct": round(100 * cpu / send_s, 1),
        "us_per_msg": round(1e6 * cpu / max(1, sent), 1),
    }


async def run_picows(ws: str, rooms: int, rate: float, duration: float) -> dict[str, Any]:
    worker = loadgen.Worker("node", ws)
    await worker.setup(list(range(rooms)), {}, 1, 64)
    cpu0 = loadgen.self_cpu_s()
    result = await worker.run(rate, duration, time.monotonic(), 5.0)
    cpu = loadgen.self_cpu_s() - cpu0
    await worker.close_all()
    sent = result["sent"]
    return {
        "client": "picows, Engine.IO by hand (loadgen.py)",
        "sent": sent,
        "received": result["received"],
        "acked": result["acked"],
        "achieved_rate": round(sent / result["send_s"]),
        "cpu_s": round(cpu, 2),
        "cpu_pct": round(100 * cpu / result["send_s"], 1),
        "us_per_msg": round(1e6 * cpu / max(1, sent), 1),
    }


def main() -> int:
    server_cpu, load_cpu = loadgen.default_cpus()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rate", type=float, default=1000)
    p.add_argument("--duration", type=float, default=5)
    p.add_argument("--rooms", type=int, default=20)
    args = p.parse_args()
    loadgen.pin_load(load_cpu)
    redis = loadgen.Redis(cpu=server_cpu).start()
    results = []
    try:
        for kind in ("picows", "asyncclient"):
            server = loadgen.start_server("node", redis=redis, cpu=server_cpu)
            try:
                if kind == "picows":
                    r = loadgen.run_loop(
                        run_picows(server.ws, args.rooms, args.rate, args.duration)
                    )
                else:
                    url = f"http://127.0.0.1:{server.port}"
                    r = loadgen.run_loop(run_asyncclient(url, args.rooms, args.rate, args.duration))
                results.append(r)
                print(json.dumps(r), flush=True)
            finally:
                server.stop()
    finally:
        redis.stop()
    cols = [(k, k, "{}") for k in results[0]]
    print(loadgen.table(results, cols))
    return 0


if __name__ == "__main__":
    sys.exit(main())
