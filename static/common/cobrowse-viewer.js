/* ChatCobrowseViewer: a live view of a visitor's page (co-browsing, PROTOCOL.md §5), shared by
 * the console (which guides the visitor) and the dashboard (which only watches).
 *
 * rrweb's Replayer (vendored, loaded on first use) in live mode, inside rrweb's own iframe:
 * `sandbox="allow-same-origin"` and nothing more, so no script of the visitor's page ever runs
 * here, and the page's interaction with it stays off. The options follow what was checked in
 * a real browser: `useVirtualDom: false` (with the virtual DOM, live events after the
 * snapshot never reach the iframe) and `startLive(Number.MAX_SAFE_INTEGER)`, which makes
 * every event "past" and applies it the moment it arrives, whatever the visitor's clock says.
 * Applied that way, rrweb moves the visitor's cursor only on a "flush", so one is emitted
 * after each batch. Each Meta event (the start of a fresh snapshot) starts a new Replayer.
 *
 * Every event goes through ChatCobrowseSanitizer first (cobrowse-sanitize.js): the replay
 * iframe is same-origin with this page, so a URL in the visitor's page that points at this
 * server, or a relative one, would be fetched with the agent's cookie.
 *
 * The visitor's chat widget is never recorded: the widget sends where it is as a Custom event
 * (tag "chat-widget"), and the view marks that part of the page.
 *
 * The view is scaled to fit its box. A transparent layer over it turns the agent's mouse
 * into `pointer(x, y)` calls, in CSS pixels of the visitor's viewport, and a click into
 * `pick(nodeId)`, the rrweb id of the element under it (read from the replay's mirror). */
(function () {
  'use strict';

  const { h } = window.ChatDom;
  const LIB = '/static/vendor/rrweb-replay.min.js';
  const POINTER_MS = 50;
  const MARK_MS = 3000;
  let loading = null;

  /** rrweb's replayer (the global rrwebReplay), loaded once. */
  function loadReplayer() {
    if (window.rrwebReplay) return Promise.resolve(window.rrwebReplay);
    if (!loading) {
      loading = new Promise((resolve, reject) => {
        const tag = h('script', { src: LIB });
        tag.onload = () => (window.rrwebReplay ? resolve(window.rrwebReplay) : reject(new Error('no rrwebReplay')));
        tag.onerror = () => reject(new Error('could not load ' + LIB));
        document.head.append(tag);
      });
      loading.catch(() => { loading = null; });
    }
    return loading;
  }

  const QUIET = { log() {}, warn() {}, error() {}, info() {}, debug() {} };

  class CobrowseViewer {
    /**
     * @param {Element} box  where the view goes (it takes the box's width)
     * @param {object} on    {pointer(x, y), pick(id), needSnapshot(), maxHeight()}; pointer and
     *                       pick only where the viewer may guide the visitor
     */
    constructor(box, on) {
      this.box = box;
      this.on = on || {};
      this.lib = null;
      this.replayer = null;
      this.sanitizer = new window.ChatCobrowseSanitizer(location.hostname);
      this.size = null;
      this.scale = 1;
      this.waiting = [];
      this.destroyed = false;
      this.lastPointer = 0;
      this.pointerTimer = null;
      this.markTimer = null;
      this.screen = h('div', { class: 'cb-screen' });
      this.mark = h('div', { class: 'cb-pick', hidden: true, 'aria-hidden': 'true' });
      this.widgetPanel = h('div', { class: 'cb-widget panel', hidden: true, title: 'The visitor’s chat window covers this part of the page' },
        h('span', { text: 'Chat window' }));
      this.widgetLauncher = h('div', { class: 'cb-widget launcher', hidden: true, 'aria-hidden': 'true' });
      this.widgetAt = null;
      this.glass = h('div', { class: 'cb-glass' + (this.on.pick ? ' guide' : '') });
      this.empty = h('p', { class: 'cb-empty', text: 'Waiting for the visitor’s page…' });
      this.stage = h('div', { class: 'cb-stage' }, this.screen, this.widgetPanel, this.widgetLauncher, this.mark,
        this.glass, this.empty);
      box.replaceChildren(this.stage);
      this.resizeObserver = new ResizeObserver(() => this.fit());
      this.resizeObserver.observe(box);
      this._fit = () => this.fit();
      window.addEventListener('resize', this._fit);
      if (this.on.pointer) {
        this.glass.addEventListener('mousemove', (e) => this.pointerAt(e));
        this.glass.addEventListener('mouseleave', () => this.pointerGone());
      }
      if (this.on.pick) this.glass.addEventListener('click', (e) => this.pickAt(e));
      loadReplayer().then((lib) => {
        if (this.destroyed) return;
        this.lib = lib;
        const waiting = this.waiting;
        this.waiting = [];
        this.add(waiting);
      }, () => { this.empty.textContent = 'The viewer could not be loaded.'; });
    }

    /** rrweb events, in the order recorded. */
    add(events) {
      if (this.destroyed || !events || !events.length) return;
      if (!this.lib) { this.waiting.push(...events); return; }
      let fed = false;
      let orphans = false;
      for (const e of events) {
        if (!e || typeof e !== 'object' || typeof e.type !== 'number') continue;
        if (e.type === 4) this.restart(e);
        if (e.type === 5 && e.data && e.data.tag === 'chat-widget') this.widgetAt = e.data.payload || null;
        if (!this.replayer) { orphans = true; continue; }  // nothing to apply them to yet
        const safe = this.sanitizer.event(e);  // a Meta sets the page URL relative URLs resolve against
        if (!safe) continue;
        this.replayer.addEvent(safe);
        fed = true;
      }
      if (fed) {
        // after the addEvent microtasks: moves the visitor's cursor to where it is now
        const r = this.replayer;
        Promise.resolve().then(() => { if (r === this.replayer) r.emitter.emit('flush'); });
      }
      if (orphans && this.on.needSnapshot) this.on.needSnapshot();
      this.placeWidget();
    }

    /** Mark where the visitor's chat window and button are (numbers from the visitor's page:
     *  checked, never trusted). */
    placeWidget() {
      const at = this.widgetAt || {};
      const s = this.scale;
      for (const [el, r] of [[this.widgetPanel, at.panel], [this.widgetLauncher, at.launcher]]) {
        const ok = r && [r.x, r.y, r.w, r.h].every((v) => Number.isFinite(v) && Math.abs(v) < 1e5) && r.w > 0 && r.h > 0;
        el.hidden = !ok || !this.replayer;
        if (!ok) continue;
        Object.assign(el.style, {
          left: Math.round(r.x * s) + 'px', top: Math.round(r.y * s) + 'px',
          width: Math.round(r.w * s) + 'px', height: Math.round(r.h * s) + 'px',
        });
      }
    }

    restart(meta) {
      this.dropReplayer();
      this.widgetAt = null;
      this.replayer = new this.lib.Replayer([], {
        root: this.screen,
        liveMode: true,
        useVirtualDom: false,
        mouseTail: false,
        showWarning: false,
        showDebug: false,
        triggerFocus: false,  // never take the focus from the agent's reply box
        logger: QUIET,
      });
      this.replayer.on('resize', (d) => { this.size = { width: d.width, height: d.height }; this.fit(); });
      this.replayer.startLive(Number.MAX_SAFE_INTEGER);
      const frame = this.replayer.iframe;
      frame.title = 'The visitor’s page, live';
      frame.tabIndex = -1;  // a picture of their page: its links are not for the keyboard here
      const d = meta.data || {};
      if (d.width > 0 && d.height > 0) this.size = { width: d.width, height: d.height };
      this.empty.hidden = true;
      this.stage.classList.add('live');
      this.fit();
    }

    /** The iframe, for tests and for reading the replayed page. */
    get frame() {
      return this.replayer ? this.replayer.iframe : null;
    }

    fit() {
      if (this.destroyed || !this.size) return;
      const { width, height } = this.size;
      const room = this.box.clientWidth || width;
      const tall = this.on.maxHeight ? this.on.maxHeight() : Infinity;
      const scale = Math.max(0.05, Math.min(1, room / width, tall / height));
      this.scale = scale;
      Object.assign(this.screen.style, {
        width: width + 'px', height: height + 'px', transform: `scale(${scale})`,
      });
      Object.assign(this.stage.style, {
        width: Math.floor(width * scale) + 'px', height: Math.floor(height * scale) + 'px',
      });
      this.placeWidget();
    }

    /** Where the mouse event is, in the visitor's viewport (CSS pixels). */
    at(e) {
      const r = this.glass.getBoundingClientRect();
      return { x: (e.clientX - r.left) / this.scale, y: (e.clientY - r.top) / this.scale };
    }

    pointerAt(e) {
      if (!this.replayer) return;
      const { x, y } = this.at(e);
      this.nextPointer = { x: Math.round(x), y: Math.round(y) };
      const wait = this.lastPointer + POINTER_MS - Date.now();
      if (wait > 0) {
        if (!this.pointerTimer) this.pointerTimer = setTimeout(() => { this.pointerTimer = null; this.sendPointer(); }, wait);
        return;
      }
      this.sendPointer();
    }

    sendPointer() {
      if (!this.nextPointer || this.destroyed) return;
      this.lastPointer = Date.now();
      const { x, y } = this.nextPointer;
      this.nextPointer = null;
      this.on.pointer(x, y);
    }

    pointerGone() {
      clearTimeout(this.pointerTimer);
      this.pointerTimer = null;
      this.nextPointer = null;
      if (this.replayer) this.on.pointer(-1, -1);  // off the page: the visitor's overlay hides it
    }

    pickAt(e) {
      const doc = this.frame && this.frame.contentDocument;
      if (!doc) return;
      const { x, y } = this.at(e);
      let el = doc.elementFromPoint(x, y);
      if (el && el.nodeType !== 1) el = el.parentElement;
      if (!el || el === doc.documentElement || el === doc.body) return;
      const mirror = this.replayer.getMirror();
      const id = mirror.getId(el);
      if (typeof id !== 'number' || id < 0) return;
      const meta = mirror.getMeta(el);
      // a box blocked on the visitor's side (rrweb gave it only a size): the visitor's page
      // refuses to highlight it, so do not pretend here either
      if (meta && meta.attributes && (meta.attributes.rr_width || meta.attributes.rr_height)) return;
      this.showMark(el.getBoundingClientRect());
      this.on.pick(id);
    }

    showMark(r) {
      const s = this.scale;
      Object.assign(this.mark.style, {
        left: Math.round(r.left * s - 3) + 'px', top: Math.round(r.top * s - 3) + 'px',
        width: Math.round(r.width * s + 6) + 'px', height: Math.round(r.height * s + 6) + 'px',
      });
      this.mark.hidden = false;
      clearTimeout(this.markTimer);
      this.markTimer = setTimeout(() => { this.mark.hidden = true; }, MARK_MS);
    }

    dropReplayer() {
      if (!this.replayer) return;
      try { this.replayer.destroy(); } catch (e) { /* its iframe is gone already */ }
      this.replayer = null;
      this.screen.replaceChildren();
    }

    destroy() {
      this.destroyed = true;
      clearTimeout(this.pointerTimer);
      clearTimeout(this.markTimer);
      this.resizeObserver.disconnect();
      window.removeEventListener('resize', this._fit);
      this.dropReplayer();
      this.stage.remove();
    }
  }

  window.ChatCobrowseViewer = CobrowseViewer;
})();
