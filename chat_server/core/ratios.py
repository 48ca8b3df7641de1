"""How the figures (contract §6) turn counts into the numbers supervisors read: percents
rounded to 0.1 and kept within 0..100, means and seconds rounded, null when there is
nothing to divide by. One place, so the windows, the surveys and the reports agree."""

from __future__ import annotations


def round1(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def ratio(numerator: float, denominator: float, scale: float, digits: int) -> float | None:
    if denominator <= 0:
        return None
    return round(scale * numerator / denominator, digits)


def pct(part: float, whole: float) -> float | None:
    """A percent rounded to 0.1; clamped to 0..100 because provisional corrections (FCR's
    recontact) may land on a bucket whose original count predates the store, and a survey
    answered in one bucket may have been shown in an earlier one."""
    if whole <= 0:
        return None
    return round(100 * min(max(part, 0.0), whole) / whole, 1)
