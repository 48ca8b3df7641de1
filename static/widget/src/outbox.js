// ---- the outbox: messages sent but not acknowledged yet (kept in localStorage across
// reloads), each with its cmid; resent with that same cmid after every reconnect, so the
// server stores each one once

function restoreOutbox() {
  const saved = local.json('outbox');
  if (!Array.isArray(saved)) return;
  for (const o of saved) {
    if (!o || typeof o.text !== 'string' || typeof o.cmid !== 'string') continue;
    const item = { cmid: o.cmid, text: o.text, cid: o.cid || null, el: pendingRow(o.text), inflight: false };
    S.outbox.push(item);
    insertRow(item.el, item.cid || '', null);
  }
}

function saveOutbox() {
  local.set('outbox', S.outbox.length
    ? JSON.stringify(S.outbox.filter((o) => !o.failed).map((o) => ({ cmid: o.cmid, text: o.text, cid: o.cid || null })))
    : null);
}

function removeFromOutbox(item) {
  const i = S.outbox.indexOf(item);
  if (i >= 0) S.outbox.splice(i, 1);
  saveOutbox();
}

function pendingRow(text) {
  const row = h('div', { class: 'row me pending' },
    h('div', { class: 'bubble' }, linkify(text)), h('div', { class: 'meta' }, h('span', { text: pendingText() })));
  row.dataset.from = 'visitor';
  return row;
}

function pendingText() {
  return S.conn === 'online' ? T.sending : T.queued;
}

function refreshPendingRows() {
  for (const item of S.outbox) {
    if (!item.failed) item.el.querySelector('.meta').replaceChildren(h('span', { text: pendingText() }));
  }
}

function submit() {
  const text = input.value.trim();
  if (!text) return;
  if (needsPrechat() && !takePrechat()) return;
  input.value = '';
  autoGrow();
  stopTyping();
  const item = { cmid: randomId(), text, el: pendingRow(text), cid: S.conv ? S.conv.id : null, inflight: false };
  S.outbox.push(item);
  saveOutbox();
  insertRow(item.el, item.cid || '', null);
  scrollDown(true);
  flush();
}

/** Send what the outbox holds: a `start` first when there is no open conversation. */
function flush() {
  if (!S.ready || S.pendingProfile) return;
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
  item.inflight = true;
  S.starting = true;
  request('start', { text: item.text, cmid: item.cmid }).then((ok) => {
    S.starting = false;
    item.inflight = false;
    adoptConversation(ok.conversation);
    if (S.outbox.includes(item)) acknowledge(item, ok.conversation.id, 1, ok.conversation.created);
    const early = S.early;
    S.early = [];
    early.forEach((f) => f.cid === S.conv.id && onEvent(f));
    flush();
  }, (err) => {
    S.starting = false;
    item.inflight = false;
    if (err.code === 'conflict') dropSocket();  // another tab opened one: the next hello says which
    else sendFailed(item, err);
  });
}

function sendMsg(item) {
  const cid = S.conv.id;
  item.inflight = true;
  item.cid = cid;
  item.el.dataset.cid = cid;
  request('msg', { cid, text: item.text, cmid: item.cmid }).then((ok) => {
    item.inflight = false;
    if (S.outbox.includes(item)) acknowledge(item, cid, ok.seq, ok.ts);
  }, (err) => {
    item.inflight = false;
    if (err.code === 'closed' || err.code === 'not_found') {
      if (S.conv && S.conv.id === cid) conversationEnded();
      item.cid = null;
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
  saveOutbox();
  item.el.classList.replace('pending', 'failed');
  const retry = h('button', {
    type: 'button', text: T.retry,
    onclick: () => {
      item.failed = false;
      item.el.classList.replace('failed', 'pending');
      refreshPendingRows();
      saveOutbox();
      flush();
    },
  });
  item.el.querySelector('.meta').replaceChildren(
    h('span', { text: err.code === 'too_large' ? T.tooLong : T.notSent }), err.code === 'too_large' ? null : retry);
}
