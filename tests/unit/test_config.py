"""`chat_server/config.py`: flags > `CHAT_*` environment > defaults, validated once."""

from __future__ import annotations

from pathlib import Path

import pytest

from chat_server.config import Settings


def test_defaults_with_an_empty_environment() -> None:
    s = Settings.load({}, {})
    assert s.port == 8000
    assert s.host == "127.0.0.1"
    assert s.data == Path("chat-data")
    assert s.redis_url is None
    assert s.agent_grace_s == 30.0
    assert s.visitor_timeout_s == 600.0
    assert s.survey == ("csat", "nps", "ces")
    assert s.behind_proxy is False
    assert s.max_frame_bytes == 2 * 1024 * 1024
    assert s.hello_timeout_s == 10.0
    assert (s.send_queue, s.send_queue_bytes) == (1000, 8 * 1024 * 1024)


def test_reads_chat_environment_variables() -> None:
    env = {
        "CHAT_PORT": "9123",
        "CHAT_DATA": "/var/lib/chat",
        "CHAT_REDIS_URL": "redis://localhost:6379/2",
        "CHAT_AGENT_GRACE_S": "12.5",
        "CHAT_SURVEY": "csat,nps",
        "CHAT_BEHIND_PROXY": "true",
        "CHAT_HOST": "0.0.0.0",
        "CHAT_MAX_FRAME_BYTES": "4096",
        "CHAT_PUBLIC_ORIGINS": "https://a.example, https://b.example",
    }
    s = Settings.load({}, env)
    assert s.port == 9123
    assert s.data == Path("/var/lib/chat")
    assert s.redis_url == "redis://localhost:6379/2"
    assert s.agent_grace_s == 12.5
    assert s.survey == ("csat", "nps")
    assert s.behind_proxy is True
    assert s.host == "0.0.0.0"
    assert s.max_frame_bytes == 4096
    assert s.public_origins == ("https://a.example", "https://b.example")


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("true", True),
        ("1", True),
        ("YES", True),
        ("on", True),
        ("false", False),
        ("0", False),
        ("no", False),
        ("Off", False),
    ],
)
def test_boolean_spellings(raw: str, value: bool) -> None:
    assert Settings.load({}, {"CHAT_BEHIND_PROXY": raw}).behind_proxy is value


def test_survey_list_tolerates_spaces_and_empty_items() -> None:
    assert Settings.load({}, {"CHAT_SURVEY": " ces , ,csat "}).survey == ("ces", "csat")


def test_empty_variables_are_ignored() -> None:
    s = Settings.load({}, {"CHAT_PORT": "", "CHAT_REDIS_URL": ""})
    assert s.port == 8000
    assert s.redis_url is None


def test_data_dir_alias() -> None:
    assert Settings.load({}, {"CHAT_DATA_DIR": "/d"}).data == Path("/d")
    assert Settings.load({}, {"CHAT_DATA": "/a", "CHAT_DATA_DIR": "/b"}).data == Path("/a")


def test_flags_override_environment() -> None:
    env = {"CHAT_PORT": "8001", "CHAT_REDIS_URL": "redis://env", "CHAT_DATA": "/env"}
    s = Settings.load({"port": 9000, "redis_url": "redis://flag", "data": Path("/flag")}, env)
    assert s.port == 9000
    assert s.redis_url == "redis://flag"
    assert s.data == Path("/flag")


def test_unset_flags_do_not_override_environment() -> None:
    s = Settings.load({"port": None, "redis_url": None}, {"CHAT_PORT": "8001"})
    assert s.port == 8001
    assert s.redis_url is None


def test_explicit_env_does_not_read_the_process_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CHAT_PORT", "1234")
    assert Settings.load({}, {}).port == 8000


def test_no_env_argument_reads_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHAT_PORT", "1234")
    monkeypatch.setenv("CHAT_SURVEY", "nps")
    s = Settings.load()
    assert s.port == 1234
    assert s.survey == ("nps",)


def test_other_variables_are_ignored() -> None:
    assert Settings.load({}, {"PORT": "1", "CHATPORT": "2", "chat_port": "3"}).port == 8000


@pytest.mark.parametrize(
    ("variable", "raw"),
    [
        ("CHAT_PORT", "abc"),
        ("CHAT_PORT", "80.5"),
        ("CHAT_PORT", "70000"),
        ("CHAT_PORT", "-1"),
        ("CHAT_AGENT_GRACE_S", "soon"),
        ("CHAT_AGENT_GRACE_S", "0"),
        ("CHAT_AGENT_GRACE_S", "-5"),
        ("CHAT_VISITOR_TIMEOUT_S", "0"),
        ("CHAT_HELLO_TIMEOUT_S", "-1"),
        ("CHAT_BEHIND_PROXY", "maybe"),
        ("CHAT_BEHIND_PROXY", "2"),
        ("CHAT_SURVEY", "csat,stars"),
        ("CHAT_SQLITE_SYNCHRONOUS", "OFF"),
        ("CHAT_MAX_FRAME_BYTES", "100"),
        ("CHAT_MAX_FRAME_BYTES", "2MiB"),
        ("CHAT_SEND_QUEUE", "0"),
        ("CHAT_SEND_QUEUE_BYTES", "0"),
        ("CHAT_SEND_QUEUE_BYTES", "8MiB"),
        ("CHAT_SECRET", "undecodable \udcff"),
    ],
)
def test_invalid_values_raise_value_error_naming_the_variable(variable: str, raw: str) -> None:
    with pytest.raises(ValueError) as info:
        Settings.load({}, {variable: raw})
    # Parse errors name CHAT_X; range checks name the setting x. Either names the variable.
    name = variable.removeprefix("CHAT_").lower()
    assert name in str(info.value).lower()


def test_parse_errors_name_the_environment_variable_and_value() -> None:
    with pytest.raises(ValueError, match=r"CHAT_PORT='abc'"):
        Settings.load({}, {"CHAT_PORT": "abc"})
    with pytest.raises(ValueError, match="CHAT_BEHIND_PROXY"):
        Settings.load({}, {"CHAT_BEHIND_PROXY": "maybe"})


def test_flags_are_validated_too() -> None:
    with pytest.raises(ValueError, match="port"):
        Settings.load({"port": 70000}, {})


@pytest.mark.parametrize("variable", ["CHAT_AGENT_GRACE_S", "CHAT_VISITOR_TIMEOUT_S"])
@pytest.mark.parametrize("raw", ["nan", "inf"])
def test_non_finite_durations_are_refused(variable: str, raw: str) -> None:
    with pytest.raises(ValueError):
        Settings.load({}, {variable: raw})


def test_with_returns_a_changed_copy() -> None:
    s = Settings.load({}, {})
    t = s.with_(port=1)
    assert t.port == 1 and s.port == 8000
