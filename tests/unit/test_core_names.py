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
