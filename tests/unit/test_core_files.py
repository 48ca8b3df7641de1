"""`core/files.py` (issue 15): types told by content, safe names, ids that name their
conversation, and who may send or read an upload."""

from __future__ import annotations

import pytest

from chat_server.core import files as ft
from chat_server.core import views
from chat_server.core.errors import ChatError, ErrorCode
from chat_server.core.model import FileRef, Kind, Message, Role, Sender, StoredFile

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
VISITOR = Sender(Role.VISITOR, "v_1", None)
AGENT = Sender(Role.AGENT, "a_1", "Alice")


# --- sniff -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "type_id"),
    [
        (PNG, "png"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "jpeg"),
        (b"\xff\xd8\xff\xe1\x00\x10Exif", "jpeg"),
        (b"GIF87a\x01\x00", "gif"),
        (b"GIF89a\x01\x00", "gif"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "webp"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3", "pdf"),
        (b"hello, world\n", "txt"),
        (b"\xef\xbb\xbfwith a BOM\r\n\tand tab\x0c", "txt"),
        ("caf\u00e9 \u2603 \U0001f600".encode(), "txt"),
    ],
)
def test_every_type_is_told_by_its_first_bytes(head: bytes, type_id: str) -> None:
    assert ft.sniff(head) == type_id
    assert ft.TYPES[type_id].id == type_id


@pytest.mark.parametrize(
    "head",
    [
        b"",
        b"\x7fELF\x02\x01\x01\x00",  # an executable named x.png
        b"MZ\x90\x00\x03\x00\x00\x00",  # a Windows one
        b"RIFF\x24\x00\x00\x00WAVEfmt ",  # RIFF, but not WebP
        b"PK\x03\x04\x14\x00",  # a zip
        b"text with a NUL\x00 inside",
        b"text with a bell\x07",
        b"text with DEL\x7f",
        b"\xff\xfe\x00h\x00i",  # UTF-16
        b"latin-1 caf\xe9 au lait",  # not UTF-8, early in the head
        b"ends in a byte that starts nothing \xff",
        b"\x89PNX\r\n\x1a\n",  # almost a PNG
    ],
)
def test_anything_else_is_no_type(head: bytes) -> None:
    assert ft.sniff(head) is None


def test_a_head_may_end_inside_a_character() -> None:
    """The first `SNIFF_BYTES` may cut a multi-byte character: only that cut is forgiven."""
    snowman = "\u2603".encode()
    assert ft.sniff(b"x" * 10 + snowman[:2]) == "txt"
    assert ft.sniff(b"x" * 10 + snowman[:1]) == "txt"
    assert ft.sniff(snowman[:2] + b"x" * 10) is None  # cut, but not at the end


def test_later_text_is_checked_by_bytes() -> None:
    assert ft.text_continues(b"more text\r\n\t\x0c" + "\u00e9".encode())
    assert ft.text_continues(b"")
    assert not ft.text_continues(b"binary \x00 after all")
    assert not ft.text_continues(b"\x1b[31m escape codes")


def test_the_defaults_and_bounds() -> None:
    assert ft.DEFAULT_TYPES == ("png", "jpeg", "gif", "webp", "pdf", "txt")
    assert ft.DEFAULT_MAX_BYTES == 10 * 1024 * 1024 and ft.MAX_BYTES_CAP == 100 * 1024 * 1024
    assert [t.id for t in ft.TYPES.values() if t.image] == ["png", "jpeg", "gif", "webp"]
    assert ft.TYPES["txt"].mime == "text/plain; charset=utf-8"


# --- names -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "type_id", "safe"),
    [
        ("holiday.png", "png", "holiday.png"),
        ("photo.JPEG", "jpeg", "photo.jpg"),
        ("invoice.exe", "pdf", "invoice.pdf"),  # the type it really is
        ("x.png", "txt", "x.txt"),
        ("report", "pdf", "report.pdf"),
        ("archive.tar.gz", "txt", "archive.tar.txt"),
        ("../../etc/passwd", "txt", "passwd.txt"),
        ("C:\\Users\\ann\\scan.pdf", "pdf", "scan.pdf"),
        ("dir/", "png", "file.png"),
        ("", "png", "file.png"),
        (None, "gif", "file.gif"),
        ("...", "png", "file.png"),
        (" .hidden. ", "png", "hidden.png"),
        ("tab\tand\nnewline\x00.txt", "txt", "tabandnewline.txt"),
        ("rlo\u202egnp.exe", "png", "rlognp.png"),  # no bidi override to fake an extension
        ("zero\u200bwidth.pdf", "pdf", "zerowidth.pdf"),
        ("cafe\u0301.png", "png", "caf\u00e9.png"),  # NFC
        ("\u65e5\u672c.webp", "webp", "\u65e5\u672c.webp"),
    ],
)
def test_safe_names(name: str | None, type_id: str, safe: str) -> None:
    assert ft.safe_name(name, type_id) == safe


def test_long_names_are_cut_before_the_extension() -> None:
    name = ft.safe_name("a" * 500 + ".png", "png")
    assert len(name) == ft.NAME_MAX and name.endswith("a.png")
    assert len(ft.safe_name("b" * 500, "jpeg")) == ft.NAME_MAX


# --- ids ---------------------------------------------------------------------------------


def test_an_id_names_its_conversation() -> None:
    file_id = ft.new_file_id("c_0123456789abcdef")
    assert file_id.startswith("f_") and len(file_id) == 26 + 1 + 18
    assert ft.cid_of(file_id) == "c_0123456789abcdef"
    assert ft.new_file_id("c_1") != ft.new_file_id("c_1")


@pytest.mark.parametrize(
    "file_id",
    [
        "",
        "f_" + "a" * 24,  # no conversation
        "f_" + "a" * 24 + ".",  # an empty one
        "g_" + "a" * 24 + ".c_1",
        "f_" + "a" * 23 + ".c_1",
        "f_" + "a" * 24 + ".c_1/thumb",
        "c_1",
    ],
)
def test_what_is_not_an_id_names_nothing(file_id: str) -> None:
    assert ft.cid_of(file_id) is None


# --- who may send or read ------------------------------------------------------------------


def stored(owner: str, *, cid: str = "c_1", seq: int | None = None) -> StoredFile:
    ref = FileRef("f_" + "a" * 24 + "." + cid, "a.png", "png", 10, 2, 3)
    return StoredFile(ref, cid, "shop", owner, 1, thumb=True, seq=seq)


def test_owner_keys() -> None:
    assert ft.owner_key(VISITOR) == "visitor:v_1"
    assert ft.owner_key(AGENT) == "agent:a_1"


def test_an_upload_is_sent_by_its_uploader_then_by_anyone_in_the_conversation() -> None:
    mine = stored("visitor:v_1")
    assert ft.require_sendable(mine, "c_1", VISITOR) == mine.ref
    assert mine.id == mine.ref.id
    sent = stored("visitor:v_1", seq=4)
    assert ft.require_sendable(sent, "c_1", AGENT) == sent.ref  # forwarding a sent file


@pytest.mark.parametrize(
    ("found", "cid", "sender"),
    [
        (None, "c_1", VISITOR),  # unknown
        (stored("visitor:v_1"), "c_1", AGENT),  # someone else's unsent upload
        (stored("agent:a_1"), "c_1", VISITOR),
        (stored("visitor:v_2"), "c_1", VISITOR),
        (stored("visitor:v_1", cid="c_2"), "c_1", VISITOR),  # another conversation's
        (stored("visitor:v_1", cid="c_2", seq=3), "c_1", VISITOR),
    ],
)
def test_anything_else_is_not_found(found: StoredFile | None, cid: str, sender: Sender) -> None:
    with pytest.raises(ChatError) as refused:
        ft.require_sendable(found, cid, sender)
    assert refused.value.code is ErrorCode.NOT_FOUND


def test_an_unsent_upload_is_its_uploaders_alone() -> None:
    upload = stored("agent:a_1")
    assert ft.readable_by_uploader(upload, Role.AGENT, "a_1")
    assert not ft.readable_by_uploader(upload, Role.AGENT, "a_2")
    assert not ft.readable_by_uploader(upload, Role.VISITOR, "a_1")


# --- on the wire -------------------------------------------------------------------------


def test_messages_carry_their_files_and_only_images_their_size_in_pixels() -> None:
    image = FileRef("f_" + "a" * 24 + ".c_1", "a.png", "png", 10, 640, 480)
    pdf = FileRef("f_" + "b" * 24 + ".c_1", "b.pdf", "pdf", 99)
    shown = views.message(Message("c_1", 2, 5, Kind.TEXT, AGENT, "", "m", (image, pdf)))
    assert shown["files"] == [
        {"id": image.id, "name": "a.png", "type": "png", "size": 10, "width": 640, "height": 480},
        {"id": pdf.id, "name": "b.pdf", "type": "pdf", "size": 99},
    ]
    assert "files" not in views.message(Message("c_1", 3, 5, Kind.TEXT, AGENT, "hi"))
