"""Issue 15 across nodes: a file uploaded to one `chat-server serve` process is sent, read
and downloaded through another, both on one Redis (real processes, as in test_cluster.py).
"""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.http import http_client
from tests.integration.test_cluster import Cluster, cluster, own_redis
from tests.integration.test_files import ORIGIN, PDF, png

pytestmark = pytest.mark.slow
__all__ = ["cluster", "own_redis"]  # the fixtures, for this module's tests


async def test_upload_on_one_node_send_and_download_on_another(cluster: Cluster) -> None:
    await cluster.start(2)
    _, token = await cluster.add_agent("Alice")
    agent = await cluster.agent(1, token, codec="chat.v1.msgpack")
    visitor = await cluster.visitor(1)
    cid = (await visitor.request("start", text="my screenshot"))["conversation"]["id"]
    assert (await agent.event("assigned"))["conversation"]["id"] == cid
    node0, node1 = (f"http://127.0.0.1:{n.port}" for n in cluster.nodes)
    as_visitor = {"Authorization": f"Bearer {visitor.hello['token']}", "Origin": ORIGIN}
    as_agent = {"Authorization": f"Bearer {token}"}

    async with http_client(timeout=30) as http:
        # the visitor uploads through node 0, and sends it over its socket on node 1
        answer = await http.post(
            f"{node0}/api/files?cid={cid}&name=shot.png",
            content=png((500, 300), gps=True),
            headers=as_visitor,
        )
        assert answer.status_code == 201, answer.text
        shot = answer.json()["file"]
        sent = await visitor.request("msg", cid=cid, text="", cmid="v1", files=[shot["id"]])
        got = await agent.event("msg", cid=cid, seq=sent["seq"])
        assert got["files"] == [shot]

        # the agent, on node 1, reads it there; its thumbnail comes from node 0 as well
        image = await http.get(f"{node1}/api/files/{shot['id']}", headers=as_agent)
        assert image.status_code == 200 and image.headers["content-type"] == "image/png"
        assert len(image.content) == shot["size"]
        assert not Image.open(io.BytesIO(image.content)).getexif()
        for base in (node0, node1):
            thumb = await http.get(f"{base}/api/files/{shot['id']}/thumb", headers=as_agent)
            assert thumb.status_code == 200
            assert Image.open(io.BytesIO(thumb.content)).size == (320, 192)

        # and the other way: the agent uploads to node 1, the visitor downloads from node 0
        answer = await http.post(
            f"{node1}/api/files?cid={cid}&name=invoice.pdf", content=PDF, headers=as_agent
        )
        invoice = answer.json()["file"]
        unsent = await http.get(f"{node0}/api/files/{invoice['id']}", headers=as_visitor)
        assert unsent.status_code == 404  # not sent yet: the agent's alone, on every node
        reply = await agent.request(
            "msg", cid=cid, text="attached", cmid="a1", files=[invoice["id"]]
        )
        assert (await visitor.event("msg", cid=cid, seq=reply["seq"]))["files"] == [invoice]
        pdf = await http.get(f"{node0}/api/files/{invoice['id']}", headers=as_visitor)
        assert pdf.status_code == 200 and pdf.content == PDF
        assert pdf.headers["content-disposition"].startswith("attachment;")

    for node in cluster.nodes:  # no temporary file left on either node
        uploads = node.data / "uploads"
        assert not uploads.exists() or not list(uploads.iterdir())
