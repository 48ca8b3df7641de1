/* Co-browsing in the console (PROTOCOL.md §5): the agent asks to see the visitor's page
 * ("Share screen"), sees it live once the visitor accepts, points at it (the mouse over the
 * view) and highlights elements (a click), asks for a fresh snapshot ("Resync") and stops.
 *
 * One session per conversation, kept apart from the console's chats: co-browse frames can
 * arrive before the `hello` answer that lists the chats (the server replays an active
 * co-browse at once). Each session keeps the events since the newest Meta (bounded), so the
 * view of a chat that was not on screen is rebuilt when it is opened, and a reload shows the
 * page again from the server's replay without a new request. */
(function () {
  'use strict';

  const $ = (id) => document.getElementById(id);
  const KEEP_EVENTS = 10000;  // events kept per session for rebuilding its view
  const RESYNC_GAP_MS = 2000;

  /** cid -> {state: none|pending|active|declined|ended, by, events (since the newest Meta,
   *  null when unknown), lastResync} */
  const sessions = new Map();
  let ctx = null;  // {socket(), visitorName(cid), notice(text)}
  let shownCid = null;
  let shownClosed = false;
  let viewer = null;

  function session(cid) {
    let s = sessions.get(cid);
    if (!s) {
      s = { state: 'none', by: null, events: null, lastResync: 0 };
      sessions.set(cid, s);
    }
    return s;
  }

  function sock() {
    const s = ctx && ctx.socket();
    return s && s.ready ? s : null;
  }

  // ---- frames from the server -----------------------------------------------------------

  function frame(f) {
    if (!f.cid) return;
    const s = session(f.cid);
    switch (f.op) {
      case 'requested':  // asked from another tab of ours
        s.state = 'pending';
        break;
      case 'accepted':
        s.state = 'active';
        s.events = s.events || [];
        break;
      case 'declined':
        s.state = 'declined';
        s.events = null;
        break;
      case 'ended':
        s.state = 'ended';
        s.by = f.by || 'system';
        s.events = null;
        break;
      case 'events':
        if (!Array.isArray(f.events)) return;
        s.state = 'active';  // only relayed while one is active (and replayed to us on join)
        keep(s, f.events);
        if (f.cid === shownCid && viewer) {
          viewer.add(f.events);
          return;  // the view is up: nothing else changes
        }
        break;
      default:
        return;
    }
    if (f.cid === shownCid) render();
  }

  /** Keep the events from the newest Meta on, to rebuild the view later. */
  function keep(s, events) {
    let start = -1;
    for (let i = events.length - 1; i >= 0; i--) if (events[i] && events[i].type === 4) { start = i; break; }
    if (start >= 0) s.events = events.slice(start);
    else if (s.events) s.events.push(...events);
    if (s.events && s.events.length > KEEP_EVENTS) s.events = null;  // rebuilt from a resync instead
  }

  // ---- actions --------------------------------------------------------------------------

  function ask() {
    const cid = shownCid;
    const socket = sock();
    if (!cid || !socket) return;
    const s = session(cid);
    $('cobrowse-btn').disabled = true;
    socket.request('cobrowse', { cid, op: 'request' }).then(() => {
      if (s.state !== 'active') s.state = 'pending';
      render();
    }, (err) => {
      if (err.code === 'conflict') s.state = s.state === 'active' ? 'active' : 'pending';  // one is pending already
      else ctx.notice('Could not ask to see the screen: ' + (err.message || err.code));
      render();
    });
  }

  function stop() {
    const cid = shownCid;
    const socket = sock();
    if (!cid || !socket) return;
    const s = session(cid);
    $('cb-stop').disabled = true;
    socket.request('cobrowse', { cid, op: 'end' }).then(() => {
      // the `ended` event says the rest
    }, (err) => {
      if (err.code === 'conflict' || err.code === 'closed') { s.state = 'none'; s.events = null; }
      else ctx.notice('Could not stop: ' + (err.message || err.code));
      render();
    });
  }

  /** Ask the visitor's browser for a fresh snapshot (at most one every two seconds). */
  function resync(cid, quiet) {
    const socket = sock();
    const s = session(cid);
    if (!socket || s.state !== 'active' || Date.now() - s.lastResync < RESYNC_GAP_MS) return;
    s.lastResync = Date.now();
    socket.request('cobrowse', { cid, op: 'resync' }).catch((err) => {
      if (err.code === 'conflict' || err.code === 'closed') {  // it ended while we were away
        s.state = quiet ? 'none' : 'ended';
        s.by = s.by || 'system';
        s.events = null;
        if (cid === shownCid) render();
      }
    });
  }

  // ---- the panel ----------------------------------------------------------------------

  /** Show the co-browse of this chat (null: none selected). */
  function show(cid, closed) {
    if (cid !== shownCid) dropViewer();
    shownCid = cid;
    shownClosed = !!closed;
    render();
  }

  function dropViewer() {
    if (viewer) viewer.destroy();
    viewer = null;
  }

  function render() {
    const cid = shownCid;
    const s = cid ? session(cid) : null;
    const state = s ? s.state : 'none';
    const name = cid ? ctx.visitorName(cid) : '';
    const btn = $('cobrowse-btn');
    btn.hidden = !cid || state === 'pending' || state === 'active';
    btn.disabled = !cid || shownClosed || !sock();
    const panel = $('cobrowse');
    panel.hidden = !cid || state === 'none' || (shownClosed && state !== 'ended');
    panel.dataset.state = state;
    $('cb-resync').hidden = state !== 'active';
    $('cb-stop').hidden = state !== 'active' && state !== 'pending';
    $('cb-stop').disabled = false;
    $('cb-stop').textContent = state === 'pending' ? 'Cancel request' : 'Stop';
    $('cb-dismiss').hidden = state !== 'declined' && state !== 'ended';
    $('cb-hint').hidden = state !== 'active';
    $('cb-view').hidden = state !== 'active';
    const status = $('cb-status');
    status.textContent = {
      pending: `Waiting for ${name} to accept sharing their screen…`,
      active: `Live: ${name}’s page`,
      declined: `${name} declined to share their screen.`,
      ended: s && s.by === 'visitor' ? `${name} stopped sharing their screen.`
        : s && s.by === 'agent' ? 'You stopped co-browsing.' : 'Co-browsing ended.',
    }[state] || '';
    document.querySelector('.layout').classList.toggle('cobrowsing', state === 'active' && !panel.hidden);
    if (state !== 'active') { dropViewer(); return; }
    if (!viewer) {
      viewer = new window.ChatCobrowseViewer($('cb-view'), {
        pointer: (x, y) => { const socket = sock(); if (socket) socket.send('cobrowse', { cid, op: 'pointer', x, y }); },
        pick: (node) => { const socket = sock(); if (socket) socket.send('cobrowse', { cid, op: 'highlight', node }); },
        needSnapshot: () => resync(cid, false),
        maxHeight: () => Math.max(180, window.innerHeight - 200),
      });
      if (s.events && s.events.length) viewer.add(s.events);
      else resync(cid, false);
    }
  }

  // ---- wiring ---------------------------------------------------------------------------

  window.ChatCobrowse = {
    /** @param {object} context {socket(), visitorName(cid), notice(text)} */
    init(context) {
      ctx = context;
      $('cobrowse-btn').addEventListener('click', ask);
      $('cb-stop').addEventListener('click', stop);
      $('cb-resync').addEventListener('click', () => {
        if (!shownCid) return;
        session(shownCid).lastResync = 0;
        resync(shownCid, false);
        $('cb-resync').disabled = true;
        setTimeout(() => { $('cb-resync').disabled = false; }, RESYNC_GAP_MS);
      });
      $('cb-dismiss').addEventListener('click', () => {
        if (!shownCid) return;
        session(shownCid).state = 'none';
        render();
        $('cobrowse-btn').focus();
      });
    },
    frame,
    show,
    /** The chat is closed or gone: its co-browse is over (the server ends it too). */
    over(cid) {
      const s = sessions.get(cid);
      if (!s) return;
      if (s.state === 'active' || s.state === 'pending') { s.state = 'ended'; s.by = 'system'; }
      s.events = null;
      if (cid === shownCid) render();
    },
    forget(cid) {
      sessions.delete(cid);
      if (cid === shownCid) { dropViewer(); render(); }
    },
    /** After a reconnect: what was active may have ended meanwhile, and frames were lost. */
    reconnected() {
      for (const [cid, s] of sessions) {
        if (s.state !== 'active') continue;
        s.lastResync = 0;
        resync(cid, true);
      }
      render();
    },
    reset() {
      dropViewer();
      sessions.clear();
      shownCid = null;
    },
    refresh: render,
  };
})();
