/* Reports (issue 16): figures over a range of days from GET /api/reports, for supervisors.
 * A period (today, yesterday, the last 7/30/90/365 days, or custom dates), optionally
 * compared with the one before it; headline cards with their change, trend charts and
 * survey distributions (charts.js), per-agent and per-topic tables, and every table as a
 * CSV download (the same URL with `format=csv&table=...`). Days are those of the server's
 * report time zone (`tz` in the answer), so "today" is computed in that zone; the page
 * remembers the last zone it saw and asks again if the server says another. The choice is
 * kept in the address (?range=30&compare=1&site=...), so a reload or a shared link shows
 * the same report. */
(function () {
  'use strict';

  const { h } = window.ChatDom;
  const Charts = window.ReportCharts;
  const $ = (id) => document.getElementById(id);
  const TZ_KEY = 'chat:reports:tz';
  const RANGES = ['today', 'yesterday', '7', '30', '90', '365', 'custom'];

  const state = { range: '30', from: '', to: '', compare: true, site: '' };
  let tz = storedTz();
  let report = null;
  let loading = null;  // the AbortController of the request in flight
  const sorts = { agents: { key: 'name', dir: 1 }, topics: { key: 'name', dir: 1 } };

  // ---- dates (ISO YYYY-MM-DD, in the report time zone) --------------------------------

  function storedTz() {
    try { return localStorage.getItem(TZ_KEY) || 'UTC'; } catch (e) { return 'UTC'; }
  }

  function todayIn(zone) {
    let parts;
    try {
      parts = new Intl.DateTimeFormat('en-US', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit' })
        .formatToParts(new Date());
    } catch (e) {
      return todayIn('UTC');
    }
    const get = (type) => parts.find((p) => p.type === type).value;
    return `${get('year')}-${get('month')}-${get('day')}`;
  }

  function addDays(iso, days) {
    const [y, m, d] = iso.split('-').map(Number);
    return new Date(Date.UTC(y, m - 1, d + days)).toISOString().slice(0, 10);
  }

  /** "5 Nov 2026" (the year only when `withYear`). */
  function dayName(iso, withYear) {
    const [y, m, d] = iso.split('-').map(Number);
    const opts = { timeZone: 'UTC', day: 'numeric', month: 'short' };
    if (withYear) opts.year = 'numeric';
    return new Intl.DateTimeFormat(undefined, opts).format(new Date(Date.UTC(y, m - 1, d)));
  }

  function spanName(from, to) {
    if (from === to) return dayName(from, true);
    return `${dayName(from, from.slice(0, 4) !== to.slice(0, 4))} – ${dayName(to, true)}`;
  }

  /** The dates a preset stands for, today being `today`. */
  function datesOf(range, today) {
    if (range === 'custom') return [state.from, state.to];
    if (range === 'today') return [today, today];
    if (range === 'yesterday') return [addDays(today, -1), addDays(today, -1)];
    return [addDays(today, 1 - Number(range)), today];
  }

  // ---- the address and the request ------------------------------------------------------

  function readAddress() {
    const q = new URLSearchParams(location.search);
    const range = q.get('range');
    if (RANGES.includes(range)) state.range = range;
    if (state.range === 'custom') {
      state.from = q.get('from') || '';
      state.to = q.get('to') || '';
      if (!state.from || !state.to) state.range = '30';
    }
    state.compare = q.get('compare') !== '0';
    state.site = q.get('site') || '';
  }

  function writeAddress() {
    const q = new URLSearchParams({ range: state.range });
    if (state.range === 'custom') { q.set('from', state.from); q.set('to', state.to); }
    if (!state.compare) q.set('compare', '0');
    if (state.site) q.set('site', state.site);
    history.replaceState(null, '', `${location.pathname}?${q}`);
  }

  function apiQuery(from, to, extra) {
    const q = new URLSearchParams({ from, to, compare: state.compare ? '1' : '0' });
    if (state.site) q.set('site', state.site);
    for (const [k, v] of Object.entries(extra || {})) q.set(k, v);
    return `/api/reports?${q}`;
  }

  async function load(retried) {
    const [from, to] = datesOf(state.range, todayIn(tz));
    writeAddress();
    renderControls(from, to);
    if (loading) loading.abort();
    const controller = new AbortController();
    loading = controller;
    setBusy(true);
    showError(null);
    let res;
    let body = null;
    try {
      res = await fetch(apiQuery(from, to), { signal: controller.signal, headers: { Accept: 'application/json' } });
      body = await res.json().catch(() => null);
    } catch (err) {
      if (controller.signal.aborted) return;
      finish(controller);
      showError('The server cannot be reached. Check the connection and try again.', true);
      return;
    }
    if (controller.signal.aborted) return;
    finish(controller);
    if (res.status === 401) { window.ChatAuth.showLogin('Your session has ended, please sign in again.'); return; }
    if (res.status === 403) { showForbidden(); return; }
    if (!res.ok || !body) {
      showError(body && body.message ? `Could not load the report: ${body.message}.` : `Could not load the report (error ${res.status}).`, res.status >= 500);
      return;
    }
    if (body.tz && body.tz !== tz) {
      tz = body.tz;
      try { localStorage.setItem(TZ_KEY, tz); } catch (e) { /* memory only */ }
      // "today" was computed in another zone: ask again for the right days
      if (state.range !== 'custom' && !retried) { load(true); return; }
    }
    render(body);
  }

  function finish(controller) {
    if (loading === controller) loading = null;
    setBusy(false);
  }

  function setBusy(busy) {
    $('main').setAttribute('aria-busy', busy ? 'true' : 'false');
    $('report').classList.toggle('stale', busy);
    $('status').textContent = busy ? 'Loading the report…' : '';
    $('status').classList.toggle('loading', busy);
  }

  function showError(message, retry) {
    const el = $('error');
    el.hidden = !message;
    el.replaceChildren();
    if (!message) return;
    el.append(h('span', { text: message }));
    if (retry) el.append(h('button', { type: 'button', class: 'small', text: 'Try again', onclick: () => load() }));
  }

  function showForbidden() {
    $('board').hidden = true;
    $('forbidden').hidden = false;
  }

  // ---- controls -------------------------------------------------------------------------

  function renderControls(from, to) {
    for (const b of $('ranges').querySelectorAll('button')) {
      b.setAttribute('aria-pressed', b.dataset.range === state.range ? 'true' : 'false');
    }
    const custom = state.range === 'custom';
    $('ranges').querySelector('[data-range=custom]').setAttribute('aria-expanded', custom ? 'true' : 'false');
    $('custom').hidden = !custom;
    $('compare').checked = state.compare;
    if (from && to) $('period').textContent = spanName(from, to);
  }

  function pickRange(range) {
    if (range === 'custom') {
      const [from, to] = report ? [report.from, report.to] : datesOf('30', todayIn(tz));
      $('custom-from').value = state.from || from;
      $('custom-to').value = state.to || to;
      $('custom-from').max = $('custom-to').max = todayIn(tz);
      state.range = 'custom';
      state.from = $('custom-from').value;
      state.to = $('custom-to').value;
      renderControls();
      $('custom-from').focus();
      return;
    }
    state.range = range;
    load();
  }

  function applyCustom(e) {
    e.preventDefault();
    const from = $('custom-from').value;
    const to = $('custom-to').value;
    if (!from || !to) { showError('Pick both dates (From and To).'); return; }
    if (from > to) { showError('The start date is after the end date.'); return; }
    state.range = 'custom';
    state.from = from;
    state.to = to;
    load();
  }

  function renderSites(sites) {
    const select = $('site');
    const known = new Set(sites);
    if (state.site) known.add(state.site);
    const options = [h('option', { value: '', text: 'All sites' }), ...[...known].sort().map((id) => h('option', { value: id, text: id }))];
    select.replaceChildren(...options);
    select.value = state.site;
    $('site-pick').hidden = known.size < 2;
  }

  // ---- formatting -------------------------------------------------------------------------

  const seconds = Charts.seconds;
  const trim = (v, digits) => String(Number(v.toFixed(digits)));
  const percent = (v) => (v == null ? '—' : `${trim(v, 1)}%`);
  const count = (v) => (v == null ? '—' : Number(v).toLocaleString());
  const score = (digits) => (v) => (v == null ? '—' : trim(v, digits));
  const counted = (v, one, many) => `${count(v)} ${v === 1 ? one : many}`;

  /** Headline cards: key, label, value of (S, V), format, which way is better ('up',
   * 'down' or null for neutral), how the change reads ('pts' for percentages, 'rel' as a
   * percent of the old value, 'abs' as a difference), and an optional detail line. */
  const CARDS = [
    ['conversations', 'Conversations', (s) => s.started, count, null, 'rel'],
    ['answered', 'Answered', (s) => s.answered, count, null, 'rel'],
    ['abandon', 'Abandoned', (s) => s.abandon_pct, percent, 'down', 'pts', (s) => counted(s.abandoned, 'chat', 'chats')],
    ['frt_p50', 'First response p50', (s) => s.frt_s && s.frt_s.p50, seconds, 'down', 'rel'],
    ['frt_p90', 'First response p90', (s) => s.frt_s && s.frt_s.p90, seconds, 'down', 'rel'],
    ['response_p50', 'Response p50', (s) => s.response_s && s.response_s.p50, seconds, 'down', 'rel'],
    ['resolution_p50', 'Resolution p50', (s) => s.resolution_s && s.resolution_s.p50, seconds, 'down', 'rel'],
    ['csat', 'CSAT (4–5 of 5)', (s) => s.csat && s.csat.pct, percent, 'up', 'pts', (s) => s.csat && counted(s.csat.n, 'rating', 'ratings')],
    ['nps', 'NPS', (s) => s.nps && s.nps.score, score(1), 'up', 'abs', (s) => s.nps && counted(s.nps.n, 'answer', 'answers')],
    ['ces', 'CES (1–7)', (s) => s.ces && s.ces.mean, score(2), 'up', 'abs', (s) => s.ces && counted(s.ces.n, 'answer', 'answers')],
    ['fcr', 'First contact resolution', (s) => s.fcr_pct, percent, 'up', 'pts'],
    ['sla', 'First response within SLA', (s) => s.sla_frt_pct, percent, 'up', 'pts'],
    ['survey', 'Survey response', (s) => s.survey && s.survey.pct, percent, 'up', 'pts',
      (s) => s.survey && `${count(s.survey.answered)} of ${counted(s.survey.shown, 'survey', 'surveys')}`],
    ['visitors_new', 'New visitors', (s, v) => v && v.new, count, 'up', 'rel'],
    ['visitors_returning', 'Returning visitors', (s, v) => v && v.returning, count, 'up', 'rel'],
    ['churn', 'Churn', (s, v) => v && v.churn_pct, percent, 'down', 'pts',
      (s, v) => v && v.churned != null && `${count(v.churned)} did not come back`],
  ];

  /** The change from `before` to `now`: [text, tone, words for screen readers]. */
  function change(now, before, better, kind, fmt) {
    if (now == null || before == null) return ['', 'none', ''];
    const diff = now - before;
    if (Math.abs(diff) < 1e-9) return ['= no change', 'flat', 'no change'];
    const arrow = diff > 0 ? '▲' : '▼';
    let amount;
    if (kind === 'pts') amount = `${trim(Math.abs(diff), 1)} pts`;
    else if (kind === 'rel') amount = before ? `${trim(Math.abs((100 * diff) / before), 0)}%` : fmt(Math.abs(diff));
    else amount = trim(Math.abs(diff), 2);
    const tone = !better ? 'flat' : (diff > 0) === (better === 'up') ? 'good' : 'bad';
    const words = `${diff > 0 ? 'up' : 'down'} ${amount}${tone === 'good' ? ', better' : tone === 'bad' ? ', worse' : ''}`;
    return [`${arrow} ${amount}`, tone, words];
  }

  function renderCards(r) {
    const now = r.summary.current;
    const before = r.summary.previous;
    const v = r.visitors || {};
    $('cards').replaceChildren(...CARDS.map(([key, label, read, fmt, better, kind, detail]) => {
      const value = read(now, v.current);
      const card = h('div', { class: 'kpi card', 'data-key': key },
        h('div', { class: 'label', text: label }),
        h('div', { class: 'big', text: fmt(value) }));
      const sub = detail && detail(now, v.current);
      if (sub) card.append(h('div', { class: 'detail muted', text: sub }));
      if (before) {
        const old = read(before, v.previous);
        const [text, tone, words] = change(value, old, better, kind, fmt);
        card.append(h('div', { class: 'prev' },
          h('span', { class: 'muted', text: `Previous ${fmt(old)}` }),
          text ? h('span', { class: `delta ${tone}`, text, title: words, 'aria-label': words }) : null));
      }
      return card;
    }));
  }

  // ---- tables -------------------------------------------------------------------------------

  const n = (k) => (r) => count(r[k]);
  const pctOf = (k) => (r) => percent(r[k]);
  const dur = (k) => (r) => seconds(r[k]);
  const withCount = (k, nk) => (r) => (r[k] == null ? '—' : `${percent(r[k])} (${count(r[nk])})`);

  const COLUMNS = {
    agents: [
      ['name', 'Agent'], ['answered', 'Answered', n('answered')], ['closed', 'Closed', n('closed')],
      ['resolved', 'Resolved', n('resolved')], ['transfers', 'Transfers', n('transfers')],
      ['frt_p50', 'FRT p50', dur('frt_p50')], ['frt_p90', 'FRT p90', dur('frt_p90')],
      ['response_p50', 'Response p50', dur('response_p50')], ['resolution_p50', 'Resolution p50', dur('resolution_p50')],
      ['csat_pct', 'CSAT', withCount('csat_pct', 'csat_n')], ['nps', 'NPS', (r) => score(1)(r.nps)],
      ['ces_mean', 'CES', (r) => score(2)(r.ces_mean)], ['fcr_pct', 'FCR', pctOf('fcr_pct')],
      ['sla_frt_pct', 'SLA', pctOf('sla_frt_pct')], ['survey_pct', 'Survey', pctOf('survey_pct')],
    ],
    topics: [
      ['name', 'Topic'], ['started', 'Started', n('started')], ['answered', 'Answered', n('answered')],
      ['abandon_pct', 'Abandoned', pctOf('abandon_pct')], ['closed', 'Closed', n('closed')],
      ['resolved', 'Resolved', n('resolved')], ['frt_p50', 'FRT p50', dur('frt_p50')],
      ['frt_p90', 'FRT p90', dur('frt_p90')], ['resolution_p50', 'Resolution p50', dur('resolution_p50')],
      ['csat_pct', 'CSAT', withCount('csat_pct', 'csat_n')], ['nps', 'NPS', (r) => score(1)(r.nps)],
      ['ces_mean', 'CES', (r) => score(2)(r.ces_mean)], ['fcr_pct', 'FCR', pctOf('fcr_pct')],
      ['sla_frt_pct', 'SLA', pctOf('sla_frt_pct')], ['survey_pct', 'Survey', pctOf('survey_pct')],
    ],
  };

  function sorted(table, rows) {
    const { key, dir } = sorts[table];
    return rows.slice().sort((a, b) => {
      const x = a[key];
      const y = b[key];
      if (x == null || y == null) return x == null && y == null ? 0 : x == null ? 1 : -1;  // empty last
      if (typeof x === 'string') return dir * x.localeCompare(y);
      return dir * (x - y);
    });
  }

  function renderTable(table, rows) {
    const columns = COLUMNS[table];
    const { key, dir } = sorts[table];
    const head = h('tr', {}, ...columns.map(([k, label]) => h('th', {
      scope: 'col', 'aria-sort': k === key ? (dir > 0 ? 'ascending' : 'descending') : null,
    }, h('button', {
      type: 'button', class: 'sort', 'data-key': k, text: label,
      onclick: () => {
        sorts[table] = { key: k, dir: k === key ? -dir : k === 'name' ? 1 : -1 };
        renderTable(table, rows);
        $(table).querySelector(`button[data-key="${k}"]`).focus();
      },
    }))));
    const body = rows.length
      ? sorted(table, rows).map((r) => h('tr', { 'data-id': r.id },
        h('th', { scope: 'row', text: r.name || r.id }),
        ...columns.slice(1).map(([k, , show]) => h('td', { 'data-col': k, text: show(r) }))))
      : [h('tr', {}, h('td', { class: 'empty', colspan: String(columns.length), text: table === 'agents' ? 'No agents yet' : 'No topics: sites have none set' }))];
    $(table).replaceChildren(h('thead', {}, head), h('tbody', {}, ...body));
  }

  // ---- the report ---------------------------------------------------------------------------

  function hasData(s) {
    return Boolean(s.started || s.answered || s.closed || s.abandoned || (s.csat && s.csat.n));
  }

  function render(r) {
    report = r;
    renderSites(r.sites || []);
    renderControls(r.from, r.to);
    const zone = `times in ${r.tz}, the reports time zone`;
    const compared = r.previous ? ` · compared with ${spanName(r.previous.from, r.previous.to)}` : '';
    $('period').textContent = `${spanName(r.from, r.to)} (${r.days} ${r.days === 1 ? 'day' : 'days'})${compared} · ${zone}`;
    for (const a of document.querySelectorAll('a[data-table]')) {
      a.href = apiQuery(r.from, r.to, { format: 'csv', table: a.dataset.table });
    }
    $('report').hidden = false;
    renderCards(r);
    const empty = !hasData(r.summary.current);
    $('empty').hidden = !empty;
    $('details').hidden = empty;
    const note = state.site ? '(all sites)' : '';
    $('agents-note').textContent = note;
    $('topics-note').textContent = note;
    $('trend-step').textContent = r.granularity === 'hour' ? '(one point an hour)' : '(one point a day)';
    if (empty) {
      Charts.destroy();
    } else {
      Charts.drawTrends(r);
      Charts.drawDistributions(r.summary.current);
      renderTable('agents', r.agents || []);
      renderTable('topics', r.topics || []);
    }
    $('status').textContent = `Report loaded: ${spanName(r.from, r.to)}${empty ? ', no conversations' : ''}.`;
  }

  // ---- start ----------------------------------------------------------------------------------

  function start(agent) {
    $('me-name').textContent = agent ? agent.name : '';
    if (agent && agent.role !== 'supervisor') { showForbidden(); return; }
    $('forbidden').hidden = true;
    $('board').hidden = false;
    readAddress();
    load();
  }

  $('ranges').addEventListener('click', (e) => {
    const b = e.target.closest('button[data-range]');
    if (b) pickRange(b.dataset.range);
  });
  $('custom').addEventListener('submit', applyCustom);
  $('compare').addEventListener('change', (e) => { state.compare = e.target.checked; load(); });
  $('site').addEventListener('change', (e) => { state.site = e.target.value; load(); });
  $('logout-btn').addEventListener('click', () => {
    if (loading) loading.abort();
    window.ChatAuth.logout();
  });
  window.ChatAuth.init(start);
  window.ChatReports = { state: () => Object.assign({}, state), report: () => report };
})();
