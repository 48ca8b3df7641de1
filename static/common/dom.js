/* DOM helpers shared by the console and the dashboard. User text only ever goes in through
 * textContent and DOM-built links, never innerHTML. */
(function () {
  'use strict';

  // h() and randomId() are built into the widget too (scripts/build-widget copies their text):
  // they must not use anything else from this file, nor any page global.

  /** Build an element; `text` sets textContent, `on*` adds listeners, other keys are attributes. */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = v;
      else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : v);
    }
    for (const c of children) if (c != null) el.append(c);
    return el;
  }

  const URL_RE = /\bhttps?:\/\/[^\s<>"']+/gi;

  /** Text with http(s) URLs turned into links opening in a new tab. */
  function linkify(text) {
    const frag = document.createDocumentFragment();
    let last = 0;
    for (const m of String(text).matchAll(URL_RE)) {
      const url = m[0].replace(/[.,;:!?)\]}]+$/, '');
      frag.append(text.slice(last, m.index), externalLink(url, url));
      last = m.index + url.length;
    }
    frag.append(text.slice(last));
    return frag;
  }

  /** A link to an http(s) URL, or plain text for anything else (javascript:, data:...). */
  function externalLink(url, label) {
    if (!/^https?:\/\//i.test(url || '')) return document.createTextNode(label || url || '');
    return h('a', { href: url, target: '_blank', rel: 'noopener noreferrer', text: label || url });
  }

  function randomId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return Date.now().toString(36) + Math.random().toString(36).slice(2, 12);
  }

  /** 42 s, 3 min, 1 h 5 min; "—" for null. */
  function duration(seconds) {
    if (seconds == null || Number.isNaN(seconds)) return '—';
    const s = Math.max(0, Math.round(seconds));
    if (s < 60) return `${s} s`;
    if (s < 3600) return `${Math.floor(s / 60)} min` + (s < 600 && s % 60 ? ` ${s % 60} s` : '');
    return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  }

  function clock(ts) {
    return ts ? new Date(ts).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) : '';
  }

  const ICONS = {
    bell: 'M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22zm7-6V11a7 7 0 0 0-5.5-6.84V3.5a1.5 1.5 0 0 0-3 0v.66A7 7 0 0 0 5 11v5l-2 2v1h18v-1l-2-2z',
    bellOff: 'M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22zM19 16V11a7 7 0 0 0-5.5-6.84V3.5a1.5 1.5 0 0 0-3 0v.66c-.5.1-.98.27-1.43.49L19 14.6zM3.3 2.3 2 3.6l3.3 3.3A6.9 6.9 0 0 0 5 11v5l-2 2v1h14.4l3 3 1.3-1.3z',
    chat: 'M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z',
  };

  /** One of `ICONS` (class `icon`). */
  function icon(name) {
    return svgIcon(ICONS[name], 'icon');
  }

  /** A small inline SVG icon of one path `d` (decorative: hidden from assistive technology),
   * with `className` if given. The widget has it too (scripts/build-widget). */
  function svgIcon(d, className) {
    const ns = 'http://www.w3.org/2000/svg';
    const svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('aria-hidden', 'true');
    svg.setAttribute('focusable', 'false');
    if (className) svg.setAttribute('class', className);
    const path = document.createElementNS(ns, 'path');
    path.setAttribute('fill', 'currentColor');
    path.setAttribute('d', d);
    svg.append(path);
    return svg;
  }

  window.ChatDom = { h, linkify, externalLink, randomId, duration, clock, icon, svgIcon };
})();
