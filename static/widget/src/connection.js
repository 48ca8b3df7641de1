// ---- connection: the visitor socket, requests and their answers, `hello`, sync, ping

let ws = null;
let codec = 'json';
let nextId = 1;
let attempt = 0;
let retryTimer = null;
let pingTimer = null;
let pingOut = false;
const pending = new Map();  // request id -> {resolve, reject}

function setConn(state) {
  if (S.conn === state) return;
  S.conn = state;
  renderHeader();
  refreshPendingRows();
}

function encode(frame) {
  return codec === 'msgpack' ? mpEncode(frame) : JSON.stringify(frame);
}

function decode(data) {
  return typeof data === 'string' ? JSON.parse(data) : mpDecode(data);
}

function request(t, fields) {
  return dispatch(t, prepare(t, fields));
}

/** A request frame, encoded: {id, data, size} (size in bytes). */
function prepare(t, fields) {
  const id = nextId++;
  const data = encode(Object.assign({ t, id }, fields));
  return { id, data, size: typeof data === 'string' ? utf8.encode(data).length : data.length };
}

function dispatch(t, frame) {
  if (!ws || ws.readyState !== WebSocket.OPEN || (!S.ready && t !== 'hello')) {
    return Promise.reject({ code: 'offline' });
  }
  ws.send(frame.data);
  return new Promise((resolve, reject) => pending.set(frame.id, { resolve, reject }));
}

function send(t, fields) {
  if (S.ready && ws && ws.readyState === WebSocket.OPEN) ws.send(encode(Object.assign({ t }, fields)));
}

function connect() {
  clearTimeout(retryTimer);
  retryTimer = null;
  if (ws) return;
  let sock;
  try {
    sock = new WebSocket(WS_URL, PROTOCOLS);
  } catch (e) {
    scheduleReconnect();
    return;
  }
  sock.binaryType = 'arraybuffer';
  ws = sock;
  sock.onopen = () => {
    codec = sock.protocol === 'chat.v1.msgpack' ? 'msgpack' : 'json';
    hello();
  };
  sock.onmessage = (ev) => {
    let f;
    try { f = decode(ev.data); } catch (e) { console.warn('[chat] undecodable frame', e); return; }
    if (!f || typeof f !== 'object') return;
    if (f.re != null && pending.has(f.re)) {
      const p = pending.get(f.re);
      pending.delete(f.re);
      if (f.t === 'error') p.reject(f); else p.resolve(f);
    } else {
      onEvent(f);
    }
  };
  sock.onclose = (ev) => socketGone(sock, ev.code);
}

/** Forget the socket now (a dead one can take a minute to report its close). */
function dropSocket() {
  if (!ws) return;
  const sock = ws;
  sock.onclose = sock.onmessage = sock.onopen = null;
  try { sock.close(4000, 'reconnect'); } catch (e) { /* already closing */ }
  socketGone(sock, 4000);
}

function socketGone(sock, code) {
  if (ws !== sock) return;
  ws = null;
  S.ready = false;
  clearInterval(pingTimer);
  for (const p of pending.values()) p.reject({ code: 'offline' });
  pending.clear();
  for (const item of S.outbox) item.inflight = false;
  S.starting = false;
  if (code === 1008 || code === 4403) { setConn('unavailable'); return; }
  if (S.rehello) { S.rehello = false; connect(); return; }
  scheduleReconnect();
}

/** Exponential backoff with jitter (backoffDelay: static/common/ws.js's, built in after this). */
function scheduleReconnect() {
  const wait = backoffDelay(attempt);
  attempt++;
  if (navigator.onLine === false) setConn('offline');
  else setConn(S.conn === 'connecting' && attempt === 1 ? 'connecting' : 'reconnecting');
  retryTimer = setTimeout(connect, wait);
}

async function hello() {
  const fields = { page: Object.assign(pageInfo(), { referrer: document.referrer.slice(0, 2048) }), lang: LANG };
  const token = local.get('token');
  if (token) fields.token = token;
  if (S.pendingProfile) Object.assign(fields, S.pendingProfile);
  if (USER_ID) Object.assign(fields, { user_id: USER_ID, user_hash: USER_HASH || '' });
  let ok;
  try {
    ok = await request('hello', fields);
  } catch (err) {
    if (err.code === 'offline') return;
    if (err.code === 'unauthorized' && USER_ID) {
      // a wrong data-user-hash will not get better by retrying: say so and stop
      console.warn('[chat] identity verification failed: check data-user-hash for this data-user-id');
      dropSocket();
      clearTimeout(retryTimer);
      setConn('unavailable');
      return;
    }
    console.warn('[chat] hello refused:', err.code);
    dropSocket();
    return;
  }
  if (ok.token) local.set('token', ok.token);
  S.profile = Object.assign({}, S.profile, ok.visitor && { name: ok.visitor.name, email: ok.visitor.email });
  S.pendingProfile = null;
  S.ready = true;
  attempt = 0;
  pingOut = false;
  clearInterval(pingTimer);
  pingTimer = setInterval(ping, 25000);
  lastUrl = location.href;
  if ('site' in ok) S.site = readSite(ok.site);
  if (ok.availability) applyAvailability(ok.availability);
  const conv = ok.conversation;
  if (conv && conv.state !== 'closed') adoptConversation(conv);
  else conversationEnded();  // it ended while we were away
  const last = !S.conv && ok.last && ok.last.id ? ok.last : null;
  if (last) {
    S.prevCid = last.id;
    S.lastClosed = last.closed || null;
    // on arrival only (not after a reconnect), and not over messages already on their way
    if (!S.greeted && session.get('fresh') !== last.id && !S.outbox.length) S.readOnly = true;
  }
  S.greeted = true;
  setConn('online');
  renderHeader();
  try {
    if (S.conv) await syncHistory(S.conv.id);
    else await restorePrevious('last' in ok ? (last && last.id) : undefined);
  } catch (err) {
    if (err.code === 'offline') return;
  }
  for (const item of S.outbox) if (S.conv && !item.cid) item.cid = S.conv.id;
  flush();
  markRead();
  renderSeen();
  cbReconnected();
}

/** With no open conversation (after a reload, or the end of one): show the last one, and
 *  its survey if it was neither answered nor dismissed. `known`: hello's `last` (its id, or
 *  null: none closed in the last 7 days); from an older server, undefined: then the one this
 *  browser remembers, if it was active in the last day. */
async function restorePrevious(known) {
  const cid = known === undefined ? S.prevCid || local.get('last') : known;
  if (!cid) return;
  S.prevCid = cid;
  try {
    await syncHistory(cid);
  } catch (err) {
    if (err.code !== 'not_found' && err.code !== 'forbidden') throw err;
  }
  const rows = [...list.querySelectorAll('.row')].filter((r) => r.dataset.cid === cid);
  const newest = Math.max(0, ...rows.map((r) => +r.dataset.ts || 0));
  if (!rows.length || (known === undefined && newest < Date.now() - 24 * 3600 * 1000)) {
    rows.forEach((r) => r.remove());
    S.prevCid = null;
    S.readOnly = false;
    local.set('last', null);
    local.set('survey', null);
    renderHeader();
    return;
  }
  renderHeader();
  const survey = local.json('survey');
  if (survey && survey.cid === cid) showSurvey(cid, survey.ask);
}

/** Messages after `after` (default: the last seq shown), paged while `more`. One sync is
 *  in flight per conversation: one asked for meanwhile (a burst of seq jumps) is sent
 *  once, after it, from the lowest `after` asked (the console's ChatSeqSync does the same;
 *  the embed loads nothing else). */
const syncRuns = new Map();  // cid -> {after: pending or null, done: Promise}

function syncHistory(cid, after) {
  const from = after == null ? S.last.get(cid) || 0 : after;
  const run = syncRuns.get(cid);
  if (run) {
    run.after = run.after == null ? from : Math.min(run.after, from);
    return run.done;
  }
  const fresh = { after: from, done: null };
  syncRuns.set(cid, fresh);
  fresh.done = runSync(cid, fresh);
  return fresh.done;
}

async function runSync(cid, run) {
  try {
    while (run.after != null) {
      let after = run.after;
      run.after = null;
      for (;;) {
        const r = await request('sync', { cid, after });
        const got = r.messages || [];
        for (const m of got) showMessage(m);
        if (!r.more || !got.length) break;
        after = got[got.length - 1].seq;
      }
    }
  } finally {
    syncRuns.delete(cid);
  }
}

function ping() {
  if (pingOut) { dropSocket(); return; }  // no pong for a whole period: the link is dead
  pingOut = true;
  request('ping', {}).then(() => { pingOut = false; }, () => {});
}
