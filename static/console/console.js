/* Agent console: the waiting queue, the agent's chats, a transcript with a composer (replies,
 * internal notes, canned responses) and the visitor panel, over /ws/agent (PROTOCOL.md §4).
 *
 * Nothing is lost or shown twice across reloads and dropped connections: messages are kept
 * by seq (a seq already held is ignored), unacknowledged sends wait in an outbox (kept in
 * localStorage) and are retried with their original cmid after every reconnect, and every
 * chat is synced from its last seq when the socket comes back. Agents see every seq, so a
 * `msg` event that skips some means events were lost between server nodes: the chat is
 * synced from its last seq (ChatSeqSync: one sync in flight per chat). A `state` frame (the
 * server's bus was deaf for a while) says what the agent's chats, status and queue are now;
 * it is applied as the `assigned`, `unassigned`, `closed`, `status` and `queue` events that
 * may have been lost would have been.
 *
 * This file holds the state and what changes it; render.js draws it, outbox.js keeps and
 * sends what the agent writes, offline.js draws the offline messages, the site's hours, the
 * pre-chat answers and the auto-close snooze, files.js the composer's attachments (all
 * loaded before this file). */
(function () {
  'use strict';

  const { h } = window.ChatDom;
  const { row: messageRow } = window.ChatTranscript;
  const { visitorName, ordered, longestWaiting, pastState } = window.ChatRender;
  const { fileNames } = window.ChatFiles;
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
  /** Offline messages waiting to be picked up; null while the server sends none (older). */
  let pending = null;
  let pendingAt = 0;
  const chats = new Map();
  let selected = null;
  let selectWhenAssigned = null;
  let noteMode = false;
  const knownAgents = new Map();  // id -> name, from transcripts: suggestions for a transfer
  let canned = null;

  /** What render.js and outbox.js read of the state above. */
  const model = {
    get me() { return me; },
    get status() { return status; },
    get sock() { return sock; },
    get waiting() { return waiting; },
    get waitingAt() { return waitingAt; },
    get pending() { return pending; },
    get pendingAt() { return pendingAt; },
    get offline() { return pending !== null; },
    get selected() { return selected; },
    chats,
  };
  const offlineView = window.ChatOffline.create(model, {
    claim,
    notice,
    snooze: (cid, minutes) => (sock ? sock.request('snooze', { cid, minutes }) : Promise.reject({ code: 'offline' })),
  });
  const files = window.ChatComposerFiles.create({ chat: () => chats.get(selected) || null, noteMode: () => noteMode });
  const view = window.ChatRender.create(model, { select, claim, openPast: openPastConversation, offline: offlineView, files });
  const tagsView = window.ChatTags.create(model, { notice });  // issue 17: tags.js
  const syncs = new window.ChatSeqSync({
    request: (cid, after) => (sock ? sock.request('sync', { cid, after }) : Promise.reject({ code: 'offline' })),
    apply: (cid, messages) => {
      const chat = chats.get(cid);
      if (!chat) return false;
      for (const m of messages) addMessage(chat, m);
      return true;
    },
  });

  // ---- persistence (per agent, this browser) ------------------------------------------

  const saved = {
    key(name) { return `chat:console:${me.id}:${name}`; },
    read(name) { try { return JSON.parse(localStorage.getItem(this.key(name))) || {}; } catch (e) { return {}; } },
    write(name, value) {
      try { localStorage.setItem(this.key(name), JSON.stringify(value)); } catch (e) { /* full: memory only */ }
    },
  };

  const outbox = window.ChatOutbox.create({
    socket: () => sock,
    saved,
    chats: () => chats.values(),
    me: () => me,
    sent: (chat, message) => addMessage(chat, message),
    changed: (chat) => { if (chat.id === selected) view.transcript(); },
  });

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

  function upsertChat(conv) {
    let chat = chats.get(conv.id);
    if (!chat) {
      chat = {
        id: conv.id, conv, msgs: [], seqs: new Set(), lastSeq: 0, typing: null, closed: null, outbox: outbox.restore(conv.id),
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

  /** Add a stored message once (dedupe by seq); a `live` one (a `msg` event) may alert. */
  function addMessage(chat, m, live) {
    if (chat.seqs.has(m.seq)) return;
    chat.seqs.add(m.seq);
    if (m.from && m.from.role === 'agent' && m.from.id && m.from.id !== me.id && !m.from.bot) knownAgents.set(m.from.id, m.from.name);
    const item = m.cmid ? outbox.acknowledge(chat, m.cmid) : null;
    const at = chat.msgs.length && chat.msgs[chat.msgs.length - 1].seq > m.seq
      ? chat.msgs.findIndex((x) => x.seq > m.seq) : chat.msgs.length;
    chat.msgs.splice(at, 0, m);
    chat.lastSeq = Math.max(chat.lastSeq, m.seq);
    const fromVisitor = m.from && m.from.role === 'visitor';
    if (fromVisitor) chat.typing = null;
    if (live && fromVisitor && m.kind === 'text' && (document.hidden || chat.id !== selected)) {
      Alerts.notify(`${visitorName(chat.conv)} wrote`, (m.text || fileNames(m.files)).slice(0, 140), 'msg-' + chat.id, () => select(chat.id));
    }
    if (chat.id === selected) {
      if (item || at < chat.msgs.length - 1) view.transcript();
      else view.appendRow(messageRow(m, visitorName(chat.conv)));
      view.typing();
      scheduleRead();
    }
    view.chats();
  }

  /** Everything after the chat's last seq (paged); with one sync in flight, after it. */
  function syncChat(chat) {
    return syncs.fill(chat.id, chat.lastSeq);
  }

  function removeChat(cid) {
    const chat = chats.get(cid);
    if (!chat) return;
    chats.delete(cid);
    Cobrowse.forget(cid);
    files.forget(cid);
    outbox.persist();
    persistDrafts();
    persistRead();
    if (selected === cid) select(firstChat());
    view.chats();
  }

  function firstChat() {
    const all = ordered(chats);
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
    view.chats();
    view.selected();
    if (chat && !chat.closed && focus) $('input').focus();
  }

  function moveSelection(step) {
    const ids = ordered(chats).map((c) => c.id);
    if (!ids.length) return;
    const i = ids.indexOf(selected);
    select(ids[(i + step + ids.length) % ids.length]);
  }

  // ---- sending ------------------------------------------------------------------------

  function submit() {
    const chat = chats.get(selected);
    const text = $('input').value.trim();
    if (!chat || chat.closed) return;
    const refs = files.take(chat);  // null: not now (it says why)
    if (!refs || (!text && !refs.length)) return;
    const item = outbox.add(chat, noteMode ? 'note' : 'msg', text, refs);
    files.forget(chat.id);
    $('input').value = '';
    chat.draft = '';
    persistDrafts();
    stopTyping(chat);
    view.transcript(true);
    outbox.send(chat, item);
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
        view.chats();
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
      view.waiting();
      dropPending(cid);
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
      view.waiting();
    }
    dropPending(conv.id);
    const chat = upsertChat(conv);
    for (const m of messages) addMessage(chat, m);
    const wanted = selectWhenAssigned === conv.id;
    const current = chats.get(selected);
    if (!current || wanted || (current.closed && current !== chat)) {
      selectWhenAssigned = null;
      select(conv.id, { focus: wanted || !selected });
    }
    view.chats();
    if (chat.lastSeq < (conv.last_seq || 0)) syncChat(chat).then(() => outbox.flush(chat), () => {});
    if (isNew && !mine && !wanted) {
      const first = messages.find((m) => m.from && m.from.role === 'visitor');
      Alerts.notify(`New chat: ${visitorName(conv)}`, first ? first.text.slice(0, 140) : 'A visitor is waiting for you.',
        'chat-' + conv.id, () => select(conv.id));
      notice(`New chat with ${visitorName(conv)}.`);
    }
  }

  /** A pending conversation taken (by us or by someone else): the next `pending` event says so too. */
  function dropPending(cid) {
    if (!pending || !pending.some((p) => p.cid === cid)) return;
    pending = pending.filter((p) => p.cid !== cid);
    offlineView.pending();
  }

  function setPending(list) {
    if (!Array.isArray(list)) return;
    pending = list;
    pendingAt = Date.now();
    offlineView.pending();
  }

  function closeChat(resolved) {
    const chat = chats.get(selected);
    if (!chat || chat.closed) return;
    sock.request('close', { cid: chat.id, resolved }).then(() => {
      if (!chat.closed) chat.closed = { by: 'agent', reason: resolved ? 'resolved' : 'unresolved' };
      stopTyping(chat);
      chat.typing = null;
      view.selected();
      view.chats();
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
      view.topbar();
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
    files.show();
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
    $('transfer-note').value = '';
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
      const others = team.filter((a) => a.id !== me.id && a.max_chats > 0 && a.role !== 'bot');
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
    const note = $('transfer-dialog').open ? $('transfer-note').value.trim() : '';
    if (note) fields.note = note;  // issue 17: an internal note, in the transcript
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
    if (chat.id === selected) view.visitor();
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
    if (Array.isArray(ok.pending)) setPending(ok.pending);
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
        outbox.refuse(chat, 'Not sent: this chat is no longer yours.');
        whatBecameOf(chat);
      }
    }
    for (const chat of chats.values()) {
      if (!mine.has(chat.id)) continue;
      syncChat(chat).then(() => outbox.flush(chat), () => {});
    }
    if (!selected || !chats.has(selected)) {
      const wanted = sessionStorage.getItem('chat:console:selected');
      select(chats.has(wanted) ? wanted : firstChat(), { focus: false });
    }
    view.topbar();
    view.waiting();
    view.chats();
    view.selected();
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
    view.chats();
    if (chat.id === selected) view.selected();
  }

  function onEvent(f) {
    const chat = f.cid ? chats.get(f.cid) : null;
    switch (f.t) {
      case 'msg':
        if (chat) {
          const last = chat.lastSeq;
          addMessage(chat, f, true);
          syncs.seen(chat.id, f.seq, last);  // a jump: events were lost, fetch them
        }
        break;
      case 'assigned':
        assigned(f.conversation, f.messages || []);
        break;
      case 'queue':
        waiting = f.waiting || [];
        waitingAt = Date.now();
        view.waiting();
        break;
      case 'pending':
        setPending(f.pending || []);
        break;
      case 'typing':
        if (!chat || f.by === 'agent') break;  // our own other tab, or a watching supervisor
        clearTimeout(chat.typingTimer);
        chat.typing = f.on ? { preview: f.preview || '' } : null;
        if (f.on) chat.typingTimer = setTimeout(() => { chat.typing = null; view.typing(); }, 12000);
        view.typing();
        break;
      case 'read':
        if (!chat || f.by !== 'visitor') break;
        chat.visitorRead = Math.max(chat.visitorRead, f.seq);
        persistRead();
        if (chat.id === selected) view.seen();
        break;
      case 'visitor_page':
        if (!chat) break;
        chat.conv.visitor = Object.assign({}, chat.conv.visitor, { page: { url: f.url, title: f.title } });
        if (chat.id === selected) view.visitor();
        break;
      case 'closed':
        if (chat) chatClosed(chat, { by: f.by, reason: f.reason });
        break;
      case 'unassigned':
        if (chat) chatUnassigned(chat, f.reason);
        break;
      case 'status':  // changed in another tab
        status = f.state;
        view.topbar();
        break;
      case 'state':
        applyState(f);
        break;
      case 'cobrowse':
        Cobrowse.frame(f);
        break;
      case 'tagged':  // issue 17
        tagsView.tagged(f);
        break;
      default:  // stats: not shown in this console
    }
  }

  function chatClosed(chat, closed) {
    chat.closed = closed;
    chat.typing = null;
    Cobrowse.over(chat.id);
    files.forget(chat.id);
    view.chats();
    if (chat.id === selected) view.selected();
  }

  function chatUnassigned(chat, reason) {
    removeChat(chat.id);
    if (chat.leaving) return;
    const name = visitorName(chat.conv);
    notice(reason === 'agent_left' ? `The chat with ${name} went back to the queue while you were away.`
      : reason === 'transferred' ? `The chat with ${name} was transferred away from you.`
        : `The chat with ${name} is no longer assigned to you.`);
  }

  /** `state {status, conversations, waiting}`: how things are now, after events may have
   *  been lost. A chat not listed any more was closed or moved away (the REST API says
   *  which); a listed one we do not show arrived as `assigned` would have; every listed
   *  one is synced up to its last seq. */
  function applyState(f) {
    if (typeof f.status === 'string') {
      status = f.status;
      view.topbar();
    }
    if (Array.isArray(f.waiting)) {
      waiting = f.waiting;
      waitingAt = Date.now();
      view.waiting();
    }
    setPending(f.pending);
    if (!Array.isArray(f.conversations)) return;
    const listed = new Set();
    for (const conv of f.conversations) {
      if (!conv || !conv.id) continue;
      listed.add(conv.id);
      const chat = chats.get(conv.id);
      if (chat && chat.closed && chat.closed.reason !== 'reassigned') continue;  // closed for good: a stale read
      if (!chat || chat.closed) {
        assigned(conv, []);
        continue;
      }
      upsertChat(conv);
      if (chat.lastSeq < (conv.last_seq || 0)) syncChat(chat).then(() => outbox.flush(chat), () => {});
    }
    for (const chat of [...chats.values()]) {
      if (!chat.closed && !chat.leaving && !listed.has(chat.id)) lostChat(chat);
    }
    view.chats();
    if (selected) view.selected();
  }

  /** A chat the server no longer lists as ours: closed, or moved to the queue or another
   *  agent? Our closed conversations say (a list read: no `view` in the audit log, and no
   *  403 for one that is someone else's now). Not ours to write in meanwhile. */
  async function lostChat(chat) {
    chat.closed = { by: 'system', reason: 'reassigned' };
    chat.typing = null;
    let body = null;
    try {
      const res = await fetch('/api/conversations?state=closed&limit=200');
      if (res.ok) body = await res.json();
    } catch (e) { /* stays "no longer assigned to you" */ }
    if (!body || chats.get(chat.id) !== chat || !chat.closed || chat.closed.reason !== 'reassigned') return;
    const conv = (body.conversations || []).find((c) => c.id === chat.id);
    if (!conv) { chatUnassigned(chat, null); return; }
    chat.conv = conv;
    chatClosed(chat, conv.closed || { by: 'system' });
    syncChat(chat).catch(() => {});  // its last lines ("The conversation was closed")
  }

  function onConnState(state) {
    const el = $('conn');
    el.hidden = state === 'online' || state === 'stopped';
    el.textContent = { connecting: 'Connecting…', offline: 'You are offline: waiting for the network. What you send will go out once you are back.' }[state] ||
      'Connection lost: reconnecting… What you send will go out once we are back.';
    el.dataset.state = state;
    document.body.dataset.conn = state;
    outbox.setWaiting(state !== 'online');
    if (selected) view.transcript();
    Cobrowse.refresh();
  }

  // ---- wiring -------------------------------------------------------------------------

  function start(agent) {
    me = agent;
    view.topbar();
    view.chats();
    view.waiting();
    view.selected();
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
    pending = null;
    offlineView.pending();
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
  Alerts.onChange(view.alerts);
  $('logout-btn').addEventListener('click', () => { reset(); window.ChatAuth.logout(); });
  $('resolve-btn').addEventListener('click', () => closeChat(true));
  $('unresolved-btn').addEventListener('click', () => closeChat(false));
  $('requeue-btn').addEventListener('click', () => doTransfer(null, null));
  $('transfer-btn').addEventListener('click', openTransfer);
  // an error about the agent picked goes once another is picked
  $('transfer-pick').addEventListener('input', () => { $('transfer-error').hidden = true; });
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
      const oldest = waiting[Math.max(0, longestWaiting(waiting))];
      claim(oldest.cid, null);
    }
  });
  document.addEventListener('visibilitychange', () => {
    if (document.hidden) return;
    view.chats();
    scheduleRead();
  });
  window.addEventListener('pagehide', () => { const chat = chats.get(selected); if (chat) chat.draft = $('input').value; persistDrafts(); });
  setInterval(() => { view.waited(); offlineView.waited(); }, 5000);
  Cobrowse.init({
    socket: () => sock,
    visitorName: (cid) => { const chat = chats.get(cid); return chat ? visitorName(chat.conv) : 'The visitor'; },
    notice,
  });

  window.ChatAuth.init(start);
})();
