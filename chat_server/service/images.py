"""Uploaded images (issue 15), decoded and written anew with Pillow: only the pixels, and an
animation's frames and timing, survive. Whatever else an image carries (EXIF with its GPS
position, XMP, comments, text chunks, bytes after its end, a polyglot's HTML) is not
copied, and the EXIF orientation is applied first, so the pixels stand as they were shown.

ICC colour profiles are dropped too: they are arbitrary bytes from the uploader, with
free-text tags (a device's or a person's name) that every viewer's colour engine parses;
the price is that a wide-gamut image (a Display P3 screenshot) looks a little duller.

Decoding is CPU and memory work: it runs in a pool of `WORKERS` threads of its own, which
bounds the memory that uploads arriving together can take (a 40 megapixel image decodes to
160 MB) and never holds up the threads that check passwords.
"""

from __future__ import annotations

import asyncio
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image, ImageOps, ImageSequence, features

MAX_PIXELS = 40_000_000
"""The largest image (width x height) decoded; a larger one is refused as broken."""
ANIMATION_PIXELS = 100_000_000
"""An animation's frames together: a few MiB of GIF can repeat one frame thousands of times."""
MAX_FRAMES = 1000
THUMB_BOX = (320, 320)
THUMB_FORMAT = "WEBP" if features.check("webp") else "PNG"
WORKERS = 2

Image.MAX_IMAGE_PIXELS = MAX_PIXELS
# Pillow warns between MAX_IMAGE_PIXELS and twice that: `rewrite` refuses those itself
warnings.simplefilter("ignore", Image.DecompressionBombWarning)

_FORMATS = {"png": "PNG", "jpeg": "JPEG", "gif": "GIF", "webp": "WEBP"}
_ANIMATED = {"gif", "webp"}
_KEPT_INFO = ("transparency", "background")
"""What of `Image.info` a still image keeps: how its pixels are drawn, never metadata."""
_QUALITY = {"JPEG": {"quality": 90}, "WEBP": {"quality": 90}}
_pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="images")


class Broken(ValueError):
    """Not an image of its type that Pillow decodes, or larger than it may decode."""


async def rewritten(src: Path, type_id: str, out: Path, thumb: Path) -> tuple[int, int]:
    """`rewrite`, off the event loop."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_pool, rewrite, src, type_id, out, thumb)


def rewrite(src: Path, type_id: str, out: Path, thumb: Path) -> tuple[int, int]:
    """Decode `src` (an image of `type_id`, told by its first bytes), write it anew to `out`
    and its thumbnail (at most `THUMB_BOX`, `THUMB_FORMAT`) to `thumb`; its width and
    height. `Broken` when it does not decode or is too large."""
    fmt = _FORMATS[type_id]
    try:
        with Image.open(src, formats=[fmt]) as im:
            width, height = im.size
            if width * height > MAX_PIXELS:
                raise Broken(f"over {MAX_PIXELS} pixels")
            frames = getattr(im, "n_frames", 1) if type_id in _ANIMATED else 1
            if frames > 1:
                if frames > MAX_FRAMES or frames * width * height > ANIMATION_PIXELS:
                    raise Broken("too many frames")
                _save_animation(im, fmt, out)
                im.seek(0)
                first = im.convert("RGBA")
            else:
                im.load()
                first = _upright(im)
                first.info = {k: v for k, v in first.info.items() if k in _KEPT_INFO}
                first.save(out, fmt, **_QUALITY.get(fmt, {}))
                width, height = first.size
            _save_thumbnail(first, thumb)
    except Broken:
        raise
    except Exception as exc:  # any decoder failure: truncated, corrupt, unsupported mode
        raise Broken(f"{type(exc).__name__}: {exc}") from exc
    return width, height


def _upright(im: Image.Image) -> Image.Image:
    """A copy turned as its EXIF orientation says (an EXIF block that does not parse is
    simply not followed: it is dropped with the rest)."""
    try:
        return ImageOps.exif_transpose(im)
    except Exception:
        return im.copy()


def _save_animation(im: Image.Image, fmt: str, out: Path) -> None:
    """Every frame with its duration, and the loop count; nothing of the frames' metadata."""
    durations = []
    for frame in ImageSequence.Iterator(im):
        frame.load()  # a WebP frame's duration is known once it is decoded
        durations.append(frame.info.get("duration", 100))
    im.seek(0)
    loop = im.info.get("loop", 0)
    im.info = {k: v for k, v in im.info.items() if k in _KEPT_INFO}
    im.save(out, fmt, save_all=True, duration=durations, loop=loop, **_QUALITY.get(fmt, {}))


def _save_thumbnail(first: Image.Image, thumb: Path) -> None:
    small = first.convert("RGBA")
    small.thumbnail(THUMB_BOX)
    small.save(thumb, THUMB_FORMAT, **({"quality": 80} if THUMB_FORMAT == "WEBP" else {}))
