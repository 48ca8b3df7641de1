"""`chat_server/protocol/codec.py`: subprotocol choice, both encodings, bad_frame, and
strings that are not Unicode text (lone surrogates) refused at decode and repaired at
encode."""

from __future__ import annotations

import json
import math

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chat_server.core.errors import ChatError, ErrorCode
from chat_server.protocol.codec import (
    Codec,
    InvalidText,
    choose_subprotocol,
    decode,
    encode,
    is_text,
    repaired,
)
from chat_server.protocol.frames import frame_id

MSGPACK = "chat.v1.msgpack"
JSON = "chat.v1.json"


def assert_bad_frame(codec: Codec, data: bytes | str) -> None:
    with pytest.raises(ChatError) as info:
        decode(codec, data)
    assert info.value.code is ErrorCode.BAD_FRAME


# --- subprotocol choice --------------------------------------------------------------


@pytest.mark.parametrize(
    "offered",
    [[MSGPACK, JSON], [JSON, MSGPACK], ["x.other", JSON, MSGPACK]],
)
def test_msgpack_is_preferred_when_both_are_offered(offered: list[str]) -> None:
    assert choose_subprotocol(offered) == (Codec.MSGPACK, MSGPACK)


def test_msgpack_alone_is_chosen_and_echoed() -> None:
    assert choose_subprotocol([MSGPACK]) == (Codec.MSGPACK, MSGPACK)


def test_json_alone_is_chosen_and_echoed() -> None:
    assert choose_subprotocol(["x.other", JSON]) == (Codec.JSON, JSON)


@pytest.mark.parametrize(
    "offered",
    [[], ["chat.v2.json"], ["chat.v1.xml", "graphql-ws"], ["CHAT.V1.MSGPACK"], ["chat.v1"]],
)
def test_json_without_echo_when_neither_is_offered(offered: list[str]) -> None:
    codec, echo = choose_subprotocol(offered)
    assert codec is Codec.JSON
    assert echo is None


def test_codec_values_are_the_contract_subprotocol_names() -> None:
    assert Codec.MSGPACK.value == MSGPACK
    assert Codec.JSON.value == JSON


# --- round trips ---------------------------------------------------------------------

FRAMES = [
    {"t": "ping"},
    {"t": "msg", "id": 7, "cid": "c_1", "text": "héllo 👋 世界", "cmid": "m-1"},
    {"t": "ok", "re": "abc", "messages": [{"seq": 1, "from": {"role": "agent"}}], "more": False},
    {"t": "rate", "csat": 5, "nps": 0, "ratio": 0.25, "none": None, "neg": -(2**53)},
]


@pytest.mark.parametrize("frame", FRAMES)
def test_json_round_trip(frame: dict[str, object]) -> None:
    wire = encode(Codec.JSON, frame)
    assert isinstance(wire, str)
    assert json.loads(wire) == frame
    assert decode(Codec.JSON, wire) == frame


@pytest.mark.parametrize("frame", FRAMES)
def test_msgpack_round_trip(frame: dict[str, object]) -> None:
    wire = encode(Codec.MSGPACK, frame)
    assert isinstance(wire, bytes)
    assert msgpack.unpackb(wire, raw=False) == frame
    assert decode(Codec.MSGPACK, wire) == frame


def test_json_encoding_keeps_unicode_and_is_compact() -> None:
    wire = encode(Codec.JSON, {"t": "msg", "text": "é"})
    assert wire == '{"t":"msg","text":"é"}'


def test_encoding_refuses_non_finite_numbers_in_json() -> None:
    with pytest.raises(ValueError):
        encode(Codec.JSON, {"t": "x", "n": math.nan})


def test_decode_accepts_a_frame_produced_by_a_third_party_msgpack_client() -> None:
    wire = msgpack.packb({"t": "msg", "cid": "c_1", "text": "hi", "cmid": "1"}, use_bin_type=True)
    assert decode(Codec.MSGPACK, wire) == {"t": "msg", "cid": "c_1", "text": "hi", "cmid": "1"}


# --- bad frames ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["", "{", "{'t': 'x'}", '{"t": "x"} trailing', "not json", '{"t": "x",}', "\ud800"],
)
def test_undecodable_json_text_is_bad_frame(text: str) -> None:
    assert_bad_frame(Codec.JSON, text)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xc1",  # never used
        b"\x81\xa1t",  # truncated map
        msgpack.packb({"t": "x"}) + b"\x00",  # trailing data
        b"\x81\xa1t\xa2\xff\xfe",  # str that is not UTF-8
        b"\xdd\xff\xff\xff\xff",  # array32 claiming 4 G items
        b"\x81\x01\x02",  # int map key
    ],
)
def test_undecodable_msgpack_bytes_are_bad_frame(data: bytes) -> None:
    assert_bad_frame(Codec.MSGPACK, data)


def test_text_frame_on_a_msgpack_socket_is_bad_frame() -> None:
    assert_bad_frame(Codec.MSGPACK, '{"t": "ping"}')


def test_binary_frame_on_a_json_socket_is_bad_frame() -> None:
    assert_bad_frame(Codec.JSON, b'{"t": "ping"}')
    assert_bad_frame(Codec.JSON, msgpack.packb({"t": "ping"}))


@pytest.mark.parametrize("text", ["[]", '[{"t": "ping"}]', '"ping"', "1", "1.5", "null", "true"])
def test_json_top_level_must_be_a_map(text: str) -> None:
    assert_bad_frame(Codec.JSON, text)


@pytest.mark.parametrize("value", [[], [{"t": "ping"}], "ping", 1, 1.5, None, True, b"ping"])
def test_msgpack_top_level_must_be_a_map(value: object) -> None:
    assert_bad_frame(Codec.MSGPACK, msgpack.packb(value, use_bin_type=True))


@pytest.mark.parametrize(
    "text",
    [
        '{"t": "x", "n": NaN}',
        '{"t": "x", "n": Infinity}',
        '{"t": "x", "n": -Infinity}',
        '{"t": "x", "n": [1, {"m": NaN}]}',
        '{"t": "x", "n": 1e999}',  # overflows to inf without being a constant
        '{"t": "x", "n": -1e999}',
    ],
)
def test_json_non_finite_numbers_are_bad_frame(text: str) -> None:
    assert_bad_frame(Codec.JSON, text)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("single", [False, True])
def test_msgpack_non_finite_floats_are_bad_frame(value: float, single: bool) -> None:
    for frame in ({"t": "x", "n": value}, {"t": "x", "deep": [{"n": [value]}]}):
        assert_bad_frame(Codec.MSGPACK, msgpack.packb(frame, use_single_float=single))


def test_finite_floats_are_accepted() -> None:
    frame = {"t": "x", "n": 1.5, "m": [-0.0, 1e300]}
    assert decode(Codec.JSON, encode(Codec.JSON, frame)) == frame
    assert decode(Codec.MSGPACK, encode(Codec.MSGPACK, frame)) == frame


@pytest.mark.parametrize("code", [0, 5, 127])
def test_msgpack_ext_types_are_bad_frame(code: int) -> None:
    for frame in (
        {"t": "x", "a": msgpack.ExtType(code, b"abc")},
        {"t": msgpack.ExtType(code, b"")},
    ):
        assert_bad_frame(Codec.MSGPACK, msgpack.packb(frame))


@pytest.mark.parametrize("code", [-2, -100, -128])
def test_msgpack_reserved_ext_types_are_bad_frame(code: int) -> None:
    ext = b"\xd4" + code.to_bytes(1, "big", signed=True) + b"\x00"  # fixext 1
    assert_bad_frame(Codec.MSGPACK, b"\x82\xa1t\xa1x\xa1a" + ext)


def test_msgpack_timestamp_ext_type_is_bad_frame() -> None:
    assert_bad_frame(Codec.MSGPACK, msgpack.packb({"t": "x", "a": msgpack.Timestamp(1, 0)}))


def _nested_json(depth: int) -> str:
    return '{"t": "x", "a": ' + "[" * depth + "]" * depth + "}"


def _nested_msgpack(depth: int) -> bytes:
    value: object = []
    for _ in range(depth):
        value = [value]
    packed: bytes = msgpack.packb({"t": "x", "a": value})
    return packed


def test_moderate_nesting_is_accepted() -> None:
    assert decode(Codec.JSON, _nested_json(10))["t"] == "x"
    assert decode(Codec.MSGPACK, _nested_msgpack(10))["t"] == "x"
    deep_maps = '{"t": "x", "a": ' + '{"b": ' * 10 + "1" + "}" * 10 + "}"
    assert decode(Codec.JSON, deep_maps)["t"] == "x"


@pytest.mark.parametrize("depth", [100, 1000, 100_000])
def test_deep_json_nesting_is_bad_frame(depth: int) -> None:
    assert_bad_frame(Codec.JSON, _nested_json(depth))


def test_deep_json_map_nesting_is_bad_frame() -> None:
    assert_bad_frame(Codec.JSON, '{"t": "x", "a": ' + '{"b": ' * 200 + "1" + "}" * 200 + "}")


@pytest.mark.parametrize("depth", [100, 1000])
def test_deep_msgpack_nesting_is_bad_frame(depth: int) -> None:
    assert_bad_frame(Codec.MSGPACK, _nested_msgpack(depth))


def test_absurd_msgpack_nesting_is_bad_frame() -> None:
    # 100,000 nested fixarray headers around an empty array: built by hand, no recursion.
    assert_bad_frame(Codec.MSGPACK, b"\x81\xa1a" + b"\x91" * 100_000 + b"\x90")


# --- Unicode text: lone surrogates ------------------------------------------------------


@pytest.mark.parametrize(
    "frame",
    [
        {"t": "start", "text": "hi", "topic": "\ud800"},
        {"t": "msg", "text": "a\udfffb"},
        {"t": "ping", "\ud83d": 1},
        {"t": "cobrowse", "events": [{"type": 3, "data": {"texts": [{"v": "\udc00"}]}}]},
        {"t": "\ud800"},
    ],
)
def test_a_lone_surrogate_anywhere_in_json_is_invalid_text(frame: dict[str, object]) -> None:
    text = json.dumps({**frame, "id": 4})  # ensure_ascii: written as a "\ud800" escape
    with pytest.raises(InvalidText) as info:
        decode(Codec.JSON, text)
    assert info.value.code is ErrorCode.BAD_REQUEST
    assert frame_id(info.value.frame) == 4  # the answer can carry `re`


def test_a_lone_surrogate_in_the_id_gives_no_usable_id() -> None:
    with pytest.raises(InvalidText) as info:
        decode(Codec.JSON, json.dumps({"t": "ping", "id": "a\ud800"}))
    assert frame_id(info.value.frame) is None


def test_a_surrogate_pair_escape_is_one_character_and_accepted() -> None:
    assert decode(Codec.JSON, '{"t":"msg","text":"\\ud83d\\ude00"}')["text"] == "\U0001f600"


def test_msgpack_cannot_carry_a_surrogate_it_is_not_utf8() -> None:
    """msgpack strings are strict UTF-8: the CESU-8 bytes of U+D800 are not a frame."""
    assert_bad_frame(Codec.MSGPACK, b"\x81\xa1t\xa3\xed\xa0\x80")


@pytest.mark.parametrize("codec", list(Codec))
def test_non_characters_nul_and_bidi_marks_are_text(codec: Codec) -> None:
    """Non-characters are valid Unicode scalar values (Corrigendum #9) and UTF-8 carries
    them: accepted. NUL is refused by the schema (`bad_request`), not here."""
    value = "\ufffe\uffff\ufdd0\ufdef\U0001fffe\U0010ffff\u202e\u200f\x00"
    frame = {"t": "msg", "text": value, value: value}
    assert decode(codec, encode(codec, frame)) == frame
    assert is_text(value)


def test_is_text() -> None:
    assert is_text("") and is_text("ascii") and is_text("héllo \U0001f600")
    assert not is_text("\ud800") and not is_text("é\udfff")


@pytest.mark.parametrize("codec", list(Codec))
def test_encode_sends_a_stored_lone_surrogate_as_the_replacement_character(codec: Codec) -> None:
    frame = {"t": "queue", "waiting": [{"topic": "x\ud800y", "\udc00": ["\udfff"]}]}
    data = encode(codec, frame)
    if isinstance(data, str):
        data.encode()  # sendable as a text frame
    expected = {"t": "queue", "waiting": [{"topic": "x\ufffdy", "\ufffd": ["\ufffd"]}]}
    assert decode(codec, data) == expected
    assert repaired(frame) == expected


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.text(st.characters(exclude_categories=()), max_size=6),
        st.text(st.characters(exclude_categories=()), max_size=12)
        | st.sampled_from(["\ud800", "\ufffe", "\uffff", "\ufdd0", "\u202e", "\x00"]),
        max_size=4,
    )
)
def test_whatever_decodes_encodes_again(fields: dict[str, str]) -> None:
    """Any Unicode, surrogates included, in JSON: decode either refuses it (InvalidText)
    or returns a frame that both encodings can carry."""
    for codec in Codec:
        try:
            frame = decode(Codec.JSON, json.dumps({**fields, "t": "x"}))
        except InvalidText:
            assert not all(is_text(k) and is_text(v) for k, v in fields.items())
            continue
        data = encode(codec, frame)
        assert decode(codec, data) == frame


# --- properties: decode returns a dict or raises bad_frame, nothing else ----------------


def _decode_is_total(codec: Codec, data: bytes | str) -> None:
    try:
        frame = decode(codec, data)
    except InvalidText as exc:
        assert exc.code is ErrorCode.BAD_REQUEST
    except ChatError as exc:
        assert exc.code is ErrorCode.BAD_FRAME
    else:
        assert isinstance(frame, dict)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=256))
def test_arbitrary_bytes_decode_to_a_dict_or_bad_frame(data: bytes) -> None:
    _decode_is_total(Codec.MSGPACK, data)
    _decode_is_total(Codec.JSON, data)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=256))
def test_arbitrary_text_decodes_to_a_dict_or_bad_frame(data: str) -> None:
    _decode_is_total(Codec.JSON, data)
    _decode_is_total(Codec.MSGPACK, data)


_packable = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats()
    | st.text(max_size=8)
    | st.binary(max_size=8),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=4) | st.binary(max_size=4), children, max_size=4)
    ),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(_packable, st.binary(max_size=4), st.integers(min_value=0, max_value=64))
def test_packed_values_decode_to_a_dict_or_bad_frame(value: object, tail: bytes, cut: int) -> None:
    packed = msgpack.packb(value, use_bin_type=True)
    _decode_is_total(Codec.MSGPACK, packed)
    _decode_is_total(Codec.MSGPACK, packed + tail)
    _decode_is_total(Codec.MSGPACK, packed[:cut])
    # The same value as JSON text, whole and cut short (bytes become lists of ints).
    try:
        text = json.dumps(value, default=list)
    except TypeError:  # a bytes map key: not expressible in JSON
        return
    _decode_is_total(Codec.JSON, text)
    _decode_is_total(Codec.JSON, text[:cut])
