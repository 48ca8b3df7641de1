/* The console's outbox: the agent's messages and notes that the server has not acknowledged
 * yet, per chat (`chat.outbox`), kept in localStorage per agent so that a reload loses none.
 * Each goes out with a cmid (and its uploaded files, kept with it as the server described
 * them), and is sent again with that same cmid after every reconnect
 * until its message arrives (from the `ok`, or from a sync): the server stores a cmid once,
 * so a message is never doubled, whichever answer was lost. */
(function () {
  'use strict';

  const { randomId } = window.ChatDom;

  /**
   * @param {object} env
   *   socket()               the ChatSocket, or null before the agent is known
   *   saved                  the agent's storage: read(name) -> object, write(name, value)
   *   chats()                every chat the console holds (each with its `outbox` array)
   *   me()                   the signed-in agent {id, name}
   *   sent(chat, message)    a send was acknowledged: `message` is what the server stored
   *   changed(chat)          the chat's pending items changed: draw them again
   */
  function create(env) {
    /** The items kept for a chat (after a reload), ready to send again. */
    function restore(cid) {
      return (env.saved.read('outbox')[cid] || []).map((o) => Object.assign({ inflight: false, error: null }, o));
    }

    function persist() {
      const all = {};
      for (const chat of env.chats()) {
        const items = chat.outbox.filter((o) => !o.error).map((o) => ({ cmid: o.cmid, kind: o.kind, text: o.text, files: o.files }));
        if (items.length) all[chat.id] = items;
      }
      env.saved.write('outbox', all);
    }

    /** A new message ('msg', with its uploaded `files`) or internal note ('note'), kept
     *  before it is sent. */
    function add(chat, kind, text, files) {
      const item = { cmid: randomId(), kind, text, files: files && files.length ? files : undefined, inflight: false, error: null };
      chat.outbox.push(item);
      persist();
      return item;
    }

    function send(chat, item) {
      const sock = env.socket();
      if (!sock || !sock.ready) { env.changed(chat); return; }  // sent after the reconnect
      item.inflight = true;
      const frame = { cid: chat.id, text: item.text, cmid: item.cmid };
      if (item.files) frame.files = item.files.map((f) => f.id);
      sock.request(item.kind, frame).then((ok) => {
        item.inflight = false;
        const me = env.me();
        env.sent(chat, {
          cid: chat.id, seq: ok.seq, ts: ok.ts, kind: item.kind === 'note' ? 'note' : 'text',
          from: { role: 'agent', id: me.id, name: me.name }, text: item.text, cmid: item.cmid, files: item.files,
        });
      }, (err) => {
        item.inflight = false;
        if (err.code === 'offline') { env.changed(chat); return; }  // retried with the same cmid
        if (err.code === 'rate_limited' || err.code === 'unavailable') {
          setTimeout(() => flush(chat), 3000);
          return;
        }
        item.error = err.code === 'closed' ? 'Not sent: the chat is closed.'
          : err.code === 'forbidden' ? 'Not sent: this chat is no longer yours.'
            : err.code === 'not_found' && item.files ? 'Not sent: an attached file is no longer available.'
            : 'Not sent: ' + (err.message || err.code);
        persist();
        env.changed(chat);
      });
    }

    /** Send whatever of the chat's outbox is neither on its way nor refused. */
    function flush(chat) {
      for (const item of chat.outbox) if (!item.inflight && !item.error) send(chat, item);
    }

    /** The stored message with this cmid arrived: its item leaves the outbox (returned). */
    function acknowledge(chat, cmid) {
      const item = chat.outbox.find((o) => o.cmid === cmid);
      if (!item) return null;
      chat.outbox.splice(chat.outbox.indexOf(item), 1);
      persist();
      return item;
    }

    /** The chat is not the agent's to write in any more: what waits there will not be sent. */
    function refuse(chat, reason) {
      for (const item of chat.outbox) item.error = item.error || reason;
    }

    /** Whether the items wait for the connection (for their "Waiting for connection…"). */
    function setWaiting(on) {
      for (const chat of env.chats()) for (const item of chat.outbox) item.waiting = on;
    }

    return { restore, persist, add, send, flush, acknowledge, refuse, setWaiting };
  }

  window.ChatOutbox = { create };
})();
