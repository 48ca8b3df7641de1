"""Redis key and channel names. `{c_123}` hash tags keep one conversation's keys (and its
channel) in one cluster slot; everything else is global and small."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str = "chat"

    def _g(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def _c(self, cid: str, part: str) -> str:
        return f"{self.prefix}:{{{cid}}}:{part}"

    # per conversation
    def conv(self, cid: str) -> str:
        return self._c(cid, "conv")

    def live(self, cid: str) -> str:
        """A hash of what every message reads or moves (seq, state, visitor, agent, created,
        topic, frt, turn): the append script's whole input, and the truth for last_seq,
        first_response_at and visitor_turn_at (the conversation's JSON is rewritten only on
        transitions)."""
        return self._c(cid, "live")

    def messages(self, cid: str) -> str:
        """A stream whose entry ids are `<seq>-0`: history with offsets."""
        return self._c(cid, "msgs")

    def cmids(self, cid: str) -> str:
        return self._c(cid, "cmids")

    def rating(self, cid: str) -> str:
        return self._c(cid, "rating")

    def cobrowse(self, cid: str) -> str:
        return self._c(cid, "cobrowse")

    def cobrowse_replay(self, cid: str) -> str:
        return self._c(cid, "cobrowse-replay")

    def cobrowse_replay_meta(self, cid: str) -> str:
        return self._c(cid, "cobrowse-replay-meta")

    def files(self, cid: str) -> str:
        """A hash of the conversation's file records (id -> `records.stored_file_to_json`,
        its seq set by append.lua once a message sends it)."""
        return self._c(cid, "files")

    def file(self, cid: str, file_id: str, *, thumb: bool = False) -> str:
        """A file's bytes (or its thumbnail's), a string."""
        return self._c(cid, f"{'thumb' if thumb else 'file'}:{file_id}")

    def file_staging(self, cid: str, file_id: str, *, thumb: bool = False) -> str:
        """`file` while an upload is written piece by piece: it expires until file_put.lua
        renames it into place."""
        return self._c(cid, f"{'upload-thumb' if thumb else 'upload'}:{file_id}")

    # indexes
    def queue(self) -> str:
        return self._g("queue")

    def convs(self, state: str | None = None) -> str:
        return self._g("convs", state) if state else self._g("convs")

    def agent_convs(self, agent_id: str) -> str:
        return self._g("agent-convs", agent_id)

    def visitor_convs(self, visitor_id: str) -> str:
        return self._g("visitor-convs", visitor_id)

    def agent_active(self, agent_id: str) -> str:
        return self._g("agent-active", agent_id)

    def last_assigned(self) -> str:
        return self._g("last-assigned")

    def visitor_open(self, visitor_id: str) -> str:
        return self._g("visitor-open", visitor_id)

    def unsent_files(self) -> str:
        """A sorted set of uploads by creation (ms), swept by `expire_unsent`: a sent one
        stays until then, and the sweep leaves it."""
        return self._g("files-unsent")

    # accounts
    def secret(self) -> str:
        return self._g("secret")

    def site(self, site_id: str) -> str:
        return self._g("site", site_id)

    def agent(self, agent_id: str) -> str:
        return self._g("agent", agent_id)

    def agents(self) -> str:
        return self._g("agents")

    def agent_email(self) -> str:
        return self._g("agent-email")

    def credential(self, secret_hash: str) -> str:
        return self._g("cred", secret_hash)

    def agent_credentials(self, agent_id: str) -> str:
        return self._g("agent-creds", agent_id)

    def audit(self) -> str:
        return self._g("audit")

    def visitor(self, visitor_id: str) -> str:
        return self._g("visitor", visitor_id)

    # presence
    def gone(self, kind: str) -> str:
        return self._g("gone", kind)

    def nodes(self) -> str:
        """A sorted set of node ids scored by when each node's heartbeat expires."""
        return self._g("nodes")

    def online(self, kind: str) -> str:
        """The agents or visitors held by at least one node."""
        return self._g("online", kind)

    def node_present(self, kind: str, node: str) -> str:
        """The agents or visitors with a connection on one node (`node=""`: the prefix)."""
        return self._g("node-present", kind, node)

    def holders(self, kind: str, ident: str) -> str:
        """The nodes where one agent or visitor has a connection (`ident=""`: the prefix)."""
        return self._g("holders", kind, ident)

    # rolling figures
    def figures(self, window: str, dim: str, bucket_start: int) -> str:
        return self._g("fig", window, dim, str(bucket_start))

    def resolved(self, visitor_id: str) -> str:
        return self._g("resolved", visitor_id)

    # pub/sub
    def channel(self, name: str) -> str:
        return self._g("ch", name)

    def channel_name(self, key: str) -> str:
        return key[len(self.prefix) + 4 :]
