"""`SpreadBus` (backends/redis/spread_bus.py): which partition's bus carries a channel, and
the hub hearing the partitions' buses as one (lost when any is, back when all are)."""

from __future__ import annotations

from chat_server.backends.redis.partitions import Partitions
from chat_server.backends.redis.spread_bus import SpreadBus
from chat_server.core import channels, ids

URL = "redis+cluster://127.0.0.1:1?partitions=3"


def bus() -> SpreadBus:
    return SpreadBus(URL, Partitions("chat", 3))  # no connection until `start`


def test_a_conversation_and_its_visitor_share_their_partitions_bus() -> None:
    spread = bus()
    for _ in range(50):
        vid = ids.visitor_id()
        cid = ids.conversation_id(vid)
        here = spread._of(channels.conversation(cid))
        assert here is spread._of(channels.visitor(vid))
        assert here is spread.parts[spread.where.of(vid)]
        assert here.keys.prefix == "{" + spread.where.prefixes[spread.where.of(vid)] + "}"
    own = spread.parts[-1]
    assert own.keys.prefix == "{chat}"
    for other in (channels.QUEUE, channels.SUPERVISORS, channels.agent("a_1"), "site:{shop}"):
        assert spread._of(other) is own


def test_lost_when_any_is_back_when_all_are() -> None:
    spread, heard = bus(), []
    spread.set_reconnect_handler(lambda: heard.append("back"))
    spread.set_lost_handler(lambda: heard.append("lost"))
    for i in range(3):
        spread._back(i)
    assert heard == []  # the installation's own bus has not connected yet
    spread._back(3)
    assert heard == ["back"]
    spread._lost(1)
    spread._lost(2)  # already deaf: told once
    assert heard == ["back", "lost"]
    spread._back(1)
    assert heard == ["back", "lost"]  # partition 2 still away
    spread._back(2)
    assert heard == ["back", "lost", "back"]
