"""`service/previews`: the agents' lists read a conversation's first message once, and a
long-running node forgets the conversations its lists no longer show."""

from __future__ import annotations

from chat_server.core.model import Kind, Message, Role, Sender
from chat_server.service.previews import PREVIEW_CHARS, Previews


class History:
    """The one read the previews make, counted."""

    def __init__(self, texts: dict[str, str]) -> None:
        self.texts = texts
        self.reads: list[str] = []

    async def history(
        self, cid: str, after: int, limit: int, *, notes: bool
    ) -> tuple[list[Message], bool]:
        self.reads.append(cid)
        assert (after, limit, notes) == (0, 1, False)
        if cid not in self.texts:
            return [], False
        sender = Sender(Role.VISITOR, "v_1", None)
        return [Message(cid, 1, 1, Kind.TEXT, sender, self.texts[cid])], False


async def test_a_preview_is_read_once_then_cached_and_cut_short() -> None:
    store = History({"c_1": "x" * 500})
    previews = Previews(store)
    assert await previews.of("c_1") == "x" * PREVIEW_CHARS
    assert await previews.of("c_1") == "x" * PREVIEW_CHARS
    assert await previews.of("c_gone") == ""
    assert store.reads == ["c_1", "c_gone"]


async def test_a_remembered_first_message_needs_no_read() -> None:
    store = History({})
    previews = Previews(store)
    previews.remember("c_1", "Do you ship to Norway?")
    assert await previews.of("c_1") == "Do you ship to Norway?"
    assert store.reads == []


async def test_conversations_no_longer_listed_are_forgotten() -> None:
    store = History({"c_1": "first", "c_2": "second"})
    previews = Previews(store)
    previews.remember("c_1", "first")
    previews.remember("c_2", "second")
    previews.keep_only(["c_2"])
    assert await previews.of("c_2") == "second"
    assert store.reads == []
    assert await previews.of("c_1") == "first"  # read again: it was dropped
    assert store.reads == ["c_1"]
