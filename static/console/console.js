/* Agent console: the waiting queue, the agent's chats, a transcript with a composer (replies,
 * internal notes, canned responses) and the visitor panel, over /ws/agent (PROTOCOL.md §4).
 *
 * Nothing is lost or shown twice across reloads and dropped connections: messages are kept
 * by seq (a seq already held is ignored), unacknowledged sends wait in an outbox (kept in
 * localStorage) and are retried with their original cmid after every reconnect, and every
 * chat is synced from its last seq when the socket comes back. */
(function () {
  'use strict';

  const { h, externalLink, randomId, duration, clock } = window.ChatDom;
  const { row: messageRow, pendingRow } = window.ChatTranscript;
  const Alerts = window.ChatAlerts;
  const Canned = window.ChatCanned;
  const Cobrowse = window.ChatCobrowse;
  const $ = (id) => document.getElementById(id);

  /** chats: cid -> {id, conv, msgs (sorted by seq), seqs, lastSeq, readSeq, readSent, typing,
   *  closed, outbox: [{cmid, kind, text, inflight, error}], visitorRead, history}. */
  let me = null;
  let status = 'away';
  let sock = null;
  let waiting = [];
  let waitingAt = 0;
  const chats = new Map();
  let selected = null;
  let selectWhenAssigned = null;
  let noteMode = false;
  const knownAgents = new Map();  // id -> name, from transcripts: suggestions for a transfer
  let canned = null;

  // ---- persistence (per agent, this browser) ------------------------------------------

  const saved = {
    key(name) { return `chat:console:${me.id}:${name}`; },
    read(name) { try { return JSON.parse(localStorage.getItem(this.key(name))) || {}; } catch (e) { return {}; } },
    write(name, value) {
      try { localStorage.setItem(this.key(name), JSON.stringify(value)); } catch (e) { /* full: memory only */ }
    },
  };

  function persistOutbox() {
    const all = {};
    for (const chat of chats.values()) {
      const items = chat.outbox.filter((o) => !o.error).map((o) => ({ cmid: o.cmid, kind: o.kind, text: o.text }));
      if (items.length) all[chat.id] = items;
    }
    saved.write('outbox', all);
  }

  function persistDrafts() {
    const all = {};
    for (const chat of chats.values()) if (chat.draft && !chat.closed) all[chat.id] = chat.draft;
    saved.write('drafts', all);
  }

  function persistRead() {
    const all = {};
    const seen = {};
    for (const chat of chats.values()) {
      if (chat.closed) continue;
      if (chat.readSeq) all[chat.id] = chat.readSeq;
      if (chat.visitorRead) seen[chat.id] = chat.visitorRead;
    }
    saved.write('read', all);
    saved.write('seen', seen);
  }

  // ---- chats and messages -------------------------------------------------------------

  function visitorName(conv) {
    const v = conv.visitor || {};
    return v.name || 'Visitor ' + String(v.id || conv.id).slice(-4);
  }

  function upsertChat(conv) {
    let chat = chats.get(conv.id);
    if (!chat) {
      const outbox = (saved.read('outbox')[conv.id] || []).map((o) => Object.assign({ inflight: false, error: null }, o));
      chat = {
        id: conv.id, conv, msgs: [], seqs: new Set(), lastSeq: 0, typing: null, closed: null, outbox,
        draft: saved.read('drafts')[conv.id] || '', readSeq: saved.read('read')[conv.id] || 0, readSent: 0,
        visitorRead: saved.read('seen')[conv.id] || 0, history: null,
      };
      chats.set(conv.id, chat);
    } else {
      chat.conv = conv;
      if (conv.state !== 'closed' && chat.closed && chat.closed.reason === 'reassigned') chat.closed = null;
    }
    if (conv.state === 'closed' && !chat.closed) chat.closed = conv.closed || { by: 'system' };
    return chat;
  }

  function unreadOf(chat) {
    let n = 0;
    for (let i = chat.msgs.length - 1; i >= 0 && chat.msgs[i].seq > chat.readSeq; i--) {
      const m = chat.msgs[i];
      if (m.kind === 'text' && m.from && m.from.role === 'visitor') n++;
    }
    return n;
  }

  /** Add a stored message once (dedupe by seq); a `live` one (a `msg` event) may alert. */
  function addMessage(chat, m, live) {
    if (chat.seqs.has(m.seq)) return;
    chat.seqs.add(m.seq);
    if (m.from && m.from.role === 'agent' && m.from.id && m.from.id !== me.id) knownAgents.set(m.from.id, m.from.name);
    const item = m.cmid && chat.outbox.find((o) => o.cmid === m.cmid);
    if (item) {
      chat.outbox.splice(chat.outbox.indexOf(item), 1);
      persistOutbox();
    }
    const at = chat.msgs.length && chat.msgs[chat.msgs.length - 1].seq > m.seq
      ? chat.msgs.findIndex((x) => x.seq > m.seq) : chat.msgs.length;
    chat.msgs.splice(at, 0, m);
    chat.lastSeq = Math.max(chat.lastSeq, m.seq);
    const fromVisitor = m.from && m.from.role === 'visitor';
    if (fromVisitor) chat.typing = null;
    if (live && fromVisitor && m.kind === 'text' && (document.hidden || chat.id !== selected)) {
      Alerts.notify(`${visitorName(chat.conv)} wrote`, m.text.slice(0, 140), 'msg-' + chat.id, () => select(chat.id));
    }
    if (chat.id === selected) {
      if (item || at < chat.msgs.length - 1) renderTranscript();
      else appendRow(messageRow(m, visitorName(chat.conv)));
      renderTyping();
      scheduleRead();
    }
    renderChats();
  }

  async function syncChat(chat) {
    for (;;) {
      const before = chat.lastSeq;
      const r = await sock.request('sync', { cid: chat.id, after: chat.lastSeq });
      for (const m of r.messages || []) addMessage(chat, m);
      if (!r.more || chat.lastSeq === before) return;
    }
  }

  function removeChat(cid) {
    const chat = chats.get(cid);
    if (!chat) return;
    chats.delete(cid);
    Cobrowse.forget(cid);
    persistOutbox();
    persistDrafts();
    persistRead();
    if (selected === cid) select(firstChat());
    renderChats();
  }

  function firstChat() {
    const all = ordered();
    const open = all.find((c) => !c.closed) || all[0];
    return open ? open.id : null;
  }

  function select(cid, { focus = true } = {}) {
    const prev = chats.get(selected);
    if (prev && prev.id !== cid) {
      prev.draft = $('input').value;
      persistDrafts();
      stopTyping(prev);
    }
    selected = cid;
    sessionStorage.setItem('chat:console:selected', cid || '');
    const chat = chats.get(cid);
    if (chat) {
      $('input').value = chat.draft;
      scheduleRead();
      loadHistory(chat);
    }
    if (canned) canned.close();
    renderChats();
    renderSelected();
    if (chat && !chat.closed && focus) $('input').focus();
  }

  /** Chats in the order they started: a reload or a reconnect does not reshuffle them. */
  function ordered() {
    return [...chats.values()].sort((a, b) => (a.conv.created || 0) - (b.conv.created || 0));
  }

  function moveSelection(step) {
    const ids = ordered().map((c) => c.id);
    if (!ids.length) return;
    const i = ids.indexOf(selected);
    select(ids[(i + step + ids.length) % ids.length]);
  }

  // ---- sending ------------------------------------------------------------------------

  function submit() {
    const chat = chats.get(selected);
    const text = $('input').value.trim();
    if (!chat || chat.closed || !text) return;
    const item = { cmid: randomId(), kind: noteMode ? 'note' : 'msg', text, inflight: false, error: null };
    chat.outbox.push(item);
    persistOutbox();
    $('input').value = '';
    chat.draft = '';
    persistDrafts();
    stopTyping(chat);
    renderTranscript(true);
    sendItem(chat, item);
  }

  function sendItem(chat, item) {
    if (!sock || !sock.ready) { renderPending(chat); return; }  // sent after the reconnect
    item.inflight = true;
    sock.request(item.kind, { cid: chat.id, text: item.text, cmid: item.cmid }).then((ok) => {
      item.inflight = false;
      addMessage(chat, {
        cid: chat.id, seq: ok.seq, ts: ok.ts, kind: item.kind === 'note' ? 'note' : 'text',
        from: { role: 'agent', id: me.id, name: me.name }, text: item.text, cmid: item.cmid,
      });
    }, (err) => {
      item.inflight = false;
      if (err.code === 'offline') { renderPending(chat); return; }  // retried with the same cmid
      if (err.code === 'rate_limited' || err.code === 'unavailable') {
        setTimeout(() => flushOutbox(chat), 3000);
        return;
      }
      item.error = err.code === 'closed' ? 'Not sent: the chat is closed.'
        : err.code === 'forbidden' ? 'Not sent: this chat is no longer yours.'
          : 'Not sent: ' + (err.message || err.code);
      persistOutbox();
      renderPending(chat);
    });
  }

  function flushOutbox(chat) {
    for (const item of chat.outbox) if (!item.inflight && !item.error) sendItem(chat, item);
  }

  function renderPending(chat) {
    if (chat.id === selected) renderTranscript();
  }

  let typingChat = null;
  let typingSentAt = 0;
  let typingIdle = null;

  function onInput() {
    const chat = chats.get(selected);
    if (!chat) return;
    chat.draft = $('input').value;
    persistDraftsSoon();
    if (chat.closed || noteMode) return;
    const value = $('input').value;
    if (!value.trim() || value.startsWith('/')) { stopTyping(chat); return; }
    clearTimeout(typingIdle);
    typingIdle = setTimeout(() => stopTyping(chat), 4000);
    if (typingChat === chat && Date.now() - typingSentAt < 2500) return;
    if (sock && sock.send('typing', { cid: chat.id, on: true })) {
      typingChat = chat;
      typingSentAt = Date.now();
    }
  }

  let draftTimer = null;
  function persistDraftsSoon() {
    clearTimeout(draftTimer);
    draftTimer = setTimeout(persistDrafts, 500);
  }

  function stopTyping(chat) {
    clearTimeout(typingIdle);
    if (typingChat !== chat) return;
    if (sock) sock.send('typing', { cid: chat.id, on: false });
    typingChat = null;
  }

  let readTimer = null;
  function scheduleRead() {
    clearTimeout(readTimer);
    readTimer = setTimeout(() => {
      const chat = chats.get(selected);
      if (!chat || document.hidden) return;
      if (chat.lastSeq > chat.readSeq) {
        chat.readSeq = chat.lastSeq;
        persistRead();
        renderChats();
      }
      if (chat.closed || chat.lastSeq <= chat.readSent) return;
      if (sock && sock.send('read', { cid: chat.id, seq: chat.lastSeq })) chat.readSent = chat.lastSeq;
    }, 300);
  }

  // ---- actions ------------------------------------------------------------------------

  function claim(cid, button) {
    if (button) button.disabled = true;
    selectWhenAssigned = cid;
    sock.request('claim', { cid }).then((ok) => {
      waiting = waiting.filter((w) => w.cid !== cid);
      renderWaiting();
      if (ok.conversation) assigned(ok.conversation, [], { mine: true });
    }, (err) => {
      if (button) button.disabled = false;
      selectWhenAssigned = null;
      notice(err.code === 'conflict' ? `Could not claim this chat: ${err.message || 'someone else took it'}.`
        : 'Could not claim: ' + (err.message || err.code));
    });
  }

  function assigned(conv, messages, { mine = false } = {}) {
    const isNew = !chats.has(conv.id) || !!chats.get(conv.id).closed;
    if (waiting.some((w) => w.cid === conv.id)) {  // the next `queue` event would say so too
      waiting = waiting.filter((w) => w.cid !== conv.id);
      renderWaiting();
    }
    const chat = upsertChat(conv);
    for (const m of messages) addMessage(chat, m);
    const wanted = selectWhenAssigned === conv.id;
    const current = chats.get(selected);
    if (!current || wanted || (current.closed && current !== chat)) {
      selectWhenAssigned = null;
      select(conv.id, { focus: wanted || !selected });
    }
    renderChats();
    if (chat.lastSeq < (conv.last_seq || 0)) syncChat(chat).then(() => flushOutbox(chat), () => {});
    if (isNew && !mine && !wanted) {
      const first = messages.find((m) => m.from && m.from.role === 'visitor');
      Alerts.notify(`New chat: ${visitorName(conv)}`, first ? first.text.slice(0, 140) : 'A visitor is waiting for you.',
        'chat-' + conv.id, () => select(conv.id));
      notice(`New chat with ${visitorName(conv)}.`);
    }
  }

  function closeChat(resolved) {
    const chat = chats.get(selected);
    if (!chat || chat.closed) return;
    sock.request('close', { cid: chat.id, resolved }).then(() => {
      if (!chat.closed) chat.closed = { by: 'agent', reason: resolved ? 'resolved' : 'unresolved' };
      stopTyping(chat);
      chat.typing = null;
      renderSelected();
      renderChats();
      persistDrafts();
      $('dismiss-btn').focus();
    }, (err) => notice('Could not close: ' + (err.message || err.code)));
  }

  function toggleStatus() {
    const next = status === 'online' ? 'away' : 'online';
    if (next === 'online') Alerts.ask();  // a user gesture: the moment to ask for notifications
    $('status-btn').disabled = true;
    sock.request('status', { state: next }).then(() => {
      status = next;
      renderTopbar();
    }, (err) => notice('Could not change status: ' + (err.message || err.code)))
      .finally(() => { $('status-btn').disabled = false; });
  }

  let noticeTimer = null;
  function notice(text) {
    const el = $('notice');
    el.textContent = text;
    el.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => { el.hidden = true; }, 4000);
  }

  function setNoteMode(on) {
    noteMode = on;
    $('note-btn').setAttribute('aria-pressed', String(noteMode));
    $('composer').classList.toggle('note-mode', noteMode);
    $('input').setAttribute('aria-label', noteMode ? 'Internal note' : 'Reply');
    $('input').placeholder = noteMode ? 'Internal note: only agents see it (Alt+N to reply instead)'
      : 'Reply to the visitor… (Enter to send, / for canned responses)';
    $('mode-hint').textContent = noteMode ? 'Writing an internal note: the visitor will not see it' : 'Replying to the visitor';
    if (noteMode) { const chat = chats.get(selected); if (chat) stopTyping(chat); }
    $('input').focus();
  }

  // ---- transfer -----------------------------------------------------------------------

  async function openTransfer() {
    const chat = chats.get(selected);
    if (!chat || chat.closed) return;
    const dialog = $('transfer-dialog');
    const pick = $('transfer-pick');
    $('transfer-error').hidden = true;
    $('transfer-topic').value = chat.conv.topic || '';
    pick.replaceChildren(h('p', { class: 'muted', text: 'Loading the team…' }));
    dialog.showModal();
    let team = null;
    if (me.role === 'supervisor') {
      try {
        const res = await fetch('/api/agents');
        if (res.ok) team = (await res.json()).agents || [];
      } catch (e) { /* fall back to typing an id */ }
    }
    if (team) {
      const others = team.filter((a) => a.id !== me.id && a.max_chats > 0);
      const select = h('select', { id: 'transfer-to', name: 'to', required: true },
        ...others.map((a) => h('option', {
          value: a.id, disabled: !a.connected,
          text: `${a.name} — ${a.connected ? a.status : 'not connected'} · ${a.active}/${a.max_chats} chats`,
        })));
      const firstFree = others.find((a) => a.connected && a.active < a.max_chats);
      if (firstFree) select.value = firstFree.id;
      pick.replaceChildren(h('label', { class: 'stack' }, 'Agent', select));
      if (!others.length) pick.replaceChildren(h('p', { class: 'muted', text: 'Nobody else on the team can take chats.' }));
      select.focus();
    } else {
      const options = h('datalist', { id: 'known-agents' },
        ...[...knownAgents].map(([id, name]) => h('option', { value: id, text: name })));
      const field = h('input', {
        id: 'transfer-to', name: 'to', list: 'known-agents', required: true, autocomplete: 'off',
        placeholder: 'a_…', pattern: 'a_.+', spellcheck: 'false',
      });
      pick.replaceChildren(h('label', { class: 'stack' }, 'Agent id', field), options,
        h('p', { class: 'muted small', text: 'The agent must be connected. Agents find their id by hovering their name in the console\'s top bar.' }));
      field.focus();
    }
  }

  function transferError(text) {
    $('transfer-error').textContent = text;
    $('transfer-error').hidden = false;
  }

  function doTransfer(to, topic) {
    const chat = chats.get(selected);
    if (!chat || chat.closed) { $('transfer-dialog').close(); return; }
    const fields = { cid: chat.id };
    if (to) fields.to = to;
    else if (topic) fields.topic = topic;
    chat.leaving = true;
    sock.request('transfer', fields).then((ok) => {
      $('transfer-dialog').close();
      removeChat(chat.id);
      const name = to && ok.conversation && ok.conversation.agent ? ok.conversation.agent.name : null;
      notice(name ? `Transferred to ${name}.` : 'The chat is back in the queue.');
    }, (err) => {
      chat.leaving = false;
      transferError(err.code === 'not_found' ? 'There is no agent with that id.'
        : err.code === 'offline' ? 'You are offline: try again once reconnected.'
          : err.message || err.code);
    });
  }

  // ---- previous conversations of the visitor ------------------------------------------

  async function loadHistory(chat) {
    const vid = chat.conv.visitor && chat.conv.visitor.id;
    if (!vid || chat.history) return;
    chat.history = { loading: true, list: [] };
    try {
      const res = await fetch('/api/conversations?limit=20&visitor=' + encodeURIComponent(vid));
      if (!res.ok) { chat.history = { error: res.status === 403 ? 'Not available once the chat is no longer yours.' : `Error ${res.status}` }; }
      else {
        const body = await res.json();
        chat.history = { list: (body.conversations || []).filter((c) => c.id !== chat.id) };
      }
    } catch (e) {
      chat.history = null;  // try again next time
      return;
    }
    if (chat.id === selected) renderVisitor();
  }

  async function openPastConversation(conv) {
    const dialog = $('history-dialog');
    const box = $('history-transcript');
    $('history-meta').textContent = `${new Date(conv.created).toLocaleString()} · ${pastState(conv)}` +
      (conv.agent ? ` · ${conv.agent.name}` : '');
    box.replaceChildren(h('p', { class: 'muted', text: 'Loading…' }));
    dialog.showModal();
    let res;
    try { res = await fetch('/api/conversations/' + encodeURIComponent(conv.id)); } catch (e) { res = null; }
    if (!res || !res.ok) {
      box.replaceChildren(h('p', { class: 'muted', text: res && res.status === 403
        ? 'Only a supervisor or the agent who handled this conversation can read it.'
        : 'The conversation could not be loaded.' }));
      return;
    }
    const body = await res.json();
    const name = visitorName(body.conversation);
    box.replaceChildren(...(body.messages || []).map((m) => messageRow(m, name)));
    if (body.rating) {
      const r = body.rating;
      const parts = [r.csat != null && `CSAT ${r.csat}/5`, r.nps != null && `NPS ${r.nps}/10`, r.ces != null && `CES ${r.ces}/7`].filter(Boolean);
      box.append(h('div', { class: 'm event', text: 'Rating: ' + parts.join(' · ') + (r.comment ? ` — “${r.comment}”` : '') }));
    }
  }

  function pastState(c) {
    if (c.state !== 'closed') return c.state;
    const reason = c.closed && c.closed.reason;
    return { resolved: 'resolved', unresolved: 'closed unresolved', visitor_closed: 'ended by the visitor', visitor_left: 'visitor left' }[reason] || 'closed';
  }

  // ---- server frames ------------------------------------------------------------------

  function onReady(ok, again) {
    const first = !me || me.id !== ok.agent.id || !canned;
    me = ok.agent;
    if (first) {
      Canned.load(me.id);
      canned = canned || Canned.attach($('input'), $('canned-popup'));
    }
    status = ok.status || 'away';
    waiting = ok.waiting || [];
    waitingAt = Date.now();
    const mine = new Set();
    for (const conv of ok.conversations || []) {
      const isNew = again && !chats.has(conv.id);
      mine.add(conv.id);
      upsertChat(conv);
      if (isNew) Alerts.notify(`New chat: ${visitorName(conv)}`, 'Assigned to you while you were disconnected.', 'chat-' + conv.id);
    }
    for (const chat of chats.values()) {
      if (!mine.has(chat.id) && !chat.closed) {
        chat.closed = { by: 'system', reason: 'reassigned' };
        for (const item of chat.outbox) item.error = item.error || 'Not sent: this chat is no longer yours.';
        whatBecameOf(chat);
      }
    }
    for (const chat of chats.values()) {
      if (!mine.has(chat.id)) continue;
      syncChat(chat).then(() => flushOutbox(chat), () => {});
    }
    if (!selected || !chats.has(selected)) {
      const wanted = sessionStorage.getItem('chat:console:selected');
      select(chats.has(wanted) ? wanted : firstChat(), { focus: false });
    }
    renderTopbar();
    renderWaiting();
    renderChats();
    renderSelected();
    if (again) Cobrowse.reconnected();
  }

  /** A chat that left us while we were disconnected: closed, or moved to someone else? */
  async function whatBecameOf(chat) {
    let res;
    try { res = await fetch('/api/conversations/' + encodeURIComponent(chat.id)); } catch (e) { return; }
    if (!res.ok || !chats.has(chat.id)) return;
    const body = await res.json();
    chat.conv = body.conversation || chat.conv;
    if (chat.conv.state === 'closed') chat.closed = chat.conv.closed || { by: 'system' };
    for (const m of body.messages || []) addMessage(chat, m);
    renderChats();
    if (chat.id === selected) renderSelected();
  }

  function onEvent(f) {
    const chat = f.cid ? chats.get(f.cid) : null;
    switch (f.t) {
      case 'msg':
        if (chat) addMessage(chat, f, true);
        break;
      case 'assigned':
        assigned(f.conversation, f.messages || []);
        break;
      case 'queue':
        waiting = f.waiting || [];
        waitingAt = Date.now();
        renderWaiting();
        break;
      case 'typing':
        if (!chat || f.by === 'agent') break;  // our own other tab, or a watching supervisor
        clearTimeout(chat.typingTimer);
        chat.typing = f.on ? { preview: f.preview || '' } : null;
        if (f.on) chat.typingTimer = setTimeout(() => { chat.typing = null; renderTyping(); }, 12000);
        renderTyping();
        break;
      case 'read':
        if (!chat || f.by !== 'visitor') break;
        chat.visitorRead = Math.max(chat.visitorRead, f.seq);
        persistRead();
        if (chat.id === selected) renderSeen();
        break;
      case 'visitor_page':
        if (!chat) break;
        chat.conv.visitor = Object.assign({}, chat.conv.visitor, { page: { url: f.url, title: f.title } });
        if (chat.id === selected) renderVisitor();
        break;
      case 'closed':
        if (!chat) break;
        chat.closed = { by: f.by, reason: f.reason };
        chat.typing = null;
        Cobrowse.over(chat.id);
        renderChats();
        if (chat.id === selected) renderSelected();
        break;
      case 'unassigned':
        if (!chat) break;
        removeChat(chat.id);
        if (!chat.leaving) {
          notice(f.reason === 'agent_left'
            ? `The chat with ${visitorName(chat.conv)} went back to the queue while you were away.`
            : `The chat with ${visitorName(chat.conv)} was transferred away from you.`);
        }
        break;
      case 'status':  // changed in another tab
        status = f.state;
        renderTopbar();
        break;
      case 'cobrowse':
        Cobrowse.frame(f);
        break;
      default:  // stats: not shown in this console
    }
  }

  function onConnState(state) {
    const el = $('conn');
    el.hidden = state === 'online' || state === 'stopped';
    el.textContent = { connecting: 'Connecting…', offline: 'You are offline: waiting for the network. What you send will go out once you are back.' }[state] ||
      'Connection lost: reconnecting… What you send will go out once we are back.';
    el.dataset.state = state;
    document.body.dataset.conn = state;
    for (const chat of chats.values()) for (const item of chat.outbox) item.waiting = state !== 'online';
    if (selected) renderTranscript();
    Cobrowse.refresh();
  }

  // ---- rendering ----------------------------------------------------------------------

  function renderTopbar() {
    $('me-name').textContent = me ? me.name : '';
    $('me-name').title = me ? `Signed in as ${me.name} (${me.role}). Your agent id: ${me.id}` : '';
    const online = status === 'online';
    const btn = $('status-btn');
    btn.textContent = online ? 'Online' : 'Away';
    btn.setAttribute('aria-pressed', String(online));
    btn.setAttribute('aria-label', online ? 'Online: you get new chats. Switch to away'
      : 'Away: you get no new chats. Switch to online');
    btn.title = online ? 'You get new chats. Click to go away.' : 'You get no new chats. Click to go online.';
    btn.classList.toggle('online', online);
    $('away-hint').hidden = online;
    renderAlerts();
  }

  function renderAlerts() {
    const btn = $('alerts-btn');
    const on = Alerts.enabled;
    const perm = Alerts.permission();
    btn.replaceChildren(window.ChatDom.icon(on ? 'bell' : 'bellOff'), document.createTextNode(on ? 'Alerts on' : 'Alerts off'));
    btn.setAttribute('aria-pressed', String(on));
    btn.title = !on ? 'No sound or desktop notification for new chats. Click to turn them on.'
      : perm === 'granted' ? 'A sound and a desktop notification for new chats. Click to turn them off.'
        : perm === 'denied' ? 'Sound only: desktop notifications are blocked in the browser settings.'
          : 'A sound for new chats; click again to allow desktop notifications too.';
  }

  function renderWaiting() {
    const list = $('waiting');
    const focused = list.contains(document.activeElement) ? document.activeElement.dataset.cid : null;
    list.replaceChildren(...waiting.map((w, i) => h('li', { class: 'waiting-item' + (i === longestWaiting() ? ' longest' : '') },
      h('div', { class: 'row' },
        h('strong', { text: (w.visitor && w.visitor.name) || 'Visitor' }),
        h('span', { class: 'muted waited', 'data-waited': w.waited_s || 0 })),
      w.topic ? h('div', { class: 'topic', text: w.topic }) : null,
      h('div', { class: 'preview', text: w.preview || '' }),
      h('button', { type: 'button', class: 'primary', text: 'Claim', 'data-cid': w.cid,
        'aria-label': 'Claim chat with ' + ((w.visitor && w.visitor.name) || 'visitor'),
        onclick: (e) => claim(w.cid, e.currentTarget) }))));
    if (!waiting.length) list.append(h('li', { class: 'empty', text: 'Nobody is waiting.' }));
    $('waiting-count').textContent = waiting.length ? String(waiting.length) : '';
    updateWaited();
    // queue events rebuild the list up to twice a second: keep the keyboard user's place
    const again = focused && [...list.querySelectorAll('button')].find((b) => b.dataset.cid === focused);
    if (again) again.focus();
  }

  function longestWaiting() {
    let best = -1;
    waiting.forEach((w, i) => { if (best < 0 || (w.waited_s || 0) > (waiting[best].waited_s || 0)) best = i; });
    return waiting.length > 1 ? best : -1;
  }

  function updateWaited() {
    const elapsed = (Date.now() - waitingAt) / 1000;
    for (const el of $('waiting').querySelectorAll('.waited')) el.textContent = duration(+el.dataset.waited + elapsed);
  }

  function renderChats() {
    const list = $('chats');
    const focusedCid = list.contains(document.activeElement) ? document.activeElement.dataset.cid : null;
    let unread = 0;
    let open = 0;
    list.replaceChildren(...ordered().map((chat) => {
      const n = chat.id === selected && !document.hidden ? 0 : unreadOf(chat);
      unread += n;
      if (!chat.closed) open++;
      const last = chat.msgs.slice().reverse().find((m) => m.kind !== 'event') || chat.msgs[chat.msgs.length - 1];
      const preview = chat.typing ? 'typing…' : last ? (last.kind === 'note' ? 'Note: ' : '') + last.text : '';
      return h('li', {}, h('button', {
        type: 'button', class: 'chat-item' + (chat.closed ? ' closed' : '') + (n ? ' has-unread' : ''), 'data-cid': chat.id,
        'aria-current': chat.id === selected ? 'true' : null, onclick: () => select(chat.id),
      },
      h('span', { class: 'row' },
        h('strong', { text: visitorName(chat.conv) }),
        n ? h('span', { class: 'unread', text: String(n), 'aria-label': n + ' unread' })
          : chat.closed ? h('span', { class: 'muted small', text: 'closed' })
            : last ? h('span', { class: 'muted small', text: clock(last.ts) }) : null),
      h('span', { class: 'preview' + (chat.typing ? ' is-typing' : ''), text: preview })));
    }));
    if (!chats.size) list.append(h('li', { class: 'empty', text: 'No chats yet.' }));
    $('chats-count').textContent = open ? `${open}${me && me.max_chats ? '/' + me.max_chats : ''}` : '';
    document.title = (unread ? `(${unread}) ` : '') + 'Console · Live chat';
    if (focusedCid) {
      const again = list.querySelector(`button[data-cid="${CSS.escape(focusedCid)}"]`);
      if (again) again.focus();
    }
  }

  function renderSelected() {
    const chat = chats.get(selected);
    $('no-chat').hidden = !!chat;
    $('chat-view').hidden = !chat;
    $('visitor-panel').hidden = !chat;
    $('no-chat-hint').textContent = status === 'online'
      ? 'You are online: new chats will open here. You can also claim a waiting visitor.'
      : 'Claim a waiting visitor, or go online to get chats automatically.';
    Cobrowse.show(chat ? chat.id : null, chat ? !!chat.closed : false);
    if (!chat) return;
    $('chat-title').textContent = visitorName(chat.conv);
    const state = chat.closed ? 'closed' : chat.conv.state || 'active';
    $('chat-state').textContent = state;
    $('chat-state').dataset.state = state;
    const closed = !!chat.closed;
    $('closed-bar').hidden = !closed;
    $('closed-text').textContent = closed ? closedText(chat.closed) : '';
    for (const id of ['input', 'send-btn', 'note-btn', 'resolve-btn', 'unresolved-btn', 'requeue-btn', 'transfer-btn']) {
      $(id).disabled = closed;
    }
    renderTranscript(true);
    renderTyping();
    renderVisitor();
  }

  function closedText(c) {
    if (c.reason === 'reassigned') return 'This chat is no longer assigned to you.';
    if (c.reason === 'visitor_left') return 'Closed: the visitor left.';
    if (c.by === 'visitor') return 'The visitor ended the chat.';
    if (c.by === 'agent') return 'Chat closed' + (c.reason === 'resolved' ? ' as resolved.' : ' as unresolved.');
    return 'Chat closed.';
  }

  function appendRow(row) {
    const box = $('transcript');
    const stick = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
    for (const placeholder of box.querySelectorAll(':scope > .empty')) placeholder.remove();
    box.insertBefore(row, box.querySelector('.pending'));
    renderSeen();
    if (stick) box.scrollTop = box.scrollHeight;
  }

  function renderTranscript(forceScroll) {
    const chat = chats.get(selected);
    const box = $('transcript');
    if (!chat) { box.replaceChildren(); return; }
    const stick = forceScroll || box.dataset.cid !== chat.id || box.scrollHeight - box.scrollTop - box.clientHeight < 80;
    box.dataset.cid = chat.id;
    const name = visitorName(chat.conv);
    const waitingNet = !sock || !sock.ready;
    box.replaceChildren(...chat.msgs.map((m) => messageRow(m, name)),
      ...chat.outbox.map((item) => pendingRow(Object.assign({}, item, { waiting: waitingNet && !item.error }))));
    if (!chat.msgs.length && !chat.outbox.length) box.append(h('p', { class: 'empty', text: 'Loading the conversation…' }));
    renderSeen();
    if (stick) box.scrollTop = box.scrollHeight;
  }

  /** "Seen" under the last agent message the visitor has read. */
  function renderSeen() {
    const chat = chats.get(selected);
    const box = $('transcript');
    const old = box.querySelector('.seen');
    if (old) old.remove();
    if (!chat || !chat.visitorRead) return;
    const rows = [...box.querySelectorAll('.m.agent:not(.pending)')].filter((r) => +r.dataset.seq <= chat.visitorRead);
    const last = rows[rows.length - 1];
    if (last) last.querySelector('.meta').append(h('span', { class: 'seen', text: 'Seen' }));
  }

  function renderTyping() {
    const chat = chats.get(selected);
    const el = $('typing');
    el.replaceChildren();
    if (!chat || !chat.typing) return;
    el.append(h('span', { class: 'dots', 'aria-hidden': 'true' }, h('i'), h('i'), h('i')),
      h('span', { text: visitorName(chat.conv) + ' is typing' + (chat.typing.preview ? ': ' : '…') }));
    if (chat.typing.preview) el.append(h('q', { text: chat.typing.preview }));
  }

  function renderVisitor() {
    const chat = chats.get(selected);
    if (!chat) return;
    const conv = chat.conv;
    const v = conv.visitor || {};
    $('v-name').textContent = visitorName(conv);
    $('v-email').replaceChildren(v.email ? h('a', { href: 'mailto:' + v.email, text: v.email }) : '—');
    $('v-page').replaceChildren(...(v.page && v.page.url
      ? [externalLink(v.page.url, v.page.title || v.page.url), h('div', { class: 'url', text: v.page.url })]
      : ['—']));
    $('v-topic').textContent = conv.topic || '—';
    $('v-started').textContent = conv.created ? new Date(conv.created).toLocaleString() : '—';
    const hist = $('v-history');
    const state = chat.history;
    if (!state || state.loading) hist.replaceChildren(h('li', { class: 'muted', text: 'Loading…' }));
    else if (state.error) hist.replaceChildren(h('li', { class: 'muted', text: state.error }));
    else if (!state.list.length) hist.replaceChildren(h('li', { class: 'muted', text: 'None: this is the first conversation.' }));
    else {
      hist.replaceChildren(...state.list.map((c) => h('li', {},
        h('button', { type: 'button', class: 'history-item', onclick: () => openPastConversation(c) },
          h('span', { class: 'row' }, h('strong', { text: new Date(c.created).toLocaleDateString() }),
            h('span', { class: 'muted small', text: pastState(c) })),
          h('span', { class: 'muted small', text: [c.agent && c.agent.name, c.topic, `${c.last_seq} messages`].filter(Boolean).join(' · ') })))));
    }
  }

  // ---- wiring -------------------------------------------------------------------------

  function start(agent) {
    me = agent;
    renderTopbar();
    renderChats();
    renderWaiting();
    renderSelected();
    sock = new window.ChatSocket('/ws/agent', {
      ready: onReady,
      event: onEvent,
      state: onConnState,
      authFailed: () => { reset(); window.ChatAuth.showLogin('Your session has ended, please sign in again.'); },
    });
    sock.start();
  }

  function reset() {
    if (sock) sock.stop();
    sock = null;
    chats.clear();
    waiting = [];
    selected = null;
    Cobrowse.reset();
  }

  $('composer').addEventListener('submit', (e) => { e.preventDefault(); submit(); });
  // the canned list's keys are handled first (it is attached when the agent is known);
  // this handler sees Enter only when the list did not take it
  $('input').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && !(canned && canned.isOpen())) {
      e.preventDefault();
      submit();
    }
  });
  $('input').addEventListener('input', onInput);
  $('note-btn').addEventListener('click', () => setNoteMode(!noteMode));
  $('status-btn').addEventListener('click', toggleStatus);
  $('alerts-btn').addEventListener('click', () => Alerts.setEnabled(!Alerts.enabled));
  Alerts.onChange(renderAlerts);
  $('logout-btn').addEventListener('click', () => { reset(); window.ChatAuth.logout(); });
  $('resolve-btn').addEventListener('click', () => closeChat(true));
  $('unresolved-btn').addEventListener('click', () => closeChat(false));
  $('requeue-btn').addEventListener('click', () => doTransfer(null, null));
  $('transfer-btn').addEventListener('click', openTransfer);
  $('transfer-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const field = $('transfer-to');
    const to = field && field.value.trim();
    if (!to) { transferError('Choose an agent first.'); if (field) field.focus(); return; }
    doTransfer(to, null);
  });
  $('transfer-queue').addEventListener('click', () => doTransfer(null, $('transfer-topic').value.trim() || null));
  $('transfer-cancel').addEventListener('click', () => $('transfer-dialog').close());
  $('transfer-dialog').addEventListener('close', () => { if (!$('input').disabled) $('input').focus(); });
  $('canned-btn').addEventListener('click', () => Canned.openEditor($('canned-dialog'), () => $('input').focus()));
  $('dismiss-btn').addEventListener('click', () => removeChat(selected));
  document.addEventListener('keydown', (e) => {
    if (!me || !e.altKey || e.ctrlKey || e.metaKey || document.querySelector('dialog[open]')) return;
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      moveSelection(e.key === 'ArrowDown' ? 1 : -1);
    } else if (e.code === 'KeyN' && chats.get(selected) && !chats.get(selected).closed) {
      e.preventDefault();
      setNoteMode(!noteMode);
    } else if (e.code === 'KeyC' && waiting.length) {
      e.preventDefault();
      const oldest = waiting[Math.max(0, longestWaiting())];
      claim(oldest.cid, null);
    }
  });
  document.addEventListener('visibilitychange', () => {
    if (document.hidden) return;
    renderChats();
    scheduleRead();
  });
  window.addEventListener('pagehide', () => { const chat = chats.get(selected); if (chat) chat.draft = $('input').value; persistDrafts(); });
  setInterval(updateWaited, 5000);
  Cobrowse.init({
    socket: () => sock,
    visitorName: (cid) => { const chat = chats.get(cid); return chat ? visitorName(chat.conv) : 'The visitor'; },
    notice,
  });

  window.ChatAuth.init(start);
})();
