"""Contract §3 Resume: idempotent `cmid`, and `sync` returns exactly what was missed."""

from __future__ import annotations

import asyncio

from tests.conftest import Live


async def test_retrying_a_msg_with_the_same_cmid_creates_nothing(live: Live, codec: str) -> None:
    agent = await live.agent(codec=codec)
    visitor = await live.visitor(codec=codec)
    cid = (await visitor.request("start", text="hi"))["conversation"]["id"]
    await agent.event("assigned")
    first = await visitor.request("msg", cid=cid, text="only once", cmid="retry-me")
    again = await visitor.request("msg", cid=cid, text="only once", cmid="retry-me")
    assert (again["seq"], again["ts"]) == (first["seq"], first["ts"])
    both = await asyncio.gather(
        *(agent.request("msg", cid=cid, text="dup", cmid="a-dup") for _ in range(5))
    )
    assert len({b["seq"] for b in both}) == 1
    await agent.event("msg", seq=first["seq"])
    await agent.no_event("msg", seq=first["seq"])
    history = await agent.request("sync", cid=cid, after=0)
    texts = [m["text"] for m in history["messages"]]
    assert texts.count("only once") == 1 and texts.count("dup") == 1
    # the same cmid from another sender is a different message
    other = await agent.request("msg", cid=cid, text="mine", cmid="retry-me")
    assert other["seq"] != first["seq"]


async def test_sync_after_a_dropped_connection_returns_exactly_the_missed(
    live: Live, codec: str
) -> None:
    agent = await live.agent(codec=codec)
    visitor = await live.visitor(codec=codec)
    cid = (await visitor.request("start", text="hi"))["conversation"]["id"]
    await agent.event("assigned")
    seen = (await visitor.request("msg", cid=cid, text="before the drop", cmid="v1"))["seq"]
    token = visitor.hello["token"]
    await visitor.close()

    missed = [
        await agent.request("msg", cid=cid, text=f"missed {i}", cmid=f"a{i}") for i in range(3)
    ]
    await agent.request("note", cid=cid, text="not for the visitor", cmid="n")

    back = await live.visitor(codec=codec, token=token)
    assert back.hello["conversation"]["id"] == cid
    page = await back.request("sync", cid=cid, after=seen)
    assert [m["seq"] for m in page["messages"]] == [m["seq"] for m in missed]
    assert [m["text"] for m in page["messages"]] == ["missed 0", "missed 1", "missed 2"]
    assert page["more"] is False
    # the retry of an unacknowledged message after resuming is deduplicated
    retry = await back.request("msg", cid=cid, text="before the drop", cmid="v1")
    assert retry["seq"] == seen


async def test_agent_resumes_after_a_drop(live: Live) -> None:
    alice = await live.add_agent("Alice")
    tab = await live.agent(alice)
    visitor = await live.visitor()
    cid = (await visitor.request("start", text="hi"))["conversation"]["id"]
    assigned = await tab.event("assigned")
    last = assigned["messages"][-1]["seq"]
    await tab.close()
    sent = [await visitor.request("msg", cid=cid, text=f"m{i}", cmid=f"m{i}") for i in range(2)]
    back = await live.agent(alice, online=False)
    assert back.hello["conversations"][0]["id"] == cid
    page = await back.request("sync", cid=cid, after=last)
    assert [m["seq"] for m in page["messages"]] == [s["seq"] for s in sent]
    live_msg = await visitor.request("msg", cid=cid, text="live again", cmid="m9")
    assert (await back.event("msg", seq=live_msg["seq"]))["text"] == "live again"
