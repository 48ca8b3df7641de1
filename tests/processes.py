"""Real `chat-server serve` processes, for crash and multi-node tests."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import free_port
from tests.http import http_client


def cli(data: Path, *args: str, stdin: str | None = None) -> str:
    """Run `chat-server ARGS --data DATA` as a user would; its standard output."""
    done = subprocess.run(
        [sys.executable, "-m", "chat_server", *args, "--data", str(data)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def provision(data: Path, *extra: str) -> str:
    """Through the CLI: an agent, its API token (returned) and the `shop` site.
    `extra` goes to every command (for example `--redis URL`)."""
    add = ("agent", "add", "kim@shop.example", "--name", "Kim", "--password-stdin", *extra)
    assert "added agent" in cli(data, *add, stdin="a long password\n")
    token = cli(data, "agent", "token", "kim@shop.example", *extra).strip().splitlines()[-1]
    cli(data, "site", "add", "shop", "--origin", "https://shop.example", *extra)
    return token


class ServerProcess:
    def __init__(self, data: Path, **env: str) -> None:
        self.data = data
        self.port = free_port()
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start (or start again on the same data); output goes to `server.log`."""
        env = {**os.environ, "CHAT_LOG_LEVEL": "warning", **self.env}
        self.data.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            "-m",
            "chat_server",
            "serve",
            "--port",
            str(self.port),
            "--data",
            str(self.data),
        ]
        with open(self.data / "server.log", "ab") as log:
            self.proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)

    async def ready(self, timeout: float = 15) -> None:
        async with http_client() as http:
            for _ in range(int(timeout / 0.05)):
                try:
                    if (await http.get(f"{self.base}/readyz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
        raise RuntimeError(f"server on port {self.port} did not become ready")

    async def readyz(self) -> int:
        async with http_client() as http:
            return (await http.get(f"{self.base}/readyz")).status_code

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"
