"""Supervisor figures over rolling windows (contract §6 Stats), as plain arithmetic.

A `Figures` is a mergeable bag of counters, sums and histograms. Each conversation event
contributes a small `Figures` (`core/samples.py`) that the service records at the
event's `ts` into time buckets; a window is the merge of its buckets, and `window_view`
turns it into the contract's `W` object. Everything merges by addition, so buckets can
live in memory (`RollingWindows`, the embedded backend) or in Redis hashes
(`to_fields`, one `HINCRBYFLOAT` per field) and every node reads the same figures.

Histograms share one fixed set of bins so they merge by adding counts. Below 1 s the bins
are linear, 0.1 s wide, read as their midpoint (within 0.05 s); from 1 s up they are
log-spaced with ratio 1 + 2*EPS, read as their geometric midpoint. So p50 and p90 are
within EPS = 5 % of the exact (nearest-rank) quantile of the samples for values >= 1 s,
and within 0.05 s below 1 s, before the output's rounding to 0.1 s. Means are exact: sums
are kept alongside.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypedDict

from chat_server.core import ratings
from chat_server.core.ratios import pct, round1

WINDOWS: dict[str, tuple[int, int]] = {
    "5m": (300_000, 10_000),
    "1h": (3_600_000, 60_000),
    "24h": (86_400_000, 900_000),
}
"""Window name -> (length_ms, bucket_ms). A window reads length/bucket buckets."""

BANDS: tuple[str, ...] = ("<30s", "30-60s", "1-2m", "2-5m", ">5m")
_BAND_UPPER_S: tuple[tuple[float, str], ...] = (
    (30, "<30s"),
    (60, "30-60s"),
    (120, "1-2m"),
    (300, "2-5m"),
)

HISTOGRAMS: tuple[str, ...] = ("wait_s", "frt_s", "response_s", "resolution_s", "offline_frt_s")

EPS = 0.05
_RATIO = 1 + 2 * EPS
_LOG_RATIO = math.log(_RATIO)
_LINEAR_BINS = 10  # 0.1 s wide, covering [0, 1 s)


def frt_band(frt_s: float) -> str:
    """The CSAT-by-FRT band (contract §6 csat_by_frt) a first response time falls in."""
    for upper, band in _BAND_UPPER_S:
        if frt_s < upper:
            return band
    return ">5m"


def bin_index(value_s: float) -> int:
    """The histogram bin of a duration. Negative durations (clock skew between nodes) count
    as 0; a non-finite one is a bug upstream and raises."""
    if not math.isfinite(value_s):
        raise ValueError(f"not a finite duration: {value_s!r}")
    if value_s < 1:
        return max(0, min(_LINEAR_BINS - 1, int(value_s * _LINEAR_BINS)))
    return _LINEAR_BINS + int(math.log(value_s) / _LOG_RATIO)


def bin_value(index: int) -> float:
    """The value a bin reads as: its midpoint (linear bins) or geometric midpoint (log bins)."""
    if index < 0:
        raise ValueError(f"no histogram bin {index}")
    if index < _LINEAR_BINS:
        return (index + 0.5) / _LINEAR_BINS
    return float(_RATIO ** (index - _LINEAR_BINS + 0.5))


class Summary(TypedDict):
    """The contract's `P` object."""

    n: int
    avg: float | None
    p50: float | None
    p90: float | None


def _decode(raw: str | bytes) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


_Raw = str | bytes | float | int


@dataclass(slots=True)
class Figures:
    """A mergeable bag of counters, sums and histograms: what one bucket (or one window) holds.

    Histogram `name` keeps its sample count in its bins and its sum in `counters["sum:name"]`.
    """

    counters: dict[str, float] = field(default_factory=dict)
    histograms: dict[str, dict[int, int]] = field(default_factory=dict)

    def add(self, name: str, amount: float = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + amount

    def observe(self, name: str, value_s: float) -> None:
        """Add one sample to histogram `name` (and to its sum, for the mean)."""
        index = bin_index(value_s)
        bins = self.histograms.setdefault(name, {})
        bins[index] = bins.get(index, 0) + 1
        self.add(f"sum:{name}", max(0.0, value_s))

    def merge(self, other: Figures) -> None:
        counters = self.counters
        for key, value in other.counters.items():
            counters[key] = counters.get(key, 0) + value
        for name, other_bins in other.histograms.items():
            bins = self.histograms.get(name)
            if bins is None:
                self.histograms[name] = dict(other_bins)
                continue
            for index, count in other_bins.items():
                bins[index] = bins.get(index, 0) + count

    def to_fields(self) -> dict[str, float]:
        """Flat form for a Redis hash: `c:<counter>` and `h:<histogram>:<bin>`. Adding two
        flat forms field by field (`HINCRBYFLOAT`) is the same as `merge`."""
        fields = {f"c:{key}": value for key, value in self.counters.items()}
        for name, bins in self.histograms.items():
            for index, count in bins.items():
                fields[f"h:{name}:{index}"] = count
        return fields

    @classmethod
    def from_fields(
        cls,
        fields: Mapping[str, _Raw] | Mapping[bytes, _Raw] | Mapping[str | bytes, _Raw],
    ) -> Figures:
        """Inverse of `to_fields`, taking str or bytes as redis returns them. Fields of any
        other shape are ignored, so a hash may carry bookkeeping of its own."""
        figures = cls()
        for raw_key, raw_value in fields.items():
            key = _decode(raw_key)
            value = float(raw_value)
            kind, _, rest = key.partition(":")
            # interned: a restored store holds thousands of buckets with the same names
            if kind == "c" and rest:
                figures.counters[sys.intern(rest)] = value
            elif kind == "h":
                name, _, index = rest.rpartition(":")
                if name and index.isdigit():
                    bins = figures.histograms.setdefault(sys.intern(name), {})
                    bins[int(index)] = round(value)
        return figures

    def count(self, name: str) -> int:
        return sum(self.histograms.get(name, {}).values())

    def quantile(self, name: str, q: float) -> float | None:
        """Nearest-rank quantile of histogram `name` (within the module's error bound);
        `None` when it has no samples."""
        if not 0 <= q <= 1:
            raise ValueError(f"quantile out of [0, 1]: {q!r}")
        bins = self.histograms.get(name, {})
        n = sum(bins.values())
        if n <= 0:
            return None
        # round() first so that 0.9 * 10 reads as rank 9, not 10
        rank = max(1, math.ceil(round(q * n, 6)))
        seen = 0
        for index in sorted(bins):
            seen += bins[index]
            if seen >= rank:
                return bin_value(index)
        # unreachable: the bins add up to n >= rank, so the loop returns by its last bin
        return bin_value(max(bins))  # pragma: no cover

    def summary(self, name: str) -> Summary:
        """The contract's `P` for histogram `name`, in seconds rounded to 0.1."""
        n = self.count(name)
        if n <= 0:
            return {"n": 0, "avg": None, "p50": None, "p90": None}
        return {
            "n": n,
            "avg": round(self.counters.get(f"sum:{name}", 0) / n, 1),
            "p50": round1(self.quantile(name, 0.5)),
            "p90": round1(self.quantile(name, 0.9)),
        }


def window_view(f: Figures) -> dict[str, Any]:
    """The contract's `W` object (plus the `transfers` extension) for one window: the same
    for a rolling window and for a report's range (`core/reports.py`)."""
    c = f.counters

    def n(key: str) -> int:
        return round(c.get(key, 0))

    answered, abandoned = n("answered"), n("abandoned")
    return {
        "started": n("started"),
        "answered": answered,
        "abandoned": abandoned,
        "abandon_pct": pct(abandoned, answered + abandoned),
        "closed": n("closed"),
        "resolved": n("resolved"),
        "wait_s": f.summary("wait_s"),
        "frt_s": f.summary("frt_s"),
        "response_s": f.summary("response_s"),
        "resolution_s": f.summary("resolution_s"),
        "sla_frt_pct": pct(c.get("sla_met", 0), c.get("sla_total", 0)),
        **ratings.view(c),  # csat, nps, ces (with their distributions) and survey
        "fcr_pct": pct(c.get("fcr_ok", 0), c.get("fcr_total", 0)),
        "csat_by_frt": [
            {
                "band": band,
                "n": n(f"band:{band}:n"),
                "pct": pct(c.get(f"band:{band}:pos", 0), c.get(f"band:{band}:n", 0)),
            }
            for band in BANDS
        ],
        "transfers": n("transfers"),
        **_offline_view(f),
    }


def _offline_view(f: Figures) -> dict[str, Any]:
    """Issue 14: offline messages (count, answered, median time to the first answer) and
    the chats closed for inactivity."""
    c = f.counters
    return {
        "offline": {
            "count": round(c.get("offline", 0)),
            "answered": round(c.get("offline_answered", 0)),
            "frt_p50_s": round1(f.quantile("offline_frt_s", 0.5)),
        },
        "closed_inactive": round(c.get("closed_inactive", 0)),
    }


def stats_windows(read: Callable[[str], Figures]) -> dict[str, Any]:
    """The contract's `windows` map, from a reader of one window's figures."""
    return {name: window_view(read(name)) for name in WINDOWS}


# --- buckets ---------------------------------------------------------------------------


def bucket_start(ts_ms: int, bucket_ms: int) -> int:
    return ts_ms - ts_ms % bucket_ms


def _window(window: str) -> tuple[int, int]:
    try:
        return WINDOWS[window]
    except KeyError:
        raise ValueError(f"unknown window {window!r}") from None


def window_buckets(window: str, now_ms: int) -> list[int]:
    """The bucket starts that make up `window` at `now_ms`, oldest first: those starting
    after now - length. A sample so stays in a window for between length - bucket and
    length, and the window always reads length / bucket buckets."""
    length, bucket = _window(window)
    first = bucket_start(now_ms - length, bucket) + bucket
    return list(range(first, bucket_start(now_ms, bucket) + 1, bucket))


class RollingWindows:
    """In-memory bucketed storage (the embedded backend): record is O(1), reading a window is
    O(buckets). Keyed by dimension: "all", "agent:<id>", "topic:<name>".

    Memory stays bounded only if the owner calls `prune` now and then (each stats tick).
    """

    __slots__ = ("_buckets", "_pruned_at")

    def __init__(self) -> None:
        # window -> dim -> bucket start -> figures
        self._buckets: dict[str, dict[str, dict[int, Figures]]] = {name: {} for name in WINDOWS}
        self._pruned_at: int | None = None

    def record(self, ts_ms: int, dims: Iterable[str], figures: Figures) -> None:
        """Merge `figures` into the bucket of `ts_ms` of every window, for each dim (the
        caller lists them all, "all" included). A bucket that `prune` already dropped is
        not brought back: it can never be read again."""
        dims = tuple(dims)
        for name, (length, bucket) in WINDOWS.items():
            start = ts_ms - ts_ms % bucket
            if self._pruned_at is not None and start <= self._pruned_at - length:
                continue
            by_dim = self._buckets[name]
            for dim in dims:
                starts = by_dim.get(dim)
                if starts is None:
                    starts = by_dim[dim] = {}
                target = starts.get(start)
                if target is None:
                    target = starts[start] = Figures()
                target.merge(figures)

    def read(self, window: str, now_ms: int, dim: str = "all") -> Figures:
        """A fresh `Figures` holding `window` ending at `now_ms` for `dim`."""
        wanted = window_buckets(window, now_ms)
        starts = self._buckets[window].get(dim, {})
        out = Figures()
        for start in wanted:
            figures = starts.get(start)
            if figures is not None:
                out.merge(figures)
        return out

    def prune(self, now_ms: int) -> None:
        """Drop the buckets that no window ending at `now_ms` or later can read."""
        self._pruned_at = now_ms if self._pruned_at is None else max(self._pruned_at, now_ms)
        for name, (length, _) in WINDOWS.items():
            cutoff = self._pruned_at - length
            by_dim = self._buckets[name]
            for dim in list(by_dim):
                starts = by_dim[dim]
                for start in [s for s in starts if s <= cutoff]:
                    del starts[start]
                if not starts:
                    del by_dim[dim]

    def bucket_count(self) -> int:
        """Buckets held, over every window and dim (what memory grows with)."""
        return sum(len(starts) for by_dim in self._buckets.values() for starts in by_dim.values())

    def snapshot(self) -> dict[str, Any]:
        """A JSON-able copy, for the embedded store to persist across restarts."""
        return {
            "version": 1,
            "windows": {name: list(spec) for name, spec in WINDOWS.items()},
            "pruned_at": self._pruned_at,
            "buckets": [
                [name, dim, start, figures.to_fields()]
                for name, by_dim in self._buckets.items()
                for dim, starts in by_dim.items()
                for start, figures in starts.items()
            ],
        }

    @classmethod
    def restore(cls, data: Mapping[str, Any]) -> RollingWindows:
        """Inverse of `snapshot`. Buckets of a window whose length or bucket size changed
        since are dropped: they no longer line up."""
        windows = cls()
        if data.get("version") != 1:
            return windows
        saved = {name: tuple(spec) for name, spec in data.get("windows", {}).items()}
        pruned_at = data.get("pruned_at")
        windows._pruned_at = None if pruned_at is None else int(pruned_at)
        for name, dim, start, fields in data.get("buckets", []):
            if name not in WINDOWS or saved.get(name) != WINDOWS[name]:
                continue
            by_dim = windows._buckets[name].setdefault(str(dim), {})
            by_dim[int(start)] = Figures.from_fields(fields)
        return windows
