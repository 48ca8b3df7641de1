"""Upgrade guards for the two hand-made parts kept by issue 20 (docs/performance.md, "The
hand-made parts: kept, and why"): `LeanWebSocketProtocol` subclasses uvicorn's websockets
sans-I/O protocol and leans on its internals; `Wire` parses replies with hiredis's `Reader`.
An upgrade of uvicorn, websockets or hiredis that changes what they rely on fails here,
before it fails in production; each message says what to re-check."""

from __future__ import annotations

import ast
import asyncio
import hashlib
import inspect
import re
import textwrap
import tomllib
from pathlib import Path
from typing import Any

import hiredis
import pytest
import uvicorn
from packaging.requirements import Requirement
from starlette.applications import Starlette
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState
from websockets.server import ServerProtocol

from chat_server.backends.redis import wire
from chat_server.config import Settings
from chat_server.lean_websocket import Inbox, LeanWebSocketProtocol, Writable
from chat_server.server import uvicorn_config

ROOT = Path(__file__).resolve().parents[2]
DOC = "docs/performance.md, 'The hand-made parts: kept, and why (issue 20)'"

CHECKED = {"uvicorn": "0.54.0", "websockets": "17.4", "hiredis": "3.5.0", "redis": "8.1.0"}
"""The versions these guards (and the measurements in the doc) were checked against."""

COPIED = {
    "send_receive_event_to_app": "935390da9a9c065f",
    "receive": "150d41c7f477225e",
    "schedule_ping": "9d7a17a1cef2e603",
}
"""uvicorn methods `LeanWebSocketProtocol` overrides with a copy of their body (changed in
one place), or does again without a coroutine (`receive`: `receive_nowait`): sha256 of
uvicorn's source, so that a change there is ported here."""


def again(what: str) -> str:
    return f"{what}: re-check LeanWebSocketProtocol (chat_server/lean_websocket.py), {DOC}"


def base_methods() -> dict[str, ast.FunctionDef | ast.AsyncFunctionDef]:
    source = textwrap.dedent(inspect.getsource(WebSocketsSansIOProtocol))
    (cls,) = ast.parse(source).body
    assert isinstance(cls, ast.ClassDef)
    return {f.name: f for f in cls.body if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)}


def self_attributes(node: ast.AST) -> list[ast.Attribute]:
    return [
        n
        for n in ast.walk(node)
        if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "self"
    ]


def methods_called_on(attribute: str) -> set[str]:
    """What uvicorn's protocol calls on `self.<attribute>` (`queue`, `writable`)."""
    called = set()
    for method in base_methods().values():
        for node in ast.walk(method):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Attribute)
                and isinstance(node.value.value, ast.Name)
                and node.value.value.id == "self"
                and node.value.attr == attribute
            ):
                called.add(node.attr)
    return called


def parameters(function: Any) -> list[str]:
    return list(inspect.signature(function).parameters)


# --- uvicorn: the class it subclasses and the methods it overrides ---------------------


def test_the_protocol_still_subclasses_uvicorns_sans_io_protocol() -> None:
    assert LeanWebSocketProtocol.__mro__[1] is WebSocketsSansIOProtocol, again("the base moved")
    assert WebSocketsSansIOProtocol.__bases__ == (asyncio.Protocol,), again(
        "uvicorn's protocol has a new base (its __slots__ or state may come from it)"
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("__init__", ["self", "config", "server_state", "app_state", "_loop"]),
        ("handle_connect", ["self", "event"]),
        ("send", ["self", "message"]),
        ("send_receive_event_to_app", ["self"]),
        ("handle_parser_exception", ["self"]),
        ("schedule_ping", ["self"]),
    ],
)
def test_the_overridden_and_called_methods_keep_their_signatures(
    name: str, expected: list[str]
) -> None:
    assert parameters(getattr(WebSocketsSansIOProtocol, name)) == expected, again(
        f"uvicorn's {name} changed its signature"
    )


def test_websockets_send_close_takes_a_code() -> None:
    assert parameters(ServerProtocol.send_close)[:2] == ["self", "code"], again(
        "websockets' send_close (the 1007 close) changed its signature"
    )


def test_the_copied_methods_are_unchanged_upstream() -> None:
    for name, digest in COPIED.items():
        source = textwrap.dedent(inspect.getsource(getattr(WebSocketsSansIOProtocol, name)))
        found = hashlib.sha256(source.encode()).hexdigest()[:16]
        assert found == digest, again(
            f"uvicorn's {name} changed (digest {found}): port the change into the copy, "
            "then update COPIED"
        )


def test_the_keepalive_runs_on_the_ping_timer_as_the_override_expects() -> None:
    """`schedule_ping` (copied) sets `ping_timer` to call `send_keepalive_ping`: that holds
    while uvicorn starts the keepalive through `schedule_ping` and stops it by cancelling
    `ping_timer`."""

    def calls(method: str, attribute: str, call: str) -> bool:
        return any(
            isinstance(n, ast.Call)
            and isinstance(n.func, ast.Attribute)
            and n.func.attr == call
            and any(isinstance(a, ast.Attribute) and a.attr == attribute for a in ast.walk(n))
            for n in ast.walk(base_methods()[method])
        )

    assert calls("start_keepalive", "schedule_ping", "schedule_ping"), again(
        "uvicorn's start_keepalive no longer calls schedule_ping"
    )
    assert calls("stop_keepalive", "ping_timer", "cancel"), again(
        "uvicorn's stop_keepalive no longer cancels ping_timer"
    )


# --- uvicorn: the state it replaces or drops ---------------------------------------------


def test_every_attribute_uvicorn_sets_has_a_slot() -> None:
    """A new attribute still works (it lands in an instance dict) but costs the dict the
    slots saved: about 1.5 KiB per socket."""
    assigned = {
        node.attr
        for method in base_methods().values()
        for node in self_attributes(method)
        if isinstance(node.ctx, ast.Store)
    }
    missing = assigned - set(LeanWebSocketProtocol.__slots__)
    assert not missing, again(f"uvicorn sets attributes without a slot: {sorted(missing)}")


def test_the_queue_and_event_are_used_only_as_inbox_and_writable_allow() -> None:
    queue = methods_called_on("queue")
    assert queue <= {"put_nowait", "get", "empty"}, again(f"uvicorn's queue use: {queue}")
    assert all(callable(getattr(Inbox, m, None)) for m in queue), again("Inbox lacks a method")
    writable = methods_called_on("writable")
    assert writable <= {"set", "clear", "wait", "is_set"}, again(f"writable use: {writable}")
    assert all(callable(getattr(Writable, m, None)) for m in writable), again("Writable lacks")


def test_the_dropped_handshake_state_is_read_nowhere_else() -> None:
    """`handle_connect` drops the request, and the accept the response: uvicorn must read
    them nowhere after that."""
    readers: dict[str, set[str]] = {"request": set(), "response": set()}
    for name, method in base_methods().items():
        for node in self_attributes(method):
            if node.attr in readers:
                readers[node.attr].add(name)
    assert readers["request"] <= {"handle_connect"}, again(f"request read in {readers}")
    assert readers["response"] <= {"handle_connect", "send"}, again(f"response in {readers}")


async def test_a_protocol_is_made_with_the_lean_state() -> None:
    settings = Settings(port=8000, log_level="warning")
    config = uvicorn_config(settings, Starlette())
    config.load()
    assert config.ws_protocol_class is LeanWebSocketProtocol, again("uvicorn's `ws=` option")
    proto = LeanWebSocketProtocol(config, ServerState(), {}, asyncio.get_running_loop())
    assert isinstance(proto.queue, Inbox), again("the inbox was not installed")
    assert isinstance(proto.writable, Writable), again("Writable was not installed")
    assert not proto.__dict__, again(f"attributes outside the slots: {sorted(proto.__dict__)}")


# --- hiredis: the Reader API Wire uses ---------------------------------------------------


def test_hiredis_reader_answers_as_wire_expects() -> None:
    def says(what: str) -> str:
        return f"hiredis.Reader: {what}: re-check Wire.data_received (redis/wire.py), {DOC}"

    reader = hiredis.Reader()
    assert reader.gets() is False, says("nothing read must give False")
    reader.feed(wire.pack(("EVALSHA", "abc", 1, "k", 1.5)))
    assert reader.gets() == [b"EVALSHA", b"abc", b"1", b"k", b"1.5"], says("arrays of bytes")
    reader.feed(b"*2\r\n$7\r\nmessage\r\n")
    assert reader.gets() is False, says("a partial reply must give False")
    reader.feed(b"$2\r\nhi\r\n+OK\r\n-LOADING wait\r\n:3\r\n")
    assert reader.gets() == [b"message", b"hi"], says("a reply fed in parts")
    assert reader.gets() == b"OK", says("status replies as bytes")
    error = reader.gets()
    assert type(error) is hiredis.ReplyError, says("errors are returned, not raised")
    assert isinstance(wire.reply_error(error), wire.Loading), says("error text as str()")
    assert reader.gets() == 3, says("integers as int")
    reader.feed(b"?bad\r\n")
    with pytest.raises(hiredis.ProtocolError):
        reader.gets()


# --- the versions these guards checked -----------------------------------------------------


def locked() -> dict[str, str]:
    text = (ROOT / "requirements.lock").read_text()
    return {m[1].lower(): m[2] for m in re.finditer(r"^([\w.-]+)==(\S+)$", text, re.M)}


def required() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    found = (Requirement(r) for r in project["dependencies"])
    return {r.name: r for r in found}


@pytest.mark.parametrize("name", sorted(CHECKED))
def test_the_locked_and_allowed_versions_are_the_checked_ones(name: str) -> None:
    pinned = locked().get(name)
    assert pinned == CHECKED[name], (
        f"requirements.lock pins {name} {pinned}, the guards and the measurements were "
        f"checked on {CHECKED[name]}: run them again, update {DOC} and CHECKED"
    )
    if name == "hiredis":  # it comes as redis-py's extra
        assert "hiredis" in required()["redis"].extras, "pyproject.toml: redis[hiredis] is gone"
        return
    allowed = required()[name].specifier
    assert CHECKED[name] in allowed, f"pyproject.toml's {name} {allowed} excludes the checked one"


def test_uvicorn_is_the_checked_minor_release() -> None:
    """pyproject allows later uvicorn releases; their internals are checked above, and
    this says that the measurements were not taken on them."""
    major_minor = ".".join(uvicorn.__version__.split(".")[:2])
    assert major_minor == ".".join(CHECKED["uvicorn"].split(".")[:2]), again(
        f"uvicorn {uvicorn.__version__} is not the checked {CHECKED['uvicorn']}"
    )
