"""`chat-server visitor export | erase` (issue 16): a visitor's data on request, found by
visitor id or by email (every visitor with that email), both audited under `--by`.

Redis: both may run while the nodes run; every removal is atomic, and the closes an erase
makes are announced over the bus like any other. Embedded: the rule of `retention run`
holds: the command may share the database with a running server as long as it touches
closed conversations only. An open conversation lives in that server's memory, so `erase`
refuses a visitor who has one while another process has the database open.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from chat_server.config import Settings
from chat_server.core.errors import ChatError
from chat_server.core.site_settings import is_email

if TYPE_CHECKING:  # imported when a command runs: `chat-server --help` stays quick
    from chat_server.backends.base import Store
    from chat_server.service.node import Node
    from chat_server.service.visitor_data import Subject

Common = Callable[[argparse.ArgumentParser], None]


def _email(text: str) -> str:
    if not is_email(text.strip()):
        raise argparse.ArgumentTypeError(f"{text!r} is not an email address")
    return text.strip()


def _by(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("give the operator's name or email")
    return text.strip()


def add_parser(sub: Any, common: Common) -> None:
    """`visitor export | erase`, under the top-level subparsers action."""
    actions = sub.add_parser("visitor", help="export or erase a visitor's data").add_subparsers(
        dest="action", required=True
    )
    export = actions.add_parser("export", help="print (or write) a visitor's data as JSON")
    erase = actions.add_parser("erase", help="erase a visitor's conversations, files and identity")
    for parser in (export, erase):
        common(parser)
        who = parser.add_mutually_exclusive_group(required=True)
        who.add_argument("--id", dest="visitor_id", metavar="VID", help="a visitor id (v_...)")
        who.add_argument(
            "--email", type=_email, metavar="ADDR", help="every visitor with this email"
        )
        parser.add_argument(
            "--by",
            required=True,
            type=_by,
            metavar="NAME",
            help="the operator's name or email (audit log)",
        )
    export.add_argument("--out", type=Path, metavar="FILE", help="write here (default: stdout)")
    export.add_argument("--files", type=Path, metavar="DIR", help="copy the files' bytes here")
    erase.add_argument("--yes", action="store_true", help="do not ask for confirmation")


def run(settings: Settings, args: argparse.Namespace) -> None:
    try:
        asyncio.run(_run(settings, args))
    except ChatError as exc:
        sys.exit(f"chat-server: {exc.message}")


def fail(message: str, code: int = 1) -> NoReturn:
    print(f"chat-server: {message}", file=sys.stderr)
    sys.exit(code)


async def _run(settings: Settings, args: argparse.Namespace) -> None:
    from chat_server.app import open_backends
    from chat_server.backends.embedded.store import EmbeddedStore
    from chat_server.core.clock import SystemClock
    from chat_server.service import visitor_data

    clock = SystemClock()
    store, bus = open_backends(settings, clock)
    await store.start()
    shared = isinstance(store, EmbeddedStore) and store.shared
    try:
        subjects = await visitor_data.find(store, visitor_id=args.visitor_id, email=args.email)
        if not subjects:
            who = f"with email {args.email}" if args.email else args.visitor_id
            fail(f"no visitor {who} (never seen, or erased already)")
        if args.action == "export":
            await _export(store, subjects, args, clock.now_ms())
            return
        if shared:
            _refuse_open(subjects)
        _confirm(subjects, args.yes)
        await bus.start()
        try:
            node = visitor_data.erasing_node(settings, store, bus, clock)
            await _erase(node, subjects, args.by, close_open=not shared)
        finally:
            await bus.stop()
    finally:
        await store.stop()


async def _export(
    store: Store, subjects: list[Subject], args: argparse.Namespace, now: int
) -> None:
    from chat_server.service import visitor_data

    out = _open_out(args.out) if args.out is not None else sys.stdout
    try:
        if args.files is not None:
            _make_dir(args.files)
        parts, tallies = [], []
        for subject in subjects:
            part, counts = await visitor_data.export(store, subject, args.files)
            parts.append(part)
            tallies.append((subject.visitor_id, counts))
        out.write(json.dumps({"exported": now, "visitors": parts}, indent=2, ensure_ascii=False))
        out.write("\n")
    finally:
        if out is not sys.stdout:
            out.close()
    for vid, counts in tallies:
        entry = visitor_data.audit_entry(now, args.by, visitor_data.EXPORT, vid, counts)
        await store.audit.record(entry)
        if args.out is not None:
            print(f"exported visitor {vid}: {_summary(counts)}")


def _open_out(path: Path) -> TextIO:
    """Opened first, so that a path that cannot be written fails before any work; readable
    by its owner only (personal data)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror}")
    return os.fdopen(fd, "w", encoding="utf-8")


def _make_dir(path: Path) -> None:
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror}")


def _refuse_open(subjects: list[Subject]) -> None:
    for subject in subjects:
        open_ones = [c.id for c in subject.conversations if c.is_open]
        if open_ones:
            fail(
                f"visitor {subject.visitor_id} has an open conversation ({', '.join(open_ones)}) "
                "held by the server running on this data directory: close it from the console, "
                "or stop the server, then erase again (nothing was erased)"
            )


def _confirm(subjects: list[Subject], yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        fail("erase asks for confirmation: run it on a terminal, or add --yes", 2)
    for subject in subjects:
        print(
            f"visitor {subject.visitor_id}: {len(subject.conversations)} conversation(s)",
            file=sys.stderr,
        )
    print("Erase for good? Type 'yes' to go on: ", end="", file=sys.stderr, flush=True)
    if sys.stdin.readline().strip().lower() not in {"y", "yes"}:
        fail("nothing was erased")


async def _erase(node: Node, subjects: list[Subject], by: str, *, close_open: bool) -> None:
    from chat_server.service import visitor_data

    store, unfinished, closed = node.store, list[str](), 0
    for subject in subjects:
        counts, left = await visitor_data.erase(node, subject, close_open=close_open)
        closed += counts["closed"]
        now = node.clock.now_ms()
        entry = visitor_data.audit_entry(now, by, visitor_data.ERASE, subject.visitor_id, counts)
        await store.audit.record(entry)
        print(f"erased visitor {subject.visitor_id}: {_summary(counts)}")
        if left:
            unfinished.append(f"{subject.visitor_id} ({', '.join(left)} opened meanwhile)")
        elif await store.presence.online("visitor", among=[subject.visitor_id]):
            print(
                f"  visitor {subject.visitor_id} is connected now: what they send from now on "
                "is new data; erase again once they have gone",
                file=sys.stderr,
            )
    if closed:
        await visitor_data.route_freed(node)
    if unfinished:
        fail(f"not finished, erase again: {'; '.join(unfinished)}")


def _summary(counts: Counter[str]) -> str:
    """`3 conversation(s) (1 closed first), 41 message(s), ...`: the counts there are."""
    parts = [f"{counts['conversations']} conversation(s)"]
    if counts["closed"]:
        parts[0] += f" ({counts['closed']} closed first)"
    for name in ("messages", "notes", "files", "files_copied", "ratings"):
        if name in counts:
            parts.append(f"{counts[name]} {name.replace('_', ' ')}")
    if "identity" in counts:
        parts.append("identity forgotten" if counts["identity"] else "no identity record left")
    return ", ".join(parts)
