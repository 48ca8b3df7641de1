// ---- the outbox: messages sent but not acknowledged yet (kept in localStorage across
// reloads), each with its cmid and its uploaded files; resent with that same cmid after
// every reconnect, so the server stores each one once. The one that opens a conversation
// carries what opens it: the intake card's answers (`start {topic, fields}`), or the
// offline form's (`leave`).

/** The parts of an item that open a conversation, as they are saved and sent. */
function openingOf(o) {
  const out = {};
  if (typeof o.topic === 'string') out.topic = o.topic;
  if (o.fields && typeof o.fields === 'object') out.fields = o.fields;
  if (o.leave && typeof o.leave.email === 'string') {
    out.leave = { email: o.leave.email, name: typeof o.leave.name === 'string' ? o.leave.name : null };
  }
  return out;
}

function restoreOutbox() {
  const saved = local.json('outbox');
  if (!Array.isArray(saved)) return;
  for (const o of saved) {
    if (!o || typeof o.text !== 'string' || typeof o.cmid !== 'string') continue;
    const files = savedFiles(o.files);
    const item = Object.assign({ cmid: o.cmid, text: o.text, files, cid: o.cid || null, el: pendingRow(o.text, files), inflight: false }, openingOf(o));
    S.outbox.push(item);
    insertRow(item.el, item.cid || '', null);
  }
}

function saveOutbox() {
  local.set('outbox', S.outbox.length
    ? JSON.stringify(S.outbox.filter((o) => !o.failed)
      .map((o) => Object.assign({ cmid: o.cmid, text: o.text, files: o.files, cid: o.cid || null }, openingOf(o))))
    : null);
}

function removeFromOutbox(item) {
  const i = S.outbox.indexOf(item);
  if (i >= 0) S.outbox.splice(i, 1);
  saveOutbox();
}

function pendingRow(text, files) {
  const row = h('div', { class: 'row me pending' },
    ...messageParts(text, files, h('div', { class: 'meta' }, h('span', { text: pendingText() }))));
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
  const mode = composerMode();
  const text = input.value.trim();
  if (mode === 'ended') return;
  const files = takeFiles();
  if (!files) return;
  if (!text && !files.length) {
    if (mode === 'leave') { showComposerError(T.messageMissing); input.focus(); }
    return;
  }
  showComposerError(null);
  if (needsPrechat() && !takePrechat()) return;
  let answers = null;
  if (intakeWanted(mode)) {
    answers = takeIntake();
    if (!answers) return;
  }
  input.value = '';
  autoGrow();
  stopTyping();
  const item = { cmid: randomId(), text, el: pendingRow(text, files), cid: S.conv ? S.conv.id : null, inflight: false };
  if (files.length) item.files = files;
  tray.clear(true);
  if (answers) {
    if (answers.topic) item.topic = answers.topic;
    if (answers.fields) item.fields = answers.fields;
    if (mode === 'leave') {
      item.leave = { email: answers.email, name: answers.name };
      rememberEmail(answers.email, answers.name);
    }
  }
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
    if (!S.conv && item.files) {  // its files were uploaded into a conversation that ended
      sendFailed(item, { code: 'files_gone' });
      continue;
    }
    if (!S.conv) {
      if (!S.starting) sendOpening(item);
      return;
    }
    sendMsg(item);
  }
}

/** `start`, or `leave` for an offline message: opens the conversation with the item as
 *  its first message. */
function sendOpening(item) {
  item.inflight = true;
  S.starting = true;
  const frame = { text: item.text, cmid: item.cmid };
  if (item.topic) frame.topic = item.topic;
  if (item.fields) frame.fields = item.fields;
  if (item.leave) {
    frame.email = item.leave.email;
    if (item.leave.name) frame.name = item.leave.name;
  }
  request(item.leave ? 'leave' : 'start', frame).then((ok) => {
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
    else if (!refusedAnswers(item, err)) sendFailed(item, err);
  });
}

/** The server refused an answer of the intake card: the message goes back into the
 *  composer and the card shows what to fix. */
function refusedAnswers(item, err) {
  if (!showServerError(err)) return false;
  removeFromOutbox(item);
  item.el.remove();
  if (!input.value.trim()) {
    input.value = item.text;
    autoGrow();
  }
  return true;
}

function sendMsg(item) {
  const cid = S.conv.id;
  item.inflight = true;
  item.cid = cid;
  item.el.dataset.cid = cid;
  const frame = { cid, text: item.text, cmid: item.cmid };
  if (item.files) frame.files = item.files.map((f) => f.id);
  request('msg', frame).then((ok) => {
    item.inflight = false;
    if (S.outbox.includes(item)) acknowledge(item, cid, ok.seq, ok.ts);
  }, (err) => {
    item.inflight = false;
    if (item.files && (err.code === 'closed' || err.code === 'not_found')) {
      // not_found: an attached file is gone (unsent uploads last an hour), not the chat
      if (err.code === 'closed' && S.conv && S.conv.id === cid) conversationEnded();
      sendFailed(item, { code: 'files_gone' });
    } else if (err.code === 'closed' || err.code === 'not_found') {
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
  const final = { too_large: T.tooLong, files_gone: T.filesGone }[err.code];
  item.el.querySelector('.meta').replaceChildren(h('span', { text: final || T.notSent }), final ? '' : retry);
}
