"""Issue 17 at the command line: `agent add --role bot` (no password, a `b_` id) and
`site bot`, which names the site's bot by email or id and refuses anything else."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from chat_server import cli


def run(tmp_path: Path, capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    capsys.readouterr()
    cli.main([*argv, "--data", str(tmp_path / "data")])
    return capsys.readouterr().out


def test_a_bot_account_and_the_site_setting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run(tmp_path, capsys, "site", "add", "shop", "--origin", "https://shop.example")
    added = run(
        tmp_path, capsys, "agent", "add", "bot@shop.example", "--name", "FAQ", "--role", "bot"
    )
    assert added.startswith("added bot bot@shop.example (b_")
    bot_id = added.strip().rsplit("(", 1)[1].rstrip(")")
    token = run(tmp_path, capsys, "agent", "token", "bot@shop.example").splitlines()[-1]
    assert token.startswith("cat_")

    shown = json.loads(run(tmp_path, capsys, "site", "bot", "shop", "bot@shop.example"))
    assert shown["bot"] == bot_id
    assert json.loads(run(tmp_path, capsys, "site", "bot", "shop", "--off"))["bot"] is None
    assert json.loads(run(tmp_path, capsys, "site", "bot", "shop", bot_id))["bot"] == bot_id

    monkeypatch.setattr("sys.stdin", io.StringIO("a long password\n"))
    run(tmp_path, capsys, "agent", "add", "kim@shop.example", "--name", "Kim", "--password-stdin")
    for argv, message in (
        (("kim@shop.example",), "no bot 'kim@shop.example'"),
        (("nobody@shop.example",), "no bot"),
        ((), "give the bot's email or id, or --off"),
        ((bot_id, "--off"), "--off takes no bot"),
    ):
        with pytest.raises(SystemExit, match=message):
            run(tmp_path, capsys, "site", "bot", "shop", *argv)
