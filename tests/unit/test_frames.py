"""`chat_server/protocol/frames.py`: the client frame schemas of PROTOCOL.md §3 and §4."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chat_server.core.errors import ChatError, ErrorCode
from chat_server.protocol import frames as f
from chat_server.protocol.frames import AGENT_FRAMES, VISITOR_FRAMES, frame_id, parse

Frame = dict[str, Any]

VISITOR_VALID: dict[str, Frame] = {
    "hello": {
        "t": "hello",
        "token": "tok",
        "name": "Vera",
        "email": "vera@example.com",
        "page": {"url": "https://shop.example/cart", "title": "Cart", "referrer": "https://a.b"},
        "lang": "fr-CA",
    },
    "start": {"t": "start", "text": "Where is my order?", "topic": "billing"},
    "msg": {"t": "msg", "cid": "c_1", "text": "hello", "cmid": "m1"},
    "typing": {"t": "typing", "cid": "c_1", "on": True, "preview": "hel"},
    "read": {"t": "read", "cid": "c_1", "seq": 4},
    "sync": {"t": "sync", "cid": "c_1", "after": 0},
    "page": {"t": "page", "url": "https://shop.example/", "title": "Home"},
    "close": {"t": "close", "cid": "c_1"},
    "rate": {"t": "rate", "cid": "c_1", "csat": 5, "nps": 10, "ces": 7, "comment": "great"},
    "cobrowse": {"t": "cobrowse", "cid": "c_1", "op": "accept"},
    "ping": {"t": "ping"},
    "leave": {"t": "leave", "email": "v@example.com", "text": "call me", "cid": "c_1"},
}

AGENT_VALID: dict[str, Frame] = {
    "hello": {"t": "hello", "token": "at_secret"},
    "status": {"t": "status", "state": "online"},
    "claim": {"t": "claim", "cid": "c_1"},
    "msg": {"t": "msg", "cid": "c_1", "text": "Hi, I'm Ann", "cmid": "a1"},
    "typing": {"t": "typing", "cid": "c_1", "on": False},
    "read": {"t": "read", "cid": "c_1", "seq": 0},
    "sync": {"t": "sync", "cid": "c_1", "after": 12},
    "note": {"t": "note", "cid": "c_1", "text": "VIP customer", "cmid": "n1"},
    "transfer": {"t": "transfer", "cid": "c_1", "to": "a_2", "topic": "sales", "note": "VIP"},
    "close": {"t": "close", "cid": "c_1", "resolved": True},
    "assign": {"t": "assign", "cid": "c_1", "to": "a_2"},
    "watch": {"t": "watch", "cid": "c_1", "on": True},
    "subscribe": {"t": "subscribe", "stats": True},
    "cobrowse": {"t": "cobrowse", "cid": "c_1", "op": "request"},
    "ping": {"t": "ping"},
    "snooze": {"t": "snooze", "cid": "c_1", "minutes": 30},
    "handoff": {"t": "handoff", "cid": "c_1", "reason": "asked_for_human", "note": "refund"},
    "tag": {"t": "tag", "cid": "c_1", "add": ["vip"], "remove": ["new"]},
}

# Required fields, from the contract's tables (not from the dataclasses).
VISITOR_REQUIRED = {
    "start": ["text"],
    "msg": ["cid", "text", "cmid"],
    "typing": ["cid", "on"],
    "read": ["cid", "seq"],
    "sync": ["cid", "after"],
    "page": ["url"],
    "close": ["cid"],
    "rate": ["cid"],
    "cobrowse": ["cid", "op"],
}
AGENT_REQUIRED = {
    "status": ["state"],
    "claim": ["cid"],
    "msg": ["cid", "text", "cmid"],
    "typing": ["cid", "on"],
    "read": ["cid", "seq"],
    "sync": ["cid", "after"],
    "note": ["cid", "text", "cmid"],
    "transfer": ["cid"],
    "close": ["cid", "resolved"],
    "assign": ["cid", "to"],
    "watch": ["cid", "on"],
    "subscribe": ["stats"],
    "cobrowse": ["cid", "op"],
    "handoff": ["cid", "reason"],
    "tag": ["cid"],
}

SIDES = {"visitor": (VISITOR_FRAMES, VISITOR_VALID), "agent": (AGENT_FRAMES, AGENT_VALID)}


def cases(valid: dict[str, Frame], side: str) -> list[Any]:
    return [pytest.param(side, t, id=f"{side}-{t}") for t in valid]


ALL_VALID = cases(VISITOR_VALID, "visitor") + cases(AGENT_VALID, "agent")


def code_of(obj: Frame, schemas: dict[str, type] = VISITOR_FRAMES) -> ErrorCode:
    with pytest.raises(ChatError) as info:
        parse(obj, schemas)
    return info.value.code


def with_(base: Frame, **changes: Any) -> Frame:
    return {**base, **changes}


def without(base: Frame, key: str) -> Frame:
    return {k: v for k, v in base.items() if k != key}


# --- the contract's frames parse ---------------------------------------------------------


VISITOR_EXTENSIONS = {"profile"}  # documented in docs/protocol.md, Extensions


def test_every_contract_frame_type_has_a_schema() -> None:
    assert set(VISITOR_FRAMES) == set(VISITOR_VALID) | VISITOR_EXTENSIONS
    assert set(AGENT_FRAMES) == set(AGENT_VALID)


def test_profile_extension_parses() -> None:
    env = parse({"t": "profile", "name": "Vera", "email": "v@example.com"}, VISITOR_FRAMES)
    assert (env.body.name, env.body.email) == ("Vera", "v@example.com")
    assert code_of({"t": "profile", "name": "x" * 201}) is ErrorCode.TOO_LARGE


@pytest.mark.parametrize(("side", "t"), ALL_VALID)
def test_valid_frames_parse_with_their_fields(side: str, t: str) -> None:
    schemas, valid = SIDES[side]
    obj = valid[t]
    envelope = parse(obj, schemas)
    assert envelope.t == t
    assert envelope.id is None
    assert envelope.raw is obj
    assert isinstance(envelope.body, schemas[t])
    for key, value in obj.items():
        if key == "t":
            continue
        parsed = getattr(envelope.body, key)
        if isinstance(value, dict):
            assert dataclasses.asdict(parsed) == value
        else:
            assert parsed == value


def test_visitor_hello_may_be_empty() -> None:
    body = parse({"t": "hello"}, VISITOR_FRAMES).body
    assert body == f.VisitorHello()
    assert body.page is None and body.token is None


def test_agent_hello_without_token_parses() -> None:
    assert parse({"t": "hello"}, AGENT_FRAMES).body == f.AgentHello()


def test_optional_fields_default() -> None:
    start = parse({"t": "start", "text": "hi"}, VISITOR_FRAMES).body
    assert start.topic is None and start.cmid is None
    transfer = parse({"t": "transfer", "cid": "c_1"}, AGENT_FRAMES).body
    assert transfer.to is None and transfer.topic is None
    rate = parse({"t": "rate", "cid": "c_1"}, VISITOR_FRAMES).body
    assert (rate.csat, rate.nps, rate.ces, rate.comment) == (None, None, None, None)
    page = parse({"t": "hello", "page": {"url": "https://x"}}, VISITOR_FRAMES).body.page
    assert page == f.PageInfo(url="https://x", title="", referrer=None)


def test_the_frame_id_is_kept_in_the_envelope() -> None:
    assert parse({"t": "ping", "id": 3}, VISITOR_FRAMES).id == 3
    assert parse({"t": "ping", "id": "abc"}, AGENT_FRAMES).id == "abc"
    assert parse({"t": "ping", "id": None}, AGENT_FRAMES).id is None


# --- missing and mistyped fields ---------------------------------------------------------


def required_cases() -> list[Any]:
    out = []
    for side, table in (("visitor", VISITOR_REQUIRED), ("agent", AGENT_REQUIRED)):
        for t, names in table.items():
            out += [pytest.param(side, t, name, id=f"{side}-{t}-{name}") for name in names]
    return out


@pytest.mark.parametrize(("side", "t", "name"), required_cases())
def test_missing_required_field_is_bad_request(side: str, t: str, name: str) -> None:
    schemas, valid = SIDES[side]
    assert code_of(without(valid[t], name), schemas) is ErrorCode.BAD_REQUEST


@pytest.mark.parametrize(("side", "t", "name"), required_cases())
def test_null_required_field_is_bad_request(side: str, t: str, name: str) -> None:
    schemas, valid = SIDES[side]
    assert code_of(with_(valid[t], **{name: None}), schemas) is ErrorCode.BAD_REQUEST


def test_agent_close_requires_resolved() -> None:
    assert code_of({"t": "close", "cid": "c_1"}, AGENT_FRAMES) is ErrorCode.BAD_REQUEST
    body = parse({"t": "close", "cid": "c_1", "resolved": False}, AGENT_FRAMES).body
    assert body.resolved is False
    # The visitor's close has no such field.
    assert parse({"t": "close", "cid": "c_1"}, VISITOR_FRAMES).body.cid == "c_1"


@pytest.mark.parametrize("schemas", [VISITOR_FRAMES, AGENT_FRAMES])
def test_typing_requires_on(schemas: dict[str, type]) -> None:
    assert code_of({"t": "typing", "cid": "c_1"}, schemas) is ErrorCode.BAD_REQUEST
    assert parse({"t": "typing", "cid": "c_1", "on": False}, schemas).body.on is False


WRONG_TYPES = [
    # str where an int is expected
    ("visitor", "read", "seq", "4"),
    ("visitor", "sync", "after", "0"),
    ("visitor", "rate", "csat", "5"),
    # int where a bool is expected
    ("visitor", "typing", "on", 1),
    ("agent", "close", "resolved", 0),
    ("agent", "watch", "on", 1),
    ("agent", "subscribe", "stats", 1),
    # bool where an int is expected
    ("visitor", "read", "seq", True),
    ("visitor", "sync", "after", False),
    ("visitor", "rate", "nps", True),
    # list where a str is expected
    ("visitor", "msg", "text", ["hello"]),
    ("visitor", "msg", "cid", ["c_1"]),
    ("visitor", "start", "topic", ["billing"]),
    ("agent", "status", "state", ["online"]),
    ("agent", "assign", "to", ["a_2"]),
    # other mismatches
    ("visitor", "msg", "cmid", 17),
    ("visitor", "read", "seq", 4.0),
    ("visitor", "read", "seq", 4.5),
    ("visitor", "msg", "text", {"text": "hi"}),
    ("visitor", "hello", "page", "https://shop.example/"),
    ("visitor", "hello", "page", ["https://shop.example/"]),
    ("visitor", "hello", "name", 5),
    ("agent", "typing", "on", "true"),
    ("agent", "msg", "text", b"bytes"),
]


@pytest.mark.parametrize(("side", "t", "name", "value"), WRONG_TYPES)
def test_wrong_type_is_bad_request(side: str, t: str, name: str, value: Any) -> None:
    schemas, valid = SIDES[side]
    assert code_of(with_(valid[t], **{name: value}), schemas) is ErrorCode.BAD_REQUEST


def test_nested_page_fields_are_checked() -> None:
    hello = VISITOR_VALID["hello"]
    assert code_of(with_(hello, page={"title": "no url"})) is ErrorCode.BAD_REQUEST
    assert code_of(with_(hello, page={"url": 5})) is ErrorCode.BAD_REQUEST
    assert code_of(with_(hello, page={"url": "https://x", "title": ["t"]})) is ErrorCode.BAD_REQUEST


# --- frame type ------------------------------------------------------------------------


@pytest.mark.parametrize("schemas", [VISITOR_FRAMES, AGENT_FRAMES])
@pytest.mark.parametrize("t", ["nope", "", "MSG", "msg ", "ok", "error", "pong"])
def test_unknown_type_is_unknown_type(schemas: dict[str, type], t: str) -> None:
    assert code_of({"t": t, "cid": "c_1"}, schemas) is ErrorCode.UNKNOWN_TYPE


@pytest.mark.parametrize("t", ["note", "claim", "transfer", "assign", "watch", "subscribe"])
def test_agent_only_types_are_unknown_to_visitors(t: str) -> None:
    assert code_of(AGENT_VALID[t], VISITOR_FRAMES) is ErrorCode.UNKNOWN_TYPE


@pytest.mark.parametrize("t", ["start", "page", "rate"])
def test_visitor_only_types_are_unknown_to_agents(t: str) -> None:
    assert code_of(VISITOR_VALID[t], AGENT_FRAMES) is ErrorCode.UNKNOWN_TYPE


@pytest.mark.parametrize("schemas", [VISITOR_FRAMES, AGENT_FRAMES])
@pytest.mark.parametrize("t", [None, 1, True, ["msg"], {"t": "msg"}, b"msg"])
def test_non_string_type_is_bad_request(schemas: dict[str, type], t: Any) -> None:
    assert code_of({"t": t, "cid": "c_1"}, schemas) is ErrorCode.BAD_REQUEST


@pytest.mark.parametrize("schemas", [VISITOR_FRAMES, AGENT_FRAMES])
def test_missing_type_is_bad_request(schemas: dict[str, type]) -> None:
    assert code_of({"cid": "c_1", "text": "hi"}, schemas) is ErrorCode.BAD_REQUEST
    assert code_of({}, schemas) is ErrorCode.BAD_REQUEST


# --- limits ----------------------------------------------------------------------------

TEXT_FIELDS = [
    ("visitor", "start", "text"),
    ("visitor", "msg", "text"),
    ("agent", "msg", "text"),
    ("agent", "note", "text"),
    ("visitor", "typing", "preview"),
    ("visitor", "rate", "comment"),
]


@pytest.mark.parametrize(("side", "t", "name"), TEXT_FIELDS)
def test_text_over_4000_chars_is_too_large(side: str, t: str, name: str) -> None:
    schemas, valid = SIDES[side]
    assert parse(with_(valid[t], **{name: "x" * 4000}), schemas)
    assert parse(with_(valid[t], **{name: "é" * 4000}), schemas)  # characters, not bytes
    assert code_of(with_(valid[t], **{name: "x" * 4001}), schemas) is ErrorCode.TOO_LARGE


NAME_FIELDS = [
    ("visitor", "hello", "name"),
    ("visitor", "start", "topic"),
    ("agent", "transfer", "topic"),
]


@pytest.mark.parametrize(("side", "t", "name"), NAME_FIELDS)
def test_name_and_topic_over_200_chars_are_too_large(side: str, t: str, name: str) -> None:
    schemas, valid = SIDES[side]
    assert getattr(parse(with_(valid[t], **{name: "n" * 200}), schemas).body, name) == "n" * 200
    assert code_of(with_(valid[t], **{name: "n" * 201}), schemas) is ErrorCode.TOO_LARGE


@pytest.mark.parametrize(
    ("side", "t", "name"), [("visitor", "msg", "cid"), ("agent", "msg", "cmid")]
)
def test_overlong_ids_are_bad_request_not_too_large(side: str, t: str, name: str) -> None:
    schemas, valid = SIDES[side]
    assert parse(with_(valid[t], **{name: "i" * 64}), schemas)
    assert code_of(with_(valid[t], **{name: "i" * 65}), schemas) is ErrorCode.BAD_REQUEST


@pytest.mark.parametrize(
    ("side", "t", "name"),
    [*TEXT_FIELDS, *NAME_FIELDS, ("visitor", "msg", "cid"), ("agent", "msg", "cmid")],
)
@pytest.mark.parametrize("where", ["\x00", "a\x00", "\x00b", "a\x00b"])
def test_nul_in_text_is_bad_request(side: str, t: str, name: str, where: str) -> None:
    schemas, valid = SIDES[side]
    assert code_of(with_(valid[t], **{name: where}), schemas) is ErrorCode.BAD_REQUEST


def test_nul_in_an_oversized_text_is_still_refused() -> None:
    code = code_of(with_(VISITOR_VALID["msg"], text="\x00" + "x" * 5000))
    assert code in {ErrorCode.BAD_REQUEST, ErrorCode.TOO_LARGE}


@pytest.mark.parametrize(
    ("side", "t"), [("visitor", "start"), ("visitor", "msg"), ("agent", "msg"), ("agent", "note")]
)
@pytest.mark.parametrize("blank", ["", " ", "   ", "\n\t ", "\u3000"])
def test_empty_or_blank_text_is_bad_request(side: str, t: str, blank: str) -> None:
    schemas, valid = SIDES[side]
    assert code_of(with_(valid[t], text=blank), schemas) is ErrorCode.BAD_REQUEST


@pytest.mark.parametrize(("name", "value"), [("cid", ""), ("cid", "  "), ("cmid", "")])
def test_empty_ids_are_bad_request(name: str, value: str) -> None:
    assert code_of(with_(VISITOR_VALID["msg"], **{name: value})) is ErrorCode.BAD_REQUEST


def test_text_with_surrounding_space_is_kept_as_sent() -> None:
    assert parse(with_(VISITOR_VALID["msg"], text="  hi \n"), VISITOR_FRAMES).body.text == "  hi \n"


# --- ratings -----------------------------------------------------------------------------

RANGES = {"csat": (1, 5), "nps": (0, 10), "ces": (1, 7)}


@pytest.mark.parametrize("scale", sorted(RANGES))
def test_rating_ranges_are_enforced(scale: str) -> None:
    lo, hi = RANGES[scale]
    for value in range(lo, hi + 1):
        body = parse({"t": "rate", "cid": "c_1", scale: value}, VISITOR_FRAMES).body
        assert getattr(body, scale) == value
    for value in (lo - 1, hi + 1, -100, 1000):
        assert code_of({"t": "rate", "cid": "c_1", scale: value}) is ErrorCode.BAD_REQUEST


def test_seq_and_after_are_not_negative() -> None:
    assert code_of({"t": "read", "cid": "c_1", "seq": -1}) is ErrorCode.BAD_REQUEST
    assert code_of({"t": "sync", "cid": "c_1", "after": -1}) is ErrorCode.BAD_REQUEST


# --- unknown fields ----------------------------------------------------------------------


@pytest.mark.parametrize(("side", "t"), ALL_VALID)
def test_unknown_fields_are_ignored(side: str, t: str) -> None:
    schemas, valid = SIDES[side]
    plain = parse(valid[t], schemas).body
    extra = with_(valid[t], zzz=[1, {"a": None}], future_field="x" * 10_000, re=5)
    assert parse(extra, schemas).body == plain


def test_unknown_fields_inside_page_are_ignored() -> None:
    obj = {"t": "hello", "page": {"url": "https://x", "title": "T", "scroll": 40}}
    assert parse(obj, VISITOR_FRAMES).body.page == f.PageInfo("https://x", "T")


# --- frame ids -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", [0, 1, -7, 2**53, -(2**53), "", "a", "req-42", "x" * 64, "é" * 64]
)
def test_frame_id_accepts_ints_and_short_strings(value: int | str) -> None:
    assert frame_id({"t": "ping", "id": value}) == value
    assert parse({"t": "ping", "id": value}, VISITOR_FRAMES).id == value


INVALID_IDS = [True, False, [1], ["a"], {"a": 1}, 1.0, 1.5, "x" * 65, 2**53 + 1, -(2**53) - 1]


@pytest.mark.parametrize("value", INVALID_IDS)
def test_frame_id_rejects_bools_lists_floats_and_long_strings(value: Any) -> None:
    assert frame_id({"t": "ping", "id": value}) is None


def test_frame_id_is_none_without_an_id() -> None:
    assert frame_id({"t": "ping"}) is None
    assert frame_id({"t": "ping", "id": None}) is None


@pytest.mark.parametrize("schemas", [VISITOR_FRAMES, AGENT_FRAMES])
@pytest.mark.parametrize("value", INVALID_IDS)
def test_parse_refuses_an_invalid_id(schemas: dict[str, type], value: Any) -> None:
    assert code_of({"t": "ping", "id": value}, schemas) is ErrorCode.BAD_REQUEST
    # Even when the type is unknown, the bad id is what is reported.
    assert code_of({"t": "nope", "id": value}, schemas) is ErrorCode.BAD_REQUEST


# --- property: parse raises nothing but ChatError ------------------------------------------

FIELD_NAMES = sorted(
    {
        fld.name
        for schema in {*VISITOR_FRAMES.values(), *AGENT_FRAMES.values(), f.PageInfo}
        for fld in dataclasses.fields(schema)
    }
    | {"id", "t"}
)
KEYS = st.sampled_from(FIELD_NAMES) | st.text(max_size=4)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-2, max_value=12)
    | st.sampled_from([2**53, 2**53 + 1, -(2**60), 0.5, -1.0, 1e300])
    | st.text(max_size=10)
    | st.sampled_from(["", " ", "\x00", "x" * 201, "y" * 4001, "c_1", "online"])
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(KEYS, children, max_size=3),
    max_leaves=5,
)
TYPES = sorted(set(VISITOR_FRAMES) | set(AGENT_FRAMES) | {"nope"})


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(TYPES), st.dictionaries(KEYS, JSON_VALUES, max_size=6))
def test_parse_of_arbitrary_json_like_frames_raises_only_chat_error(
    t: str, fields: dict[str, Any]
) -> None:
    obj = {**fields, "t": t}
    for schemas in (VISITOR_FRAMES, AGENT_FRAMES):
        try:
            envelope = parse(obj, schemas)
        except ChatError as exc:
            assert isinstance(exc.code, ErrorCode)
            assert exc.code in {ErrorCode.BAD_REQUEST, ErrorCode.TOO_LARGE, ErrorCode.UNKNOWN_TYPE}
        else:
            assert isinstance(envelope.body, schemas[t])


# --- attachments (issue 15) --------------------------------------------------------------

FILE_ID = "f_" + "a" * 24 + ".c_1"


@pytest.mark.parametrize("side", ["visitor", "agent"])
def test_msg_carries_file_ids_and_may_then_have_no_text(side: str) -> None:
    schemas, valid = SIDES[side]
    ids = [FILE_ID, "f_" + "b" * 24 + ".c_1"]
    body = parse(with_(valid["msg"], files=ids), schemas).body
    assert body.files == ids and body.text == valid["msg"]["text"]
    assert parse(with_(valid["msg"], text="", files=ids[:1]), schemas).body.text == ""
    assert parse(with_(valid["msg"], files=[]), schemas).body.files == []
    assert parse(valid["msg"], schemas).body.files is None
    assert code_of(with_(valid["msg"], text="", files=[]), schemas) is ErrorCode.BAD_REQUEST


@pytest.mark.parametrize(
    "files",
    [
        FILE_ID,  # not a list
        {"id": FILE_ID},
        [FILE_ID] * 2,  # the same file twice
        [f"f_{i:024x}.c_1" for i in range(11)],  # more than 10
        [""],
        [5],
        [None],
        ["f_\x00.c_1"],
        ["x" * 65],  # longer than an id
    ],
)
def test_bad_file_lists_are_bad_requests(files: Any) -> None:
    assert code_of(with_(VISITOR_VALID["msg"], files=files)) is ErrorCode.BAD_REQUEST


def test_ten_files_are_the_most() -> None:
    ten = [f"f_{i:024x}.c_1" for i in range(10)]
    assert parse(with_(AGENT_VALID["msg"], files=ten), AGENT_FRAMES).body.files == ten
    assert "files" not in {f.name for f in dataclasses.fields(f.Note)}  # notes carry none
