"""The `redis+sentinel://` URL (`backends/redis/sentinel.py`): what every connection of the
Redis backend is built from, so a typo must fail at start, naming what is wrong."""

from __future__ import annotations

import pytest

from chat_server.backends.redis.client import BlockingSentinelPool, connect
from chat_server.backends.redis.sentinel import SentinelURL, is_sentinel, parse
from chat_server.backends.redis.wire import Wire
from chat_server.config import Settings


def test_sentinels_master_and_database() -> None:
    url = parse("redis+sentinel://10.0.0.1:26380,10.0.0.2:26381/chat/3")
    assert url == SentinelURL((("10.0.0.1", 26380), ("10.0.0.2", 26381)), "chat", 3)


def test_defaults_port_26379_and_database_0() -> None:
    url = parse("redis+sentinel://s1,s2:5000/mymaster")
    assert url.sentinels == (("s1", 26379), ("s2", 5000))
    assert (url.master, url.db) == ("mymaster", 0)
    assert parse("redis+sentinel://s1/mymaster/").db == 0


def test_credentials_are_the_data_nodes_and_percent_decoded() -> None:
    url = parse("redis+sentinel://app:p%40ss%3Aw@s1:26379/chat/0")
    assert (url.username, url.password) == ("app", "p@ss:w")
    only_password = parse("redis+sentinel://:secret@s1/chat")
    assert (only_password.username, only_password.password) == (None, "secret")
    assert parse("redis+sentinel://s1/chat").password is None


def test_sentinel_password_is_an_option() -> None:
    url = parse("redis+sentinel://u:p@s1/chat?sentinel_password=s%26x")
    assert (url.password, url.sentinel_password) == ("p", "s&x")


def test_ipv6_sentinels() -> None:
    url = parse("redis+sentinel://[::1]:26380,[fe80::2]/chat")
    assert url.sentinels == (("::1", 26380), ("fe80::2", 26379))


def test_scheme_is_case_insensitive() -> None:
    assert is_sentinel("Redis+Sentinel://s1/chat")
    assert not is_sentinel("redis://127.0.0.1:6379/0")
    assert not is_sentinel("rediss://host/0")
    assert parse("REDIS+SENTINEL://s1/chat").master == "chat"


def test_redacted_never_shows_a_password() -> None:
    url = parse("redis+sentinel://u:hunter2@s1,s2:1/chat/2?sentinel_password=zz")
    assert url.redacted() == "redis+sentinel://s1:26379,s2:1/chat/2"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("redis+sentinel://s1", "names the primary"),
        ("redis+sentinel://s1/", "names the primary"),
        ("redis+sentinel://s1/chat/x", "database number"),
        ("redis+sentinel://s1/chat/0/1", "database number"),
        ("redis+sentinel://s1/chat?db=1", "unknown"),
        ("redis+sentinel:///chat", "host:port"),
        ("redis+sentinel://s1,,s2/chat", "host:port"),
        ("redis+sentinel://s1:port/chat", "bad Sentinel address"),
        ("redis+sentinel://s1:70000/chat", "bad Sentinel address"),
        ("redis+sentinel://s1:0/chat", "bad Sentinel address"),
        ("redis+sentinel://[::1/chat", "bad Sentinel address"),
        ("redis+sentinel://[::1]x/chat", "bad Sentinel address"),
        ("redis://s1/0", "not a redis"),
    ],
)
def test_malformed_urls_are_refused(url: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse(url)


def test_both_connections_take_it() -> None:
    """redis-py's pool and the lean wire are built from it (they connect later, each time
    asking the Sentinels); a bad one fails at once."""
    url = "redis+sentinel://u:p@127.0.0.1:1,127.0.0.1:2/chat/4"
    pool = connect(url).connection_pool
    assert isinstance(pool, BlockingSentinelPool)
    assert pool.service_name == "chat"
    assert pool.max_connections == 64
    assert pool.connection_kwargs["db"] == 4
    assert pool.connection_kwargs["password"] == "p"
    Wire(url)
    with pytest.raises(ValueError, match="names the primary"):
        Wire("redis+sentinel://127.0.0.1:1")
    with pytest.raises(ValueError, match="names the primary"):
        connect("redis+sentinel://127.0.0.1:1")


def test_replicas_ack_setting() -> None:
    assert Settings.load({}, {}).redis_replicas_ack == 0
    assert Settings.load({}, {"CHAT_REDIS_REPLICAS_ACK": "1"}).redis_replicas_ack == 1
    with pytest.raises(ValueError, match="CHAT_REDIS_REPLICAS_ACK"):
        Settings.load({}, {"CHAT_REDIS_REPLICAS_ACK": "-1"})
