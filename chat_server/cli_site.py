"""`chat-server site hours | form | privacy | sneak-peek | timers | files | show` (issues
14, 15): a site's visitor-facing settings, checked by the same validator as the REST API."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from chat_server.core import hours, site_settings
from chat_server.core.files import MAX_BYTES_CAP, TYPES
from chat_server.core.model import Site

Common = Callable[[argparse.ArgumentParser], None]


def add_parsers(site: Any, common: Common) -> None:
    """The settings subcommands, under `site` (an argparse subparsers action)."""
    h = site.add_parser("hours", help="set business hours (or --always)")
    common(h)
    h.add_argument("site")
    h.add_argument("--always", action="store_true", help="always open (no hours)")
    h.add_argument("--tz", help="time zone, e.g. Europe/Paris")
    h.add_argument(
        "--day",
        action="append",
        default=[],
        help="DAY=HH:MM-HH:MM[,HH:MM-HH:MM]: e.g. mon=09:00-17:30 (days not given are closed)",
    )
    h.add_argument("--holiday", action="append", default=[], help="a closed date: 2026-12-25")

    form = site.add_parser("form", help="set the pre-chat form and topic picker")
    common(form)
    form.add_argument("site")
    form.add_argument(
        "--field",
        action="append",
        default=[],
        help="name:type:Label[:required][:opt1|opt2] (type: text, email, select, checkbox)",
    )
    form.add_argument("--topic", action="append", default=[], help="id=Label")
    form.add_argument("--clear", action="store_true", help="remove the form and topics first")

    privacy = site.add_parser("privacy", help="set the privacy notice (or --clear)")
    common(privacy)
    privacy.add_argument("site")
    privacy.add_argument("--text")
    privacy.add_argument("--url")
    privacy.add_argument("--clear", action="store_true")

    peek = site.add_parser("sneak-peek", help="let agents see visitors' unsent drafts")
    common(peek)
    peek.add_argument("site")
    peek.add_argument("state", choices=["on", "off"])

    timers = site.add_parser("timers", help="set the offline and inactivity timers")
    common(timers)
    timers.add_argument("site")
    timers.add_argument("--offline-after", type=int, help="seconds queued before 'leave a message'")
    timers.add_argument("--inactive-warn", type=int, help="seconds without a message: warning")
    timers.add_argument("--inactive-close", type=int, help="seconds after the warning: closed")

    files = site.add_parser("files", help="set the attachments visitors and agents may send")
    common(files)
    files.add_argument("site")
    files.add_argument("--max-mb", type=float, help="largest file in MiB (default 10, up to 100)")
    files.add_argument("--types", help=f"accepted types, comma-separated: {','.join(TYPES)}")
    files.add_argument("--off", action="store_true", help="no attachments on this site")

    bot = site.add_parser("bot", help="route new conversations to a bot first (or --off)")
    common(bot)
    bot.add_argument("site")
    bot.add_argument("agent", nargs="?", help="the bot's email or id (agent add --role bot)")
    bot.add_argument("--off", action="store_true", help="new conversations go to people")

    show = site.add_parser("show", help="print a site's settings (JSON)")
    common(show)
    show.add_argument("site")


def fail(message: str) -> Any:
    sys.exit(f"chat-server: {message}")


def changes(args: argparse.Namespace, site: Site) -> dict[str, Any]:
    """The settings body a subcommand's arguments ask for (empty for `show`)."""
    action = args.action
    if action == "files":
        return {"files": _files(args, site)}
    if action == "hours":
        return {"hours": _hours(args)}
    if action == "form":
        return _form(args)
    if action == "privacy":
        if args.clear:
            return {"privacy": None}
        if not args.text:
            fail("give --text (and --url), or --clear")
        return {"privacy": {"text": args.text, **({"url": args.url} if args.url else {})}}
    if action == "sneak-peek":
        return {"sneak_peek": args.state == "on"}
    if action == "timers":
        body = {
            key: value
            for key, value in (
                ("offline_after_s", args.offline_after),
                ("inactive_warn_s", args.inactive_warn),
                ("inactive_close_s", args.inactive_close),
            )
            if value is not None
        }
        if not body:
            fail("give --offline-after, --inactive-warn or --inactive-close")
        return body
    return {}


def _files(args: argparse.Namespace, site: Site) -> dict[str, Any]:
    """What is not given stays as it is; `--off` is a limit of 0."""
    if args.off:
        if args.max_mb is not None:
            fail("--off takes no --max-mb")
        max_bytes = 0
    elif args.max_mb is not None:
        cap = MAX_BYTES_CAP // (1024 * 1024)
        if not 0 < args.max_mb <= cap:  # NaN too
            fail(f"--max-mb is more than 0 and at most {cap} (or give --off)")
        max_bytes = round(args.max_mb * 1024 * 1024)
    elif args.types is None:
        fail("give --max-mb, --types or --off")
    else:
        max_bytes = site.file_max_bytes
    types = site.file_types if args.types is None else args.types.split(",")
    return {"max_bytes": max_bytes, "types": [t.strip().lower() for t in types if t.strip()]}


def _hours(args: argparse.Namespace) -> dict[str, Any] | None:
    if args.always:
        if args.tz or args.day or args.holiday:
            fail("--always takes no --tz, --day or --holiday")
        return None
    if not args.tz:
        fail("give --tz (and --day ...), or --always")
    weekly: dict[str, list[list[str]]] = {}
    for spec in args.day:
        day, _, spans = spec.partition("=")
        day = day.strip().lower()
        if day not in hours.DAYS or not spans:
            fail(f"--day {spec!r}: like mon=09:00-17:30 (days: {', '.join(hours.DAYS)})")
        if day in weekly:
            fail(f"--day {day} is given twice: list its intervals with commas")
        weekly[day] = [span.strip().split("-", 1) for span in spans.split(",")]
    return {"tz": args.tz, "weekly": weekly, "holidays": args.holiday}


def _form(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {"form": [], "topics": []} if args.clear else {}
    if args.field:
        body["form"] = [_field(spec) for spec in args.field]
    if args.topic:
        body["topics"] = []
        for spec in args.topic:
            tid, _, label = spec.partition("=")
            body["topics"].append({"id": tid.strip(), "label": label.strip() or tid.strip()})
    if not body:
        fail("give --field, --topic or --clear")
    return body


def _field(spec: str) -> dict[str, Any]:
    parts = spec.split(":")
    if len(parts) < 3:
        fail(f"--field {spec!r}: like email:email:Your email:required")
    name, kind, label, *rest = parts
    field: dict[str, Any] = {"name": name, "type": kind, "label": label}
    if rest and rest[0] == "required":
        field["required"] = True
        rest = rest[1:]
    if len(rest) > 1:
        fail(f"--field {spec!r}: options go last, separated by '|'")
    if rest:
        field["options"] = rest[0].split("|")
    return field


async def _bot(store: Any, args: argparse.Namespace) -> str | None:
    """Issue 17: the bot account named by email or id, refused unless its role is `bot`."""
    if args.off:
        if args.agent:
            fail("--off takes no bot")
        return None
    if not args.agent:
        fail("give the bot's email or id, or --off")
    directory = store.directory
    name = args.agent.strip()
    agent = await directory.agent(name) or await directory.agent_by_email(name.lower())
    if agent is None or not agent.is_bot:
        fail(f"no bot {name!r} (add one with: chat-server agent add --role bot)")
    return str(agent.id)


def show_json(site: Any) -> str:
    return json.dumps(
        {"id": site.id, "origins": list(site.origins), **site_settings.settings_json(site)},
        indent=2,
        ensure_ascii=False,
    )


async def run(store: Any, args: argparse.Namespace) -> None:
    """Change (unless `show`) and print the site's settings."""
    site = await store.directory.site(args.site)
    if site is None:
        fail(f"no site {args.site!r} (add it with: chat-server site add)")
    body = {"bot": await _bot(store, args)} if args.action == "bot" else changes(args, site)
    if body:
        try:
            site = site_settings.apply(site, body)
        except ValueError as exc:
            fail(str(exc))
        await store.directory.put_site(site)
    print(show_json(site))
