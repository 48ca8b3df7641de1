"""Redis key and channel names. `{c_123}` hash tags keep one conversation's keys (and its
channel) in one cluster slot; everything else is global and small.

On a Redis Cluster (`for_url`) the prefix itself is the hash tag (`{chat}`): only a key's
first `{...}` counts, so `{chat}:{c_1}:msgs` hashes on `chat` and every key and channel of
an installation is in one slot, published and heard with sharded pub/sub (`publish`)."""

from __future__ import annotations

from dataclasses import dataclass

from chat_server.backends.redis import cluster


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str = "chat"
    sharded: bool = False
    """Cluster mode: channels are shard channels (`SPUBLISH`, `SSUBSCRIBE`)."""

    @property
    def publish(self) -> str:
        """The command that publishes to this installation's channels."""
        return "SPUBLISH" if self.sharded else "PUBLISH"

    def _g(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def _c(self, cid: str, part: str) -> str:
        return f"{self.prefix}:{{{cid}}}:{part}"

    # per conversation
    def conv(self, cid: str) -> str:
        return self._c(cid, "conv")

    def live(self, cid: str) -> str:
        """A hash of what every message reads or moves (seq, state, visitor, agent, created,
        topic, frt, turn, pend, site): the append script's whole input, and the truth for
        last_seq, first_response_at and visitor_turn_at (the conversation's JSON is
        rewritten only on transitions)."""
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

    def capacity_lock(self, agent_id: str) -> str:
        """Held while a spread installation gives an agent a chat (`spread_conversations`)."""
        return self._g("capacity-lock", agent_id)

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

    def sites(self) -> str:
        """The ids of every site (a set)."""
        return self._g("sites")

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

    def visitors_of_email(self, email_key: str) -> str:
        """The ids of the visitors stored with this email (a set; `roles.directory.email_key`),
        checked against their records when read (a visitor may have changed it since)."""
        return self._g("visitor-email", email_key)

    def emails_of_visitor(self, visitor_id: str) -> str:
        """The emails a visitor was indexed under (a set): erase leaves none of them."""
        return self._g("visitor-emails", visitor_id)

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

    # figures over time (issue 16)
    def rollup(self, dim: str, tier: str, bucket: str) -> str:
        """A bucket's figures, a hash like `figures`. The hash tag is the dimension: a
        dimension's buckets share a cluster slot, so one script reads a range of them."""
        return f"{self.prefix}:{{r:{dim}}}:{tier}:{bucket}"

    def rollup_packed(self, dim: str, tier: str, bucket: str) -> str:
        """A finished bucket's figures, sealed into a string (`backends/packed.py`)."""
        return f"{self.prefix}:{{r:{dim}}}:{tier}:{bucket}:p"

    def last_visit(self, visitor_id: str) -> str:
        """The local day (ordinal) of a visitor's last visit, a string. Every visit key
        shares one hash tag: `visit.lua` moves a visitor's and their dimensions' at once."""
        return f"{self.prefix}:{{visits}}:last:{visitor_id}"

    def visits(self, dim: str, day: str) -> str:
        """One local day's visits of a dimension, a hash: days since the visitor's previous
        visit (`new` for a first visit ever) -> how many."""
        return f"{self.prefix}:{{visits}}:{dim}:{day}"

    # search (issue 16): see search.py
    def search_held(self, cid: str) -> str:
        """The agents who held a conversation (a set): given it, or wrote in it."""
        return self._c(cid, "held")

    def search_meta(self) -> str:
        """A hash: conversation -> its indexed fields (site, topic, name, email, agents)."""
        return self._g("search", "meta")

    def search_words(self) -> str:
        """A hash: conversation -> its distinct words (` a b c `)."""
        return self._g("search", "words")

    def search_all(self) -> str:
        """Every indexed conversation by rank (a sorted set)."""
        return self._g("search", "all")

    def search_word(self, word: str) -> str:
        """The conversations with a word, by rank (a common word's: the newest only)."""
        return self._g("search", "w", word)

    def search_floors(self) -> str:
        """A hash: common word -> the rank below which its postings were cut."""
        return self._g("search", "floors")

    def search_terms(self) -> str:
        """Every indexed word, scored 0 (a sorted set read by lexical range: prefixes)."""
        return self._g("search", "terms")

    def search_agent(self, agent_id: str) -> str:
        """The closed conversations an agent held, by rank."""
        return self._g("search", "agent", agent_id)

    def search_email(self, email: str) -> str:
        """The closed conversations of a visitor email (folded), by rank."""
        return self._g("search", "email", email)

    # pub/sub
    def channel(self, name: str) -> str:
        return self._g("ch", name)

    def channel_name(self, key: str) -> str:
        return key[len(self.prefix) + 4 :]


def for_url(url: str, prefix: str) -> Keys:
    """The names of the installation `prefix` on the Redis at `url`: one slot on a
    cluster."""
    if cluster.is_cluster(url):
        return Keys(cluster.tag(prefix), sharded=True)
    return Keys(prefix)
