/* The console's rendering: the top bar, the waiting list, the agent's chats, the selected
 * chat (transcript, pending sends, "Seen", typing) and the visitor panel. It draws from the
 * console's state (console.js), which it only reads; what its buttons do is console.js's.
 * User text goes in through textContent and DOM-built links only (ChatDom.h, ChatTranscript). */
(function () {
  'use strict';

  const { h, externalLink, duration, clock, icon } = window.ChatDom;
  const { row: messageRow, pendingRow } = window.ChatTranscript;
  const { fileNames } = window.ChatFiles;
  const Alerts = window.ChatAlerts;
  const $ = (id) => document.getElementById(id);

  function visitorName(conv) {
    const v = conv.visitor || {};
    return v.name || 'Visitor ' + String(v.id || conv.id).slice(-4);
  }

  function unreadOf(chat) {
    let n = 0;
    for (let i = chat.msgs.length - 1; i >= 0 && chat.msgs[i].seq > chat.readSeq; i--) {
      const m = chat.msgs[i];
      if (m.kind === 'text' && m.from && m.from.role === 'visitor') n++;
    }
    return n;
  }

  /** Chats in the order they started: a reload or a reconnect does not reshuffle them. */
  function ordered(chats) {
    return [...chats.values()].sort((a, b) => (a.conv.created || 0) - (b.conv.created || 0));
  }

  /** The index of the visitor who has waited longest, when more than one waits; else -1. */
  function longestWaiting(waiting) {
    let best = -1;
    waiting.forEach((w, i) => { if (best < 0 || (w.waited_s || 0) > (waiting[best].waited_s || 0)) best = i; });
    return waiting.length > 1 ? best : -1;
  }

  function pastState(c) {
    if (c.state !== 'closed') return c.state;
    const reason = c.closed && c.closed.reason;
    return { resolved: 'resolved', unresolved: 'closed unresolved', visitor_closed: 'ended by the visitor', visitor_left: 'visitor left',
      inactive: 'closed: no reply', erased: 'erased on request' }[reason] || 'closed';
  }

  function closedText(c) {
    if (c.reason === 'reassigned') return 'This chat is no longer assigned to you.';
    if (c.reason === 'visitor_left') return 'Closed: the visitor left.';
    if (c.reason === 'inactive') return 'Closed for inactivity: nobody wrote after the warning.';
    if (c.reason === 'erased') return "Closed: the visitor's data was erased on request.";
    if (c.by === 'visitor') return 'The visitor ended the chat.';
    if (c.by === 'agent') return 'Chat closed' + (c.reason === 'resolved' ? ' as resolved.' : ' as unresolved.');
    return 'Chat closed.';
  }

  /**
   * The console's views.
   * @param {object} model  what they read: me, status, sock, waiting, waitingAt, chats (cid ->
   *   chat, as console.js keeps them), selected (a cid or null)
   * @param {object} act    what their controls do: select(cid), claim(cid, button), openPast(conv);
   *   `offline`, the views of offline.js (pending list, hours, pre-chat answers, snooze); and
   *   `files`, the composer's attachments (files.js)
   */
  function create(model, act) {
    const current = () => model.chats.get(model.selected);

    function renderTopbar() {
      const { me } = model;
      $('me-name').textContent = me ? me.name : '';
      $('me-name').title = me ? `Signed in as ${me.name} (${me.role}). Your agent id: ${me.id}` : '';
      const online = model.status === 'online';
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
      btn.replaceChildren(icon(on ? 'bell' : 'bellOff'), h('span', { class: 'label', text: on ? 'Alerts on' : 'Alerts off' }));
      btn.setAttribute('aria-pressed', String(on));
      btn.title = !on ? 'No sound or desktop notification for new chats. Click to turn them on.'
        : perm === 'granted' ? 'A sound and a desktop notification for new chats. Click to turn them off.'
          : perm === 'denied' ? 'Sound only: desktop notifications are blocked in the browser settings.'
            : 'A sound for new chats; click again to allow desktop notifications too.';
    }

    function renderWaiting() {
      const { waiting } = model;
      const list = $('waiting');
      const focused = list.contains(document.activeElement) ? document.activeElement.dataset.cid : null;
      list.replaceChildren(...waiting.map((w, i) => h('li', { class: 'waiting-item' + (i === longestWaiting(waiting) ? ' longest' : '') },
        h('div', { class: 'row' },
          h('strong', { text: (w.visitor && w.visitor.name) || 'Visitor' }),
          h('span', { class: 'muted waited', 'data-waited': w.waited_s || 0 })),
        w.topic ? h('div', { class: 'topic', text: w.topic }) : null,
        w.handoff ? h('div', { class: 'handoff', text: 'Handed off by the bot: its note is in the transcript' }) : null,
        h('div', { class: 'preview', text: w.preview || '' }),
        h('button', { type: 'button', class: 'primary', text: 'Claim', 'data-cid': w.cid,
          'aria-label': 'Claim chat with ' + ((w.visitor && w.visitor.name) || 'visitor'),
          onclick: (e) => act.claim(w.cid, e.currentTarget) }))));
      if (!waiting.length) list.append(h('li', { class: 'empty', text: 'Nobody is waiting.' }));
      $('waiting-count').textContent = waiting.length ? String(waiting.length) : '';
      updateWaited();
      // queue events rebuild the list up to twice a second: keep the keyboard user's place
      const again = focused && [...list.querySelectorAll('button')].find((b) => b.dataset.cid === focused);
      if (again) again.focus();
    }

    function updateWaited() {
      const elapsed = (Date.now() - model.waitingAt) / 1000;
      for (const el of $('waiting').querySelectorAll('.waited')) el.textContent = duration(+el.dataset.waited + elapsed);
    }

    function renderChats() {
      const list = $('chats');
      const focusedCid = list.contains(document.activeElement) ? document.activeElement.dataset.cid : null;
      let unread = 0;
      let open = 0;
      list.replaceChildren(...ordered(model.chats).map((chat) => {
        const n = chat.id === model.selected && !document.hidden ? 0 : unreadOf(chat);
        unread += n;
        if (!chat.closed) open++;
        const last = chat.msgs.slice().reverse().find((m) => m.kind !== 'event') || chat.msgs[chat.msgs.length - 1];
        const said = last ? last.text || (last.files && last.files.length ? 'File: ' + fileNames(last.files) : '') : '';
        const preview = chat.typing ? 'typing…' : last ? (last.kind === 'note' ? 'Note: ' : '') + said : '';
        return h('li', {}, h('button', {
          type: 'button', class: 'chat-item' + (chat.closed ? ' closed' : '') + (n ? ' has-unread' : ''), 'data-cid': chat.id,
          'aria-current': chat.id === model.selected ? 'true' : null, onclick: () => act.select(chat.id),
        },
        h('span', { class: 'row' },
          h('strong', { text: visitorName(chat.conv) }),
          n ? h('span', { class: 'unread', text: String(n), 'aria-label': n + ' unread' })
            : chat.closed ? h('span', { class: 'muted small', text: 'closed' })
              : last ? h('span', { class: 'muted small', text: clock(last.ts) }) : null),
        h('span', { class: 'preview' + (chat.typing ? ' is-typing' : ''), text: preview })));
      }));
      if (!model.chats.size) list.append(h('li', { class: 'empty', text: 'No chats yet.' }));
      const { me } = model;
      $('chats-count').textContent = open ? `${open}${me && me.max_chats ? '/' + me.max_chats : ''}` : '';
      document.title = (unread ? `(${unread}) ` : '') + 'Console · Live chat';
      if (focusedCid) {
        const again = list.querySelector(`button[data-cid="${CSS.escape(focusedCid)}"]`);
        if (again) again.focus();
      }
    }

    function renderSelected() {
      const chat = current();
      $('no-chat').hidden = !!chat;
      $('chat-view').hidden = !chat;
      $('visitor-panel').hidden = !chat;
      $('no-chat-hint').textContent = model.status === 'online'
        ? 'You are online: new chats will open here. You can also claim a waiting visitor.'
        : 'Claim a waiting visitor, or go online to get chats automatically.';
      window.ChatCobrowse.show(chat ? chat.id : null, chat ? !!chat.closed : false);
      act.offline.hours();
      act.files.show();
      if (!chat) { $('inactive-bar').hidden = true; return; }
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

    function appendRow(row) {
      const box = $('transcript');
      const stick = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
      for (const placeholder of box.querySelectorAll(':scope > .empty')) placeholder.remove();
      box.insertBefore(row, box.querySelector('.pending'));
      renderSeen();
      act.offline.snooze(current());
      if (stick) box.scrollTop = box.scrollHeight;
    }

    function renderTranscript(forceScroll) {
      const chat = current();
      const box = $('transcript');
      if (!chat) { box.replaceChildren(); return; }
      const stick = forceScroll || box.dataset.cid !== chat.id || box.scrollHeight - box.scrollTop - box.clientHeight < 80;
      box.dataset.cid = chat.id;
      const name = visitorName(chat.conv);
      const waitingNet = !model.sock || !model.sock.ready;
      box.replaceChildren(...chat.msgs.map((m) => messageRow(m, name)),
        ...chat.outbox.map((item) => pendingRow(Object.assign({}, item, { waiting: waitingNet && !item.error }))));
      if (!chat.msgs.length && !chat.outbox.length) box.append(h('p', { class: 'empty', text: 'Loading the conversation…' }));
      renderSeen();
      act.offline.snooze(chat);
      if (stick) box.scrollTop = box.scrollHeight;
    }

    /** "Seen" under the last agent message the visitor has read. */
    function renderSeen() {
      const chat = current();
      const box = $('transcript');
      const old = box.querySelector('.seen');
      if (old) old.remove();
      if (!chat || !chat.visitorRead) return;
      const rows = [...box.querySelectorAll('.m.agent:not(.pending)')].filter((r) => +r.dataset.seq <= chat.visitorRead);
      const last = rows[rows.length - 1];
      if (last) last.querySelector('.meta').append(h('span', { class: 'seen', text: 'Seen' }));
    }

    function renderTyping() {
      const chat = current();
      const el = $('typing');
      el.replaceChildren();
      if (!chat || !chat.typing) return;
      el.append(h('span', { class: 'dots', 'aria-hidden': 'true' }, h('i'), h('i'), h('i')),
        h('span', { text: visitorName(chat.conv) + ' is typing' + (chat.typing.preview ? ': ' : '…') }));
      if (chat.typing.preview) el.append(h('q', { text: chat.typing.preview }));
    }

    function renderVisitor() {
      const chat = current();
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
      act.offline.visitor(chat);
      const hist = $('v-history');
      const state = chat.history;
      if (!state || state.loading) hist.replaceChildren(h('li', { class: 'muted', text: 'Loading…' }));
      else if (state.error) hist.replaceChildren(h('li', { class: 'muted', text: state.error }));
      else if (!state.list.length) hist.replaceChildren(h('li', { class: 'muted', text: 'None: this is the first conversation.' }));
      else {
        hist.replaceChildren(...state.list.map((c) => h('li', {},
          h('button', { type: 'button', class: 'history-item', onclick: () => act.openPast(c) },
            h('span', { class: 'row' }, h('strong', { text: new Date(c.created).toLocaleDateString() }),
              h('span', { class: 'muted small', text: pastState(c) })),
            h('span', { class: 'muted small', text: [c.agent && c.agent.name, window.ChatOffline.topicLabel(c.topic, c), `${c.last_seq} messages`].filter(Boolean).join(' · ') })))));
      }
    }

    return {
      topbar: renderTopbar, alerts: renderAlerts, waiting: renderWaiting, waited: updateWaited,
      chats: renderChats, selected: renderSelected, appendRow, transcript: renderTranscript,
      seen: renderSeen, typing: renderTyping, visitor: renderVisitor,
    };
  }

  window.ChatRender = { create, visitorName, ordered, longestWaiting, pastState };
})();
