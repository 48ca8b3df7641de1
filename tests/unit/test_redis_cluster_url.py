"""The `redis+cluster://` URL and the key slot (`backends/redis/cluster.py`): every
connection of a cluster installation is built from the one and goes to the other's
primary, so a typo must fail at start and the slot must be the one Redis computes."""

from __future__ import annotations

import pytest

from chat_server.backends.redis import cluster
from chat_server.backends.redis.client import SlotConnection, connect
from chat_server.backends.redis.cluster import ClusterURL, is_cluster, key_slot, parse
from chat_server.backends.redis.keys import Keys, for_url
from chat_server.backends.redis.wire import Wire


def test_seeds_with_and_without_ports() -> None:
    url = parse("redis+cluster://10.0.0.1:7000,10.0.0.2,[::1]:7002,[fe80::1]")
    assert url == ClusterURL(
        (("10.0.0.1", 7000), ("10.0.0.2", 6379), ("::1", 7002), ("fe80::1", 6379))
    )


def test_credentials_are_percent_decoded() -> None:
    url = parse("redis+cluster://ann:p%40ss@h1:7000,h2:7001/")
    assert (url.username, url.password) == ("ann", "p@ss")
    assert parse("redis+cluster://:secret@h1").username is None
    assert parse("redis+cluster://:secret@h1").password == "secret"


def test_scheme_is_case_insensitive() -> None:
    assert is_cluster("Redis+Cluster://h1")
    assert not is_cluster("redis+sentinel://h1/chat")
    assert not is_cluster("redis://h1")


def test_partitions_spread_an_installation() -> None:
    url = "redis+cluster://h1:7000,h2?partitions=12"
    assert parse(url).partitions == 12
    assert cluster.partitions(url) == 12
    assert parse("redis+cluster://h1").partitions == 1
    assert cluster.partitions("redis://h1/0") == 1
    assert parse(url).redacted() == "redis+cluster://h1:7000,h2:6379?partitions=12"


def test_redacted_never_shows_a_password() -> None:
    url = parse("redis+cluster://ann:secret@h1:7000,h2")
    assert url.redacted() == "redis+cluster://h1:7000,h2:6379"
    assert "secret" not in url.redacted()


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("redis://h1", "not a redis\\+cluster:// URL"),
        ("redis+cluster://h1:7000/0", "a cluster has only db 0"),
        ("redis+cluster://h1:7000/3", "names no database"),
        ("redis+cluster://h1?timeout=1", "takes one option, partitions=N"),
        ("redis+cluster://h1?partitions=2&timeout=1", "takes one option"),
        ("redis+cluster://h1?partitions", "takes one option"),
        ("redis+cluster://h1?partitions=0", "from 1 to 64"),
        ("redis+cluster://h1?partitions=65", "from 1 to 64"),
        ("redis+cluster://h1?partitions=-1", "from 1 to 64"),
        ("redis+cluster://h1?partitions=two", "from 1 to 64"),
        ("redis+cluster://h1#top", "takes no fragment"),
        ("redis+cluster://", "lists cluster nodes"),
        ("redis+cluster://h1,,h2", "lists cluster nodes"),
        ("redis+cluster://h1:port", "bad cluster node address 'h1:port'"),
        ("redis+cluster://h1:70000", "bad cluster node address"),
        ("redis+cluster://[::1", "bad cluster node address"),
        ("redis+cluster://[::1]x", "bad cluster node address"),
    ],
)
def test_malformed_urls_are_refused(url: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse(url)


@pytest.mark.parametrize(
    ("key", "slot"),
    [  # `CLUSTER KEYSLOT` of redis-server 7.0.15
        ("foo", 12182),
        ("bar", 5061),
        ("hello", 866),
        ("{user1000}.following", 3443),
        ("{chat}:x", 14028),
        ("chat", 14028),
        ("{}x", 10595),  # an empty tag does not count: the whole key
        ("a{}{b}", 15033),  # only the first `{` counts, and its tag is empty
        ("{k_abc}:ch:conv:c_1", 2336),
        ("é", 10180),
    ],
)
def test_key_slot_is_redis_clusters(key: str, slot: int) -> None:
    assert key_slot(key) == slot
    assert key_slot(key.encode()) == slot


def test_an_installation_is_one_slot() -> None:
    """The prefix is the hash tag: conversation tags and rollup tags inside do not count."""
    keys = for_url("redis+cluster://h1", "chat")
    assert keys == Keys("{chat}", sharded=True)
    names = [
        keys.queue(),
        keys.messages("c_1"),
        keys.live("c_2"),
        keys.rollup("site", "day", "2024-01-01"),
        keys.last_visit("v_1"),
        keys.channel("conv:c_1"),
        keys.node_present("agent", "n_1"),
    ]
    assert {key_slot(name) for name in names} == {key_slot("chat")}
    assert keys.channel_name(keys.channel("conv:c_1")) == "conv:c_1"
    assert keys.publish == "SPUBLISH"
    assert for_url("redis://h1", "chat") == Keys("chat")
    assert for_url("redis://h1", "chat").publish == "PUBLISH"


def test_scripts_publish_sharded() -> None:
    source = "redis.call('PUBLISH', ARGV[1], ARGV[2])\nredis.call('SET', KEYS[1], 1)"
    assert cluster.sharded(source) == (
        "redis.call('SPUBLISH', ARGV[1], ARGV[2])\nredis.call('SET', KEYS[1], 1)"
    )


def test_moved_replies() -> None:
    for reply in ("MOVED 3999 127.0.0.1:6381", "ASK 3999 h:1", "CLUSTERDOWN The cluster is down"):
        assert cluster.moved(reply)
    for reply in ("TRYAGAIN Multiple keys", "READONLY You can't write against a read only"):
        assert cluster.moved(reply)
    assert not cluster.moved("ERR unknown command")
    assert not cluster.moved("MOVEDX")


def test_both_connections_take_it() -> None:
    """redis-py's pool and the lean wire are built from it (they connect later, each time
    asking the cluster for the slot's primary); a bad one fails at once."""
    url = "redis+cluster://u:p@127.0.0.1:1,127.0.0.1:2"
    pool = connect(url, slot=42).connection_pool
    assert pool.connection_class is SlotConnection
    assert pool.max_connections == 64
    assert pool.connection_kwargs["password"] == "p"
    assert pool.connection_kwargs["resolver"].slot == 42
    assert Wire(url).sharded
    assert not Wire("redis://127.0.0.1:1").sharded
    with pytest.raises(ValueError, match="only db 0"):
        Wire("redis+cluster://127.0.0.1:1/2")
    with pytest.raises(ValueError, match="only db 0"):
        connect("redis+cluster://127.0.0.1:1/2")
