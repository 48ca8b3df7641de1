"""Partitions: one installation spread over the shards of a Redis Cluster.

    redis+cluster://host1:port1,host2:port2,...?partitions=N

Each partition is a whole installation of the single-slot layout (`keys.py`) under a key
prefix of its own, so every script and transaction still touches one slot, unchanged. A
conversation lives in the partition of its visitor: `ids.conversation_id(visitor_id)`
makes its id end as the visitor's does, and both map to `ids.home(...) % N`. What belongs
to no conversation (the directory, presence, figures, reports) stays under the
installation's own prefix, in its slot, as without partitions.

Partition p's prefix is chosen so that its slot lies in the p-th of N equal stretches of
the 16,384 slots: a cluster's primaries own ranges of slots (`redis-cli --cluster create`
gives each an equal one), so N partitions on N primaries land one on each. N is fixed for
the life of an installation (its data would be in the wrong partitions under another N).
"""

from __future__ import annotations

from chat_server.backends.redis import cluster
from chat_server.core import ids

MAX = cluster.PARTITIONS_MAX
"""A delivery number holds its partition in its last 6 bits (`spread_webhooks.py`)."""


class Partitions:
    def __init__(self, prefix: str, count: int = 1) -> None:
        if not 1 <= count <= MAX:
            raise ValueError(f"partitions must be 1 to {MAX}, not {count}")
        self.prefix = prefix
        self.count = count
        self.prefixes = _prefixes(prefix, count)
        """Each partition's key prefix."""

    def of(self, ident: str) -> int:
        """The partition of a conversation or a visitor (by its id)."""
        return ids.home(ident) % self.count


def _prefixes(prefix: str, count: int) -> tuple[str, ...]:
    """`<prefix>~<p>.<k>` for each partition p, with the first k whose slot lies in the
    p-th stretch of slots."""
    width = cluster.SLOTS // count
    found = []
    for p in range(count):
        k = 0
        while cluster.key_slot(cluster.tag(f"{prefix}~{p}.{k}")) // width != p:
            k += 1
        found.append(f"{prefix}~{p}.{k}")
    return tuple(found)
