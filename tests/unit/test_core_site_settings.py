"""`core/site_settings.py`: one validator for the CLI and the REST settings, and the check
of a visitor's pre-chat answers."""

from __future__ import annotations

from typing import Any

import pytest

from chat_server.core import site_settings as ss
from chat_server.core.errors import ChatError, ErrorCode
from chat_server.core.files import DEFAULT_TYPES, MAX_BYTES_CAP
from chat_server.core.model import FormField, Privacy, Site, Topic

SHOP = Site("shop", ("https://shop.example",))
FORM = [
    {"name": "email", "label": "Email", "type": "email", "required": True},
    {"name": "plan", "label": "Plan", "type": "select", "options": ["Free", "Pro"]},
    {"name": "order", "label": "Order number"},
    {"name": "terms", "label": "I accept", "type": "checkbox", "required": True},
    {"name": "news", "label": "News", "type": "checkbox"},
]


def test_defaults_are_todays_behaviour() -> None:
    assert ss.settings_json(SHOP) == {
        "hours": None,
        "form": [],
        "topics": [],
        "privacy": None,
        "sneak_peek": False,
        "offline_after_s": 120,
        "inactive_warn_s": 600,
        "inactive_close_s": 120,
        "files": {"max_bytes": 10 * 1024 * 1024, "types": list(DEFAULT_TYPES)},
        "bot": None,
    }


def test_apply_and_read_back() -> None:
    body = {
        "hours": {"tz": "Europe/Paris", "weekly": {"mon": [["09:00", "17:00"]]}},
        "form": FORM,
        "topics": [{"id": "billing", "label": "Billing"}, {"id": "tech"}],
        "privacy": {"text": " We keep chats 30 days. ", "url": "https://shop.example/privacy"},
        "sneak_peek": True,
        "offline_after_s": 60,
        "inactive_warn_s": 300,
        "inactive_close_s": 60,
        "files": {"max_bytes": 1024, "types": ["pdf", "png"]},
    }
    site = ss.apply(SHOP, body)
    assert site.form[1] == FormField("plan", "Plan", "select", False, ("Free", "Pro"))
    assert site.form[2] == FormField("order", "Order number", "text")
    assert site.topics == (Topic("billing", "Billing"), Topic("tech", "tech"))
    assert site.privacy == Privacy("We keep chats 30 days.", "https://shop.example/privacy")
    assert (site.sneak_peek, site.offline_after_s, site.inactive_warn_s) == (True, 60, 300)
    assert (site.file_max_bytes, site.file_types) == (1024, ("png", "pdf"))  # in TYPES' order
    again = ss.settings_json(site)
    assert ss.apply(SHOP, again) == site
    assert again["form"][0] == {
        "name": "email",
        "label": "Email",
        "type": "email",
        "required": True,
    }
    assert "options" in again["form"][1]
    widget = ss.widget_json(site)
    assert set(widget) == {"form", "topics", "privacy", "sneak_peek", "offline_after_s", "files"}
    assert widget["files"] == {"max_bytes": 1024, "types": ["png", "pdf"]}
    assert ss.privacy_json(Privacy("Hi")) == {"text": "Hi"}
    cleared = ss.apply(site, {"hours": None, "privacy": None, "form": [], "topics": []})
    assert (cleared.hours, cleared.privacy, cleared.form, cleared.topics) == (None, None, (), ())


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "JSON object"),
        ({"colour": "red"}, "unknown setting 'colour'"),
        ({"sneak_peek": "yes"}, "sneak_peek is true or false"),
        ({"offline_after_s": -1}, "offline_after_s is a whole number"),
        ({"inactive_warn_s": True}, "inactive_warn_s is a whole number"),
        ({"inactive_close_s": 1.5}, "inactive_close_s is a whole number"),
        ({"form": {}}, "form is a list"),
        ({"form": ["email"]}, "each form field is a map"),
        ({"form": [{"name": "a b"}]}, "a field name is"),
        ({"form": [{"name": "a"}, {"name": "a"}]}, "there twice"),
        ({"form": [{"name": "a", "type": "date"}]}, "type is one of"),
        ({"form": [{"name": "a", "required": "yes"}]}, "required is true or false"),
        ({"form": [{"name": "a", "type": "select"}]}, "a select has 1 to"),
        ({"form": [{"name": "a", "type": "select", "options": "x"}]}, "a select has 1 to"),
        ({"form": [{"name": "a", "type": "select", "options": [""]}]}, "an option is text"),
        ({"form": [{"name": "a", "options": ["x"]}]}, "only a select has options"),
        ({"form": [{"name": "a", "label": 3}]}, "the label is text"),
        ({"form": [{"name": "a", "label": "x" * 201}]}, "the label is text"),
        ({"topics": "billing"}, "topics is a list"),
        ({"topics": ["billing"]}, "each topic is a map"),
        ({"topics": [{"id": "b"}, {"id": "b"}]}, "there twice"),
        ({"topics": [{"label": "B"}]}, "a topic id is"),
        ({"privacy": "text"}, "privacy is a map"),
        ({"privacy": {"text": " "}}, "privacy.text is text"),
        ({"privacy": {"text": "x", "url": "javascript:alert(1)"}}, "privacy.url is"),
        ({"privacy": {"text": "x", "url": 5}}, "privacy.url is"),
        ({"privacy": {"text": "x", "url": "https://a b"}}, "privacy.url is"),
        ({"hours": {"tz": "Nowhere/Else"}}, "unknown time zone"),
        ({"files": []}, "files is an object"),
        ({"files": {"max_bytes": 1, "kinds": []}}, "files is an object"),
        ({"files": {"max_bytes": -1}}, "files.max_bytes is a whole number"),
        ({"files": {"max_bytes": 100 * 1024 * 1024 + 1}}, "files.max_bytes is a whole number"),
        ({"files": {"max_bytes": True}}, "files.max_bytes is a whole number"),
        ({"files": {"max_bytes": 1.5}}, "files.max_bytes is a whole number"),
        ({"files": {"types": "png"}}, "files.types is a list of: png, jpeg"),
        ({"files": {"types": ["png", "exe"]}}, "files.types is a list of"),
    ],
)
def test_bad_settings_are_refused(body: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ss.apply(SHOP, body)


def test_emails() -> None:
    assert ss.is_email("ann@shop.example")
    assert not ss.is_email("ann@shop")
    assert not ss.is_email("ann shop@example.com")
    assert not ss.is_email("a" * 250 + "@x.example")


FORMED = ss.apply(SHOP, {"form": FORM, "topics": [{"id": "billing", "label": "Billing"}]})


def test_answers_are_checked_and_kept_in_form_order() -> None:
    answers = ss.check_answers(
        FORMED,
        {"terms": True, "email": " ann@shop.example ", "plan": "Pro", "order": " ", "news": False},
    )
    assert answers == (
        ("email", "ann@shop.example"),
        ("plan", "Pro"),
        ("terms", True),
        ("news", False),
    )
    assert ss.check_answers(SHOP, None) == ()
    assert ss.check_answers(FORMED, {"terms": True, "email": "a@b.example"}) == (
        ("email", "a@b.example"),
        ("terms", True),
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ([], "'fields' must be a map"),
        ({"terms": True, "email": "a@b.example", "age": "3"}, "unknown field 'age'"),
        ({"terms": True}, "field 'email' is required"),
        ({"terms": True, "email": "  "}, "field 'email' is required"),
        ({"terms": True, "email": "nope"}, "field 'email' is not an email"),
        ({"terms": True, "email": 5}, "field 'email' must be text"),
        ({"terms": True, "email": "a@b.example", "plan": "Gold"}, "field 'plan' is not one of"),
        ({"terms": True, "email": "a@b.example", "order": "x" * 1001}, "longer than"),
        ({"email": "a@b.example"}, "field 'terms' is required"),
        ({"terms": False, "email": "a@b.example"}, "field 'terms' is required"),
        ({"terms": "yes", "email": "a@b.example"}, "field 'terms' must be true or false"),
    ],
)
def test_bad_answers_are_bad_requests(fields: Any, message: str) -> None:
    with pytest.raises(ChatError) as raised:
        ss.check_answers(FORMED, fields)
    assert raised.value.code is ErrorCode.BAD_REQUEST
    assert message in raised.value.message


def test_topics_are_checked_only_when_the_site_has_some() -> None:
    ss.check_topic(FORMED, "billing")
    ss.check_topic(FORMED, None)
    ss.check_topic(SHOP, "anything")
    with pytest.raises(ChatError, match="unknown topic 'tech'"):
        ss.check_topic(FORMED, "tech")


def test_answers_are_shown_to_agents_only() -> None:
    from chat_server.core import views
    from chat_server.core.model import Conversation, State

    conv = Conversation("c_1", "shop", "v_1", State.QUEUED, 0, fields=(("plan", "Pro"),))
    assert views.conversation(conv, None)["fields"] == {"plan": "Pro"}
    assert "fields" not in views.conversation(conv, None, for_visitor=True)


def test_the_site_channel_is_hash_tagged() -> None:
    from chat_server.core import channels

    assert channels.site("shop") == "site:{shop}"
    assert channels.conversation_id(channels.site("shop")) is None


def test_start_takes_a_map_of_fields() -> None:
    from chat_server.protocol import frames

    start = frames.build(frames.Start, {"text": "hi", "fields": {"plan": "Pro", "terms": True}})
    assert start.fields == {"plan": "Pro", "terms": True}
    assert frames.build(frames.Start, {"text": "hi"}).fields is None
    for bad in ("Pro", ["Pro"], {str(i): "x" for i in range(frames.FIELDS_MAX + 1)}):
        with pytest.raises(ChatError, match="'fields' must be a map") as raised:
            frames.build(frames.Start, {"text": "hi", "fields": bad})
        assert raised.value.code is ErrorCode.BAD_REQUEST


def test_files_off_and_partial_settings() -> None:
    """`max_bytes` 0 turns attachments off; a field left out takes its default."""
    off = ss.apply(SHOP, {"files": {"max_bytes": 0}})
    assert (off.file_max_bytes, off.file_types) == (0, DEFAULT_TYPES)
    only_types = ss.apply(SHOP, {"files": {"types": []}})
    assert (only_types.file_max_bytes, only_types.file_types) == (10 * 1024 * 1024, ())
    assert ss.apply(SHOP, {"files": {"max_bytes": MAX_BYTES_CAP}}).file_max_bytes == MAX_BYTES_CAP
    assert ss.apply(SHOP, {"files": {"types": ["txt", "txt"]}}).file_types == ("txt",)
