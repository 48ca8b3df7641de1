"""Token buckets for per-connection rate limits (pure: time is passed in).

A bucket holds up to `burst` tokens and refills at `rate` per second; each frame takes
one. `Abuse` counts refusals in a sliding window: a client that keeps hammering after
being told `rate_limited` is disconnected (close 4429) instead of costing more CPU.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass(slots=True)
class TokenBucket:
    rate: float
    burst: float
    tokens: float = -1.0
    updated_ms: int = 0

    def take(self, now_ms: int, cost: float = 1.0) -> bool:
        if self.tokens < 0:
            self.tokens, self.updated_ms = self.burst, now_ms
        elapsed = max(0, now_ms - self.updated_ms) / 1000
        self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
        self.updated_ms = now_ms
        if self.tokens < cost:
            return False
        self.tokens -= cost
        return True


@dataclass(slots=True)
class Abuse:
    """More than `limit` refusals within `window_ms` is sustained abuse."""

    limit: int
    window_ms: int
    refusals: deque[int] = field(default_factory=deque)

    def refused(self, now_ms: int) -> bool:
        """Count a refusal; True when the client has crossed the line."""
        self.refusals.append(now_ms)
        while self.refusals and self.refusals[0] <= now_ms - self.window_ms:
            self.refusals.popleft()
        return len(self.refusals) > self.limit
