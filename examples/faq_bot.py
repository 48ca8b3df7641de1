#!/usr/bin/env python3
"""A small FAQ bot for the chat server, on its public agent protocol only (docs/protocol.md).

It logs in to `/ws/agent` with a bot account's API token, answers each visitor message whose
words match an FAQ entry's keywords, and hands the conversation to people (`handoff`, with a
note that sums up what the visitor asked) when nothing matches or the visitor asks for a
person. It reconnects by itself when the connection drops.

    chat-server agent add faq-bot@example.com --name "Shop assistant" --role bot
    chat-server agent token faq-bot@example.com          # prints the token
    chat-server site bot demo faq-bot@example.com        # the site's new chats go to it first
    CHAT_BOT_TOKEN=cat_… python examples/faq_bot.py --url ws://localhost:8000/ws/agent

Needs only the `websockets` package (and `msgpack` with `--codec msgpack`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

log = logging.getLogger("faq_bot")
WORD = re.compile(r"[\w']+")
KEPT_TEXTS = 5
"""How many of a visitor's latest messages the handoff note quotes."""
RETRY_S = (1.0, 30.0)
"""Reconnection delays: doubling from the first to the second."""


# --- the answers: pure, no I/O ---------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    keywords: tuple[str, ...]
    answer: str


@dataclass(frozen=True)
class Faq:
    entries: tuple[Entry, ...]
    handoff_words: frozenset[str]
    handoff_line: str

    @classmethod
    def load(cls, path: Path) -> Faq:
        data = json.loads(path.read_text(encoding="utf-8"))
        entries = tuple(
            Entry(tuple(k.lower() for k in e["keywords"]), e["answer"]) for e in data["entries"]
        )
        words = frozenset(w.lower() for w in data.get("handoff_words", ()))
        return cls(entries, words, data.get("handoff_line", ""))


@dataclass(frozen=True)
class Reply:
    """What to do with a visitor's message: answer it, or hand off (`reason`)."""

    text: str | None = None
    reason: str | None = None


def words_of(text: str) -> list[str]:
    return WORD.findall(text.lower())


def reply_to(faq: Faq, text: str) -> Reply:
    """A person when asked for one; else the entry with the most keywords in the text (a
    keyword may be several words); else a person too."""
    words = words_of(text)
    if faq.handoff_words.intersection(words):
        return Reply(reason="asked_for_human")
    padded = f" {' '.join(words)} "
    best, score = None, 0
    for entry in faq.entries:
        hits = sum(1 for k in entry.keywords if f" {' '.join(words_of(k))} " in padded)
        if hits > score:
            best, score = entry, hits
    if best is None:
        return Reply(reason="no_match")
    return Reply(text=best.answer)


def handoff_note(reason: str, texts: list[str]) -> str:
    asked = reason == "asked_for_human"
    why = "asked for a person" if asked else "asked what the FAQ does not cover"
    quoted = " | ".join(f"“{t[:300]}”" for t in texts[-KEPT_TEXTS:])
    return f"FAQ bot: the visitor {why}. They wrote: {quoted}"


# --- the connection --------------------------------------------------------------------


class Refused(Exception):
    """The server refused the token: retrying would not help."""


@dataclass
class Chat:
    """A conversation the bot holds: the seq it answered up to and what the visitor said."""

    handled: int = 0
    texts: list[str] = field(default_factory=list)


class Bot:
    def __init__(self, faq: Faq, url: str, token: str, codec: str) -> None:
        self.faq, self.url, self.token, self.codec = faq, url, token, codec
        self.chats: dict[str, Chat] = {}
        self.ids = itertools.count(1)
        self.ws: ClientConnection | None = None

    def encode(self, frame: dict[str, Any]) -> str | bytes:
        if self.codec == "msgpack":
            import msgpack

            packed: bytes = msgpack.packb(frame, use_bin_type=True)
            return packed
        return json.dumps(frame)

    def decode(self, data: str | bytes) -> dict[str, Any]:
        if isinstance(data, bytes):
            import msgpack

            return dict(msgpack.unpackb(data, raw=False))
        return dict(json.loads(data))

    async def send(self, t: str, **fields: Any) -> None:
        assert self.ws is not None
        await self.ws.send(self.encode({"t": t, "id": next(self.ids), **fields}))

    async def run(self) -> None:
        """Connect, and connect again after any drop (doubling the pause up to 30 s)."""
        retry = RETRY_S[0]
        while True:
            try:
                await self.session()
                retry = RETRY_S[0]
            except Refused as exc:
                sys.exit(f"faq_bot: {exc}")
            except (OSError, ConnectionClosed, InvalidStatus) as exc:
                log.warning("connection lost (%s): again in %.0f s", exc, retry)
            await asyncio.sleep(retry)
            retry = min(retry * 2, RETRY_S[1])

    async def session(self) -> None:
        protocol = "chat.v1.msgpack" if self.codec == "msgpack" else "chat.v1.json"
        async with connect(self.url, subprotocols=[protocol]) as ws:  # type: ignore[list-item]
            self.ws = ws
            await self.send("hello", token=self.token)
            async for data in ws:
                await self.on_frame(self.decode(data))

    async def on_frame(self, f: dict[str, Any]) -> None:
        t = f.get("t")
        if t == "ok" and "agent" in f:  # hello's answer: the conversations still ours
            log.info("connected as %s (%s)", f["agent"]["name"], f["agent"]["role"])
            self.follow(f.get("conversations") or [])
        elif t == "error":
            log.warning("server error: %s %s", f.get("code"), f.get("message"))
            if f.get("code") == "unauthorized":
                raise Refused("the token was refused")
        elif t == "assigned":
            conv = f["conversation"]
            self.chats[conv["id"]] = Chat()
            for m in f.get("messages") or []:
                await self.on_message(m)
        elif t == "msg":
            await self.on_message(f)
        elif t in ("unassigned", "closed"):
            self.chats.pop(f["cid"], None)
        elif t == "state":  # the server missed events: its list is the truth
            self.follow(f.get("conversations") or [])

    def follow(self, conversations: list[dict[str, Any]]) -> None:
        """After a (re)connection: keep these, answering only what comes from now on."""
        now = {c["id"]: c for c in conversations}
        for cid in list(self.chats):
            if cid not in now:
                del self.chats[cid]
        for cid, conv in now.items():
            self.chats.setdefault(cid, Chat(handled=conv.get("last_seq", 0)))

    async def on_message(self, m: dict[str, Any]) -> None:
        chat = self.chats.get(m.get("cid", ""))
        sender = m.get("from") or {}
        if chat is None or m["seq"] <= chat.handled:
            return
        chat.handled = m["seq"]
        if m.get("kind") != "text" or sender.get("role") != "visitor":
            return
        chat.texts.append(m.get("text") or "")
        reply = reply_to(self.faq, m.get("text") or "")
        cid = m["cid"]
        if reply.text is not None:
            await self.send("msg", cid=cid, text=reply.text, cmid=f"faq-{cid}-{m['seq']}")
            return
        assert reply.reason is not None
        if self.faq.handoff_line:
            await self.send("msg", cid=cid, text=self.faq.handoff_line, cmid=f"faq-{cid}-h")
        note = handoff_note(reply.reason, chat.texts)
        await self.send("handoff", cid=cid, reason=reply.reason, note=note)
        del self.chats[cid]  # people have it now
        log.info("handed off %s (%s)", cid, reply.reason)


def main(argv: list[str] | None = None) -> None:
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="ws://localhost:8000/ws/agent")
    parser.add_argument("--token", default=os.environ.get("CHAT_BOT_TOKEN"))
    parser.add_argument("--faq", type=Path, default=here / "faq.json")
    parser.add_argument("--codec", choices=["json", "msgpack"], default="json")
    args = parser.parse_args(argv)
    if not args.token:
        parser.error("give --token or set CHAT_BOT_TOKEN (chat-server agent token EMAIL)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s faq_bot %(message)s")
    bot = Bot(Faq.load(args.faq), args.url, args.token, args.codec)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(bot.run())


if __name__ == "__main__":
    main()
