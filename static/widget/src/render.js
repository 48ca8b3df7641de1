// ---- view updates: header, badge, queue, typing, and the rows in seq order

function renderHeader() {
  const c = S.conv;
  const agentName = c && c.agentName;
  titleEl.textContent = agentName || T.title;
  if (agentName && c.agentBot) titleEl.append(' ', botTag());
  avatar.replaceChildren(agentName ? document.createTextNode(agentName.trim().charAt(0).toUpperCase()) : svgIcon(ICON_CHAT), dot);
  let sub;
  if (S.conn === 'connecting') sub = T.connecting;
  else if (S.conn === 'unavailable') sub = T.unavailable;
  else if (agentName) sub = c.agentBot ? T.botSub : T.agentSub;
  else if (c && c.state === 'pending') sub = T.pendingSub;
  else if (c) sub = T.waiting;
  else sub = availabilityText();
  subEl.textContent = sub;
  const up = S.conn === 'online' || S.conn === 'idle';
  dot.className = 'dot' + (!up ? (S.conn === 'connecting' ? ' down' : ' off') : isAway() && !agentName ? ' away' : '');
  const offline = S.conn === 'reconnecting' || S.conn === 'offline';
  banner.hidden = !offline;
  banner.classList.toggle('offline', S.conn === 'offline');
  banner.textContent = S.conn === 'offline' ? T.offline : offline ? T.reconnecting : '';
  root.dataset.conn = S.conn;
  endBtn.hidden = !c;
  if (!c) hideConfirm(false);
  renderPrechat();
  renderMode();
}

function renderBadge() {
  const n = S.open ? 0 : S.unread.size;
  badge.hidden = n === 0;
  badge.textContent = n > 9 ? '9+' : String(n);
  const label = S.open ? T.close : T.open;
  launcher.setAttribute('aria-label', n ? `${label} (${tr('unread', { n })})` : label);
  launcherIcon.replaceChildren(svgIcon(S.open ? ICON_DOWN : ICON_CHAT));
}

function renderQueue() {
  const c = S.conv;
  renderLeaveOffer();
  queueEl.classList.toggle('pending', !!c && c.state === 'pending');
  if (c && c.state === 'pending') {
    const email = c.email || S.profile.email;
    queueEl.textContent = email ? tr('pendingThanks', { email }) : T.pendingThanksHere;
    queueEl.hidden = false;
    return;
  }
  if (!c || c.state !== 'queued' || c.position == null) { queueEl.hidden = true; return; }
  let text = tr('position', { n: c.position });
  if (c.eta != null) text += ', ' + tr('eta', { m: Math.max(1, Math.round(c.eta / 60)) });
  else text += '. ' + T.noAgent;
  queueEl.textContent = text;
  queueEl.hidden = false;
}

let typingTimer = null;
function showAgentTyping(on) {
  clearTimeout(typingTimer);
  typingEl.replaceChildren();
  if (!on) return;
  const name = (S.conv && S.conv.agentName) || T.agent;
  typingEl.append(h('span', { class: 'dots', 'aria-hidden': 'true' }, h('i'), h('i'), h('i')),
    h('span', { text: tr('typing', { name }) + '…' }));
  typingTimer = setTimeout(() => showAgentTyping(false), 10000);
}

function nearBottom() {
  return list.scrollHeight - list.scrollTop - list.clientHeight < 80;
}

function scrollDown(force) {
  if (force || nearBottom()) list.scrollTop = list.scrollHeight;
}

/** Insert a row among its conversation's rows in seq order. Rows without a seq (pending
 *  sends, the survey) stay after the sequenced rows of their conversation, and the
 *  pre-chat cards (class `tail`) stay last. */
function insertRow(el, cid, seq) {
  const stick = nearBottom();
  el.dataset.cid = cid;
  if (seq != null) el.dataset.seq = seq;
  let before = list.querySelector(':scope > .tail');
  if (seq != null) {
    for (let c = list.lastElementChild; c; c = c.previousElementSibling) {
      if (c.classList.contains('tail')) continue;
      const same = c.dataset.cid === cid;
      if (!c.dataset.seq) {
        if (same || c.dataset.cid === '') { before = c; continue; }
        break;
      }
      if (!same || +c.dataset.seq < seq) break;
      before = c;
    }
  }
  list.insertBefore(el, before);
  labelSender(el);
  if (el.nextElementSibling) labelSender(el.nextElementSibling);
  scrollDown(stick);
}

/** Show the agent's name above the first of a run of their messages. */
function labelSender(el) {
  const who = el.querySelector(':scope > .who');
  if (!who) return;
  const prev = el.previousElementSibling;
  who.hidden = !!prev && prev.dataset.from === el.dataset.from;
}

function messageRow(m) {
  if (m.kind === 'event' || m.from.role === 'system') {
    return h('div', { class: 'row sys', text: systemText(m.text), title: timeOf(m.ts), 'data-ts': m.ts });
  }
  const mine = m.from.role === 'visitor';
  const row = h('div', { class: 'row ' + (mine ? 'me' : 'agent'), 'data-ts': m.ts });
  row.dataset.from = mine ? 'visitor' : 'agent:' + (m.from.name || '');
  if (!mine) {
    const who = h('div', { class: 'who', text: m.from.name || T.agent });
    if (m.from.bot === true) who.append(' ', botTag());  // issue 17: who is who
    row.append(who);
  }
  row.append(...messageParts(m.text, m.files, h('div', { class: 'meta' }, h('time', { text: timeOf(m.ts) }))));
  return row;
}

/** The "Bot" label beside a bot's name (its messages, the header). */
function botTag() {
  return h('span', { class: 'bot-tag', text: T.bot });
}

/** "Seen" under the visitor's last message that the agent has read. */
function renderSeen() {
  const old = list.querySelector('.seen');
  if (old) old.remove();
  const c = S.conv;
  if (!c || !S.agentRead) return;
  const mine = [...list.querySelectorAll('.row.me')].filter((r) =>
    r.dataset.cid === c.id && r.dataset.seq && +r.dataset.seq <= S.agentRead);
  const row = mine[mine.length - 1];
  if (row) row.querySelector('.meta').append(h('span', { class: 'seen', text: T.seen }));
}
