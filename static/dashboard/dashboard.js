/* Supervisor dashboard: live figures and rolling windows from `stats` events
 * (PROTOCOL.md §6), the waiting queue from `queue` events, and the active conversations
 * from GET /api/conversations?state=active every 5 s. */
(function () {
  'use strict';

  const { h, externalLink, duration, clock } = window.ChatDom;
  const $ = (id) => document.getElementById(id);

  let sock = null;
  let pollTimer = null;
  let waiting = [];
  let waitingAt = 0;

  const LIVE = [
    ['waiting', 'Waiting', (v) => fmt(v)],
    ['longest_wait_s', 'Longest wait', (v) => shortDuration(v)],
    ['active', 'Active chats', (v) => fmt(v)],
    ['agents_online', 'Agents online', (v) => fmt(v)],
    ['agents_available', 'Available', (v) => fmt(v)],
    ['agents_away', 'Away', (v) => fmt(v)],
  ];

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
  const pair = (p) => (p && p.n ? `${duration(p.p50)} / ${duration(p.p90)}` : '—');

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
    ['CSAT (4–5)', (w) => (w.csat && w.csat.pct != null ? withN(pct(w.csat.pct), w.csat.n) : '—')],
    ['NPS', (w) => (w.nps && w.nps.score != null ? withN(fmt(Math.round(w.nps.score)), w.nps.n) : '—')],
    ['CES mean (1–7)', (w) => (w.ces && w.ces.mean != null ? withN(fmt(w.ces.mean, 1), w.ces.n) : '—')],
    ['First contact resolution', (w) => pct(w.fcr_pct)],
    ['First response within SLA', (w) => pct(w.sla_frt_pct)],
  ];
  const WINDOWS = ['5m', '1h', '24h'];

  function renderStats(s) {
    const live = s.live || {};
    $('live').replaceChildren(...LIVE.map(([key, label, show]) => h('div', { class: 'tile card' },
      h('div', { class: 'big', text: show(live[key]) }), h('div', { class: 'label', text: label }))));
    $('stats-ts').textContent = s.ts ? 'updated ' + new Date(s.ts).toLocaleTimeString() : '';
    const windows = s.windows || {};
    $('windows').replaceChildren(
      h('thead', {}, h('tr', {}, h('th', { scope: 'col', text: 'Metric' }),
        ...WINDOWS.map((w) => h('th', { scope: 'col', text: 'Last ' + w })))),
      h('tbody', {}, ...ROWS.map(([label, show]) => h('tr', {}, h('th', { scope: 'row', text: label }),
        ...WINDOWS.map((w) => h('td', { text: windows[w] ? show(windows[w]) : '—' }))))));
  }

  function renderQueue() {
    const elapsed = (Date.now() - waitingAt) / 1000;
    const rows = waiting.map((w) => h('tr', {},
      h('td', { text: (w.visitor && w.visitor.name) || 'Visitor' }),
      h('td', { text: w.topic || '—' }),
      h('td', { text: duration((w.waited_s || 0) + elapsed) }),
      h('td', { class: 'preview', text: w.preview || '' })));
    $('queue').replaceChildren(...(rows.length ? rows : [emptyRow(4, 'Nobody is waiting.')]));
  }

  function emptyRow(cols, text) {
    return h('tr', {}, h('td', { class: 'empty', colspan: String(cols), text }));
  }

  async function refreshActive() {
    let res;
    try {
      res = await fetch('/api/conversations?state=active&limit=200');
    } catch (e) {
      $('active-ts').textContent = 'server unreachable';
      return;
    }
    if (res.status === 401) { stop(); window.ChatAuth.showLogin('Your session has ended, please sign in again.'); return; }
    if (res.status === 403) { showForbidden(); return; }
    if (!res.ok) { $('active-ts').textContent = `error ${res.status}`; return; }
    const body = await res.json();
    const list = Array.isArray(body) ? body : body.conversations || [];
    const rows = list.map((c) => {
      const v = c.visitor || {};
      const page = v.page;
      return h('tr', {},
        h('td', { text: v.name || 'Visitor ' + String(v.id || c.id).slice(-4) }),
        h('td', { text: (c.agent && c.agent.name) || '—' }),
        h('td', { text: c.topic || '—' }),
        h('td', { text: c.created ? clock(c.created) + ' (' + duration((Date.now() - c.created) / 1000) + ' ago)' : '—' }),
        h('td', { text: fmt(c.last_seq) }),
        h('td', { class: 'preview' }, page && page.url ? externalLink(page.url, page.title || page.url) : '—'));
    });
    $('active').replaceChildren(...(rows.length ? rows : [emptyRow(6, 'No active conversations.')]));
    $('active-ts').textContent = 'updated ' + new Date().toLocaleTimeString();
  }

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
  }

  function onEvent(f) {
    if (f.t === 'stats') renderStats(f);
    if (f.t === 'queue') {
      waiting = f.waiting || [];
      waitingAt = Date.now();
      renderQueue();
    }
  }

  function start(agent) {
    $('me-name').textContent = agent ? agent.name : '';
    if (agent && agent.role !== 'supervisor') { showForbidden(); return; }
    $('forbidden').hidden = true;
    $('board').hidden = false;
    renderStats({});
    renderQueue();
    sock = new window.ChatSocket('/ws/agent', {
      ready: onReady,
      event: onEvent,
      state: (state) => {
        $('conn').hidden = state === 'online' || state === 'stopped';
        $('conn').textContent = state === 'connecting' ? 'Connecting…' : 'Reconnecting…';
      },
      authFailed: () => { stop(); window.ChatAuth.showLogin('Your session has ended, please sign in again.'); },
    });
    sock.start();
    refreshActive();
    pollTimer = setInterval(() => { refreshActive(); renderQueue(); }, 5000);
  }

  function stop() {
    clearInterval(pollTimer);
    if (sock) sock.stop();
    sock = null;
  }

  $('logout-btn').addEventListener('click', () => { stop(); window.ChatAuth.logout(); });
  window.ChatAuth.init(start);
})();
