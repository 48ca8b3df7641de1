/* The dashboard's "last hour" charts, drawn with the vendored uPlot from the `stats` frames
 * the page receives (PROTOCOL.md §6): one point a minute, at most 60, for
 *   waiting    the peak of live.waiting seen in that minute,
 *   frt        windows["5m"].frt_s.p90 (seconds) at the end of that minute,
 *   csat       windows["1h"].csat.pct at the end of that minute.
 * The server keeps no time series, so the history starts when the dashboard is first opened;
 * it is kept in localStorage for an hour so that a reload does not lose it. */
(function () {
  'use strict';

  const { h } = window.ChatDom;
  const KEY = 'chat:dashboard:history';
  const POINTS = 60;
  const MINUTE = 60;

  let points = [];  // [{t: minute start in Unix seconds, waiting, frt, csat}]
  const charts = [];
  let drawTimer = null;

  function load() {
    try {
      const saved = JSON.parse(localStorage.getItem(KEY));
      if (Array.isArray(saved)) points = saved.filter((p) => p && Number.isFinite(p.t));
    } catch (e) { points = []; }
    trim(Date.now() / 1000);
  }

  function save() {
    try { localStorage.setItem(KEY, JSON.stringify(points)); } catch (e) { /* memory only */ }
  }

  function trim(now) {
    const oldest = Math.floor(now / MINUTE) * MINUTE - (POINTS - 1) * MINUTE;
    points = points.filter((p) => p.t >= oldest).slice(-POINTS);
  }

  const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : null);

  /** Fold one stats frame (or GET /api/stats answer) into the current minute's point. */
  function add(stats) {
    if (!stats || !stats.live) return;
    const now = (stats.ts || Date.now()) / 1000;
    const t = Math.floor(now / MINUTE) * MINUTE;
    let p = points[points.length - 1];
    if (!p || p.t !== t) {
      p = { t, waiting: null, frt: null, csat: null };
      points.push(p);
    }
    const w = stats.windows || {};
    const waiting = num(stats.live.waiting);
    if (waiting != null) p.waiting = Math.max(p.waiting || 0, waiting);
    const frt = w['5m'] && w['5m'].frt_s ? num(w['5m'].frt_s.p90) : undefined;
    if (frt !== undefined) p.frt = frt;
    const csat = w['1h'] && w['1h'].csat ? num(w['1h'].csat.pct) : undefined;
    if (csat !== undefined) p.csat = csat;
    trim(now);
    save();
    if (!drawTimer) drawTimer = setTimeout(draw, 1000);  // at most one redraw a second
  }

  function series() {
    const now = Date.now() / 1000;
    const xs = points.map((p) => p.t);
    return {
      now,
      waiting: [xs, points.map((p) => p.waiting)],
      frt: [xs, points.map((p) => p.frt)],
      csat: [xs, points.map((p) => p.csat)],
    };
  }

  function fmtSeconds(v) {
    if (v == null) return '—';
    if (v < 60) return `${Math.round(v)}s`;
    const s = Math.round(v % 60);
    return s ? `${Math.floor(v / 60)}m ${String(s).padStart(2, '0')}s` : `${Math.floor(v / 60)}m`;
  }

  const hhmm = (v) => new Date(v * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });

  function make(el, label, color, { yRange, fmt }) {
    const width = Math.max(200, el.clientWidth || 300);
    const opts = {
      width,
      height: 160,
      legend: { show: false },
      cursor: { y: false, points: { size: 8 } },
      scales: {
        x: { time: true, range: () => { const now = Date.now() / 1000; return [now - POINTS * MINUTE, now + 30]; } },
        y: { range: yRange },
      },
      axes: [
        { stroke: '#6b7280', grid: { stroke: '#f3f4f6' }, ticks: { stroke: '#e5e7eb' }, space: 70,
          values: (u, vals) => vals.map(hhmm) },
        { stroke: '#6b7280', grid: { stroke: '#f3f4f6' }, ticks: { stroke: '#e5e7eb' }, size: 52,
          values: (u, vals) => vals.map(fmt) },
      ],
      series: [
        {},
        { label, stroke: color, width: 2, fill: color + '1f', spanGaps: false, points: { show: true, size: 7, fill: color } },
      ],
    };
    return new window.uPlot(opts, [[], []], el);
  }

  function init() {
    load();
    if (!window.uPlot) return;
    const spec = [
      ['chart-waiting', 'Waiting', '#2563eb', {
        yRange: (u, min, max) => [0, Math.max(3, Math.ceil((max || 0) * 1.2))], fmt: (v) => String(Math.round(v)),
      }],
      ['chart-frt', 'FRT p90', '#d97706', {
        yRange: (u, min, max) => [0, Math.max(60, Math.ceil((max || 0) * 1.2))], fmt: fmtSeconds,
      }],
      ['chart-csat', 'CSAT', '#16a34a', { yRange: () => [0, 100], fmt: (v) => `${Math.round(v)}%` }],
    ];
    for (const [id, label, color, opt] of spec) {
      const el = document.getElementById(id);
      if (!el) continue;
      const now = h('span', { class: 'now' });
      el.parentElement.querySelector('figcaption').append(now);
      charts.push({ el, key: id.slice(6), fmt: opt.fmt, now, plot: make(el, label, color, opt) });
    }
    if (window.ResizeObserver) {
      const ro = new ResizeObserver(() => {
        for (const c of charts) if (c.el.clientWidth) c.plot.setSize({ width: c.el.clientWidth, height: 170 });
      });
      for (const c of charts) ro.observe(c.el);
    }
    draw();
    setInterval(draw, 30000);  // slide the hour along even when nothing changes
  }

  function draw() {
    drawTimer = null;
    const s = series();
    for (const c of charts) {
      c.plot.setData(s[c.key]);
      const values = s[c.key][1];
      const latest = values.length ? values[values.length - 1] : null;
      c.now.textContent = latest == null ? '' : 'now ' + c.fmt(latest);
    }
  }

  window.ChatCharts = { init, add, points: () => points.slice() };
})();
