"""Where each backend's next durable write is made to fail (`writes.FailNext`).

Embedded: the write's SQL runs, then raises inside its transaction (its savepoint rolls it
back). Redis, "row": the next row built for Redis raises (`rows.py`, before anything is
sent); "queued": the next transition or open fails once all of its write is built, just
before its script is sent, and the next append just before its script is sent."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from chat_server.backends.base import Store
from chat_server.backends.embedded.store import EmbeddedStore
from chat_server.backends.redis import rows
from chat_server.backends.redis.store import RedisStore
from tests.contract.writes import FailNext

ROW_BUILDERS = ("dumps", "event", "spliced_row", "spliced_event")


def failing_sql(store: Store, monkeypatch: pytest.MonkeyPatch) -> FailNext:
    assert isinstance(store, EmbeddedStore)
    db = store.db

    @contextlib.contextmanager
    def fail_next(injected: BaseException) -> Iterator[None]:
        real = db.submit
        armed = [True]

        def submit(op: Any, *args: Any, **kwargs: Any) -> Any:
            if armed[0]:
                armed[0] = False

                def failing(conn: sqlite3.Connection) -> Any:
                    op(conn)  # the write's SQL runs, then fails before its savepoint ends
                    raise injected

                return real(failing, *args, **kwargs)
            return real(op, *args, **kwargs)

        with monkeypatch.context() as patch:
            patch.setattr(db, "submit", submit)
            yield
        assert not armed[0], "no write was attempted"

    return fail_next


def failing_rows(store: Store, monkeypatch: pytest.MonkeyPatch) -> FailNext:
    assert isinstance(store, RedisStore)

    @contextlib.contextmanager
    def fail_next(injected: BaseException) -> Iterator[None]:
        armed = [True]

        def once(real: Callable[..., Any]) -> Callable[..., Any]:
            def builder(*args: Any, **kwargs: Any) -> Any:
                if armed[0]:
                    armed[0] = False
                    raise injected
                return real(*args, **kwargs)

            return builder

        with monkeypatch.context() as patch:
            for name in ROW_BUILDERS:
                patch.setattr(rows, name, once(getattr(rows, name)))
            yield
        assert not armed[0], "no row was built"

    return fail_next


def failing_sends(store: Store, monkeypatch: pytest.MonkeyPatch) -> FailNext:
    assert isinstance(store, RedisStore)
    conversations: Any = store.conversations
    transitions, appender = conversations.transitions, conversations.appender

    @contextlib.contextmanager
    def fail_next(injected: BaseException) -> Iterator[None]:
        armed = [True]
        real_write, real_script = transitions.write, appender.script

        def write(*args: Any, **kwargs: Any) -> None:
            real_write(*args, **kwargs)
            if armed[0]:
                armed[0] = False
                raise injected

        async def script(*args: Any, **kwargs: Any) -> Any:
            if armed[0]:
                armed[0] = False
                raise injected
            return await real_script(*args, **kwargs)

        with monkeypatch.context() as patch:
            patch.setattr(transitions, "write", write)
            patch.setattr(appender, "script", script)
            yield
        assert not armed[0], "no write was attempted"

    return fail_next


SEAMS: dict[str, Callable[[Store, pytest.MonkeyPatch], FailNext]] = {
    "sql": failing_sql,
    "row": failing_rows,
    "queued": failing_sends,
}
