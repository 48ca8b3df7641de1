"""`chat_server/cli.py`: command-line strings that are not UTF-8 are refused before they
reach a store (argv and stdin hold undecodable bytes as lone surrogates)."""

from __future__ import annotations

import io
from pathlib import Path

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
