"""What a chaos scenario reports: figures, each beside its target, and how to rerun it.

Shared by the CI versions (`tests/chaos/test_*.py`, which assert that every figure holds)
and the long version (`bench/chaos`, which prints them all and exits 1 if one does not).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Figure:
    """One measured figure and the target it is held to."""

    name: str
    value: float
    target: str
    """As printed: "0", "<= 15 s", ">= 1"."""
    holds: bool
    unit: str = ""

    def shown(self) -> str:
        number = f"{self.value:.2f}" if isinstance(self.value, float) else str(self.value)
        return f"{number} {self.unit}".strip()


def zero(name: str, value: int) -> Figure:
    """A count that must be 0 (messages lost, stored twice, out of order)."""
    return Figure(name, value, "0", value == 0)


def at_most(name: str, value: float, limit: float, unit: str = "") -> Figure:
    return Figure(name, value, f"<= {limit:g} {unit}".strip(), value <= limit, unit)


def at_least(name: str, value: float, limit: float, unit: str = "") -> Figure:
    return Figure(name, value, f">= {limit:g} {unit}".strip(), value >= limit, unit)


def info(name: str, value: float, unit: str = "") -> Figure:
    """A figure shown for context (how much load, how many faults): no target."""
    return Figure(name, value, "", True, unit)


@dataclass
class Result:
    """A scenario's run: its figures, the command that reproduces it, and notes."""

    scenario: str
    reproduce: str
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Lines that explain a figure that does not hold (which cid, which seq)."""

    @property
    def holds(self) -> bool:
        return all(f.holds for f in self.figures)

    def add(self, *figures: Figure) -> None:
        self.figures.extend(figures)

    def render(self) -> str:
        width = max((len(f.name) for f in self.figures), default=10)
        lines = [f"== {self.scenario}"]
        for f in self.figures:
            verdict = "" if not f.target else ("holds" if f.holds else "FAILS")
            target = f"target {f.target}" if f.target else ""
            lines.append(f"  {f.name:<{width}}  {f.shown():>12}  {target:<18} {verdict}")
        lines.extend(f"  ! {note}" for note in self.notes[:20])
        lines.append(f"  reproduce: {self.reproduce}")
        lines.append(f"  {'all figures hold' if self.holds else 'NOT CLEAN'}")
        return "\n".join(lines)
