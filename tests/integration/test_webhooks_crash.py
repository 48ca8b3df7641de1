"""Webhooks survive a crash (issue 17): SIGKILL the server between the changes and their
delivery (the receiver is down), start it again, bring the receiver up: every event
arrives, in order, exactly once per id. The outbox entry was written in the same step as
the change, so the crash neither lost nor invented one. Real CLI, real processes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from chat_server.core import ids
from tests.client import connect_visitor
from tests.conftest import backend_url, redis_like
from tests.integration.webhook_receiver import Receiver
from tests.processes import ServerProcess, cli, provision

pytestmark = [pytest.mark.slow, pytest.mark.long(15)]

ENV = {
    "CHAT_WEBHOOK_ALLOW": "127.0.0.1/32",
    "CHAT_WEBHOOK_POLL_S": "0.05",
    "CHAT_WEBHOOK_RETRY_BASE_S": "0.05",
    "CHAT_WEBHOOK_RETRY_CAP_S": "0.2",
    # the lease of the killed node lasts timeout + 5 s: then the restarted one delivers
    "CHAT_WEBHOOK_TIMEOUT_S": "1",
}


@pytest.fixture
def server(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ServerProcess]:
    env = dict(ENV)
    if redis_like(backend):
        url = backend_url(backend, request)
        env |= {"CHAT_REDIS_URL": url, "CHAT_REDIS_PREFIX": ids.new_id("t")}
    for name, value in env.items():  # the CLI commands too
        monkeypatch.setenv(name, value)
    process = ServerProcess(tmp_path / "data", **env)
    yield process
    process.stop()


async def test_sigkill_between_change_and_delivery(server: ServerProcess) -> None:
    receiver = Receiver()  # down: nothing listens on its port yet
    provision(server.data)
    added = cli(server.data, "webhook", "add", "--site", "shop", "--url", receiver.url)
    assert '"secret"' in added
    assert receiver.url in cli(server.data, "webhook", "list")
    server.start()
    await server.ready()
    visitor = await connect_visitor(
        server.ws, site="shop", origin="https://shop.example", codec="chat.v1.json"
    )
    await visitor.request("hello")
    cid = (await visitor.request("start", text="m0"))["conversation"]["id"]
    for i in range(1, 6):
        await visitor.request("msg", cid=cid, text=f"m{i}", cmid=f"m{i}")
    server.kill()  # acknowledged, not delivered
    await visitor.close()
    await receiver.up()
    try:
        server.start()
        await server.ready()
        await receiver.wait_for(7)  # started, then six messages
        await asyncio.sleep(1)  # and nothing more comes
        events = receiver.accepted
        assert [e["type"] for e in events] == ["conversation.started"] + ["message"] * 6
        assert [e["data"]["text"] for e in events[1:]] == [f"m{i}" for i in range(6)]
        assert len({e["id"] for e in events}) == 7
        assert cli(server.data, "webhook", "failures") == ""
        assert "queued 0" in cli(server.data, "webhook", "replay", "--all")
        endpoint = json.loads(added)["id"]
        assert endpoint in cli(server.data, "webhook", "remove", endpoint)
        assert cli(server.data, "webhook", "list") == ""
    finally:
        await receiver.down()
