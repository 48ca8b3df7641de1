"""Added latency and throughput of the co-browse relay (issue: co-browsing).

Starts the real server (embedded, or Redis with --redis URL), opens a visitor and an agent,
starts a co-browse, then sends rrweb-shaped event batches at a fixed rate and measures the
time from the visitor's send to the agent's receipt (the relay's added latency on loopback),
and the bytes per second relayed. Prints a table and the command that reproduces it.

    python bench/cobrowse_relay.py --rate 10 --seconds 10 --batch-bytes 2000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import msgpack
from websockets.asyncio.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.processes import ServerProcess, provision

ORIGIN = "https://shop.example"


async def run(args: argparse.Namespace) -> dict[str, float]:
    data = Path(tempfile.mkdtemp(prefix="cobrowse-bench-"))
    env = {"CHAT_COBROWSE_RATE": "1000", "CHAT_COBROWSE_BURST": "1000"}
    if args.redis:
        env["CHAT_REDIS_URL"] = args.redis
    token = provision(data, *(["--redis", args.redis] if args.redis else []))
    server = ServerProcess(data, **env)
    server.start()
    try:
        await server.ready()
        pack, unpack = msgpack.packb, msgpack.unpackb
        sub = ["chat.v1.msgpack"]
        visitor = await connect(
            f"{server.ws}/ws/visitor?site=shop",
            origin=ORIGIN,
            subprotocols=sub,
            compression=None,
            max_size=2**24,
        )
        agent = await connect(
            f"{server.ws}/ws/agent", subprotocols=sub, compression=None, max_size=2**24
        )

        async def ask(ws, frame):  # type: ignore[no-untyped-def]
            await ws.send(pack(frame))
            while True:
                reply = unpack(await ws.recv())
                if reply.get("re") == frame["id"]:
                    return reply

        await ask(agent, {"t": "hello", "id": 1, "token": token})
        await ask(agent, {"t": "status", "id": 2, "state": "online"})
        await ask(visitor, {"t": "hello", "id": 1})
        cid = (await ask(visitor, {"t": "start", "id": 2, "text": "bench"}))["conversation"]["id"]
        await asyncio.sleep(0.3)
        await ask(agent, {"t": "cobrowse", "id": 3, "cid": cid, "op": "request"})
        await ask(visitor, {"t": "cobrowse", "id": 3, "cid": cid, "op": "accept"})

        padding = "x" * max(0, args.batch_bytes - 120)
        latencies: list[float] = []
        received_bytes = 0
        done = asyncio.Event()
        total = int(args.rate * args.seconds)

        async def receive() -> None:
            nonlocal received_bytes
            async for raw in agent:
                frame = unpack(raw)
                if frame.get("t") == "cobrowse" and frame.get("op") == "events":
                    sent = frame["events"][0]["timestamp"]
                    latencies.append((time.perf_counter() - sent) * 1000)
                    received_bytes += len(raw)
                    if len(latencies) >= total:
                        done.set()
                        return

        reader = asyncio.create_task(receive())
        start = time.perf_counter()
        for i in range(total):
            batch = [
                {
                    "type": 3,
                    "timestamp": time.perf_counter(),
                    "data": {"source": 0, "i": i, "texts": [{"id": 5, "value": padding}]},
                }
            ]
            await visitor.send(pack({"t": "cobrowse", "cid": cid, "op": "events", "events": batch}))
            await asyncio.sleep(max(0.0, start + (i + 1) / args.rate - time.perf_counter()))
        await asyncio.wait_for(done.wait(), 10)
        elapsed = time.perf_counter() - start
        reader.cancel()
        await visitor.close()
        await agent.close()
        latencies.sort()
        return {
            "batches": len(latencies),
            "bytes_per_s": received_bytes / elapsed,
            "p50_ms": statistics.median(latencies),
            "p99_ms": latencies[int(0.99 * (len(latencies) - 1))],
            "max_ms": latencies[-1],
        }
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=10.0, help="batches per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--batch-bytes", type=int, default=2000)
    parser.add_argument("--redis", help="Redis URL (default: embedded)")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print(json.dumps(result, indent=2))
    print(f"load average: {os.getloadavg()[0]:.2f}")
    print("reproduce: python bench/cobrowse_relay.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
