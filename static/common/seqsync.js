/* ChatSeqSync: fetching a conversation's messages with `sync` (PROTOCOL.md §6), shared by
 * the console and the dashboard. Used on resume, when a conversation is (re)followed, and
 * when a `msg` event skips seqs (a lost event: the pub/sub bus between server nodes is
 * at-most-once). One `sync` is in flight per conversation: a request made meanwhile is
 * remembered (the lowest `after` wins) and sent once it is done, so a burst of jumps costs
 * one follow-up, not one sync per message. Pages are read while `more` says so. The caller
 * inserts what arrives by seq, once each (messages it already holds are ignored). The
 * widget has the same logic in its own file (the embed loads nothing else). */
(function () {
  'use strict';

  class SeqSync {
    /**
     * @param {object} on {request(cid, after) -> Promise<{messages, more}>, apply(cid,
     *                    messages) -> false to stop (the conversation is gone)}
     */
    constructor(on) {
      this.on = on;
      this.runs = new Map();  // cid -> {after: pending `after` or null, done: Promise}
    }

    /** A `msg` event arrived: `last` is the highest seq held before it. */
    seen(cid, seq, last) {
      if (seq > last + 1) this.fill(cid, last).catch(() => {});  // a reconnect syncs anyway
    }

    /** Sync from `after` now, or after the sync in flight; resolves once caught up. */
    fill(cid, after) {
      const run = this.runs.get(cid);
      if (run) {
        run.after = run.after == null ? after : Math.min(run.after, after);
        return run.done;
      }
      const fresh = { after, done: null };
      this.runs.set(cid, fresh);
      fresh.done = this.run(cid, fresh);
      return fresh.done;
    }

    async run(cid, run) {
      try {
        while (run.after != null) {
          let after = run.after;
          run.after = null;
          for (;;) {
            const r = await this.on.request(cid, after);
            const got = r.messages || [];
            if (this.on.apply(cid, got) === false) return;
            if (!r.more || !got.length) break;
            after = got[got.length - 1].seq;
          }
        }
      } finally {
        this.runs.delete(cid);
      }
    }
  }

  window.ChatSeqSync = SeqSync;
})();
