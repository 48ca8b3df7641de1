"""`chat-server serve | agent add | agent token | site add` (contract §7), a site's
settings: `site hours | form | privacy | sneak-peek | timers | files | bot | show` (`cli_site.py`),
`retention run` (`cli_retention.py`) and `visitor export | erase` (`cli_visitor.py`)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from chat_server import cli_retention, cli_site, cli_visitor, cli_webhook
from chat_server.config import Settings, parse_workers
from chat_server.protocol.codec import is_text


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, help="data directory (CHAT_DATA, default ./chat-data)")
    parser.add_argument("--redis", dest="redis_url", help="Redis URL (CHAT_REDIS_URL)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chat-server", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the server")
    _common(serve)
    serve.add_argument("--host", help="address to bind (CHAT_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (CHAT_PORT, default 8000)")
    serve.add_argument(
        "--demo",
        action="store_true",
        default=None,
        help="create a demo site, agent and supervisor and print them",
    )
    serve.add_argument(
        "--behind-proxy",
        action="store_true",
        default=None,
        help="trust X-Forwarded-* headers (TLS terminated by a proxy)",
    )
    serve.add_argument(
        "--workers",
        type=_workers,
        help="processes serving the port, or auto (one per usable core); more than 1 "
        "needs --redis (CHAT_WORKERS, default 1)",
    )

    agent = sub.add_parser("agent", help="manage agents").add_subparsers(
        dest="action", required=True
    )
    add = agent.add_parser("add", help="add an agent, supervisor or bot (bots: no password)")
    _common(add)
    add.add_argument("email")
    add.add_argument("--name", required=True)
    add.add_argument("--role", choices=["agent", "supervisor", "bot"], default="agent")
    add.add_argument("--max-chats", type=int)
    add.add_argument("--topics", default="", help="comma-separated topics")
    add.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    token = agent.add_parser("token", help="print a new API token for an agent")
    _common(token)
    token.add_argument("email")
    token.add_argument(
        "--site",
        action="append",
        default=[],
        help="the write API acts only on this site's conversations (repeatable; issue 17)",
    )
    revoke = agent.add_parser("revoke", help="revoke every API token and session of an agent")
    _common(revoke)
    revoke.add_argument("email")

    site = sub.add_parser("site", help="manage sites").add_subparsers(dest="action", required=True)
    site_add = site.add_parser("add", help="add a site or replace its origins")
    _common(site_add)
    site_add.add_argument("site")
    site_add.add_argument(
        "--identity",
        action="store_true",
        help="verify visitors' user ids: generate a secret the website signs them with",
    )
    site_add.add_argument(
        "--origin",
        action="append",
        required=True,
        help="allowed origin, e.g. https://shop.example (repeatable)",
    )
    cli_site.add_parsers(site, _common)
    cli_retention.add_parser(sub, _common)
    cli_visitor.add_parser(sub, _common)
    cli_webhook.add_parser(sub, _common)
    return parser


def _workers(raw: str) -> int:
    try:
        count = parse_workers(raw)
    except ValueError:
        count = 0
    if count < 1:
        raise argparse.ArgumentTypeError(f"expected a count of 1 or more, or auto, got {raw!r}")
    return count


def main(argv: Sequence[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    _require_text(args)
    overrides = {
        k: getattr(args, k, None)
        for k in ("data", "redis_url", "host", "port", "demo", "behind_proxy", "workers")
    }
    try:
        settings = Settings.load(overrides)
    except ValueError as exc:
        sys.exit(f"chat-server: {exc}")
    if args.command == "serve":
        from chat_server import workers

        refused = workers.refusal(settings)
        if refused:
            parser.error(refused)  # exit 2, as for any other bad argument
        serve(settings)
    elif args.command == "agent" and args.action == "add":
        _admin(settings, lambda store: _agent_add(store, args))
    elif args.command == "agent" and args.action == "token":
        _admin(settings, lambda store: _agent_token(store, args.email, args.site))
    elif args.command == "agent" and args.action == "revoke":
        _admin(settings, lambda store: _agent_revoke(store, args.email))
    elif args.command == "site" and args.action == "add":
        _admin(settings, lambda store: _site_add(store, args.site, args.origin, args.identity))
    elif args.command == "site":
        _admin(settings, lambda store: cli_site.run(store, args))
    elif args.command == "retention":
        days = args.days if args.days is not None else settings.retention_days
        _admin(settings, lambda store: cli_retention.run(store, days))
    elif args.command == "visitor":
        cli_visitor.run(settings, args)
    elif args.command == "webhook":
        _admin(settings, lambda store: cli_webhook.run(store, settings, args))


def _require_text(args: argparse.Namespace) -> None:
    """Every string argument must be Unicode text: argv holds bytes that are not UTF-8 as
    lone surrogates (Python's surrogateescape), which no store can write and no page show.
    Paths are not checked: a file name may be any bytes."""
    for name, value in vars(args).items():
        values = value if isinstance(value, list) else [value]
        if any(isinstance(v, str) and not is_text(v) for v in values):
            sys.exit(f"chat-server: {name.replace('_', '-')} is not valid UTF-8 text")


def serve(settings: Settings) -> None:
    """One node in this process, or `--workers N` processes (`workers.py`)."""
    import uvicorn

    from chat_server import workers
    from chat_server.app import create_app
    from chat_server.demo import banner
    from chat_server.server import uvicorn_config

    workers.configure_logging(settings)
    if settings.demo:
        host = "127.0.0.1" if settings.host in {"0.0.0.0", "::"} else settings.host
        print(banner(f"http://{host}:{settings.port}"), flush=True)
    if settings.workers > 1:
        workers.run(settings)
        return
    uvicorn.Server(uvicorn_config(settings, create_app(settings))).run()


def _admin(settings: Settings, action: Callable[[Any], Awaitable[None]]) -> None:
    from chat_server.app import open_backends
    from chat_server.core.clock import SystemClock
    from chat_server.core.errors import ChatError

    async def run() -> None:
        store, _ = open_backends(settings, SystemClock())
        await store.start()
        try:
            await action(store)
        finally:
            await store.stop()

    try:
        asyncio.run(run())
    except ChatError as exc:
        sys.exit(f"chat-server: {exc.message}")


BOT_MAX_CHATS = 50
"""Issue 17: the conversations a bot holds at once unless `--max-chats` says otherwise."""


def _read_password(from_stdin: bool) -> str:
    if from_stdin or not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
    if len(password) < 8:
        sys.exit("chat-server: the password must have at least 8 characters")
    if not is_text(password):
        sys.exit("chat-server: the password is not valid UTF-8 text")
    return password


async def _agent_add(store: Any, args: argparse.Namespace) -> None:
    from chat_server.core import ids
    from chat_server.core.model import Agent, AgentRole
    from chat_server.web.auth import hash_password

    role = AgentRole(args.role)
    defaults = {AgentRole.SUPERVISOR: 0, AgentRole.BOT: BOT_MAX_CHATS}
    max_chats = args.max_chats if args.max_chats is not None else defaults.get(role, 3)
    if max_chats < 0:
        sys.exit("chat-server: --max-chats must be 0 or more")
    # a bot logs in only with an API token (`agent token`): it has no password
    password = "" if role is AgentRole.BOT else _read_password(args.password_stdin)
    agent = Agent(
        id=ids.bot_id() if role is AgentRole.BOT else ids.agent_id(),
        email=args.email.strip().lower(),
        name=args.name,
        role=role,
        max_chats=max_chats,
        topics=frozenset(t.strip() for t in args.topics.split(",") if t.strip()),
        password_hash=hash_password(password) if password else "",
    )
    await store.directory.add_agent(agent)
    print(f"added {role.value} {agent.email} ({agent.id})")


async def _agent_token(store: Any, email: str, sites: list[str]) -> None:
    from chat_server.core import scopes, tokens

    agent = await store.directory.agent_by_email(email.strip().lower())
    if agent is None:
        sys.exit(f"chat-server: no agent with email {email}")
    token = tokens.new_secret_token("cat")
    kind = scopes.token_kind(sites)
    await store.directory.add_credential(tokens.hash_secret(token), agent.id, kind, None)
    scope = f", for site(s) {', '.join(sorted(set(sites)))}" if sites else ""
    print(f"API token for {agent.email}{scope} (keep it secret):")
    print(token)


async def _agent_revoke(store: Any, email: str) -> None:
    agent = await store.directory.agent_by_email(email.strip().lower())
    if agent is None:
        sys.exit(f"chat-server: no agent with email {email}")
    revoked = await store.directory.revoke_agent_credentials(agent.id)
    print(
        f"revoked {revoked} token(s) and session(s) of {agent.email}; "
        "sockets already open stay until they reconnect"
    )


async def _site_add(store: Any, site_id: str, origins: list[str], identity: bool = False) -> None:
    from chat_server.core.model import Site

    if not 0 < len(site_id) <= 64:
        sys.exit("chat-server: a site id has 1 to 64 characters")
    for origin in origins:
        if origin not in {"*", "self"} and "://" not in origin:
            sys.exit(f"chat-server: {origin!r} is not an origin like https://shop.example")
    existing = await store.directory.site(site_id)
    secret = existing.identity_secret if existing else None  # re-adding a site keeps it
    if identity and secret is None:
        import secrets

        secret = secrets.token_urlsafe(32)
    await store.directory.put_site(Site(site_id, tuple(o.rstrip("/") for o in origins), secret))
    print(f"site {site_id}: {', '.join(origins)}")
    if identity and secret:
        print("identity secret (sign user ids with HMAC-SHA256 on your server, keep it there):")
        print(secret)
