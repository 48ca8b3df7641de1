"""What each conversation event adds to the figures (contract §6), recorded by the
service at the event's `ts`: a small `Figures` per event, merged into the windows."""

from __future__ import annotations

from chat_server.core import ratings
from chat_server.core.metrics import Figures, frt_band


def _with(counters: dict[str, float], **samples: float) -> Figures:
    figures = Figures(counters)
    for name, value_s in samples.items():
        figures.observe(name, value_s)
    return figures


def started() -> Figures:
    return _with({"started": 1})


def assigned_first(wait_s: float) -> Figures:
    """The conversation's first assignment: its queue wait."""
    return _with({}, wait_s=wait_s)


def first_response(frt_s: float, target_s: float) -> Figures:
    """The first agent `text` message: answered, FRT and the FRT SLA."""
    met = 1 if frt_s <= target_s else 0
    return _with({"answered": 1, "sla_total": 1, "sla_met": met}, frt_s=frt_s)


def response(response_s: float) -> Figures:
    """An agent `text` message that ends a visitor turn."""
    return _with({}, response_s=response_s)


def closed(
    *, resolved: bool, resolution_s: float | None, abandoned: bool, inactive: bool = False
) -> Figures:
    """A close. A resolved one counts as first-contact resolved until `recontacted`;
    `inactive`: closed by the inactivity timer."""
    figures = Figures({"closed": 1})
    if inactive:
        figures.add("closed_inactive")
    if resolved:
        figures.add("resolved")
        figures.add("fcr_total")
        figures.add("fcr_ok")
        if resolution_s is not None:
            figures.observe("resolution_s", resolution_s)
    if abandoned:
        figures.add("abandoned")
    return figures


def recontacted() -> Figures:
    """The visitor came back within `fcr_hours`: record at the ORIGINAL close's ts, so the
    correction lands in the same buckets as the count it corrects."""
    return Figures({"fcr_ok": -1})


def transferred() -> Figures:
    return Figures({"transfers": 1})


def rated(*, csat: int | None, nps: int | None, ces: int | None, frt_s: float | None) -> Figures:
    """A post-chat survey answer (any stored rating counts as answered); each score counts
    under its value too (`core/ratings.py`). `frt_s` (the conversation's FRT, if answered)
    files the CSAT under its band."""
    for scale, score in (("csat", csat), ("nps", nps), ("ces", ces)):
        ratings.check(scale, score)
    figures = Figures({"survey_answered": 1})
    if csat is not None:
        positive = 1 if csat >= 4 else 0
        figures.add("csat_n")
        figures.add(f"csat:{csat}")
        figures.add("csat_pos", positive)
        figures.add("csat_sum", csat)
        if frt_s is not None:
            band = frt_band(frt_s)
            figures.add(f"band:{band}:n")
            figures.add(f"band:{band}:pos", positive)
    if nps is not None:
        figures.add("nps_n")
        figures.add(f"nps:{nps}")
        figures.add("nps_pro", 1 if nps >= 9 else 0)
        figures.add("nps_pas", 1 if 7 <= nps <= 8 else 0)
        figures.add("nps_det", 1 if nps <= 6 else 0)
    if ces is not None:
        figures.add("ces_n")
        figures.add(f"ces:{ces}")
        figures.add("ces_sum", ces)
    return figures


def surveyed() -> Figures:
    """The server asked for a rating: the `survey` frame sent at the close of a conversation
    that had an agent (the denominator of the survey response rate)."""
    return Figures({"survey_shown": 1})


def offline() -> Figures:
    """A conversation became an offline message (`pending`)."""
    return Figures({"offline": 1})


def offline_answered(frt_s: float) -> Figures:
    """The first agent `text` of an offline message, measured from when it became pending
    (apart from `frt_s` and the SLA, which measure live chats)."""
    return _with({"offline_answered": 1}, offline_frt_s=frt_s)
