/* static/widget/cobrowse.js,
 * built from static/widget/src by scripts/build-widget: edit the sources, then run it
 * (tests/integration/test_widget_build.py checks that this file is a fresh build).
 * The widget's co-browse part: it loads this only once the visitor accepts. */
(function () {
'use strict';

// ==== static/widget/src/cobrowse/recorder.js

// ---- the recording: rrweb with privacy options forced, its events as `cobrowse` frames

/* The widget's co-browse part, loaded by the widget only once the visitor has accepted
 * (src/cobrowse-consent.js). rrweb's recorder is loaded from this server and runs with
 * privacy options forced here: every input value, and the text of editable elements, is sent
 * as a fixed "••••"; password, card and one-time-code fields, `data-chat-private` elements
 * and the widget are never serialized; a site can add selectors, never remove them.
 * Events go out in batches about every 100 ms; when the socket backs up, mouse movement is
 * dropped first, and past a higher mark everything is dropped and a fresh snapshot follows
 * once it drains (DOM mutations are never dropped one by one). */

const CB_FLUSH_MS = 100;
const CB_FRAME_MAX = 1024 * 1024;  // bytes per events frame (the server's cap defaults to 2 MiB)
const CB_LOW_WATER = 1024 * 1024;  // socket backlog over which mouse movement is dropped
const CB_HIGH_WATER = 4 * 1024 * 1024;  // ... over which everything is, until a fresh snapshot
const CB_DOM_DEPTH = 24;  // snapshot levels sent nested (frames may nest 64 deep); deeper: added
const CB_SNAPSHOT_GAP_MS = 1000;  // at most one fresh snapshot a second
const MOVES = new Set([1, 6, 12]);  // rrweb IncrementalSource MouseMove, TouchMove, Drag

/** W: what this part uses of the widget (cbContext in src/cobrowse-consent.js); CB: the
 *  widget's co-browse state {phase, cid, agent}. Both set once, by start(). */
let W = null;
let CB = null;

/** lib: rrweb's recorder once loaded; live: recording (stop: the recorder's stop function);
 *  queue: events not sent yet. */
const REC = {
  lib: null, stop: null, live: false, queue: [], timer: null, drain: false, lastSnapshot: 0, snapshotTimer: null,
};

/** What is never serialized (sent as empty boxes), and the elements whose text is masked;
 *  set by cbSelectors(), from the widget's script tag. */
let blockSelector = '';
let maskSelector = '';

/** A site's extra selector from the script tag, if it is a valid one. */
function siteSelector(attr) {
  const value = (W.script.getAttribute(attr) || '').trim();
  if (!value) return [];
  try {
    document.createDocumentFragment().querySelector(value);
    return [value];
  } catch (e) {
    console.warn('[chat] ignoring the invalid selector in ' + attr);
    return [];
  }
}

function cbSelectors() {
  blockSelector = [
    'input[type=password]', '[autocomplete^="cc-" i]', '[autocomplete="one-time-code" i]',
    '[autocomplete="current-password" i]', '[autocomplete="new-password" i]',
    '[data-chat-private]', '[data-cobrowse-block]',
  ].concat(siteSelector('data-cobrowse-block')).join(', ');
  // text typed into editable elements is masked like an input's value
  maskSelector = ['[data-chat-mask]', '[data-cobrowse-mask]', '[contenteditable]:not([contenteditable="false" i])']
    .concat(siteSelector('data-cobrowse-mask')).join(', ');
}

/** Record once rrweb's recorder is here, if this tab still shares `cid` by then. */
function cbShare(cid) {
  loadRecorder().then((lib) => {
    if (CB.phase === 'sharing' && CB.cid === cid && !REC.live) cbRecord(lib);
  }, (e) => {
    console.warn('[chat] co-browsing is not available:', e.message);
    W.failed();
  });
}

function cbRecord(lib) {
  REC.lib = lib;
  REC.queue = [];
  REC.drain = false;
  REC.lastSnapshot = Date.now();
  REC.live = true;  // before record(): it emits the first snapshot at once
  let stop = null;
  try {
    stop = lib.record({
      emit: cbEmit,
      maskAllInputs: true,  // every value of every input, textarea and select
      maskInputFn: (value) => (value ? '••••' : ''),  // not even the length
      maskTextSelector: maskSelector,
      maskTextFn: (text) => (text.trim() ? '••••' : text),
      blockSelector,
      slimDOMOptions: 'all',  // no scripts, comments or meta tags
      recordCanvas: false,
      recordCrossOriginIframes: false,
      inlineImages: false,
      collectFonts: false,
      // input 'all' (not 'last', which waits for the field's `change`): the values are the
      // fixed mask, and rrweb sends one only when it differs from the last, so this costs one
      // event when a field goes from empty to filled, and shows it as it happens
      sampling: { mousemove: 50, mousemoveCallback: 100, scroll: 100, input: 'all' },
      errorHandler: () => true,  // a recorder bug must not break the site
    }) || null;
  } catch (e) {
    stop = null;
  }
  if (CB.phase !== 'sharing' || !REC.live) {  // it ended while starting (the first snapshot failed)
    if (stop) try { stop(); } catch (e) { /* gone anyway */ }
    return;
  }
  REC.stop = stop;
  if (!stop) W.failed();
}

/** Stop recording (the widget forgets the co-browse, and tells the server if it should). */
function cbStop() {
  if (REC.stop) {
    try { REC.stop(); } catch (e) { /* the recorder is gone anyway */ }
  }
  REC.stop = null;
  REC.live = false;
  clearTimeout(REC.timer);
  clearTimeout(REC.snapshotTimer);
  clearTimeout(OV.pointerTimer);
  REC.timer = REC.snapshotTimer = null;
  REC.queue = [];
  REC.drain = false;
}

/** After each `hello` of a tab that shares: frames may have been lost meanwhile. */
function cbReconnected() {
  if (REC.live) cbSnapshot();
}

let recorderLoading = null;
/** rrweb's recorder, from this server (a script tag: the page's CSP allows this origin,
 *  since it runs the widget). It is a UMD bundle: kept from registering with an AMD loader
 *  of the page, and its global taken back, so that the page sees no new global. */
function loadRecorder() {
  if (recorderLoading) return recorderLoading;
  recorderLoading = new Promise((resolve, reject) => {
    const had = Object.prototype.hasOwnProperty.call(window, 'rrwebRecord');
    const before = window.rrwebRecord;
    let amd = null;
    try {
      if (typeof window.define === 'function' && window.define.amd) {
        amd = window.define.amd;
        window.define.amd = undefined;
      }
    } catch (e) { amd = null; /* a frozen loader: the bundle may not register a global then */ }
    const tag = document.createElement('script');
    tag.src = W.origin + '/static/vendor/rrweb-record.min.js';
    tag.async = true;
    const settle = () => {
      if (amd) try { window.define.amd = amd; } catch (e) { /* as it was */ }
      const lib = window.rrwebRecord;
      if (had) window.rrwebRecord = before;
      else try { delete window.rrwebRecord; } catch (e) { window.rrwebRecord = undefined; }
      tag.remove();
      return lib;
    };
    tag.onload = () => {
      const lib = settle();
      if (lib && typeof lib.record === 'function') resolve(lib);
      else reject(new Error('the recorder did not load'));
    };
    tag.onerror = () => { settle(); reject(new Error('the recorder could not be fetched')); };
    (document.head || document.documentElement).append(tag);
  });
  recorderLoading.catch(() => { recorderLoading = null; });
  return recorderLoading;
}

function cbEmit(event) {
  if (CB.phase !== 'sharing') return;
  if (event.type === 2) {  // FullSnapshot (after its Meta): out now
    REC.queue.push(...cbFlatten(event, CB_DOM_DEPTH), cbWidgetEvent());
    cbFlush();
    return;
  }
  REC.queue.push(event);
  if (!REC.timer && event.type !== 4) REC.timer = setTimeout(cbFlush, CB_FLUSH_MS);
}

function cbFlush() {
  clearTimeout(REC.timer);
  REC.timer = null;
  if (CB.phase !== 'sharing' || !REC.live) { REC.queue = []; return; }
  let events = REC.queue;
  REC.queue = [];
  const sock = W.socket();
  if (!sock) { REC.drain = true; return; }  // a fresh snapshot after the reconnect
  const backlog = sock.bufferedAmount;
  if (REC.drain || backlog > CB_HIGH_WATER) {
    // too far behind: what is queued is dropped, and a fresh snapshot replaces it
    REC.drain = true;
    if (backlog > CB_LOW_WATER) { REC.timer = setTimeout(cbFlush, 250); return; }
    REC.drain = false;
    cbSnapshot(true);
    return;
  }
  if (backlog > CB_LOW_WATER) events = events.filter((e) => !(e.type === 3 && MOVES.has(e.data.source)));
  if (!events.length) return;
  const frames = [];
  if (!cbPack(CB.cid, events, frames)) { W.failed(); return; }
  const cid = CB.cid;
  for (const frame of frames) {
    W.dispatch('cobrowse', frame).catch((err) => {
      if (CB.phase !== 'sharing' || CB.cid !== cid) return;
      if (err.code === 'offline') REC.drain = true;  // a fresh snapshot after the reconnect
      else if (['conflict', 'closed', 'forbidden', 'not_found'].includes(err.code)) W.end();  // over there
      else if (err.code === 'too_large') W.failed();
      else cbSnapshot();  // rate_limited, unavailable, ...: that batch is lost, start again from a snapshot
    });
  }
}

/** Where the chat window is on screen, as an rrweb Custom event: the widget itself is never
 *  recorded, so the agent's view marks the part of the page that it covers. */
function cbWidgetEvent() {
  const box = (el) => {
    const r = el.getBoundingClientRect();
    return r.width && r.height
      ? { x: Math.round(r.left), y: Math.round(r.top), w: Math.round(r.width), h: Math.round(r.height) } : null;
  };
  return { type: 5, timestamp: Date.now(), data: { tag: 'chat-widget', payload: { launcher: box(W.launcher), panel: box(W.panel) } } };
}

let cbWidgetTimer = null;
function cbWidgetMoved() {
  if (!REC.live || cbWidgetTimer) return;
  cbWidgetTimer = setTimeout(() => {
    cbWidgetTimer = null;
    if (!REC.live) return;
    REC.queue.push(cbWidgetEvent());
    if (!REC.timer) REC.timer = setTimeout(cbFlush, CB_FLUSH_MS);
  }, 150);
}
/** Encode `events` into frames of at most CB_FRAME_MAX bytes, in order; a big mutation
 *  or snapshot is split into several. False when one event alone is too big. */
function cbPack(cid, events, out) {
  let frame = null;
  try { frame = W.prepare('cobrowse', { cid, op: 'events', events }); } catch (e) { /* too deep */ }
  if (frame && frame.size <= CB_FRAME_MAX) { out.push(frame); return true; }
  if (events.length > 1) {
    const mid = events.length >> 1;
    return cbPack(cid, events.slice(0, mid), out) && cbPack(cid, events.slice(mid), out);
  }
  const e = events[0];
  if (e.type === 2) return cbPack(cid, cbFlatten(e, 2), out);  // the body's nodes as additions
  if (e.type === 3 && e.data.source === 0 && e.data.adds && e.data.adds.length > 1) {
    return cbPack(cid, cbSplitMutation(e, Math.ceil(e.data.adds.length / 2)), out);
  }
  return false;
}

/** A FullSnapshot whose nodes below `depth` are sent instead as one Mutation that adds
 *  them one by one, parents first, each appended to its parent in document order. */
function cbFlatten(event, depth) {
  const adds = [];
  const node = cbCut(event.data.node, 0, depth, adds);
  if (!adds.length) return [event];
  const shallow = Object.assign({}, event, { data: Object.assign({}, event.data, { node }) });
  const mutation = { type: 3, timestamp: event.timestamp,
    data: { source: 0, texts: [], attributes: [], removes: [], adds } };
  return [shallow].concat(cbSplitMutation(mutation, 500));
}

function cbCut(node, level, depth, adds) {
  const kids = node.childNodes;
  if (!kids || !kids.length) return node;
  if (level >= depth) {
    for (const kid of kids) cbAddFlat(node.id, kid, adds);
    return Object.assign({}, node, { childNodes: [] });
  }
  let changed = false;
  const cut = kids.map((kid) => {
    const c = cbCut(kid, level + 1, depth, adds);
    if (c !== kid) changed = true;
    return c;
  });
  return changed ? Object.assign({}, node, { childNodes: cut }) : node;
}

function cbAddFlat(parentId, node, adds) {
  const kids = node.childNodes;
  adds.push({ parentId, nextId: null, node: kids && kids.length ? Object.assign({}, node, { childNodes: [] }) : node });
  if (kids) for (const kid of kids) cbAddFlat(node.id, kid, adds);
}

/** A Mutation as several, in order: removes first, then the additions in chunks, then the
 *  text and attribute changes (the order in which rrweb's replayer applies them). */
function cbSplitMutation(e, chunk) {
  const d = e.data;
  if (d.adds.length <= chunk) return [e];
  const out = [];
  for (let i = 0; i < d.adds.length; i += chunk) {
    const last = i + chunk >= d.adds.length;
    out.push({ type: 3, timestamp: e.timestamp, data: Object.assign({}, d, {
      removes: i === 0 ? d.removes : [], adds: d.adds.slice(i, i + chunk),
      texts: last ? d.texts : [], attributes: last ? d.attributes : [],
    }) });
  }
  return out;
}

/** A fresh snapshot (Meta + FullSnapshot), at most one a second. */
function cbSnapshot(now) {
  if (CB.phase !== 'sharing' || !REC.live || !REC.lib) return;
  const wait = REC.lastSnapshot + CB_SNAPSHOT_GAP_MS - Date.now();
  if (wait > 0 && !now) {
    if (!REC.snapshotTimer) REC.snapshotTimer = setTimeout(() => { REC.snapshotTimer = null; cbSnapshot(true); }, wait);
    return;
  }
  clearTimeout(REC.snapshotTimer);
  REC.snapshotTimer = null;
  REC.lastSnapshot = Date.now();
  REC.queue = [];  // replaced by the snapshot
  REC.drain = false;
  try { REC.lib.record.takeFullSnapshot(); } catch (e) { /* the next resync tries again */ }
}

// ==== static/widget/src/cobrowse/overlay.js

// ---- the agent's pointer and highlight, drawn over the page in the widget's shadow DOM
// (which is never recorded)

const CB_HIGHLIGHT_MS = 3000;
const CB_POINTER_IDLE_MS = 8000;
const ICON_POINTER = 'M5 2.5v16.8l4.3-4.1 2.9 6.5 2.7-1.2-2.9-6.4H18z';

/** The element the agent highlighted, followed until markUntil; the pointer's idle timer. */
const OV = { pointerTimer: null, markUntil: 0, markEl: null };
let cbPointer = null;
let cbPointerName = null;
let cbMark = null;

/** The pointer and the highlight's outline, after the widget's own elements. */
function cbOverlays() {
  const { h, svgIcon } = W;
  cbPointerName = h('span', { class: 'name' });
  cbPointer = h('div', { class: 'cb-pointer', hidden: true, 'aria-hidden': 'true' }, svgIcon(ICON_POINTER), cbPointerName);
  cbMark = h('div', { class: 'cb-mark', hidden: true, 'aria-hidden': 'true' });
  W.root.append(cbMark, cbPointer);
}

/** Not sharing any more: nothing of the agent's stays on the page. */
function cbHideOverlays() {
  cbPointer.hidden = true;
  cbMark.hidden = true;
  OV.markEl = null;
}

/** The agent's pointer, in CSS pixels of this viewport; off the viewport it is hidden. */
function cbShowPointer(x, y) {
  clearTimeout(OV.pointerTimer);
  const inside = x >= 0 && y >= 0 && x <= window.innerWidth && y <= window.innerHeight;
  cbPointer.hidden = !inside;
  if (!inside) return;
  cbPointerName.textContent = CB.agent;
  cbPointer.style.transform = `translate(${Math.round(x)}px, ${Math.round(y)}px)`;
  OV.pointerTimer = setTimeout(() => { cbPointer.hidden = true; }, CB_POINTER_IDLE_MS);
}

/** Outline the element the agent picked, for a few seconds. Never the widget, nor anything
 *  blocked or masked, nor the whole page. */
function cbHighlight(f) {
  let el = null;
  if (typeof f.node === 'number') {
    try { el = REC.lib && REC.lib.record.mirror.getNode(f.node); } catch (e) { el = null; }
  } else if (typeof f.selector === 'string' && f.selector.length <= 200) {
    try { el = document.querySelector(f.selector); } catch (e) { el = null; }
  }
  if (el && el.nodeType !== 1) el = el.parentElement;
  if (!el || !el.isConnected || el === document.documentElement || el === document.body || el === W.host) return;
  try {
    if (el.closest(blockSelector) || el.closest(maskSelector) || el.closest('#chat-widget-host')) return;
  } catch (e) {
    return;
  }
  const r = el.getBoundingClientRect();
  if (r.bottom < 0 || r.top > window.innerHeight) el.scrollIntoView({ block: 'center', behavior: 'smooth' });
  const follow = !OV.markEl;
  OV.markEl = el;
  OV.markUntil = Date.now() + CB_HIGHLIGHT_MS;
  cbMark.classList.remove('fade');
  cbMark.hidden = false;
  if (follow) requestAnimationFrame(cbFollowMark);
}

function cbFollowMark() {
  const el = OV.markEl;
  if (!el || !el.isConnected || CB.phase !== 'sharing') { cbMark.hidden = true; OV.markEl = null; return; }
  const left = Date.now() > OV.markUntil;
  if (left) {
    cbMark.classList.add('fade');
    OV.markEl = null;
    setTimeout(() => { if (!OV.markEl) cbMark.hidden = true; }, 400);
    return;
  }
  const r = el.getBoundingClientRect();
  const pad = 4;
  cbMark.style.transform = `translate(${Math.round(r.left - pad)}px, ${Math.round(r.top - pad)}px)`;
  cbMark.style.width = Math.round(r.width + 2 * pad) + 'px';
  cbMark.style.height = Math.round(r.height + 2 * pad) + 'px';
  requestAnimationFrame(cbFollowMark);
}

// ==== static/widget/src/cobrowse/register.js

// ---- hand this part to the widget that loaded it

/** Called once by the widget with what this part uses of it (cbContext in
 *  src/cobrowse-consent.js); returns what the widget calls. */
function start(widget) {
  W = widget;
  CB = widget.CB;
  cbSelectors();
  cbOverlays();
  window.addEventListener('resize', cbWidgetMoved);
  return {
    preload: loadRecorder, share: cbShare, stop: cbStop, reconnected: cbReconnected, snapshot: cbSnapshot,
    hide: cbHideOverlays, pointer: cbShowPointer, highlight: cbHighlight, widgetMoved: cbWidgetMoved,
  };
}

// The widget set this on the script tag that loads this file (CB_REGISTER in
// src/cobrowse-consent.js), not enumerable, and removes it once this file ran.
const register = document.currentScript && document.currentScript.chatWidgetCobrowse;
if (typeof register === 'function') register(start);
})();
