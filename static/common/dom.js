/* DOM helpers shared by the console and the dashboard. User text only ever goes in through
 * textContent and DOM-built links, never innerHTML. */
(function () {
  'use strict';

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

  window.ChatDom = { h, linkify, externalLink, randomId, duration, clock };
})();
