"""A site's visitor-facing settings (issue 14): their JSON form, their checks, and the
check of a visitor's pre-chat answers against the site's form.

One validator for the CLI and `PUT /api/sites/{site}/settings`, so both refuse alike.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from chat_server.core import files as filetypes
from chat_server.core.errors import bad_request
from chat_server.core.hours import hours_from_json, hours_to_json
from chat_server.core.model import FormField, Privacy, Site, Topic

FIELD_TYPES = ("text", "email", "select", "checkbox")
MAX_FIELDS = 20
MAX_TOPICS = 50
MAX_OPTIONS = 50
LABEL_MAX = 200
PRIVACY_MAX = 1000
URL_MAX = 2048
ANSWER_MAX = 1000
TIMERS: dict[str, tuple[int, int]] = {
    "offline_after_s": (0, 86_400),
    "inactive_warn_s": (30, 7 * 86_400),
    "inactive_close_s": (10, 86_400),
}
"""Each timer's bounds in seconds."""
SETTINGS = ("hours", "form", "topics", "privacy", "sneak_peek", *TIMERS, "files", "bot")
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_BOT = re.compile(r"^b_[0-9a-f]{1,62}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s.]{2,}$")


def is_email(text: str) -> bool:
    """Plausibly an address someone can be reached at (what a form can check)."""
    return len(text) <= 254 and _EMAIL.match(text) is not None


def _label(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > LABEL_MAX:
        raise ValueError(f"{what} is text of 1 to {LABEL_MAX} characters")
    return value.strip()


def _name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise ValueError(f"{what} is 1 to 64 letters, digits, '_', '.' or '-'")
    return value


def form_from_json(data: Any) -> tuple[FormField, ...]:
    if not isinstance(data, list) or len(data) > MAX_FIELDS:
        raise ValueError(f"form is a list of at most {MAX_FIELDS} fields")
    out: list[FormField] = []
    for item in data:
        if not isinstance(item, dict):
            raise ValueError("each form field is a map {name, label, type, required, options}")
        name = _name(item.get("name"), "a field name")
        if any(f.name == name for f in out):
            raise ValueError(f"field {name!r} is there twice")
        kind = item.get("type", "text")
        if kind not in FIELD_TYPES:
            raise ValueError(f"field {name!r}: type is one of {', '.join(FIELD_TYPES)}")
        required = item.get("required", False)
        if not isinstance(required, bool):
            raise ValueError(f"field {name!r}: required is true or false")
        options = item.get("options") or []
        if kind == "select":
            if not isinstance(options, list) or not 0 < len(options) <= MAX_OPTIONS:
                raise ValueError(f"field {name!r}: a select has 1 to {MAX_OPTIONS} options")
            options = [_label(o, f"field {name!r}: an option") for o in options]
        elif options:
            raise ValueError(f"field {name!r}: only a select has options")
        label = _label(item.get("label", name), f"field {name!r}: the label")
        out.append(FormField(name, label, kind, required, tuple(options)))
    return tuple(out)


def topics_from_json(data: Any) -> tuple[Topic, ...]:
    if not isinstance(data, list) or len(data) > MAX_TOPICS:
        raise ValueError(f"topics is a list of at most {MAX_TOPICS} {{id, label}}")
    out: list[Topic] = []
    for item in data:
        if not isinstance(item, dict):
            raise ValueError("each topic is a map {id, label}")
        tid = _name(item.get("id"), "a topic id")
        if any(t.id == tid for t in out):
            raise ValueError(f"topic {tid!r} is there twice")
        out.append(Topic(tid, _label(item.get("label", tid), f"topic {tid!r}: the label")))
    return tuple(out)


def privacy_from_json(data: Any) -> Privacy | None:
    if data is None:
        return None
    if not isinstance(data, dict):
        raise ValueError("privacy is a map {text, url} or null")
    text = data.get("text")
    if not isinstance(text, str) or not text.strip() or len(text) > PRIVACY_MAX:
        raise ValueError(f"privacy.text is text of 1 to {PRIVACY_MAX} characters")
    url = data.get("url")
    if url is not None and (
        not isinstance(url, str)
        or not url.startswith(("https://", "http://"))
        or len(url) > URL_MAX
        or any(c.isspace() for c in url)
    ):
        raise ValueError("privacy.url is an http(s) address")
    return Privacy(text.strip(), url)


def files_from_json(data: Any) -> tuple[int, tuple[str, ...]]:
    """Issue 15: `{max_bytes, types}`, the largest upload (0: attachments off) and the
    accepted types, as `(file_max_bytes, file_types)`."""
    if not isinstance(data, dict) or set(data) - {"max_bytes", "types"}:
        raise ValueError("files is an object with max_bytes and types")
    max_bytes = data.get("max_bytes", filetypes.DEFAULT_MAX_BYTES)
    cap = filetypes.MAX_BYTES_CAP
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or not 0 <= max_bytes <= cap:
        raise ValueError(f"files.max_bytes is a whole number of bytes from 0 to {cap}")
    types = data.get("types", list(filetypes.DEFAULT_TYPES))
    if not isinstance(types, list) or any(t not in filetypes.TYPES for t in types):
        known = ", ".join(filetypes.TYPES)
        raise ValueError(f"files.types is a list of: {known}")
    if max_bytes == filetypes.DEFAULT_MAX_BYTES:
        max_bytes = filetypes.DEFAULT_MAX_BYTES  # the one int object, not one per site read
    chosen = tuple(t for t in filetypes.TYPES if t in types)
    return max_bytes, _TYPE_SETS.setdefault(chosen, chosen)


_TYPE_SETS: dict[tuple[str, ...], tuple[str, ...]] = {}
"""One tuple per choice of types (at most 64), shared by every site read: each visitor's
session keeps its site, and thousands of copies of the same six names add up (measured:
0.4 KiB more per idle visitor socket before these two were shared)."""


def files_json(site: Site) -> dict[str, Any]:
    return {"max_bytes": site.file_max_bytes, "types": list(site.file_types)}


def bot_from_json(data: Any) -> str | None:
    """Issue 17: a bot agent's id (`b_…`, as `agent add --role bot` printed it), or null."""
    if data is None:
        return None
    if not isinstance(data, str) or not _BOT.match(data):
        raise ValueError("bot is a bot agent's id (b_…) or null")
    return data


def _timer(data: Any, key: str) -> int:
    lo, hi = TIMERS[key]
    if isinstance(data, bool) or not isinstance(data, int) or not lo <= data <= hi:
        raise ValueError(f"{key} is a whole number of seconds from {lo} to {hi}")
    return data


def apply(site: Site, body: Any) -> Site:
    """The site with the settings in `body` (any of `SETTINGS`) changed; ValueError names
    the first thing wrong, and nothing is changed then."""
    if not isinstance(body, dict):
        raise ValueError("the settings are a JSON object")
    unknown = sorted(set(body) - set(SETTINGS))
    if unknown:
        raise ValueError(f"unknown setting {unknown[0]!r}")
    changes: dict[str, Any] = {}
    if "hours" in body:
        changes["hours"] = hours_from_json(body["hours"])
    if "form" in body:
        changes["form"] = form_from_json(body["form"])
    if "topics" in body:
        changes["topics"] = topics_from_json(body["topics"])
    if "privacy" in body:
        changes["privacy"] = privacy_from_json(body["privacy"])
    if "sneak_peek" in body:
        if not isinstance(body["sneak_peek"], bool):
            raise ValueError("sneak_peek is true or false")
        changes["sneak_peek"] = body["sneak_peek"]
    for key in TIMERS:
        if key in body:
            changes[key] = _timer(body[key], key)
    if "files" in body:
        changes["file_max_bytes"], changes["file_types"] = files_from_json(body["files"])
    if "bot" in body:
        changes["bot"] = bot_from_json(body["bot"])
    return replace(site, **changes)


def form_json(form: tuple[FormField, ...]) -> list[dict[str, Any]]:
    out = []
    for f in form:
        item: dict[str, Any] = {"name": f.name, "label": f.label, "type": f.type}
        item["required"] = f.required
        if f.type == "select":
            item["options"] = list(f.options)
        out.append(item)
    return out


def topics_json(topics: tuple[Topic, ...]) -> list[dict[str, str]]:
    return [{"id": t.id, "label": t.label} for t in topics]


def privacy_json(privacy: Privacy | None) -> dict[str, Any] | None:
    if privacy is None:
        return None
    out: dict[str, Any] = {"text": privacy.text}
    if privacy.url is not None:
        out["url"] = privacy.url
    return out


def settings_json(site: Site) -> dict[str, Any]:
    """Every setting, in the form `apply` takes (what `site show` and the REST GET give)."""
    return {
        "hours": hours_to_json(site.hours),
        "form": form_json(site.form),
        "topics": topics_json(site.topics),
        "privacy": privacy_json(site.privacy),
        "sneak_peek": site.sneak_peek,
        **{key: getattr(site, key) for key in TIMERS},
        "files": files_json(site),
        "bot": site.bot,
    }


def widget_json(site: Site) -> dict[str, Any]:
    """What a visitor's `hello` ok says of the site (`site`)."""
    return {
        "form": form_json(site.form),
        "topics": topics_json(site.topics),
        "privacy": privacy_json(site.privacy),
        "sneak_peek": site.sneak_peek,
        "offline_after_s": site.offline_after_s,
        "files": files_json(site),
    }


# --- a visitor's answers ---------------------------------------------------------------


def check_answers(site: Site, fields: Any) -> tuple[tuple[str, str | bool], ...]:
    """The visitor's pre-chat answers, checked against the site's form (`bad_request`
    naming the field); in the form's order, blank text answers left out."""
    answers = {} if fields is None else fields
    if not isinstance(answers, dict):
        raise bad_request("'fields' must be a map")
    known = {f.name: f for f in site.form}
    for name in answers:
        if name not in known:
            raise bad_request(f"unknown field {str(name)[:64]!r}")
    out: list[tuple[str, str | bool]] = []
    for f in site.form:
        value = answers.get(f.name)
        if f.type == "checkbox":
            checked = _checkbox(f, value)
            if checked is not None:
                out.append((f.name, checked))
            continue
        text = _text_answer(f, value)
        if text:
            out.append((f.name, text))
    return tuple(out)


def _checkbox(f: FormField, value: Any) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise bad_request(f"field {f.name!r} must be true or false")
    if f.required and value is not True:
        raise bad_request(f"field {f.name!r} is required")
    return value


def _text_answer(f: FormField, value: Any) -> str:
    if value is not None and not isinstance(value, str):
        raise bad_request(f"field {f.name!r} must be text")
    text = (value or "").strip()
    if len(text) > ANSWER_MAX or "\x00" in text:
        raise bad_request(f"field {f.name!r} is longer than {ANSWER_MAX} characters")
    if not text:
        if f.required:
            raise bad_request(f"field {f.name!r} is required")
        return ""
    if f.type == "email" and not is_email(text):
        raise bad_request(f"field {f.name!r} is not an email address")
    if f.type == "select" and text not in f.options:
        raise bad_request(f"field {f.name!r} is not one of its options")
    return text


def check_topic(site: Site, topic: str | None) -> None:
    """When the site has topics, a topic given must be one of their ids."""
    if topic is not None and site.topics and all(t.id != topic for t in site.topics):
        raise bad_request(f"unknown topic {topic[:64]!r}")
