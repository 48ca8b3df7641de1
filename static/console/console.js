/* Agent console: the waiting queue, the agent's chats, a transcript with a composer (replies
 * and internal notes) and the visitor panel, over /ws/agent (PROTOCOL.md §4). */
(function () {
  'use strict';

  const { h, linkify, externalLink, randomId, duration, clock } = window.ChatDom;
  const $ = (id) => document.getElementById(id);

  /** chats: cid -> {id, conv, msgs (sorted by seq), seqs, lastSeq, unread, typing, closed,
   *  outbox: [{cmid, kind, text, inflight, error}], draft, readSent}. */
  let me = null;
  let status = 'away';
  let sock = null;
  let waiting = [];
  let waitingAt = 0;
  const chats = new Map();
  let selected = null;
  let selectWhenAssigned = null;
  let noteMode = false;

  // ---- chats and messages -------------------------------------------------------------

  function visitorName(conv) {
    const v = conv.visitor || {};
    return v.name || 'Visitor ' + String(v.id || conv.id).slice(-4);
  }

  function upsertChat(conv) {
    let chat = chats.get(conv.id);
    if (!chat) {
      chat = {
        id: conv.id, conv, msgs: [], seqs: new Set(), lastSeq: 0, unread: 0, typing: null,
        closed: null, outbox: [], draft: '', readSent: 0,
      };
      chats.set(conv.id, chat);
    } else {
      chat.conv = conv;
    }
    if (conv.state === 'closed' && !chat.closed) chat.closed = conv.closed || { by: 'system' };
    return chat;
  }

  /** Add a stored message once (dedupe by seq); `live` ones count as unread. */
  function addMessage(chat, m, live) {
    if (chat.seqs.has(m.seq)) return;
    chat.seqs.add(m.seq);
    const item = m.cmid && chat.outbox.find((o) => o.cmid === m.cmid);
    if (item) chat.outbox.splice(chat.outbox.indexOf(item), 1);
    const at = chat.msgs.length && chat.msgs[chat.msgs.length - 1].seq > m.seq
      ? chat.msgs.findIndex((x) => x.seq > m.seq) : chat.msgs.length;
    chat.msgs.splice(at, 0, m);
    chat.lastSeq = Math.max(chat.lastSeq, m.seq);
    const fromVisitor = m.from && m.from.role === 'visitor';
    if (fromVisitor) chat.typing = null;
    const seen = chat.id === selected && !document.hidden;
    if (live && fromVisitor && !seen) chat.unread++;
    if (chat.id === selected) {
      if (item || at < chat.msgs.length - 1) renderTranscript();
      else appendRow(messageRow(m));
      renderTyping();
      scheduleRead();
    }
    renderChats();
  }

  async function syncChat(chat) {
    for (;;) {
      const before = chat.lastSeq;
      const r = await sock.request('sync', { cid: chat.id, after: chat.lastSeq });
      for (const m of r.messages || []) addMessage(chat, m, true);
      if (!r.more || chat.lastSeq === before) return;
    }
  }

  function removeChat(cid) {
    chats.delete(cid);
    if (selected === cid) select(chats.size ? chats.keys().next().value : null);
    renderChats();
  }

  function select(cid) {
    const prev = chats.get(selected);
    if (prev) { prev.draft = $('input').value; stopTyping(prev); }
    selected = cid;
    const chat = chats.get(cid);
    if (chat) {
      chat.unread = 0;
      $('input').value = chat.draft;
      scheduleRead();
    }
    renderChats();
    renderSelected();
    if (chat && !chat.closed) $('input').focus();
  }

  // ---- sending ------------------------------------------------------------------------

  function submit() {
    const chat = chats.get(selected);
    const text = $('input').value.trim();
    if (!chat || chat.closed || !text) return;
    const item = { cmid: randomId(), kind: noteMode ? 'note' : 'msg', text, inflight: false, error: null };
    chat.outbox.push(item);
    $('input').value = '';
    stopTyping(chat);
    renderTranscript();
    sendItem(chat, item);
  }

  function sendItem(chat, item) {
    item.inflight = true;
    sock.request(item.kind, { cid: chat.id, text: item.text, cmid: item.cmid }).then((ok) => {
      item.inflight = false;
      addMessage(chat, {
        cid: chat.id, seq: ok.seq, ts: ok.ts, kind: item.kind === 'note' ? 'note' : 'text',
        from: { role: 'agent', id: me.id, name: me.name }, text: item.text, cmid: item.cmid,
      }, false);
    }, (err) => {
      item.inflight = false;
      if (err.code === 'offline') return;  // resent with the same cmid after the reconnect
      if (err.code === 'rate_limited' || err.code === 'unavailable') {
        setTimeout(() => flushOutbox(chat), 3000);
        return;
      }
      item.error = err.code === 'closed' ? 'Not sent: the chat is closed' : 'Not sent: ' + (err.message || err.code);
      if (chat.id === selected) renderTranscript();
    });
  }

  function flushOutbox(chat) {
    for (const item of chat.outbox) if (!item.inflight && !item.error) sendItem(chat, item);
  }

  let typingChat = null;
  let typingSentAt = 0;
  let typingIdle = null;

  function onInput() {
    const chat = chats.get(selected);
    if (!chat || chat.closed || noteMode) return;
    if (!$('input').value.trim()) { stopTyping(chat); return; }
    clearTimeout(typingIdle);
    typingIdle = setTimeout(() => stopTyping(chat), 4000);
    if (typingChat === chat && Date.now() - typingSentAt < 2500) return;
    if (sock.send('typing', { cid: chat.id, on: true })) {
      typingChat = chat;
      typingSentAt = Date.now();
    }
  }

  function stopTyping(chat) {
    clearTimeout(typingIdle);
    if (typingChat !== chat) return;
    sock.send('typing', { cid: chat.id, on: false });
    typingChat = null;
  }

  let readTimer = null;
  function scheduleRead() {
    clearTimeout(readTimer);
    readTimer = setTimeout(() => {
      const chat = chats.get(selected);
      if (!chat || document.hidden || chat.lastSeq <= chat.readSent) return;
      if (sock.send('read', { cid: chat.id, seq: chat.lastSeq })) chat.readSent = chat.lastSeq;
    }, 300);
  }

  // ---- actions ------------------------------------------------------------------------

  function claim(cid, button) {
    button.disabled = true;
    selectWhenAssigned = cid;
    sock.request('claim', { cid }).then((ok) => {
      waiting = waiting.filter((w) => w.cid !== cid);
      renderWaiting();
      if (ok.conversation) assigned(ok.conversation, ok.messages || []);
    }, (err) => {
      button.disabled = false;
      selectWhenAssigned = null;
      notice(err.code === 'conflict' ? `Could not claim this chat: ${err.message || 'someone else took it'}.`
        : 'Could not claim: ' + (err.message || err.code));
    });
  }

  function assigned(conv, messages) {
    const chat = upsertChat(conv);
    for (const m of messages) addMessage(chat, m, true);
    if (!selected || selectWhenAssigned === conv.id) {
      selectWhenAssigned = null;
      select(conv.id);
    }
    renderChats();
    if (chat.lastSeq < (conv.last_seq || 0)) syncChat(chat).catch(() => {});
  }

  function closeChat(resolved) {
    const chat = chats.get(selected);
    if (!chat || chat.closed) return;
    sock.request('close', { cid: chat.id, resolved }).then(() => {
      if (!chat.closed) chat.closed = { by: 'agent', reason: resolved ? 'resolved' : 'unresolved' };
      stopTyping(chat);
      renderSelected();
      renderChats();
    }, (err) => notice('Could not close: ' + (err.message || err.code)));
  }

  function backToQueue() {
    const chat = chats.get(selected);
    if (!chat || chat.closed) return;
    chat.leaving = true;
    sock.request('transfer', { cid: chat.id }).then(() => {
      removeChat(chat.id);
      notice('The chat is back in the queue.');
    }, (err) => {
      chat.leaving = false;
      notice('Could not transfer: ' + (err.message || err.code));
    });
  }

  function toggleStatus() {
    const next = status === 'online' ? 'away' : 'online';
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

  // ---- server frames ------------------------------------------------------------------

  function onReady(ok) {
    me = ok.agent;
    status = ok.status || 'away';
    waiting = ok.waiting || [];
    waitingAt = Date.now();
    const mine = new Set();
    for (const conv of ok.conversations || []) {
      mine.add(conv.id);
      upsertChat(conv);
    }
    for (const chat of chats.values()) {
      if (!mine.has(chat.id) && !chat.closed) chat.closed = { by: 'system', reason: 'reassigned' };
    }
    for (const chat of chats.values()) {
      if (!mine.has(chat.id)) continue;
      syncChat(chat).then(() => flushOutbox(chat), () => {});
    }
    if (!selected && chats.size) select(chats.keys().next().value);
    renderTopbar();
    renderWaiting();
    renderChats();
    renderSelected();
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
      case 'visitor_page':
        if (!chat) break;
        chat.conv.visitor = Object.assign({}, chat.conv.visitor, { page: { url: f.url, title: f.title } });
        if (chat.id === selected) renderVisitor();
        break;
      case 'closed':
        if (!chat) break;
        chat.closed = { by: f.by, reason: f.reason };
        chat.typing = null;
        renderChats();
        if (chat.id === selected) renderSelected();
        break;
      case 'unassigned':
        if (!chat) break;
        removeChat(chat.id);
        if (!chat.leaving) notice(`The chat with ${visitorName(chat.conv)} was transferred away from you.`);
        break;
      case 'status':  // changed in another tab
        status = f.state;
        renderTopbar();
        break;
      default:  // read, stats, cobrowse: not shown in this console
    }
  }

  function onConnState(state) {
    const el = $('conn');
    el.hidden = state === 'online' || state === 'stopped';
    el.textContent = state === 'connecting' ? 'Connecting…' : 'Reconnecting…';
  }

  // ---- rendering ----------------------------------------------------------------------

  function renderTopbar() {
    $('me-name').textContent = me ? me.name : '';
    const online = status === 'online';
    const btn = $('status-btn');
    btn.textContent = online ? 'Online' : 'Away';
    btn.setAttribute('aria-label', online ? 'Online: you get new chats. Switch to away'
      : 'Away: you get no new chats. Switch to online');
    btn.title = online ? 'You get new chats. Click to go away.' : 'You get no new chats. Click to go online.';
    btn.classList.toggle('online', online);
    $('away-hint').hidden = online;
  }

  function renderWaiting() {
    const list = $('waiting');
    const focused = list.contains(document.activeElement) ? document.activeElement.dataset.cid : null;
    list.replaceChildren(...waiting.map((w) => h('li', { class: 'waiting-item' },
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

  function updateWaited() {
    const elapsed = (Date.now() - waitingAt) / 1000;
    for (const el of $('waiting').querySelectorAll('.waited')) el.textContent = duration(+el.dataset.waited + elapsed);
  }

  function renderChats() {
    const list = $('chats');
    let unread = 0;
    list.replaceChildren(...[...chats.values()].map((chat) => {
      unread += chat.unread;
      const last = chat.msgs[chat.msgs.length - 1];
      return h('li', {}, h('button', {
        type: 'button', class: 'chat-item' + (chat.closed ? ' closed' : ''),
        'aria-current': chat.id === selected ? 'true' : null, onclick: () => select(chat.id),
      },
      h('span', { class: 'row' },
        h('strong', { text: visitorName(chat.conv) }),
        chat.unread ? h('span', { class: 'unread', text: String(chat.unread), 'aria-label': chat.unread + ' unread' })
          : chat.closed ? h('span', { class: 'muted', text: 'closed' }) : null),
      h('span', { class: 'preview', text: last ? (last.kind === 'note' ? 'Note: ' : '') + last.text : '' })));
    }));
    if (!chats.size) list.append(h('li', { class: 'empty', text: 'No chats yet.' }));
    document.title = (unread ? `(${unread}) ` : '') + 'Console · Live chat';
  }

  function renderSelected() {
    const chat = chats.get(selected);
    $('no-chat').hidden = !!chat;
    $('chat-view').hidden = !chat;
    $('visitor-panel').hidden = !chat;
    if (!chat) return;
    $('chat-title').textContent = visitorName(chat.conv);
    $('chat-state').textContent = chat.closed ? 'closed' : chat.conv.state || 'active';
    const closed = !!chat.closed;
    $('closed-bar').hidden = !closed;
    $('closed-text').textContent = closed ? closedText(chat.closed) : '';
    for (const id of ['input', 'send-btn', 'note-btn', 'resolve-btn', 'unresolved-btn', 'requeue-btn']) {
      $(id).disabled = closed;
    }
    renderTranscript();
    renderTyping();
    renderVisitor();
  }

  function closedText(c) {
    if (c.reason === 'reassigned') return 'This chat is no longer assigned to you.';
    if (c.reason === 'visitor_left') return 'Closed: the visitor left.';
    if (c.by === 'visitor') return 'The visitor ended the chat.';
    if (c.by === 'agent') return 'Chat closed' + (c.reason === 'resolved' ? ' as resolved.' : '.');
    return 'Chat closed.';
  }

  function messageRow(m) {
    const kind = m.kind === 'event' || (m.from && m.from.role === 'system') ? 'event'
      : m.kind === 'note' ? 'note' : m.from && m.from.role === 'visitor' ? 'visitor' : 'agent';
    if (kind === 'event') return h('div', { class: 'm event', text: m.text, title: clock(m.ts) });
    const who = kind === 'visitor' ? visitorName(chats.get(selected).conv) : (m.from.name || 'Agent');
    return h('div', { class: 'm ' + kind },
      h('div', { class: 'meta' },
        kind === 'note' ? h('span', { class: 'label', text: 'Note' }) : null,
        h('span', { text: who }), h('span', { class: 'muted', text: clock(m.ts) })),
      h('div', { class: 'text' }, linkify(m.text)));
  }

  function pendingRow(item) {
    return h('div', { class: 'm pending ' + (item.kind === 'note' ? 'note' : 'agent') + (item.error ? ' failed' : '') },
      h('div', { class: 'meta' },
        item.kind === 'note' ? h('span', { class: 'label', text: 'Note' }) : null,
        h('span', { text: item.error || 'Sending…' })),
      h('div', { class: 'text' }, linkify(item.text)));
  }

  function appendRow(row) {
    const box = $('transcript');
    const stick = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
    box.insertBefore(row, box.querySelector('.pending'));
    if (stick) box.scrollTop = box.scrollHeight;
  }

  function renderTranscript() {
    const chat = chats.get(selected);
    const box = $('transcript');
    if (!chat) { box.replaceChildren(); return; }
    const stick = box.dataset.cid !== chat.id || box.scrollHeight - box.scrollTop - box.clientHeight < 80;
    box.dataset.cid = chat.id;
    box.replaceChildren(...chat.msgs.map(messageRow), ...chat.outbox.map(pendingRow));
    if (stick) box.scrollTop = box.scrollHeight;
  }

  function renderTyping() {
    const chat = chats.get(selected);
    const el = $('typing');
    el.replaceChildren();
    if (!chat || !chat.typing) return;
    el.append(h('span', { text: visitorName(chat.conv) + ' is typing' + (chat.typing.preview ? ': ' : '…') }));
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
  }

  $('composer').addEventListener('submit', (e) => { e.preventDefault(); submit(); });
  $('input').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); submit(); }
  });
  $('input').addEventListener('input', onInput);
  $('note-btn').addEventListener('click', () => {
    noteMode = !noteMode;
    $('note-btn').setAttribute('aria-pressed', String(noteMode));
    $('composer').classList.toggle('note-mode', noteMode);
    $('input').placeholder = noteMode ? 'Internal note: only agents see it'
      : 'Reply to the visitor… (Enter to send, Shift+Enter for a new line)';
    if (noteMode) { const chat = chats.get(selected); if (chat) stopTyping(chat); }
    $('input').focus();
  });
  $('status-btn').addEventListener('click', toggleStatus);
  $('logout-btn').addEventListener('click', () => { reset(); window.ChatAuth.logout(); });
  $('resolve-btn').addEventListener('click', () => closeChat(true));
  $('unresolved-btn').addEventListener('click', () => closeChat(false));
  $('requeue-btn').addEventListener('click', backToQueue);
  $('dismiss-btn').addEventListener('click', () => removeChat(selected));
  document.addEventListener('visibilitychange', () => {
    const chat = chats.get(selected);
    if (document.hidden || !chat) return;
    chat.unread = 0;
    renderChats();
    scheduleRead();
  });
  setInterval(updateWaited, 5000);

  window.ChatAuth.init(start);
})();
