/* ChatSocket: the console's and dashboard's connection to /ws/agent (PROTOCOL.md §2, §4).
 * msgpack binary frames (`chat.v1.msgpack`, with the vendored @msgpack/msgpack that the page
 * loads as window.MessagePack), or JSON text frames when that library is missing or the
 * server picks `chat.v1.json`. It sends `hello` on every (re)connect, numbers requests and settles their
 * Promises from the `ok`/`error` that carries the same `re`, pings every 25 s, and reconnects
 * with exponential backoff and jitter (0.5 s doubling to 15 s). */
(function () {
  'use strict';

  const PING_MS = 25000;

  /** How long to wait before reconnecting, after `attempt` failed attempts in a row:
   *  exponential backoff with jitter, 0.5 s doubling up to 15 s, each wait drawn in
   *  [base/2, base]. Built into the widget too (scripts/build-widget copies its text). */
  function backoffDelay(attempt) {
    const base = Math.min(15000, 500 * 2 ** attempt);
    return base / 2 + Math.random() * base / 2;
  }

  class ChatSocket {
    /**
     * @param {string} path   e.g. "/ws/agent" on this page's host
     * @param {object} on     {ready(helloOk), event(frame), state(name), authFailed()}
     *   state names: "connecting", "online", "reconnecting", "offline" (the browser says it
     *   has no network), "stopped". ready(helloOk, again): again is true after a reconnect.
     */
    constructor(path, on) {
      const scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
      this.url = scheme + location.host + path;
      this.on = on;
      this.ws = null;
      this.ready = false;
      this.nextId = 1;
      this.pending = new Map();
      this.attempt = 0;
      this.stopped = true;
      this.retryTimer = null;
      this.pingTimer = null;
      this.pingOut = false;
      this.codec = 'json';
      this.connectedOnce = false;
      this._online = () => { if (!this.ws && !this.stopped) { this.attempt = 0; this._connect(); } };
      this._offline = () => { if (!this.stopped) this._drop(4000); };
    }

    start() {
      if (!this.stopped) return;
      this.stopped = false;
      window.addEventListener('online', this._online);
      window.addEventListener('offline', this._offline);
      document.addEventListener('visibilitychange', this._online);
      this._setState('connecting');
      this._connect();
    }

    stop() {
      this.stopped = true;
      window.removeEventListener('online', this._online);
      window.removeEventListener('offline', this._offline);
      document.removeEventListener('visibilitychange', this._online);
      clearTimeout(this.retryTimer);
      this._drop(1000);
      this._setState('stopped');
    }

    /** Send a frame that expects an answer; rejects with {code, message} (code "offline"
     *  when the socket is not ready or goes away before the answer). */
    request(t, fields) {
      if (!this._open() || (!this.ready && t !== 'hello')) {
        return Promise.reject({ code: 'offline', message: 'Not connected' });
      }
      const id = this.nextId++;
      this.ws.send(this._encode(Object.assign({}, fields, { t, id })));
      return new Promise((resolve, reject) => this.pending.set(id, { resolve, reject }));
    }

    /** Fire and forget; returns whether it went out. */
    send(t, fields) {
      if (!this.ready || !this._open()) return false;
      this.ws.send(this._encode(Object.assign({}, fields, { t })));
      return true;
    }

    _encode(frame) {
      return this.codec === 'msgpack' ? window.MessagePack.encode(frame) : JSON.stringify(frame);
    }

    _decode(data) {
      if (typeof data === 'string') return JSON.parse(data);
      return window.MessagePack.decode(new Uint8Array(data));
    }

    _open() {
      return this.ws && this.ws.readyState === WebSocket.OPEN;
    }

    _setState(name) {
      this.state = name;
      if (this.on.state) this.on.state(name);
    }

    _connect() {
      clearTimeout(this.retryTimer);
      if (this.ws || this.stopped) return;
      let ws;
      const protocols = window.MessagePack ? ['chat.v1.msgpack', 'chat.v1.json'] : ['chat.v1.json'];
      try {
        ws = new WebSocket(this.url, protocols);
      } catch (e) {
        this._retry();
        return;
      }
      ws.binaryType = 'arraybuffer';
      this.ws = ws;
      ws.onopen = () => {
        this.codec = ws.protocol === 'chat.v1.msgpack' ? 'msgpack' : 'json';
        this._hello();
      };
      ws.onmessage = (ev) => this._receive(ev.data);
      ws.onclose = (ev) => this._gone(ws, ev.code);
    }

    async _hello() {
      let ok;
      try {
        ok = await this.request('hello', {});
      } catch (err) {
        if (err.code === 'unauthorized' || err.code === 'forbidden') this._authFailed();
        else if (err.code !== 'offline') this._drop(4000);
        return;
      }
      const again = this.connectedOnce;
      this.connectedOnce = true;
      this.ready = true;
      this.attempt = 0;
      this.pingOut = false;
      clearInterval(this.pingTimer);
      this.pingTimer = setInterval(() => this._ping(), PING_MS);
      this._setState('online');
      if (this.on.ready) this.on.ready(ok, again);
    }

    _receive(data) {
      let f;
      try { f = this._decode(data); } catch (e) { console.warn('[chat] undecodable frame', e); return; }
      if (!f || typeof f !== 'object') return;
      if (f.re != null && this.pending.has(f.re)) {
        const p = this.pending.get(f.re);
        this.pending.delete(f.re);
        if (f.t === 'error') p.reject(f); else p.resolve(f);
        return;
      }
      if (f.t === 'error') console.warn('[chat]', f.code, f.message);
      if (this.on.event) this.on.event(f);
    }

    _ping() {
      if (this.pingOut) { this._drop(4000); return; }  // no pong for a whole period: dead link
      this.pingOut = true;
      this.request('ping', {}).then(() => { this.pingOut = false; }, () => {});
    }

    /** Forget the socket now rather than wait for a dead one to report its close. */
    _drop(code) {
      const ws = this.ws;
      if (!ws) return;
      ws.onclose = ws.onmessage = ws.onopen = null;
      try { ws.close(code === 1000 ? 1000 : 4000); } catch (e) { /* already closing */ }
      this._gone(ws, code);
    }

    _gone(ws, code) {
      if (this.ws !== ws) return;
      this.ws = null;
      this.ready = false;
      clearInterval(this.pingTimer);
      for (const p of this.pending.values()) p.reject({ code: 'offline', message: 'Connection lost' });
      this.pending.clear();
      if (this.stopped) return;
      if (code === 4401 || code === 4403) { this._authFailed(); return; }
      this._retry();
    }

    _retry() {
      const wait = backoffDelay(this.attempt);
      this.attempt++;
      this._setState(navigator.onLine === false ? 'offline' : this.connectedOnce ? 'reconnecting' : 'connecting');
      this.retryTimer = setTimeout(() => this._connect(), wait);
    }

    _authFailed() {
      this.stop();
      if (this.on.authFailed) this.on.authFailed();
    }
  }

  window.ChatSocket = ChatSocket;
})();
