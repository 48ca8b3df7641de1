/* Live-chat visitor widget: one self-contained file, embedded with
 *   <script src="https://HOST/widget.js" data-site="SITE" async></script>
 * It renders in a Shadow DOM and speaks the visitor protocol (PROTOCOL.md §3) over
 * ws(s)://HOST/ws/visitor as JSON text frames. User text only ever reaches the page through
 * textContent and DOM-built links. */
(function () {
  'use strict';
  if (window.ChatWidget) return;

  const script = document.currentScript ||
    document.querySelector('script[src*="widget.js"][data-site]');
  const SITE = script && script.getAttribute('data-site');
  if (!SITE) return;
  const SERVER = new URL(script.src, location.href);
  const WS_URL = (SERVER.protocol === 'https:' ? 'wss://' : 'ws://') + SERVER.host +
    '/ws/visitor?site=' + encodeURIComponent(SITE);
  const KEY = 'chat:' + SITE + ':';
  const ACCENT = '#2563eb';

  // ---- small helpers --------------------------------------------------------------

  function storage(kind) {
    return {
      get(k) { try { return window[kind].getItem(KEY + k); } catch (e) { return null; } },
      set(k, v) {
        try {
          if (v == null) window[kind].removeItem(KEY + k);
          else window[kind].setItem(KEY + k, v);
        } catch (e) { /* storage disabled: the widget still works for this page */ }
      },
    };
  }
  const local = storage('localStorage');
  const session = storage('sessionStorage');

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

  /** Text with http(s) URLs turned into links, as DOM nodes (never parsed as HTML). */
  function linkify(text) {
    const frag = document.createDocumentFragment();
    let last = 0;
    for (const m of text.matchAll(URL_RE)) {
      const url = m[0].replace(/[.,;:!?)\]}]+$/, '');
      frag.append(text.slice(last, m.index));
      frag.append(h('a', { href: url, target: '_blank', rel: 'noopener noreferrer', text: url }));
      last = m.index + url.length;
    }
    frag.append(text.slice(last));
    return frag;
  }

  function randomId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return Date.now().toString(36) + Math.random().toString(36).slice(2, 12);
  }

  function timeOf(ts) {
    return ts ? new Date(ts).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) : '';
  }

  function pageInfo() {
    return { url: location.href, title: document.title.slice(0, 500) };
  }

  // ---- styles -----------------------------------------------------------------------

  const CSS = `
:host { all: initial; }
* { box-sizing: border-box; }
.root { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
  color: #111827; }
button { font: inherit; cursor: pointer; }
:focus-visible { outline: 2px solid ${ACCENT}; outline-offset: 2px; }
.launcher { position: fixed; right: 20px; bottom: 20px; z-index: 2147483000; width: 56px; height: 56px;
  border: 0; border-radius: 50%; background: ${ACCENT}; color: #fff; display: grid; place-items: center;
  box-shadow: 0 6px 20px rgba(37,99,235,.35); transition: transform .15s; }
.launcher:hover { transform: scale(1.05); }
.launcher svg { width: 26px; height: 26px; }
.badge { position: absolute; top: -2px; right: -2px; min-width: 20px; height: 20px; padding: 0 6px;
  border-radius: 10px; background: #dc2626; color: #fff; font-size: 12px; font-weight: 600;
  line-height: 20px; text-align: center; border: 2px solid #fff; }
.panel { position: fixed; right: 20px; bottom: 88px; z-index: 2147483000; width: 370px;
  height: min(600px, calc(100vh - 110px)); display: flex; flex-direction: column; background: #fff;
  border-radius: 16px; overflow: hidden; box-shadow: 0 12px 40px rgba(17,24,39,.22); }
.panel[hidden], [hidden] { display: none !important; }
header { display: flex; align-items: center; gap: 8px; padding: 14px 12px 14px 16px;
  background: ${ACCENT}; color: #fff; }
header .title { flex: 1; min-width: 0; }
header h2 { margin: 0; font-size: 16px; font-weight: 600; white-space: nowrap; overflow: hidden;
  text-overflow: ellipsis; }
header p { margin: 0; font-size: 12px; opacity: .85; }
header button { border: 0; background: rgba(255,255,255,.15); color: #fff; border-radius: 8px;
  padding: 6px 10px; font-size: 13px; }
header button:hover { background: rgba(255,255,255,.28); }
header .x { width: 32px; height: 32px; padding: 0; font-size: 20px; line-height: 1; }
.banner { padding: 6px 12px; font-size: 12px; text-align: center; background: #fef3c7; color: #92400e; }
.queue { padding: 8px 12px; font-size: 13px; text-align: center; background: #eff6ff; color: #1e40af; }
.list { flex: 1; overflow-y: auto; padding: 14px 12px; display: flex; flex-direction: column; gap: 6px;
  background: #f9fafb; }
.empty { margin: auto; color: #6b7280; text-align: center; max-width: 240px; }
.row { display: flex; flex-direction: column; max-width: 82%; }
.row.me { align-self: flex-end; align-items: flex-end; }
.row.agent { align-self: flex-start; align-items: flex-start; }
.row.sys { align-self: center; max-width: 90%; color: #6b7280; font-size: 12px; text-align: center;
  margin: 4px 0; }
.who { font-size: 12px; color: #6b7280; margin: 4px 0 2px 4px; }
.bubble { padding: 8px 12px; border-radius: 16px; white-space: pre-wrap; overflow-wrap: anywhere; }
.me .bubble { background: ${ACCENT}; color: #fff; border-bottom-right-radius: 4px; }
.agent .bubble { background: #fff; border: 1px solid #e5e7eb; border-bottom-left-radius: 4px; }
.bubble a { color: inherit; text-decoration: underline; }
.meta { font-size: 11px; color: #9ca3af; margin: 2px 4px 0; }
.pending .bubble { opacity: .6; }
.failed .bubble { background: #fee2e2; color: #991b1b; }
.failed .meta { color: #b91c1c; }
.typing { min-height: 22px; padding: 2px 16px; font-size: 12px; color: #6b7280; font-style: italic;
  background: #f9fafb; }
form.composer { display: flex; gap: 8px; align-items: flex-end; padding: 10px 12px;
  border-top: 1px solid #e5e7eb; background: #fff; }
textarea { flex: 1; resize: none; border: 1px solid #d1d5db; border-radius: 10px; padding: 8px 10px;
  font: inherit; color: inherit; max-height: 120px; min-height: 38px; }
textarea:focus { border-color: ${ACCENT}; outline: none; box-shadow: 0 0 0 3px rgba(37,99,235,.2); }
.send { border: 0; border-radius: 10px; background: ${ACCENT}; color: #fff; padding: 8px 14px;
  font-weight: 600; height: 38px; }
.send:disabled { background: #93c5fd; cursor: default; }
.survey { align-self: stretch; background: #fff; border: 1px solid #e5e7eb; border-radius: 12px;
  padding: 12px; margin: 6px 0; }
.survey h3 { margin: 0 0 8px; font-size: 14px; }
.survey fieldset { border: 0; margin: 0 0 10px; padding: 0; }
.survey legend { font-size: 12px; color: #4b5563; margin-bottom: 4px; padding: 0; }
.scale { display: flex; flex-wrap: wrap; gap: 4px; }
.scale button { min-width: 28px; height: 28px; padding: 0 6px; border: 1px solid #d1d5db;
  border-radius: 6px; background: #fff; color: #111827; font-size: 12px; }
.scale button[aria-pressed="true"] { background: ${ACCENT}; border-color: ${ACCENT}; color: #fff; }
.hint { display: flex; justify-content: space-between; font-size: 11px; color: #9ca3af; }
.survey textarea { width: 100%; min-height: 56px; }
.actions { display: flex; gap: 8px; justify-content: flex-end; margin-top: 8px; }
.actions button { border: 1px solid #d1d5db; background: #fff; border-radius: 8px; padding: 6px 12px; }
.actions .primary { background: ${ACCENT}; border-color: ${ACCENT}; color: #fff; }
.error { color: #b91c1c; font-size: 12px; margin: 4px 0 0; }
@media (max-width: 480px) {
  .panel { inset: 0; width: 100%; height: 100%; border-radius: 0; }
  .root.open .launcher { display: none; }
}
@media (prefers-reduced-motion: reduce) { .launcher { transition: none; } }
`;

  // ---- state --------------------------------------------------------------------------

  /** conv: the open conversation {id, state, agentName, lastSeq} or null; prevCid: the one
   *  that just ended (its late events still display); outbox: messages not acknowledged yet. */
  const S = {
    conv: null, prevCid: null, starting: false, early: [], ready: false,
    outbox: [], shown: new Set(), unread: 0, readSent: 0, open: false, conn: 'connecting',
  };

  // ---- DOM ------------------------------------------------------------------------------

  const host = h('div', { id: 'chat-widget-host' });
  const shadow = host.attachShadow({ mode: 'open' });
  if (shadow.adoptedStyleSheets !== undefined && window.CSSStyleSheet &&
      'replaceSync' in CSSStyleSheet.prototype) {
    // A constructed sheet is not an inline <style>, so a host page's CSP cannot block it.
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
    shadow.adoptedStyleSheets = [sheet];
  } else {
    shadow.append(h('style', { text: CSS }));
  }

  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  const path = document.createElementNS('http://www.w3.org/2000/svg', 'path');
  path.setAttribute('fill', 'currentColor');
  path.setAttribute('d', 'M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z');
  svg.append(path);

  const badge = h('span', { class: 'badge', hidden: true, 'aria-hidden': 'true' });
  const launcher = h('button', {
    class: 'launcher', type: 'button', 'aria-label': 'Open chat', 'aria-expanded': 'false',
    onclick: () => (S.open ? close() : open()),
  }, svg, badge);

  const titleEl = h('h2', { id: 'chat-title', text: 'Chat with us' });
  const subEl = h('p', { text: 'Connecting…' });
  const endBtn = h('button', { type: 'button', hidden: true, text: 'End chat', onclick: endChat });
  const closeBtn = h('button', {
    class: 'x', type: 'button', 'aria-label': 'Close chat window', text: '×', onclick: () => close(),
  });
  const banner = h('div', {
    class: 'banner', role: 'status', hidden: true, text: 'Reconnecting… your messages will be sent once we are back.',
  });
  const queueEl = h('div', { class: 'queue', role: 'status', hidden: true });
  const emptyEl = h('p', { class: 'empty', text: 'Hi! Ask us anything, we usually reply within a few minutes.' });
  const list = h('div', {
    class: 'list', role: 'log', 'aria-live': 'polite', 'aria-label': 'Messages', tabindex: '0',
  }, emptyEl);
  const typingEl = h('div', { class: 'typing', 'aria-live': 'polite' });
  const input = h('textarea', {
    rows: '1', maxlength: '4000', placeholder: 'Write a message…', 'aria-label': 'Message',
    oninput: onInput, onkeydown: onComposerKey,
  });
  const sendBtn = h('button', { class: 'send', type: 'submit', text: 'Send' });
  const composer = h('form', { class: 'composer', onsubmit: (e) => { e.preventDefault(); submit(); } },
    input, sendBtn);
  const panel = h('div', {
    class: 'panel', role: 'dialog', 'aria-labelledby': 'chat-title', hidden: true,
  },
  h('header', {}, h('div', { class: 'title' }, titleEl, subEl), endBtn, closeBtn),
  banner, queueEl, list, typingEl, composer);
  const root = h('div', {
    class: 'root', onkeydown: (e) => { if (e.key === 'Escape' && S.open) { e.stopPropagation(); close(); } },
  }, launcher, panel);
  shadow.append(root);

  // ---- view updates -------------------------------------------------------------------

  function renderHeader() {
    const c = S.conv;
    titleEl.textContent = c && c.agentName ? c.agentName : 'Chat with us';
    const status = { connecting: 'Connecting…', unavailable: 'Chat is unavailable right now' }[S.conn];
    subEl.textContent = status || (c && c.agentName ? 'Support agent' :
      c ? 'Waiting for an agent' : 'We usually reply within a few minutes');
    banner.hidden = S.conn !== 'reconnecting';
    endBtn.hidden = !c;
    input.placeholder = c ? 'Write a message…' : 'Write a message to start a chat…';
  }

  function renderBadge() {
    badge.hidden = S.unread === 0;
    badge.textContent = S.unread > 9 ? '9+' : String(S.unread);
    const label = S.open ? 'Close chat' : 'Open chat';
    launcher.setAttribute('aria-label', S.unread ? `${label} (${S.unread} unread)` : label);
  }

  function showQueue(position, etaS) {
    if (position == null) { queueEl.hidden = true; return; }
    let text = position > 0 ? `You are number ${position} in line` : 'Waiting for an agent';
    if (etaS != null) text += `, about ${Math.max(1, Math.round(etaS / 60))} min`;
    queueEl.textContent = text;
    queueEl.hidden = false;
  }

  let typingTimer = null;
  function showAgentTyping(on) {
    clearTimeout(typingTimer);
    const name = (S.conv && S.conv.agentName) || 'Agent';
    typingEl.textContent = on ? `${name} is typing…` : '';
    if (on) typingTimer = setTimeout(() => showAgentTyping(false), 10000);
  }

  function nearBottom() {
    return list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  }

  function scrollDown(force) {
    if (force || nearBottom()) list.scrollTop = list.scrollHeight;
  }

  /** Insert a row among the rows of its conversation, ordered by seq; rows without a seq
   *  (pending sends, local lines) stay after it. */
  function insertRow(el, cid, seq) {
    emptyEl.remove();
    const stick = nearBottom();
    el.dataset.cid = cid;
    if (seq != null) el.dataset.seq = seq;
    let before = null;
    if (seq != null) {
      for (let c = list.lastElementChild; c; c = c.previousElementSibling) {
        if (c.dataset.cid !== cid || (c.dataset.seq && +c.dataset.seq < seq)) break;
        before = c;
      }
    }
    list.insertBefore(el, before);
    labelSender(el);
    if (el.nextElementSibling) labelSender(el.nextElementSibling);
    scrollDown(stick);
  }

  /** Show the agent's name above the first of a run of their messages. */
  function labelSender(el) {
    const who = el.querySelector('.who');
    if (!who) return;
    const prev = el.previousElementSibling;
    who.hidden = !!prev && prev.dataset.from === el.dataset.from;
  }

  function messageRow(m) {
    if (m.kind === 'event' || m.from.role === 'system') {
      return h('div', { class: 'row sys', text: m.text, title: timeOf(m.ts) });
    }
    const mine = m.from.role === 'visitor';
    const row = h('div', { class: 'row ' + (mine ? 'me' : 'agent') });
    row.dataset.from = mine ? 'visitor' : 'agent:' + (m.from.name || '');
    if (!mine) row.append(h('div', { class: 'who', text: m.from.name || 'Agent' }));
    row.append(h('div', { class: 'bubble' }, linkify(m.text)),
      h('div', { class: 'meta', text: timeOf(m.ts) }));
    return row;
  }

  // ---- messages ---------------------------------------------------------------------

  /** Display a stored message once (dedupe by cid+seq); `live` counts it as unread. */
  function showMessage(m, live) {
    const key = m.cid + ':' + m.seq;
    if (S.shown.has(key)) return;
    const item = S.outbox.find((o) => o.cmid && o.cmid === m.cmid) ||
      (m.seq === 1 && m.from.role === 'visitor' &&
        S.outbox.find((o) => o.kind === 'start' && o.text === m.text));
    if (item) { acknowledge(item, m.cid, m.seq, m.ts); return; }
    S.shown.add(key);
    insertRow(messageRow(m), m.cid, m.seq);
    const c = S.conv;
    if (!c || m.cid !== c.id) return;
    c.lastSeq = Math.max(c.lastSeq, m.seq);
    if (m.from.role === 'agent' && m.kind === 'text') {
      showAgentTyping(false);
      if (live && !(S.open && !document.hidden)) { S.unread++; renderBadge(); }
    }
    markRead();
  }

  function acknowledge(item, cid, seq, ts) {
    S.outbox.splice(S.outbox.indexOf(item), 1);
    S.shown.add(cid + ':' + seq);
    item.el.classList.remove('pending', 'failed');
    item.el.querySelector('.meta').textContent = timeOf(ts);
    item.el.dataset.cid = cid;
    item.el.dataset.seq = seq;
    if (S.conv && S.conv.id === cid) S.conv.lastSeq = Math.max(S.conv.lastSeq, seq);
  }

  let readTimer = null;
  function markRead() {
    if (!readTimer) readTimer = setTimeout(sendRead, 250);  // one `read` per burst (a sync page)
  }

  function sendRead() {
    readTimer = null;
    const c = S.conv;
    if (!c || !S.open || document.hidden || c.lastSeq <= S.readSent) return;
    S.readSent = c.lastSeq;
    send('read', { cid: c.id, seq: c.lastSeq });
  }

  function submit() {
    const text = input.value.trim();
    if (!text) return;
    input.value = '';
    autoGrow();
    stopTyping();
    const row = h('div', { class: 'row me pending' },
      h('div', { class: 'bubble' }, linkify(text)), h('div', { class: 'meta', text: 'Sending…' }));
    row.dataset.from = 'visitor';
    const item = { cmid: randomId(), text, el: row, kind: S.conv ? 'msg' : 'start', inflight: false };
    S.outbox.push(item);
    insertRow(row, S.conv ? S.conv.id : '', null);
    scrollDown(true);
    flush();
  }

  /** Send what the outbox holds: a `start` first when there is no open conversation. */
  function flush() {
    if (!S.ready) return;
    for (const item of S.outbox) {
      if (item.inflight || item.failed) continue;
      if (!S.conv) {
        if (!S.starting) sendStart(item);
        return;
      }
      sendMsg(item);
    }
  }

  function sendStart(item) {
    item.kind = 'start';
    item.inflight = true;
    S.starting = true;
    request('start', { text: item.text, cmid: item.cmid }).then((ok) => {
      S.starting = false;
      item.inflight = false;
      adoptConversation(ok.conversation);
      item.el.dataset.cid = ok.conversation.id;
      if (S.outbox.includes(item)) acknowledge(item, ok.conversation.id, 1, ok.conversation.created);
      const early = S.early;
      S.early = [];
      early.forEach((f) => f.cid === S.conv.id && onEvent(f));
      flush();
    }, (err) => {
      S.starting = false;
      item.inflight = false;
      if (err.code === 'conflict') dropSocket();  // another tab opened one: hello will tell
      else sendFailed(item, err);
    });
  }

  function sendMsg(item) {
    const cid = S.conv.id;
    item.kind = 'msg';
    item.inflight = true;
    item.el.dataset.cid = cid;
    request('msg', { cid, text: item.text, cmid: item.cmid }).then((ok) => {
      item.inflight = false;
      if (S.outbox.includes(item)) acknowledge(item, cid, ok.seq, ok.ts);
    }, (err) => {
      item.inflight = false;
      if (err.code === 'closed') {
        if (S.conv && S.conv.id === cid) conversationEnded();
        flush();  // the message opens a new conversation instead
      } else {
        sendFailed(item, err);
      }
    });
  }

  function sendFailed(item, err) {
    if (err.code === 'offline') return;  // kept: resent after the reconnect
    if (err.code === 'rate_limited' || err.code === 'unavailable') {
      setTimeout(flush, 3000);
      return;
    }
    item.failed = true;
    S.outbox.splice(S.outbox.indexOf(item), 1);
    item.el.classList.replace('pending', 'failed');
    item.el.querySelector('.meta').textContent =
      err.code === 'too_large' ? 'Not sent: message too long' : 'Not sent';
  }

  // ---- conversation lifecycle -------------------------------------------------------

  function adoptConversation(conv) {
    const agentName = conv.agent ? conv.agent.name : null;
    if (!S.conv || S.conv.id !== conv.id) {
      if (S.conv) S.prevCid = S.conv.id;
      S.conv = { id: conv.id, state: conv.state, agentName, lastSeq: 0 };
      S.readSent = 0;
    } else {
      S.conv.state = conv.state;
      S.conv.agentName = agentName;
    }
    showQueue(conv.state === 'queued' ? (conv.position ?? 0) : null, conv.eta_s);
    renderHeader();
  }

  function conversationEnded() {
    if (!S.conv) return;
    stopTyping();
    S.prevCid = S.conv.id;
    S.conv = null;
    showQueue(null);
    showAgentTyping(false);
    renderHeader();
  }

  function endChat() {
    if (!S.conv) return;
    const cid = S.conv.id;
    endBtn.disabled = true;
    request('close', { cid }).then(() => {
      if (S.conv && S.conv.id === cid) conversationEnded();
    }, () => {}).finally(() => { endBtn.disabled = false; });
  }

  function showSurvey(cid, ask) {
    const answers = {};
    const form = h('form', { class: 'survey', 'aria-label': 'Rate this chat' });
    form.append(h('h3', { text: 'How did we do?' }));
    const scales = [
      ['csat', 'How satisfied are you with this chat?', 1, 5, 'Not at all', 'Very'],
      ['nps', 'How likely are you to recommend us to a friend?', 0, 10, 'Not likely', 'Very likely'],
      ['ces', 'How easy was it to get the help you wanted?', 1, 7, 'Very hard', 'Very easy'],
    ];
    for (const [name, question, lo, hi, loText, hiText] of scales) {
      if (ask && !ask.includes(name)) continue;
      const buttons = h('div', { class: 'scale' });
      for (let v = lo; v <= hi; v++) {
        buttons.append(h('button', {
          type: 'button', 'aria-pressed': 'false', text: String(v),
          onclick: (e) => {
            answers[name] = v;
            for (const b of buttons.children) b.setAttribute('aria-pressed', String(b === e.currentTarget));
          },
        }));
      }
      form.append(h('fieldset', {}, h('legend', { text: question }), buttons,
        h('div', { class: 'hint', 'aria-hidden': 'true' }, h('span', { text: loText }), h('span', { text: hiText }))));
    }
    const comment = h('textarea', { maxlength: '4000', placeholder: 'Anything else? (optional)', 'aria-label': 'Comment' });
    const error = h('p', { class: 'error', role: 'alert', hidden: true });
    const sendBtn = h('button', { class: 'primary', type: 'submit', text: 'Send feedback' });
    const thanks = () => form.replaceWith(h('div', { class: 'row sys', text: 'Thanks for your feedback!' }));
    form.append(comment, error, h('div', { class: 'actions' },
      h('button', { type: 'button', text: 'No thanks', onclick: () => form.remove() }), sendBtn));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const frame = Object.assign({ cid }, answers);
      if (comment.value.trim()) frame.comment = comment.value.trim();
      if (Object.keys(frame).length === 1) { error.textContent = 'Pick a rating first.'; error.hidden = false; return; }
      sendBtn.disabled = true;
      request('rate', frame).then(thanks, (err) => {
        sendBtn.disabled = false;
        if (err.code === 'already_rated') { thanks(); return; }
        error.textContent = err.code === 'offline' ? 'You are offline, try again in a moment.' :
          'Could not send your rating, please try again.';
        error.hidden = false;
      });
    });
    insertRow(form, cid, null);
  }

  // ---- events from the server -------------------------------------------------------

  function onEvent(f) {
    const c = S.conv;
    if (!c && S.starting && f.cid && f.cid !== S.prevCid && f.t !== 'survey') {
      S.early.push(f);  // about the conversation our `start` is opening: replayed on its ok
      return;
    }
    if (!c && !S.starting && f.cid && f.cid !== S.prevCid && ['msg', 'queue', 'assigned'].includes(f.t)) {
      // another tab of this visitor opened a conversation: follow it here too
      adoptConversation({ id: f.cid, state: f.t === 'assigned' ? 'active' : 'queued', agent: f.agent });
      syncHistory(f.cid).catch(() => {});
    }
    switch (f.t) {
      case 'msg':
        if ((c && f.cid === c.id) || f.cid === S.prevCid) showMessage(f, true);
        break;
      case 'queue':  // also after a transfer back to the queue
        if (!c || f.cid !== c.id) break;
        c.state = 'queued';
        c.agentName = null;
        showQueue(f.position, f.eta_s);
        renderHeader();
        break;
      case 'assigned':
        if (c && c.id === f.cid) {
          c.state = 'active';
          c.agentName = f.agent && f.agent.name;
          showQueue(null);
          renderHeader();
        }
        break;
      case 'typing':
        if (c && c.id === f.cid) showAgentTyping(!!f.on);
        break;
      case 'closed':
        if (c && c.id === f.cid) conversationEnded();
        break;
      case 'survey':
        showSurvey(f.cid, f.ask);
        break;
      case 'error':
        console.warn('[chat]', f.code, f.message);
        break;
      default:  // read, cobrowse and future events: nothing to show here
    }
  }

  // ---- connection -------------------------------------------------------------------

  let ws = null;
  let nextId = 1;
  let attempt = 0;
  let retryTimer = null;
  let pingTimer = null;
  let pingOut = false;
  const pending = new Map();  // request id -> {resolve, reject}

  function setConn(state) {
    S.conn = state;
    renderHeader();
  }

  function request(t, fields) {
    if (!ws || ws.readyState !== WebSocket.OPEN || (!S.ready && t !== 'hello')) {
      return Promise.reject({ code: 'offline' });
    }
    const id = nextId++;
    ws.send(JSON.stringify(Object.assign({ t, id }, fields)));
    return new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
  }

  function send(t, fields) {
    if (S.ready && ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(Object.assign({ t }, fields)));
  }

  function connect() {
    clearTimeout(retryTimer);
    retryTimer = null;
    if (ws) return;
    let sock;
    try {
      sock = new WebSocket(WS_URL, 'chat.v1.json');
    } catch (e) {
      scheduleReconnect();
      return;
    }
    ws = sock;
    sock.onopen = () => hello();
    sock.onmessage = (ev) => {
      let f;
      try { f = JSON.parse(ev.data); } catch (e) { return; }
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
    scheduleReconnect();
  }

  function scheduleReconnect() {
    const base = Math.min(15000, 500 * 2 ** attempt);
    attempt++;
    setConn(S.conn === 'connecting' && attempt === 1 ? 'connecting' : 'reconnecting');
    retryTimer = setTimeout(connect, base / 2 + Math.random() * base / 2);
  }

  async function hello() {
    const fields = { page: Object.assign(pageInfo(), { referrer: document.referrer }), lang: navigator.language };
    const token = local.get('token');
    if (token) fields.token = token;
    let ok;
    try {
      ok = await request('hello', fields);
    } catch (err) {
      if (err.code !== 'offline') { console.warn('[chat] hello refused:', err.code); dropSocket(); }
      return;
    }
    if (ok.token) local.set('token', ok.token);
    S.ready = true;
    attempt = 0;
    pingOut = false;
    pingTimer = setInterval(ping, 25000);
    const conv = ok.conversation;
    if (conv && conv.state !== 'closed') adoptConversation(conv);
    else conversationEnded();  // it ended while we were away
    setConn('online');
    try {
      if (S.conv) await syncHistory(S.conv.id);
    } catch (err) {
      if (err.code === 'offline') return;
    }
    if (S.conv) for (const item of S.outbox) item.kind = 'msg';
    flush();
    markRead();
  }

  async function syncHistory(cid) {
    const live = S.conv.lastSeq > 0;  // a first load's history is not "new"
    for (;;) {
      const r = await request('sync', { cid, after: S.conv.lastSeq });
      if (!S.conv || S.conv.id !== cid) return;
      const before = S.conv.lastSeq;
      for (const m of r.messages || []) showMessage(m, live);
      if (!r.more || S.conv.lastSeq === before) return;
    }
  }

  function ping() {
    if (pingOut) { dropSocket(); return; }  // no pong for a whole period: the link is dead
    pingOut = true;
    request('ping', {}).then(() => { pingOut = false; }, () => {});
  }

  // ---- composer and typing ------------------------------------------------------------

  let typingOn = false;
  let typingSentAt = 0;
  let typingIdle = null;
  let typingTrail = null;

  function autoGrow() {
    input.style.height = 'auto';
    input.style.height = Math.min(input.scrollHeight + 2, 120) + 'px';
  }

  function onComposerKey(e) {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      submit();
    }
  }

  function onInput() {
    autoGrow();
    if (!S.conv) return;
    if (!input.value.trim()) { stopTyping(); return; }
    clearTimeout(typingIdle);
    typingIdle = setTimeout(stopTyping, 4000);
    const wait = 1500 - (Date.now() - typingSentAt);
    if (wait <= 0) sendTyping();
    else if (!typingTrail) typingTrail = setTimeout(sendTyping, wait);
  }

  function sendTyping() {
    clearTimeout(typingTrail);
    typingTrail = null;
    if (!S.conv || !S.ready) return;
    typingSentAt = Date.now();
    typingOn = true;
    send('typing', { cid: S.conv.id, on: true, preview: input.value.slice(0, 4000) });
  }

  function stopTyping() {
    clearTimeout(typingIdle);
    clearTimeout(typingTrail);
    typingTrail = null;
    if (typingOn && S.conv) send('typing', { cid: S.conv.id, on: false });
    typingOn = false;
  }

  // ---- open / close -------------------------------------------------------------------

  function open() {
    if (S.open) return;
    S.open = true;
    session.set('open', '1');
    panel.hidden = false;
    root.classList.add('open');
    launcher.setAttribute('aria-expanded', 'true');
    S.unread = 0;
    renderBadge();
    scrollDown(true);
    input.focus();
    markRead();
  }

  function close() {
    if (!S.open) return;
    S.open = false;
    session.set('open', null);
    panel.hidden = true;
    root.classList.remove('open');
    launcher.setAttribute('aria-expanded', 'false');
    renderBadge();
    launcher.focus();
  }

  // ---- start --------------------------------------------------------------------------

  function mount() {
    document.body.append(host);
    renderHeader();
    if (session.get('open')) open();
    connect();
  }

  const navigated = () => send('page', pageInfo());
  window.addEventListener('popstate', navigated);
  window.addEventListener('hashchange', navigated);
  window.addEventListener('online', () => { if (!ws) { attempt = 0; connect(); } });
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && S.open) { S.unread = 0; renderBadge(); markRead(); }
  });

  window.ChatWidget = { open, close };
  if (document.body) mount();
  else document.addEventListener('DOMContentLoaded', mount);
})();
