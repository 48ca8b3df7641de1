"""`backends/redis/partitions.py`: which partition a conversation or visitor is in, and the
key prefixes that put the partitions of one installation evenly around the cluster's slots
(so on as many shards as the partitions allow)."""

from __future__ import annotations

import pytest

from chat_server.backends.redis import cluster
from chat_server.backends.redis.partitions import MAX, Partitions
from chat_server.core import ids


def slot(prefix: str) -> int:
    return cluster.key_slot(cluster.tag(prefix))


@pytest.mark.parametrize("count", [1, 2, 3, 7, 16, MAX])
def test_each_partition_has_its_stretch_of_slots(count: int) -> None:
    where = Partitions("chat", count)
    assert len(where.prefixes) == count
    width = cluster.SLOTS // count
    for p, prefix in enumerate(where.prefixes):
        assert prefix.startswith(f"chat~{p}.")
        assert slot(prefix) // width == p, (p, prefix)
    assert Partitions("chat", count).prefixes == where.prefixes  # every node agrees
    assert Partitions("shop", count).prefixes != where.prefixes  # each installation its own


def test_three_partitions_land_on_the_three_primaries_of_an_even_cluster() -> None:
    """`redis-cli --cluster create` with 3 primaries gives each a third of the slots."""
    thirds = [(0, 5460), (5461, 10922), (10923, 16383)]
    for prefix in ("chat", "k_0123456789abcdef", "shop-eu"):
        owners = [
            i
            for p in Partitions(prefix, 3).prefixes
            for i, (low, high) in enumerate(thirds)
            if low <= slot(p) <= high
        ]
        assert owners == [0, 1, 2], prefix


def test_a_conversation_is_in_its_visitors_partition() -> None:
    where = Partitions("chat", 5)
    for _ in range(100):
        vid = ids.visitor_id()
        assert where.of(ids.conversation_id(vid)) == where.of(vid)
    assert {where.of(ids.visitor_id()) for _ in range(200)} == set(range(5))
    assert Partitions("chat").of(ids.visitor_id()) == 0


@pytest.mark.parametrize("count", [0, -1, MAX + 1])
def test_a_count_out_of_range_is_refused(count: int) -> None:
    with pytest.raises(ValueError, match="partitions must be"):
        Partitions("chat", count)
