"""`chat_server/core/channels.py` and `ids.py`: bus channel names (hash-tagged by id, so a
conversation's keys share a cluster slot) and the prefixed random ids."""

from __future__ import annotations

import re

from chat_server.core import channels, ids


def test_channels_are_hash_tagged_by_their_id() -> None:
    assert channels.conversation("c_1") == "conv:{c_1}"
    assert channels.visitor("v_1") == "visitor:{v_1}"
    assert channels.agent("a_1") == "agent:{a_1}"


def test_only_a_conversation_channel_has_a_conversation_id() -> None:
    assert channels.conversation_id(channels.conversation("c_1")) == "c_1"
    for other in (channels.visitor("v_1"), channels.agent("a_1"), channels.QUEUE, "conv:{c"):
        assert channels.conversation_id(other) is None


def test_ids_are_prefixed_random_hex() -> None:
    made = [ids.visitor_id(), ids.agent_id(), ids.conversation_id(), ids.new_id("x")]
    for prefix, made_id in zip("vacx", made, strict=True):
        assert re.fullmatch(rf"{prefix}_[0-9a-f]{{16}}", made_id)
    assert ids.visitor_id() != ids.visitor_id()


def test_a_conversation_made_for_a_visitor_shares_its_home() -> None:
    for _ in range(200):
        vid = ids.visitor_id()
        cid = ids.conversation_id(vid)
        assert re.fullmatch(r"c_[0-9a-f]{16}", cid)
        assert cid[-ids.HOME_CHARS :] == vid[-ids.HOME_CHARS :]
        assert ids.home(cid) == ids.home(vid)
    assert ids.conversation_id(vid) != ids.conversation_id(vid)
    assert ids.home("c_2_1") == ids.home("v_1") != ids.home("v_2")


def test_homes_spread_evenly() -> None:
    """A partition is `home % N`: 3,000 visitors over 3 partitions, none far from a third."""
    counts = [0, 0, 0]
    for _ in range(3000):
        counts[ids.home(ids.visitor_id()) % 3] += 1
    assert all(850 < n < 1150 for n in counts), counts


def test_only_conversation_and_visitor_channels_have_an_owner() -> None:
    assert channels.owner(channels.conversation("c_1")) == "c_1"
    assert channels.owner(channels.visitor("v_9")) == "v_9"
    for other in (channels.agent("a_1"), channels.site("shop"), channels.QUEUE, "conv:{c"):
        assert channels.owner(other) is None
