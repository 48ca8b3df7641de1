"""The embedded store: one process, everything durable in one SQLite file, by role.

The roles share the `Database` (its group commit, and its `failed` state: after a failed
commit every role refuses writes and `ready` is False) and hold their own memory:
conversations (the open ones and their cmids), files (the unsent uploads, which the
conversations check a message's files against), figures (and those over time, flushed
with them), co-browsing and presence. This container opens the database and, at start,
loads each role's memory from it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from chat_server.backends.embedded import durable
from chat_server.backends.embedded.audit import EmbeddedAudit
from chat_server.backends.embedded.bus import LocalBus
from chat_server.backends.embedded.cobrowse import EmbeddedCobrowse
from chat_server.backends.embedded.conversations import EmbeddedConversations
from chat_server.backends.embedded.directory import EmbeddedDirectory
from chat_server.backends.embedded.figures import EmbeddedFigures
from chat_server.backends.embedded.files import EmbeddedFiles
from chat_server.backends.embedded.presence import EmbeddedPresence
from chat_server.backends.embedded.retention import EmbeddedRetention
from chat_server.backends.embedded.rollups import EmbeddedRollups
from chat_server.backends.embedded.search import EmbeddedSearch
from chat_server.backends.embedded.sharing import open_elsewhere
from chat_server.backends.embedded.sqlite import Database
from chat_server.backends.embedded.tags import EmbeddedTags
from chat_server.backends.embedded.webhooks import EmbeddedWebhooks
from chat_server.backends.roles.audit import Audit
from chat_server.backends.roles.cobrowse import Cobrowse
from chat_server.backends.roles.conversations import Conversations
from chat_server.backends.roles.directory import Directory
from chat_server.backends.roles.figures import Figures
from chat_server.backends.roles.files import Files
from chat_server.backends.roles.presence import Presence
from chat_server.backends.roles.retention import Retention
from chat_server.backends.roles.rollups import Rollups
from chat_server.backends.roles.search import Search
from chat_server.backends.roles.tags import Tags
from chat_server.backends.roles.webhooks import Webhooks
from chat_server.core.clock import Clock
from chat_server.core.rollups import KEEP_DAYS, Calendar


class EmbeddedStore:
    # typed as the roles (the `Store` protocol's members are settable, so invariant); the
    # concrete ones that `start` loads are also kept as they are
    conversations: Conversations
    directory: Directory
    audit: Audit
    figures: Figures
    cobrowse: Cobrowse
    presence: Presence
    files: Files
    retention: Retention
    rollups: Rollups
    search: Search
    webhooks: Webhooks
    tags: Tags

    def __init__(
        self,
        data_dir: Path,
        bus: LocalBus,
        clock: Clock,
        *,
        synchronous: str = "NORMAL",
        calendar: Calendar | None = None,
        rollup_days: int = KEEP_DAYS,
    ) -> None:
        """`calendar` (`reports_tz`) and `rollup_days`: the figures kept over time."""
        self.db = Database(data_dir / "chat.sqlite3", synchronous=synchronous)
        self.bus = bus
        self.clock = clock
        self.files = self._files = EmbeddedFiles(self.db, data_dir)
        self.conversations = self._conversations = EmbeddedConversations(
            self.db, bus, clock, self._files
        )
        self.rollups = self._rollups = EmbeddedRollups(
            self.db, clock, calendar or Calendar(), rollup_days
        )
        self.figures = self._figures = EmbeddedFigures(self.db, clock, also=self._rollups.flush)
        self.presence = self._presence = EmbeddedPresence()
        self.directory = EmbeddedDirectory(self.db)
        self.audit = EmbeddedAudit(self.db)
        self.cobrowse = EmbeddedCobrowse()
        self.search = EmbeddedSearch(self.db)
        self.webhooks = self._webhooks = EmbeddedWebhooks(self.db, clock)
        self.tags = self._tags = EmbeddedTags(self.db)
        self.retention = EmbeddedRetention(
            self.db, self._conversations.memory, self._files, self.cobrowse
        )
        self.shared = False
        """Set at start: another process (a running `serve`) has the database open, so this
        one is an admin command beside it and leaves the server's memory alone: it neither
        sweeps the files directory (the server's uploads in progress are not in the
        database yet) nor writes the figures it loaded, now stale, back at stop."""

    async def start(self) -> None:
        """Load what each role holds in memory: the saved figures, the open conversations
        and their cmids, the unsent uploads (and away with stray bytes); whoever an open
        conversation names is gone since now (they were connected to the process that
        stopped: their grace periods run from here)."""
        self.shared = open_elsewhere(self.db.path)  # asked before this process opens it
        await self.db.start()
        await self._webhooks.start()  # its tables, before any write adds to the outbox
        await self._tags.start()
        await self._figures.load()
        await self._files.load(sweep=not self.shared)
        open_convs = await self._conversations.load()
        now = self.clock.now_ms()
        for conv in open_convs:
            self._presence.gone_at_start("visitor", conv.visitor_id, now)
            if conv.agent is not None:
                self._presence.gone_at_start("agent", conv.agent.id, now)

    async def stop(self) -> None:
        if self.db.failed is None and not self.shared:
            await self.figures.checkpoint()
        await self.db.stop()

    async def ready(self) -> bool:
        if self.db.failed is not None:
            return False
        try:
            await self.db.read(lambda c: c.execute("SELECT 1").fetchone())
        except sqlite3.Error:
            return False
        return True

    async def secret(self, candidate: bytes) -> bytes:
        def op(c: sqlite3.Connection) -> bytes:
            c.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('secret', ?)", (candidate,))
            value: bytes = c.execute("SELECT value FROM meta WHERE key = 'secret'").fetchone()[0]
            return value

        return await durable.write(self.db, op)
