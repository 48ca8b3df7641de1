// ---- messages: each shown once (by cid and seq), and what the visitor has read

/** Display a stored message once (dedupe by cid+seq). */
function showMessage(m) {
  const key = m.cid + ':' + m.seq;
  if (S.shown.has(key)) return;
  const item = m.cmid && S.outbox.find((o) => o.cmid === m.cmid);
  if (item) { acknowledge(item, m.cid, m.seq, m.ts); return; }
  S.shown.add(key);
  insertRow(messageRow(m), m.cid, m.seq);
  S.last.set(m.cid, Math.max(S.last.get(m.cid) || 0, m.seq));
  const c = S.conv;
  if (!c || m.cid !== c.id) return;
  if (m.from.role === 'agent' && m.kind === 'text') {
    showAgentTyping(false);
    if (m.seq > S.readSeq) S.unread.add(m.seq);
    renderBadge();
  }
  markRead();
}

function acknowledge(item, cid, seq, ts) {
  removeFromOutbox(item);
  S.shown.add(cid + ':' + seq);
  S.last.set(cid, Math.max(S.last.get(cid) || 0, seq));
  item.el.classList.remove('pending', 'failed');
  item.el.querySelector('.meta').replaceChildren(h('time', { text: timeOf(ts) }));
  item.el.remove();
  insertRow(item.el, cid, seq);
  renderSeen();
}

let readTimer = null;
function markRead() {
  if (!readTimer) readTimer = setTimeout(sendRead, 250);  // one `read` per burst (a sync page)
}

function visible() {
  return S.open && !document.hidden;
}

function sendRead() {
  readTimer = null;
  const c = S.conv;
  if (!c || !visible()) return;
  const last = S.last.get(c.id) || 0;
  setReadSeq(last);
  if (last > S.readSent && S.ready) {
    S.readSent = last;
    send('read', { cid: c.id, seq: last });
  }
}

function setReadSeq(seq) {
  if (seq <= S.readSeq) return;
  S.readSeq = seq;
  if (S.conv) local.set('read', JSON.stringify({ cid: S.conv.id, seq }));
  for (const s of [...S.unread]) if (s <= seq) S.unread.delete(s);
  renderBadge();
}
