"""Acknowledged means durable: SIGKILL the server mid-conversation, start it again on the
same data, and every acknowledged message is there. Drives the real CLI end to end."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.client import Client, connect_agent, connect_visitor
from tests.processes import ServerProcess, provision

pytestmark = pytest.mark.slow


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    # this test bursts on purpose (it measures durability, not limits)
    process = ServerProcess(tmp_path / "data", CHAT_CHAT_RATE="100000", CHAT_CHAT_BURST="100000")
    yield process
    process.stop()


async def test_sigkill_loses_no_acknowledged_message(server: ServerProcess) -> None:
    token = provision(server.data)

    server.start()
    await server.ready()
    agent = await connect_agent(server.ws, codec="chat.v1.msgpack")
    visitor = await connect_visitor(
        server.ws, site="shop", origin="https://shop.example", codec="chat.v1.json"
    )
    clients: list[Client] = [agent, visitor]
    try:
        await agent.request("hello", token=token)
        await agent.request("status", state="online")
        hello = await visitor.request("hello", name="Pat")
        cid = (await visitor.request("start", text="hello"))["conversation"]["id"]
        await agent.event("assigned")

        async def talk(client: Client, who: str, n: int) -> list[int]:
            return [
                (await client.request("msg", cid=cid, text=f"{who} {i}", cmid=f"{who}-{i}"))["seq"]
                for i in range(n)
            ]

        acked = await asyncio.gather(talk(visitor, "visitor", 40), talk(agent, "agent", 40))
        # keep sending while the process is killed: whatever was acked must survive
        late_acked: list[int] = []
        twenty = asyncio.Event()

        async def keep_talking() -> None:
            for i in range(100_000):
                answer = await visitor.request("msg", cid=cid, text=f"late {i}", cmid=f"l-{i}")
                late_acked.append(answer["seq"])
                if len(late_acked) == 20:
                    twenty.set()

        pending = asyncio.ensure_future(keep_talking())
        await asyncio.wait_for(twenty.wait(), 10)
        server.kill()
        with contextlib.suppress(Exception):  # the connection dies mid-flight by design
            await pending
        assert len(late_acked) >= 20
        for client in clients:
            await client.close()

        server.start()
        await server.ready()
        back = await connect_visitor(
            server.ws, site="shop", origin="https://shop.example", codec="chat.v1.json"
        )
        clients.append(back)
        again = await back.request("hello", token=hello["token"])
        assert again["conversation"]["id"] == cid
        assert again["conversation"]["state"] == "active"
        seqs: list[int] = []
        texts: list[str] = []
        after = 0
        while True:
            page = await back.request("sync", cid=cid, after=after)
            seqs += [m["seq"] for m in page["messages"]]
            texts += [m["text"] for m in page["messages"]]
            if not page["more"]:
                break
            after = seqs[-1]
        assert seqs == list(range(1, len(seqs) + 1))  # no gaps
        for seq in [*acked[0], *acked[1], *late_acked]:
            assert seq in seqs
        assert {f"visitor {i}" for i in range(40)} <= set(texts)
        assert {f"agent {i}" for i in range(40)} <= set(texts)
        # the agent comes back too: the conversation is still theirs
        agent2 = await connect_agent(server.ws, codec="chat.v1.json")
        clients.append(agent2)
        hello2 = await agent2.request("hello", token=token)
        assert [c["id"] for c in hello2["conversations"]] == [cid]
        retry = await back.request("msg", cid=cid, text="visitor 0", cmid="visitor-0")
        assert retry["seq"] == acked[0][0]
    finally:
        for client in clients:
            await client.close()


async def test_sigterm_closes_with_1012_and_loses_nothing(server: ServerProcess) -> None:
    server.env["CHAT_LOG_LEVEL"] = "info"
    token = provision(server.data)
    server.start()
    await server.ready()
    agent = await connect_agent(server.ws, codec="chat.v1.json")
    visitor = await connect_visitor(
        server.ws, site="shop", origin="https://shop.example", codec="chat.v1.msgpack"
    )
    clients = [agent, visitor]
    try:
        await agent.request("hello", token=token)
        await agent.request("status", state="online")
        hello = await visitor.request("hello")
        cid = (await visitor.request("start", text="hello"))["conversation"]["id"]
        await agent.event("assigned")
        acked = [
            await visitor.request("msg", cid=cid, text=f"m{i}", cmid=f"m{i}") for i in range(20)
        ]
        assert server.proc is not None
        server.proc.terminate()  # SIGTERM
        assert await visitor.close_code(timeout=10) == 1012
        assert await agent.close_code(timeout=10) == 1012
        # uvicorn shuts down gracefully, then re-raises the signal as its exit status
        assert server.proc.wait(15) in (0, -signal.SIGTERM)
        log = (server.data / "server.log").read_text()
        assert "Application shutdown complete" in log and "Traceback" not in log

        server.start()
        await server.ready()
        back = await connect_visitor(
            server.ws, site="shop", origin="https://shop.example", codec="chat.v1.json"
        )
        clients.append(back)
        again = await back.request("hello", token=hello["token"])
        assert again["conversation"]["id"] == cid
        page = await back.request("sync", cid=cid, after=0)
        assert {m["seq"] for m in page["messages"]} >= {a["seq"] for a in acked}
    finally:
        for client in clients:
            await client.close()
