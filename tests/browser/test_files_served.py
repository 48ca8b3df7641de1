"""Served files cannot run in the browser (issue 15): Chromium opens what an upload
disguised as a page turned into, with a supervisor's session, and no script of it runs. A
PNG that is also HTML is shown as the image it was rewritten to; an SVG with a script is
text, and text is only ever a download."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import SUPERVISOR, Pages, sign_in
from tests.conftest import ServerFactory
from tests.integration.test_files import as_visitor, chat, png, uploaded
from tests.integration.test_files_bad_input import png_chunk

pytestmark = pytest.mark.browser

SCRIPT = b"<html><body><script>alert('pwned'); document.title = 'pwned'</script></body></html>"
SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)">'
    b"<script>alert(document.cookie)</script></svg>"
)


def polyglot() -> bytes:
    """A PNG that Pillow reads, with HTML in a text chunk and after its end."""
    image = png((40, 20))
    iend = image.rindex(b"IEND") - 4
    return image[:iend] + png_chunk(b"tEXt", b"Comment\0" + SCRIPT) + image[iend:] + SCRIPT


async def test_an_upload_disguised_as_a_page_runs_nothing(
    start_server: ServerFactory, pages: Pages
) -> None:
    live = await start_server(demo=True)
    visitor, cid = await chat(live)
    auth = as_visitor(visitor)
    image = await uploaded(live, cid, polyglot(), auth, name="index.html")
    svg = await uploaded(live, cid, SVG, auth, name="logo.svg")
    assert (image["type"], svg["type"], svg["name"]) == ("png", "txt", "logo.txt")
    await visitor.request("msg", cid=cid, text="", cmid="1", files=[image["id"], svg["id"]])

    page = await pages.new()
    await sign_in(page, live.base, "/dashboard", account=SUPERVISOR)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), asyncio.ensure_future(d.dismiss())))

    # the image: shown as an image document, nothing of the HTML in it, nothing run
    answer = await page.goto(f"{live.base}/api/files/{image['id']}")
    assert answer is not None and answer.status == 200
    assert answer.headers["content-type"] == "image/png"
    shown: dict[str, Any] = await page.evaluate(
        """() => ({type: document.contentType, scripts: document.scripts.length,
                   title: document.title, width: document.images[0]?.naturalWidth})"""
    )
    assert shown == {"type": "image/png", "scripts": 0, "title": shown["title"], "width": 40}
    assert "pwned" not in shown["title"]

    # the SVG, now text: a download, never a page
    async with page.expect_download() as got:
        with pytest.raises(Exception, match="Download is starting"):
            await page.goto(f"{live.base}/api/files/{svg['id']}")
    download = await got.value
    assert download.suggested_filename == "logo.txt"
    assert await asyncio.to_thread(Path(await download.path()).read_bytes) == SVG
    await page.wait_for_timeout(300)
    assert dialogs == []
