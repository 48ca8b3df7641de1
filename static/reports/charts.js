/* The Reports page's trend charts (vendored uPlot) and survey distributions, drawn from
 * one GET /api/reports answer: `series` (one point per hour or per day, oldest first) and
 * the current summary's `csat.dist`, `nps.dist`, `ces.dist`. Times are shown in the
 * report's time zone (`tz`), whatever the browser's. */
(function () {
  'use strict';

  const { h } = window.ChatDom;
  const HEIGHT = 200;
  const COLORS = { blue: '#2563eb', amber: '#d97706', violet: '#7c3aed', green: '#16a34a', red: '#dc2626', grey: '#6b7280' };

  let plots = [];
  let observer = null;

  /** 4.2s, 42s, 3m 05s, 1h 20m. */
  function seconds(v) {
    if (v == null) return '—';
    if (v < 10) return `${Number(v.toFixed(1))}s`;
    const s = Math.round(v);
    if (s < 60) return `${s}s`;
    if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
    return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  }

  const axis = (fmt, extra) => Object.assign({
    stroke: '#6b7280', grid: { stroke: '#f3f4f6' }, ticks: { stroke: '#e5e7eb' }, size: 54,
    values: (u, vals) => vals.map((v) => (v == null ? '' : fmt(v))),
  }, extra || {});

  const line = (label, color, fmt, extra) => Object.assign({
    label, stroke: color, width: 2, spanGaps: true, points: { size: 5, fill: color },
    value: (u, v) => (v == null ? '–' : fmt(v)),
  }, extra || {});

  const whole = (v) => String(Math.round(v));
  const percent = (v) => `${Number(v.toFixed(1))}%`;
  const points = (v) => String(Number(v.toFixed(1)));

  /** Each chart: element id, its y scales, axes, series and the values they read. */
  const SPECS = [
    {
      id: 'chart-times',
      scales: { y: { range: (u, min, max) => [0, Math.max(10, (max || 0) * 1.15)] } },
      axes: [axis(seconds, { size: 66 })],
      series: [
        [line('FRT p50', COLORS.blue, seconds), (p) => p.frt_p50],
        [line('FRT p90', COLORS.amber, seconds), (p) => p.frt_p90],
        [line('Response p50', COLORS.violet, seconds), (p) => p.response_p50],
      ],
    },
    {
      id: 'chart-satisfaction',
      scales: { y: { range: () => [-100, 100] }, ces: { range: () => [1, 7] } },
      axes: [axis(whole), axis(points, { scale: 'ces', side: 1, grid: { show: false }, size: 40 })],
      series: [
        [line('CSAT %', COLORS.green, percent), (p) => p.csat_pct],
        [line('NPS', COLORS.blue, points), (p) => p.nps],
        [line('CES', COLORS.amber, (v) => v.toFixed(2), { scale: 'ces' }), (p) => p.ces_mean],
      ],
    },
    {
      id: 'chart-volume',
      scales: { y: { range: (u, min, max) => [0, Math.max(4, Math.ceil((max || 0) * 1.15))] } },
      axes: [axis(whole)],
      series: [
        [line('Started', COLORS.blue, whole), (p) => p.started],
        [line('Answered', COLORS.green, whole), (p) => p.answered],
        [line('Closed', COLORS.grey, whole), (p) => p.closed],
      ],
    },
    {
      id: 'chart-abandon',
      scales: { y: { range: () => [0, 100] } },
      axes: [axis(percent)],
      series: [[line('Abandoned', COLORS.red, percent), (p) => p.abandon_pct]],
    },
    {
      id: 'chart-fcr',
      scales: { y: { range: () => [0, 100] } },
      axes: [axis(percent)],
      series: [[line('FCR', COLORS.green, percent), (p) => p.fcr_pct]],
    },
    {
      id: 'chart-sla',
      scales: { y: { range: () => [0, 100] } },
      axes: [axis(percent)],
      series: [[line('Within SLA', COLORS.blue, percent), (p) => p.sla_frt_pct]],
    },
  ];

  /** A point's name on hover: its day ("Thu 5 Nov"), or its day and hour. */
  function pointName(report, p) {
    const day = new Intl.DateTimeFormat(undefined, { timeZone: report.tz, weekday: 'short', day: 'numeric', month: 'short' })
      .format(new Date(p.start));
    return report.granularity === 'hour' ? `${day} ${p.label}` : day;
  }

  /** An x tick: "6 Nov" by the day; "14:00" by the hour, with the day at midnight. */
  function tickLabel(report, splits) {
    const day = new Intl.DateTimeFormat(undefined, { timeZone: report.tz, day: 'numeric', month: 'short' });
    const hour = new Intl.DateTimeFormat(undefined, { timeZone: report.tz, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    return (v, i) => {
      const at = new Date(v * 1000);
      if (report.granularity !== 'hour') return day.format(at);
      const hhmm = hour.format(at);
      return hhmm === '00:00' || i === 0 ? `${day.format(at)}\n${hhmm}` : hhmm;
    };
  }

  function tzDate(tz) {
    return (ts) => {
      try { return window.uPlot.tzDate(new Date(ts * 1000), tz); } catch (e) { return new Date(ts * 1000); }
    };
  }

  function destroy() {
    for (const p of plots) p.plot.destroy();
    plots = [];
  }

  /** Draw (again) every trend chart from `report`. */
  function drawTrends(report) {
    destroy();
    if (!window.uPlot) return;
    const series = report.series || [];
    const xs = series.map((p) => p.start / 1000);
    for (const spec of SPECS) {
      const el = document.getElementById(spec.id);
      if (!el) continue;
      el.replaceChildren();
      const opts = {
        width: Math.max(240, el.clientWidth || 320),
        height: HEIGHT,
        tzDate: tzDate(report.tz),
        cursor: { y: false, points: { size: 7 } },
        legend: { show: true, live: true },
        scales: Object.assign({ x: { time: true } }, spec.scales),
        axes: [{ stroke: '#6b7280', grid: { stroke: '#f3f4f6' }, ticks: { stroke: '#e5e7eb' }, space: 64,
          values: (u, splits) => splits.map(tickLabel(report, splits)) }, ...spec.axes],
        series: [
          { label: report.granularity === 'hour' ? 'Hour' : 'Day',
            value: (u, v, s, i) => (i == null || !series[i] ? 'pick a point' : pointName(report, series[i])) },
          ...spec.series.map(([s]) => s),
        ],
      };
      const data = [xs, ...spec.series.map(([, read]) => series.map((p) => { const v = read(p); return v == null ? null : v; }))];
      plots.push({ el, plot: new window.uPlot(opts, data, el) });
    }
    if (!observer && window.ResizeObserver) {
      observer = new ResizeObserver(() => {
        for (const p of plots) if (p.el.clientWidth) p.plot.setSize({ width: p.el.clientWidth, height: HEIGHT });
      });
    }
    if (observer) {
      observer.disconnect();
      for (const p of plots) observer.observe(p.el);
    }
  }

  /** Bar rows for one distribution (score -> count), highest score first. */
  function drawDistribution(el, dist, scores) {
    const counts = scores.map((s) => [s, Math.round((dist && dist[String(s)]) || 0)]);
    const total = counts.reduce((a, [, n]) => a + n, 0);
    const most = Math.max(1, ...counts.map(([, n]) => n));
    if (!total) {
      el.replaceChildren(h('p', { class: 'muted small none', text: 'No answers in this period' }));
      return;
    }
    el.replaceChildren(...counts.slice().reverse().map(([score, n]) => {
      const share = Math.round((100 * n) / total);
      const bar = h('span', { class: 'bar' }, h('span', { class: 'fill' }));
      bar.firstChild.style.width = `${(100 * n) / most}%`;
      if (!n) bar.firstChild.classList.add('zero');
      return h('div', { class: 'bar-row', role: 'listitem', 'aria-label': `${score}: ${n} (${share}%)`, 'data-score': String(score) },
        h('span', { class: 'score', text: String(score), 'aria-hidden': 'true' }), bar,
        h('span', { class: 'count', text: `${n} · ${share}%`, 'aria-hidden': 'true' }));
    }));
  }

  const range = (a, b) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

  function drawDistributions(summary) {
    drawDistribution(document.getElementById('dist-csat'), summary.csat && summary.csat.dist, range(1, 5));
    drawDistribution(document.getElementById('dist-nps'), summary.nps && summary.nps.dist, range(0, 10));
    drawDistribution(document.getElementById('dist-ces'), summary.ces && summary.ces.dist, range(1, 7));
  }

  window.ReportCharts = { drawTrends, drawDistributions, destroy, seconds };
})();
