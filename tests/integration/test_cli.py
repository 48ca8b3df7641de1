"""`chat_server/cli.py`: command-line strings that are not UTF-8 are refused before they
reach a store (argv and stdin hold undecodable bytes as lone surrogates)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from chat_server import cli


@pytest.mark.parametrize(
    ("argv", "name"),
    [
        (["agent", "add", "a\udcff@x.example", "--name", "A"], "email"),
        (["agent", "add", "a@x.example", "--name", "\udcc3"], "name"),
        (["agent", "add", "a@x.example", "--name", "A", "--topics", "x,\udc80"], "topics"),
        (["site", "add", "shop\udcff", "--origin", "https://shop.example"], "site"),
        (["site", "add", "shop", "--origin", "https://ok.example", "--origin", "\udcff"], "origin"),
        (["serve", "--redis", "redis://\udcff"], "redis-url"),
    ],
)
def test_arguments_that_are_not_utf8_are_refused(
    argv: list[str], name: str, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    with pytest.raises(SystemExit) as exited:
        cli.main([*argv, "--data", str(data)])
    assert str(exited.value) == f"chat-server: {name} is not valid UTF-8 text"
    assert not data.exists()  # refused before any store was opened


def test_a_data_path_may_be_any_bytes(tmp_path: Path) -> None:
    args = cli.build_parser().parse_args(["agent", "token", "a@x.example", "--data", "/x/\udcff"])
    cli._require_text(args)  # no exit: file names are bytes


def test_a_password_that_is_not_utf8_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("long enough \udcff\n"))
    with pytest.raises(SystemExit, match="password is not valid UTF-8 text"):
        cli._read_password(from_stdin=True)


# --- site settings (issue 14) ----------------------------------------------------------


def site_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    """Run `chat-server site ...` on the test's data directory; its printed settings."""
    capsys.readouterr()
    cli.main(["site", *argv, "--data", str(tmp_path / "data")])
    printed: dict[str, Any] = json.loads(capsys.readouterr().out)
    return printed


@pytest.fixture
def shop(tmp_path: Path) -> None:
    cli.main(
        [
            "site",
            "add",
            "shop",
            "--origin",
            "https://shop.example",
            "--data",
            str(tmp_path / "data"),
        ]
    )


def test_site_hours_are_set_shown_and_cleared(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], shop: None
) -> None:
    shown = site_cli(
        tmp_path,
        capsys,
        "hours",
        "shop",
        "--tz",
        "Europe/Paris",
        "--day",
        "mon=09:00-17:30",
        "--day",
        "TUE=09:00-12:00,13:00-17:00",
        "--holiday",
        "2026-12-25",
    )
    assert shown["hours"] == {
        "tz": "Europe/Paris",
        "weekly": {
            "mon": [["09:00", "17:30"]],
            "tue": [["09:00", "12:00"], ["13:00", "17:00"]],
            "wed": [],
            "thu": [],
            "fri": [],
            "sat": [],
            "sun": [],
        },
        "holidays": ["2026-12-25"],
    }
    assert site_cli(tmp_path, capsys, "show", "shop")["hours"] == shown["hours"]
    assert site_cli(tmp_path, capsys, "hours", "shop", "--always")["hours"] is None


def test_site_form_privacy_sneak_peek_and_timers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], shop: None
) -> None:
    shown = site_cli(
        tmp_path,
        capsys,
        "form",
        "shop",
        "--field",
        "email:email:Your email:required",
        "--field",
        "plan:select:Plan:Free|Pro",
        "--field",
        "terms:checkbox:I accept:required",
        "--topic",
        "billing=Billing",
        "--topic",
        "tech",
    )
    assert shown["form"] == [
        {"name": "email", "label": "Your email", "type": "email", "required": True},
        {
            "name": "plan",
            "label": "Plan",
            "type": "select",
            "required": False,
            "options": ["Free", "Pro"],
        },
        {"name": "terms", "label": "I accept", "type": "checkbox", "required": True},
    ]
    assert shown["topics"] == [
        {"id": "billing", "label": "Billing"},
        {"id": "tech", "label": "tech"},
    ]
    only_topics = site_cli(tmp_path, capsys, "form", "shop", "--topic", "sales=Sales")
    assert len(only_topics["form"]) == 3 and only_topics["topics"] == [
        {"id": "sales", "label": "Sales"}
    ]
    cleared = site_cli(tmp_path, capsys, "form", "shop", "--clear")
    assert cleared["form"] == [] and cleared["topics"] == []

    privacy = site_cli(
        tmp_path,
        capsys,
        "privacy",
        "shop",
        "--text",
        "We keep chats 30 days.",
        "--url",
        "https://shop.example/p",
    )
    assert privacy["privacy"] == {"text": "We keep chats 30 days.", "url": "https://shop.example/p"}
    assert site_cli(tmp_path, capsys, "privacy", "shop", "--clear")["privacy"] is None
    assert site_cli(tmp_path, capsys, "sneak-peek", "shop", "on")["sneak_peek"] is True
    assert site_cli(tmp_path, capsys, "sneak-peek", "shop", "off")["sneak_peek"] is False
    timers = site_cli(
        tmp_path, capsys, "timers", "shop", "--offline-after", "60", "--inactive-close", "90"
    )
    assert (timers["offline_after_s"], timers["inactive_warn_s"], timers["inactive_close_s"]) == (
        60,
        600,
        90,
    )


def test_site_files_are_set_shown_and_turned_off(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], shop: None
) -> None:
    """Issue 15: `site files`, through the same validator as the REST settings."""
    assert site_cli(tmp_path, capsys, "show", "shop")["files"] == {
        "max_bytes": 10 * 1024 * 1024,
        "types": ["png", "jpeg", "gif", "webp", "pdf", "txt"],
    }
    fewer = site_cli(tmp_path, capsys, "files", "shop", "--max-mb", "2.5", "--types", "PDF, png")
    assert fewer["files"] == {"max_bytes": 2621440, "types": ["png", "pdf"]}
    bigger = site_cli(tmp_path, capsys, "files", "shop", "--max-mb", "100")
    assert bigger["files"] == {"max_bytes": 100 * 1024 * 1024, "types": ["png", "pdf"]}
    off = site_cli(tmp_path, capsys, "files", "shop", "--off")
    assert off["files"] == {"max_bytes": 0, "types": ["png", "pdf"]}
    assert site_cli(tmp_path, capsys, "show", "shop")["files"] == off["files"]
    only_text = site_cli(tmp_path, capsys, "files", "shop", "--max-mb", "1", "--types", "txt")
    assert only_text["files"] == {"max_bytes": 1024 * 1024, "types": ["txt"]}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["hours", "shop", "--tz", "Mars/Olympus"], "unknown time zone"),
        (["hours", "shop"], "give --tz"),
        (["hours", "shop", "--always", "--tz", "UTC"], "--always takes no"),
        (["hours", "shop", "--tz", "UTC", "--day", "monday=09:00-17:00"], "like mon=09:00-17:30"),
        (
            [
                "hours",
                "shop",
                "--tz",
                "UTC",
                "--day",
                "mon=09:00-17:00",
                "--day",
                "mon=18:00-19:00",
            ],
            "twice",
        ),
        (["hours", "shop", "--tz", "UTC", "--day", "mon=17:00-09:00"], "ends before it starts"),
        (["hours", "shop", "--tz", "UTC", "--day", "mon=09:00"], "each interval is"),
        (["hours", "shop", "--tz", "UTC", "--holiday", "25/12"], "not a date"),
        (["form", "shop"], "give --field"),
        (["form", "shop", "--field", "email"], "like email:email"),
        (["form", "shop", "--field", "a:select:A:x|y:more"], "options go last"),
        (["form", "shop", "--field", "a:date:A"], "type is one of"),
        (["privacy", "shop"], "give --text"),
        (["privacy", "shop", "--text", "x", "--url", "ftp://x"], "privacy.url"),
        (["timers", "shop"], "give --offline-after"),
        (["timers", "shop", "--inactive-warn", "5"], "inactive_warn_s is a whole number"),
        (["show", "nope"], "no site 'nope'"),
        (["files", "shop"], "give --max-mb, --types or --off"),
        (["files", "shop", "--max-mb", "0"], "--max-mb is more than 0 and at most 100"),
        (["files", "shop", "--max-mb", "101"], "--max-mb is more than 0 and at most 100"),
        (["files", "shop", "--max-mb", "nan"], "--max-mb is more than 0"),
        (["files", "shop", "--off", "--max-mb", "5"], "--off takes no --max-mb"),
        (["files", "shop", "--types", "png,exe"], "files.types is a list of: png, jpeg"),
    ],
)
def test_bad_site_settings_are_refused(
    argv: list[str], message: str, tmp_path: Path, shop: None
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["site", *argv, "--data", str(tmp_path / "data")])
    assert message in str(exited.value)
