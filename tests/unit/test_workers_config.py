"""`--workers` / `CHAT_WORKERS` (issue 19): a count of 1 or more, or `auto` (the usable
cores); more than one refused without Redis."""

from __future__ import annotations

import os

import pytest

from chat_server import cli, workers
from chat_server.config import Settings, usable_cores


def test_one_worker_by_default() -> None:
    assert Settings.load({}, {}).workers == 1


@pytest.mark.parametrize("raw", ["auto", "AUTO", " auto "])
def test_auto_is_the_usable_core_count(raw: str) -> None:
    assert usable_cores() == len(os.sched_getaffinity(0))
    assert Settings.load({}, {"CHAT_WORKERS": raw}).workers == usable_cores()
    assert cli.build_parser().parse_args(["serve", "--workers", raw]).workers == usable_cores()


def test_a_count_from_the_environment_or_the_flag() -> None:
    assert Settings.load({}, {"CHAT_WORKERS": "3"}).workers == 3
    args = cli.build_parser().parse_args(["serve", "--workers", "4"])
    assert Settings.load({"workers": args.workers}, {"CHAT_WORKERS": "3"}).workers == 4


@pytest.mark.parametrize("raw", ["0", "-1"])
def test_fewer_than_one_refused_from_the_environment(raw: str) -> None:
    with pytest.raises(ValueError, match=r"workers \(CHAT_WORKERS\) must be at least 1 or auto"):
        Settings.load({}, {"CHAT_WORKERS": raw})


def test_not_a_number_refused_from_the_environment() -> None:
    with pytest.raises(ValueError, match="CHAT_WORKERS='x' is not a valid int"):
        Settings.load({}, {"CHAT_WORKERS": "x"})


@pytest.mark.parametrize("raw", ["0", "-1", "x", "1.5", ""])
def test_bad_flag_values_refused_as_argparse_does(
    raw: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.build_parser().parse_args(["serve", "--workers", raw])
    assert exited.value.code == 2
    assert "expected a count of 1 or more, or auto" in capsys.readouterr().err


def test_several_workers_need_redis() -> None:
    embedded = Settings(workers=2)
    message = workers.refusal(embedded)
    assert message is not None
    assert "one SQLite writer per data directory" in message and "--redis" in message
    assert workers.refusal(Settings(workers=1)) is None
    assert workers.refusal(Settings(workers=2, redis_url="redis://127.0.0.1:6379/0")) is None


def test_serve_refuses_embedded_workers_with_exit_code_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("CHAT_REDIS_URL", raising=False)
    monkeypatch.setenv("CHAT_WORKERS", "2")
    with pytest.raises(SystemExit) as exited:
        cli.main(["serve"])
    assert exited.value.code == 2
    assert "--workers 2 needs the Redis mode" in capsys.readouterr().err
