"""The post-chat survey's figures (contract §6 `csat`, `nps`, `ces`, `survey`): the
headline numbers, the count of answers per score (issue 16: the distribution, not only the
mean), and how many of the surveys shown were answered.

They read these counters of a `Figures` (`core/samples.py` adds them), all additive:
`<scale>:<score>` for each score of each scale; `csat_n`, `csat_pos`, `csat_sum`;
`nps_n`, `nps_pro`, `nps_pas`, `nps_det`; `ces_n`, `ces_sum`; `survey_shown`,
`survey_answered`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chat_server.core.ratios import pct, ratio

SCALES: dict[str, range] = {"csat": range(1, 6), "nps": range(0, 11), "ces": range(1, 8)}
"""Each survey question's scores: CSAT 1..5, NPS 0..10, CES 1..7 (7 = very easy)."""


def check(scale: str, score: int | None) -> None:
    """A score outside its scale is a bug upstream (the frame schema checks the wire)."""
    scores = SCALES[scale]
    if score is not None and not scores.start <= score < scores.stop:
        raise ValueError(f"{scale} out of {scores.start}..{scores.stop - 1}: {score!r}")


def dist(counters: Mapping[str, float], scale: str) -> dict[str, int]:
    """Answers per score, every score present (0 when none), keyed by the score as text."""
    return {str(s): round(counters.get(f"{scale}:{s}", 0)) for s in SCALES[scale]}


def view(counters: Mapping[str, float]) -> dict[str, Any]:
    """The `csat`, `nps`, `ces` and `survey` members of the contract's `W` object."""
    c = counters

    def n(key: str) -> int:
        return round(c.get(key, 0))

    return {
        "csat": {
            "n": n("csat_n"),
            "pct": pct(c.get("csat_pos", 0), c.get("csat_n", 0)),
            "mean": ratio(c.get("csat_sum", 0), c.get("csat_n", 0), 1, 2),
            "dist": dist(c, "csat"),
        },
        "nps": {
            "n": n("nps_n"),
            "score": ratio(c.get("nps_pro", 0) - c.get("nps_det", 0), c.get("nps_n", 0), 100, 1),
            "promoters": n("nps_pro"),
            "passives": n("nps_pas"),
            "detractors": n("nps_det"),
            "dist": dist(c, "nps"),
        },
        "ces": {
            "n": n("ces_n"),
            "mean": ratio(c.get("ces_sum", 0), c.get("ces_n", 0), 1, 2),
            "dist": dist(c, "ces"),
        },
        "survey": {
            "shown": n("survey_shown"),
            "answered": n("survey_answered"),
            "pct": pct(c.get("survey_answered", 0), c.get("survey_shown", 0)),
        },
    }
