/* Supervisor dashboard: the live figures and rolling windows of the `stats` frames
 * (PROTOCOL.md §6, pushed every second after `subscribe`), the last hour's charts
 * (charts.js), the waiting queue from `queue` events (longest wait first), the team from
 * GET /api/agents every 10 s, the active conversations from GET /api/conversations every 5 s,
 * and a read-only live view of one conversation (`watch {cid, on}`). The watched transcript
 * is kept by seq: a `msg` event that skips seqs (events lost between server nodes) is filled
 * with `sync` (ChatSeqSync), and a `state` frame (after the server's bus was deaf) updates
 * the queue and the watched conversation as the lost events would have. */
(function () {
  'use strict';

  const { h, externalLink, duration, clock } = window.ChatDom;
  const { row: messageRow } = window.ChatTranscript;
  const Charts = window.ChatCharts;
  const $ = (id) => document.getElementById(id);

  let sock = null;
  let timers = [];
  let waiting = [];
  let waitingAt = 0;
  let lastStats = null;
  /** The conversation being watched: {cid, conv, msgs, seqs, lastSeq, closed, typing}. */
  let watched = null;
  const syncs = new window.ChatSeqSync({
    request: (cid, after) => (sock && sock.ready ? sock.request('sync', { cid, after }) : Promise.reject({ code: 'offline' })),
    apply: (cid, messages) => {
      if (!watched || watched.cid !== cid) return false;
      for (const m of messages) addWatched(m, false);
      renderWatch(false);
      return true;
    },
  });

  // ---- formatting ---------------------------------------------------------------------

  /** 42s, 3m 05s, 1h 20m: fits a tile. */
  function shortDuration(v) {
    if (v == null) return '—';
    const s = Math.round(v);
    if (s < 60) return `${s}s`;
    if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
    return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  }

  const pct = (v) => (v == null ? '—' : `${Math.round(v)}%`);
  const fmt = (v, digits) => (v == null ? '—' : digits ? Number(v).toFixed(digits) : String(v));
  const withN = (text, n) => (n ? `${text} (${n})` : text);
  const pair = (p) => (p && p.n ? `${shortDuration(p.p50)} / ${shortDuration(p.p90)}` : '—');

  const LIVE = [
    ['waiting', 'Waiting', (v) => fmt(v), (v) => (v > 0 ? 'warn' : '')],
    ['longest_wait_s', 'Longest wait', (v) => shortDuration(v), (v) => (v >= 120 ? 'bad' : v >= 60 ? 'warn' : '')],
    ['active', 'Active chats', (v) => fmt(v)],
    ['agents_online', 'Agents online', (v) => fmt(v)],
    ['agents_available', 'Free to take chats', (v) => fmt(v), (v, live) => (v === 0 && live.waiting > 0 ? 'bad' : '')],
    ['agents_away', 'Away', (v) => fmt(v)],
  ];

  /** Rows of the windows table: label, then how to show one window's W. */
  const ROWS = [
    ['Started', (w) => fmt(w.started)],
    ['Answered', (w) => fmt(w.answered)],
    ['Abandoned', (w) => (w.abandon_pct == null ? fmt(w.abandoned) : `${w.abandoned} (${pct(w.abandon_pct)})`)],
    ['Wait p50 / p90', (w) => pair(w.wait_s)],
    ['First response p50 / p90', (w) => pair(w.frt_s)],
    ['Response p50 / p90', (w) => pair(w.response_s)],
    ['Resolution p50 / p90', (w) => pair(w.resolution_s)],
    ['Resolved / closed', (w) => `${fmt(w.resolved)} / ${fmt(w.closed)}`],
    ['CSAT (4–5 of 5)', (w) => (w.csat && w.csat.pct != null ? withN(pct(w.csat.pct), w.csat.n) : '—')],
    ['CSAT mean', (w) => (w.csat && w.csat.mean != null ? fmt(w.csat.mean, 2) : '—')],
    ['NPS', (w) => (w.nps && w.nps.score != null ? withN(fmt(Math.round(w.nps.score)), w.nps.n) : '—')],
    ['CES mean (1–7)', (w) => (w.ces && w.ces.mean != null ? withN(fmt(w.ces.mean, 1), w.ces.n) : '—')],
    ['First contact resolution', (w) => pct(w.fcr_pct)],
    ['First response within SLA', (w) => pct(w.sla_frt_pct)],
  ];
  /** Rows for offline messages and auto-close: shown when the server counts them (issue 14). */
  const OFFLINE_ROWS = [
    ['Offline messages', (w) => fmt(w.offline && w.offline.count)],
    ['Offline replied', (w) => (w.offline ? fmt(w.offline.answered) : '—')],
    ['Offline reply p50', (w) => (w.offline ? shortDuration(w.offline.frt_p50_s) : '—')],
    ['Closed for inactivity', (w) => fmt(w.closed_inactive)],
  ];
  const WINDOWS = ['5m', '1h', '24h'];
  const BANDS = ['<30s', '30-60s', '1-2m', '2-5m', '>5m'];

  // ---- stats --------------------------------------------------------------------------

  function renderStats(s) {
    const live = s.live || {};
    $('live').replaceChildren(...LIVE.map(([key, label, show, tone]) => h('div', {
      class: 'tile card ' + (tone && live[key] != null ? tone(live[key], live) : ''), 'data-key': key,
    }, h('div', { class: 'big', text: show(live[key]) }), h('div', { class: 'label', text: label }))));
    $('stats-ts').textContent = s.ts ? 'Live · updated ' + new Date(s.ts).toLocaleTimeString() : '';
    const windows = s.windows || {};
    const offline = WINDOWS.some((w) => windows[w] && (windows[w].offline || windows[w].closed_inactive != null));
    if (offline) $('live').append(offlineTile(windows['24h'] || {}));
    const rows = offline ? ROWS.concat(OFFLINE_ROWS) : ROWS;
    $('windows').replaceChildren(
      h('thead', {}, h('tr', {}, h('th', { scope: 'col', text: 'Metric' }),
        ...WINDOWS.map((w) => h('th', { scope: 'col', text: 'Last ' + w })))),
      h('tbody', {}, ...rows.map(([label, show]) => h('tr', {}, h('th', { scope: 'row', text: label }),
        ...WINDOWS.map((w) => h('td', { 'data-window': w, text: windows[w] ? show(windows[w]) : '—' }))))));
    const day = windows['24h'] || {};
    const bands = new Map((day.csat_by_frt || []).map((b) => [b.band, b]));
    $('bands').replaceChildren(
      h('thead', {}, h('tr', {}, h('th', { scope: 'col', text: 'First response' }),
        ...BANDS.map((b) => h('th', { scope: 'col', text: b })))),
      h('tbody', {}, h('tr', {}, h('th', { scope: 'row', text: 'CSAT' }),
        ...BANDS.map((b) => h('td', { text: bands.get(b) && bands.get(b).n ? withN(pct(bands.get(b).pct), bands.get(b).n) : '—' })))));
  }

  /** The last 24 hours' offline messages: how many, how many answered, how fast. */
  function offlineTile(day) {
    const o = day.offline || { count: 0, answered: 0, frt_p50_s: null };
    const unanswered = (o.count || 0) - (o.answered || 0);
    return h('div', { class: 'tile card offline' + (unanswered > 0 ? ' warn' : ''), 'data-key': 'offline' },
      h('div', { class: 'big', text: fmt(o.count || 0) }),
      h('div', { class: 'label', text: 'Offline messages · 24 h' }),
      h('div', { class: 'label detail', text: `${fmt(o.answered || 0)} answered` +
        (o.frt_p50_s != null ? ` · reply p50 ${shortDuration(o.frt_p50_s)}` : '') }));
  }

  function onStats(s) {
    const before = lastStats && lastStats.live;
    const live = s.live || {};
    if (!before || ['agents_online', 'agents_away', 'agents_available', 'active'].some((k) => before[k] !== live[k])) {
      refreshAgentsSoon();  // someone came, went or took a chat: the team table follows
    }
    if (before && before.active !== live.active) refreshActive();
    lastStats = s;
    renderStats(s);
    Charts.add(s);
  }

  async function seedStats() {
    try {
      const res = await fetch('/api/stats?window=5m');
      if (res.ok) {
        const s = await res.json();
        if (!lastStats) renderStats(s);
        Charts.add(s);
      }
    } catch (e) { /* the stats frames will fill it */ }
  }

  // ---- queue --------------------------------------------------------------------------

  function renderQueue() {
    const elapsed = (Date.now() - waitingAt) / 1000;
    const sorted = waiting.slice().sort((a, b) => (b.waited_s || 0) - (a.waited_s || 0));
    const rows = sorted.map((w, i) => h('tr', { class: i === 0 ? 'longest' : null },
      h('td', { text: (w.visitor && w.visitor.name) || 'Visitor' }),
      h('td', { text: w.topic || '—' }),
      h('td', { class: 'num', text: duration((w.waited_s || 0) + elapsed) }),
      h('td', { class: 'preview', text: w.preview || '', title: w.preview || '' }),
      h('td', {}, h('button', { type: 'button', class: 'small', text: 'Watch', onclick: () => watch(w.cid) }))));
    $('queue').replaceChildren(...(rows.length ? rows : [emptyRow(5, 'Nobody is waiting.')]));
  }

  function emptyRow(cols, text) {
    return h('tr', {}, h('td', { class: 'empty', colspan: String(cols), text }));
  }

  // ---- REST polls ---------------------------------------------------------------------

  async function getJSON(url, tsEl) {
    let res;
    try {
      res = await fetch(url);
    } catch (e) {
      if (tsEl) tsEl.textContent = 'server unreachable';
      return null;
    }
    if (res.status === 401) { stop(); window.ChatAuth.showLogin('Your session has ended, please sign in again.'); return null; }
    if (res.status === 403) { showForbidden(); return null; }
    if (!res.ok) { if (tsEl) tsEl.textContent = `error ${res.status}`; return null; }
    return res.json();
  }

  async function refreshActive() {
    const tag = $('active-tag').value.trim().toLowerCase();  // issue 17: filter by tag
    const body = await getJSON('/api/conversations?state=active&limit=200' + (tag ? '&tag=' + encodeURIComponent(tag) : ''), $('active-ts'));
    if (!body) return;
    const list = body.conversations || [];
    const rows = list.map((c) => {
      const v = c.visitor || {};
      const page = v.page;
      return h('tr', { class: watched && watched.cid === c.id ? 'watching' : null },
        h('td', { text: v.name || 'Visitor ' + String(v.id || c.id).slice(-4) }),
        h('td', { text: (c.agent && c.agent.name) || '—' }),
        h('td', { text: c.topic || '—' }),
        h('td', { class: 'tags' }, ...(c.tags || []).map((t) => h('span', { class: 'tag', text: t }))),
        h('td', { text: c.created ? clock(c.created) + ' (' + duration((Date.now() - c.created) / 1000) + ' ago)' : '—' }),
        h('td', { class: 'num', text: fmt(c.last_seq) }),
        h('td', { class: 'preview' }, page && page.url ? externalLink(page.url, page.title || page.url) : '—'),
        h('td', {}, h('button', {
          type: 'button', class: 'small', text: watched && watched.cid === c.id ? 'Watching' : 'Watch',
          'aria-pressed': String(!!(watched && watched.cid === c.id)), onclick: () => watch(c.id),
        })));
    });
    $('active').replaceChildren(...(rows.length ? rows : [emptyRow(8, tag ? `No active conversation tagged “${tag}”.` : 'No active conversations.')]));
    $('active-ts').textContent = 'updated ' + new Date().toLocaleTimeString();
  }

  let agentsTimer = null;
  function refreshAgentsSoon() {
    if (!agentsTimer) agentsTimer = setTimeout(() => { agentsTimer = null; refreshAgents(); }, 500);
  }

  async function refreshAgents() {
    const body = await getJSON('/api/agents', $('agents-ts'));
    if (!body) return;
    const team = (body.agents || []).slice().sort((a, b) =>
      (b.connected - a.connected) || (a.status === 'online' ? -1 : 0) - (b.status === 'online' ? -1 : 0) || a.name.localeCompare(b.name));
    $('agents').replaceChildren(...(team.length ? team.map((a) => {
      const state = !a.connected ? 'offline' : a.status;
      return h('tr', {},
        h('th', { scope: 'row' }, h('span', { text: a.name }), a.role === 'supervisor' ? h('span', { class: 'muted small', text: ' · supervisor' }) : null),
        h('td', {}, h('span', { class: 'presence ' + state, text: a.connected ? a.status : 'not connected' })),
        h('td', { class: 'num', text: a.max_chats ? `${a.active} / ${a.max_chats}` : String(a.active) }),
        h('td', { class: 'num', text: a.frt_s && a.frt_s.n ? shortDuration(a.frt_s.p50) : '—' }),
        h('td', { class: 'num', text: a.csat && a.csat.pct != null ? withN(pct(a.csat.pct), a.csat.n) : '—' }),
        h('td', { class: 'num', text: fmt(a.answered) }));
    }) : [emptyRow(6, 'No agents yet.')]));
    $('agents-ts').textContent = 'updated ' + new Date().toLocaleTimeString();
  }

  // ---- watching a conversation --------------------------------------------------------

  function visitorName(conv) {
    const v = (conv && conv.visitor) || {};
    return v.name || 'Visitor ' + String(v.id || (conv && conv.id) || '').slice(-4);
  }

  async function watch(cid) {
    if (watched && watched.cid === cid) { $('watch-close').focus(); return; }
    if (watched) unwatch(false);
    watched = { cid, conv: null, msgs: [], seqs: new Set(), lastSeq: 0, closed: null, typing: null };
    $('watch').hidden = false;
    $('watch-title').textContent = 'Loading…';
    $('watch-sub').textContent = '';
    $('watch-transcript').replaceChildren();
    document.body.classList.add('watching');
    await startWatch();
    $('watch-close').focus();
    refreshActive();
  }

  async function startWatch() {
    if (!watched || !sock || !sock.ready) return;
    const cid = watched.cid;
    let ok;
    try {
      ok = await sock.request('watch', { cid, on: true });
    } catch (err) {
      if (err.code !== 'offline' && watched && watched.cid === cid) {
        $('watch-title').textContent = 'Cannot watch this conversation';
        $('watch-sub').textContent = err.message || err.code;
      }
      return;
    }
    if (!watched || watched.cid !== cid) return;
    const before = watched.lastSeq;
    watched.conv = ok.conversation;
    if (ok.conversation.state === 'closed') watched.closed = ok.conversation.closed || { by: 'system' };
    const messages = ok.messages || [];
    for (const m of messages) addWatched(m, false);
    renderWatch(true);
    // watched again after a reconnect: the newest 200 may not reach back to what we had
    if (before && messages.length && messages[0].seq > before + 1) syncs.fill(cid, before).catch(() => {});
  }

  function unwatch(refocus) {
    if (!watched) return;
    const cid = watched.cid;
    if (sock && sock.ready) sock.request('watch', { cid, on: false }).catch(() => {});
    watched = null;
    dropWatchScreen();
    $('watch').hidden = true;
    document.body.classList.remove('watching');
    refreshActive();
    if (refocus) {
      const again = [...document.querySelectorAll('#active button, #queue button')][0];
      if (again) again.focus();
    }
  }

  function addWatched(m, render) {
    if (!watched || m.cid !== watched.cid || watched.seqs.has(m.seq)) return;
    watched.seqs.add(m.seq);
    watched.lastSeq = Math.max(watched.lastSeq, m.seq);
    const at = watched.msgs.findIndex((x) => x.seq > m.seq);
    if (at < 0) watched.msgs.push(m); else watched.msgs.splice(at, 0, m);
    if (m.from && m.from.role === 'visitor') watched.typing = null;
    if (render) renderWatch(false);
  }

  function renderWatch(forceScroll) {
    if (!watched || !watched.conv) return;
    const conv = watched.conv;
    const name = visitorName(conv);
    $('watch-title').textContent = name + (conv.agent ? ' ↔ ' + conv.agent.name : '');
    const page = conv.visitor && conv.visitor.page;
    $('watch-sub').replaceChildren(...[conv.topic ? `Topic: ${conv.topic}` : null,
      conv.created ? `started ${clock(conv.created)}` : null, page && page.url ? 'on ' : null].filter(Boolean).map((t) => document.createTextNode(t + ' ')),
    ...(page && page.url ? [externalLink(page.url, page.title || page.url)] : []));
    const state = watched.closed ? 'closed' : conv.state;
    $('watch-state').textContent = state;
    $('watch-state').dataset.state = state;
    const box = $('watch-transcript');
    const stick = forceScroll || box.scrollHeight - box.scrollTop - box.clientHeight < 80;
    box.replaceChildren(...watched.msgs.map((m) => messageRow(m, name)));
    if (watched.closed) box.append(h('div', { class: 'm event', text: 'The conversation is closed.' }));
    if (stick) box.scrollTop = box.scrollHeight;
    const typing = $('watch-typing');
    typing.replaceChildren();
    if (watched.typing && !watched.closed) {
      typing.append(h('span', { class: 'dots', 'aria-hidden': 'true' }, h('i'), h('i'), h('i')),
        h('span', { text: watched.typing.who + ' is typing' + (watched.typing.preview ? ': ' : '…') }));
      if (watched.typing.preview) typing.append(h('q', { text: watched.typing.preview }));
    }
  }

  function onWatchEvent(f) {
    if (!watched || f.cid !== watched.cid) return;
    switch (f.t) {
      case 'msg': {
        const last = watched.lastSeq;
        addWatched(f, true);
        if (last) syncs.seen(f.cid, f.seq, last);  // (before the watch's answer, it brings them)
        break;
      }
      case 'typing':
        clearTimeout(watched.typingTimer);
        watched.typing = f.on ? {
          who: f.by === 'agent' ? (f.agent && f.agent.name) || 'The agent' : visitorName(watched.conv),
          preview: f.preview || '',
        } : null;
        if (f.on) watched.typingTimer = setTimeout(() => { if (watched) { watched.typing = null; renderWatch(false); } }, 12000);
        renderWatch(false);
        break;
      case 'visitor_page':
        if (watched.conv) watched.conv.visitor = Object.assign({}, watched.conv.visitor, { page: { url: f.url, title: f.title } });
        renderWatch(false);
        break;
      case 'closed':
        watchedClosed({ by: f.by, reason: f.reason });
        break;
      case 'cobrowse':
        watchCobrowse(f);
        break;
      default:
    }
  }

  function watchedClosed(closed) {
    watched.closed = closed;
    watched.typing = null;
    dropWatchScreen();
    renderWatch(false);
  }

  /** `state {waiting, watching}`: the queue now, and each watched conversation now. */
  function applyState(f) {
    if (Array.isArray(f.waiting)) {
      waiting = f.waiting;
      waitingAt = Date.now();
      renderQueue();
    }
    if (!watched || !Array.isArray(f.watching)) return;
    const conv = f.watching.find((c) => c && c.id === watched.cid);
    if (!conv) {  // the server forgot the watch (a closed one is dropped): ask again, dedupe by seq
      if (!watched.closed) startWatch();
      return;
    }
    watched.conv = conv;
    if (conv.state === 'closed' && !watched.closed) watchedClosed(conv.closed || { by: 'system' });
    else renderWatch(false);
    if ((conv.last_seq || 0) > watched.lastSeq) syncs.fill(conv.id, watched.lastSeq).catch(() => {});
  }

  /** Co-browsing in the watched conversation: the visitor's page, read-only (supervisors do
   *  not guide; the server replays the page when the watch starts). */
  let watchScreen = null;
  function watchCobrowse(f) {
    if (f.op === 'events' && Array.isArray(f.events)) {
      if (!watchScreen) {
        $('watch-screen').hidden = false;
        watchScreen = new window.ChatCobrowseViewer($('watch-view'), { maxHeight: () => 280 });
      }
      watchScreen.add(f.events);
    } else if (f.op === 'ended' || f.op === 'declined') {
      dropWatchScreen();
    }
  }

  function dropWatchScreen() {
    if (watchScreen) watchScreen.destroy();
    watchScreen = null;
    $('watch-screen').hidden = true;
  }

  // ---- connection ---------------------------------------------------------------------

  function showForbidden() {
    stop();
    $('board').hidden = true;
    $('forbidden').hidden = false;
  }

  function onReady(ok) {
    if (ok.agent && ok.agent.role !== 'supervisor') { showForbidden(); return; }
    waiting = ok.waiting || [];
    waitingAt = Date.now();
    renderQueue();
    sock.request('subscribe', { stats: true }).catch((err) => {
      if (err.code === 'forbidden') showForbidden();
    });
    if (watched) startWatch();  // after a reconnect: watch again (dedupe by seq)
    refreshAgentsSoon();
  }

  function onEvent(f) {
    if (f.t === 'stats') onStats(f);
    else if (f.t === 'state') applyState(f);
    else if (f.t === 'queue') {
      waiting = f.waiting || [];
      waitingAt = Date.now();
      renderQueue();
    } else if (f.cid) onWatchEvent(f);
  }

  function start(agent) {
    $('me-name').textContent = agent ? agent.name : '';
    if (agent && agent.role !== 'supervisor') { showForbidden(); return; }
    $('forbidden').hidden = true;
    $('board').hidden = false;
    renderStats({});
    renderQueue();
    Charts.init();
    seedStats();
    sock = new window.ChatSocket('/ws/agent', {
      ready: onReady,
      event: onEvent,
      state: (state) => {
        $('conn').hidden = state === 'online' || state === 'stopped';
        $('conn').textContent = { connecting: 'Connecting…', offline: 'You are offline: waiting for the network…' }[state] ||
          'Connection lost: reconnecting… the figures will resume once we are back.';
        $('conn').dataset.state = state;
        document.body.dataset.conn = state;
      },
      authFailed: () => { stop(); window.ChatAuth.showLogin('Your session has ended, please sign in again.'); },
    });
    sock.start();
    refreshActive();
    refreshAgents();
    timers = [
      setInterval(() => { refreshActive(); renderQueue(); }, 5000),
      setInterval(refreshAgents, 10000),
    ];
  }

  function stop() {
    timers.forEach(clearInterval);
    timers = [];
    if (sock) sock.stop();
    sock = null;
  }

  $('logout-btn').addEventListener('click', () => { stop(); window.ChatAuth.logout(); });
  $('watch-close').addEventListener('click', () => unwatch(true));
  let tagTimer = null;
  $('active-tag').addEventListener('input', () => {  // issue 17: the list by tag
    clearTimeout(tagTimer);
    tagTimer = setTimeout(() => { if (timers.length) refreshActive(); }, 250);
  });
  $('watch').addEventListener('keydown', (e) => { if (e.key === 'Escape') { e.preventDefault(); unwatch(true); } });
  window.ChatAuth.init(start);
})();
