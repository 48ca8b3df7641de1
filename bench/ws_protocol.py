#!/usr/bin/env python3
"""What `LeanWebSocketProtocol` (`chat_server/lean_websocket.py`) saves per idle WebSocket
against uvicorn's stock `ws="websockets-sansio"` (issue 20): is the subclass, tied to
uvicorn's internals, still worth keeping?

For each variant it starts `chat-server serve` as the CLI does (`server.uvicorn_config`,
embedded mode, a fresh data directory with the bench site), except that the stock variant
sets `config.ws = "websockets-sansio"` on that configuration, here and nowhere else. Then
`loadgen`'s idle mode opens N visitor sockets (each after its `hello`), and the server's
RSS before and after gives KiB per idle socket. The variants alternate over `--rounds`
rounds, each on a fresh server; the median per variant is shown.

    python bench/ws_protocol.py                  # N = 2000, 2 rounds; about 40 s
    python bench/ws_protocol.py --connections 5000 --rounds 3
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

import loadgen  # noqa: E402

VARIANTS = ("lean", "stock")
STOCK_WS = "websockets-sansio"
PROTOCOL_LINE = "ws protocol: "


def serve(variant: str, port: int, data: Path) -> None:
    """The server process: `chat-server serve`'s configuration, the protocol swapped for
    uvicorn's own in the stock variant."""
    import uvicorn

    from chat_server.app import create_app
    from chat_server.config import Settings
    from chat_server.server import uvicorn_config

    settings = Settings.load({"data": data, "port": port})
    config = uvicorn_config(settings, create_app(settings))
    if variant == "stock":
        config.ws = STOCK_WS
    config.load()  # resolves `ws` to the class, which the parent reads back from the log
    protocol = config.ws_protocol_class
    assert protocol is not None
    print(f"{PROTOCOL_LINE}{protocol.__module__}.{protocol.__qualname__}", flush=True)
    uvicorn.Server(config).run()


def start(variant: str, cpu: str | None) -> loadgen.Server:
    """A fresh server of `variant` on a free port, with the bench site, ready."""
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-ws-{variant}-"))
    data = workdir / "data"
    loadgen.setup_ours_store(data, None, agents=0, max_chats=1)
    port = loadgen.free_port()
    log = workdir / "server.log"
    command = [sys.executable, __file__, "--serve", variant, "--port", str(port)]
    command += ["--data", str(data)]
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [*loadgen.taskset(cpu), *command],
            env=loadgen.ours_env(None),
            cwd=loadgen.ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = loadgen.Server("ours", f"ws-{variant}", port, proc, log, workdir)
    try:
        loadgen.wait_http(f"http://127.0.0.1:{port}/readyz", proc, log)
    except BaseException:
        server.stop()
        raise
    return server


def protocol_of(server: loadgen.Server) -> str:
    """The WebSocket protocol class the server process says it loaded."""
    for line in server.log.read_text(errors="replace").splitlines():
        if line.startswith(PROTOCOL_LINE):
            return line[len(PROTOCOL_LINE) :]
    raise RuntimeError(f"{server.label}: the server did not say which protocol it uses")


def measure(variant: str, connections: int, cpus: tuple[str | None, str | None]) -> dict[str, Any]:
    server = start(variant, cpus[0])
    session = loadgen.Session(server, loadgen.Options())
    try:
        protocol = protocol_of(server)
        result = session.idle(connections)
    finally:
        session.close()
        server.stop()
    result["variant"] = variant
    result["protocol"] = protocol
    return result


COLUMNS = [
    ("variant", "protocol", "{}"),
    ("opened", "sockets", "{}"),
    ("rss_before_mib", "RSS before MiB", "{:.1f}"),
    ("rss_after_mib", "RSS after MiB", "{:.1f}"),
    ("rss_per_conn_kib", "KiB/socket", "{:.2f}"),
    ("runs", "runs", "{}"),
]


def summary(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for variant in VARIANTS:
        runs = [r for r in results if r["variant"] == variant]
        row: dict[str, Any] = {"variant": variant, "runs": len(runs)}
        for key in ("opened", "rss_before_mib", "rss_after_mib", "rss_per_conn_kib"):
            row[key] = statistics.median(r[key] for r in runs)
        out.append(row)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", "-n", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2, help="runs per variant (median)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin server and load")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--serve", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.port, args.data)
        return 0
    loadgen.exit_on_sigterm()
    loadgen.raise_nofile(args.connections * 2 + 256)
    cpus = (None, None) if args.no_pin else loadgen.default_cpus()
    loadgen.pin_load(cpus[1])
    started = time.monotonic()
    results = []
    for _ in range(args.rounds):
        for variant in VARIANTS:
            result = measure(variant, args.connections, cpus)
            print(
                f"  {variant:>5} ({result['protocol']}): {result['opened']} sockets, "
                f"{result['rss_per_conn_kib']} KiB each, failures {result['failures']}",
                flush=True,
            )
            results.append(result)
    rows = summary(results)
    lean, stock = rows[0]["rss_per_conn_kib"], rows[1]["rss_per_conn_kib"]
    print(
        f"\nidle visitor sockets (after hello), embedded mode, median of {args.rounds}; "
        f"{time.monotonic() - started:.0f} s"
    )
    print(loadgen.table(rows, COLUMNS))
    print(
        f"\nLeanWebSocketProtocol saves {stock - lean:.2f} KiB per idle socket "
        f"({100 * (stock - lean) / stock:.0f}% of the whole socket's cost with the stock one)"
    )
    print("\nreproduce: python bench/ws_protocol.py " + " ".join(argv or sys.argv[1:]))
    if args.json:
        loadgen.write_json(args.json, {"cells": rows, "runs": results})
        print(f"results: {args.json}")
    failed = sum(sum(r["failures"].values()) for r in results)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
