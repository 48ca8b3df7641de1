// ---- away, and after: what the bottom of the panel is for (the composer, the composer as
// the offline form, or a returning visitor's closed conversation shown read-only), the
// "Leave a message instead" offer while queued too long, and the privacy and sneak-peek
// notices around the composer (their elements are in shadow.js)

/** 'chat': the composer (a chat is open, or someone can answer: it opens one); 'leave':
 *  nobody can answer, the composer's text is an offline message and the intake card asks
 *  for the email; 'ended': a returning visitor looks at their last, closed conversation. */
function composerMode() {
  if (S.conv) return 'chat';
  if (S.readOnly) return 'ended';
  return isAway() ? 'leave' : 'chat';
}

function renderMode() {
  const mode = composerMode();
  const ended = mode === 'ended';
  const leave = mode === 'leave';
  composer.hidden = ended;
  endedBar.hidden = !ended;
  const inactive = S.lastClosed && S.lastClosed.reason === 'inactive';
  endedText.textContent = inactive ? T.endedInactive : T.endedRead;
  input.placeholder = leave ? T.writeLeave : S.conv ? T.write : S.prevCid ? T.writeNew : T.writeStart;
  const label = leave ? T.sendLeave : T.send;
  sendBtn.setAttribute('aria-label', label);
  sendBtn.title = label;
  const waiting = !S.conv || S.conv.state !== 'active';
  const botOnly = !!S.avail && S.avail.bot && !S.avail.online;  // issue 17
  emptyEl.textContent = isAway() && waiting ? T.emptyAway : botOnly ? T.emptyBot : T.empty;
  if (!leave) showComposerError(null);
  renderAttach(mode);
  renderNotices(ended);
  renderIntake(mode);
}

function renderNotices(ended) {
  const privacy = S.site && S.site.privacy;
  noticeEl.hidden = !privacy || !!S.conv || ended;
  const said = privacy ? privacy.text + '\n' + (privacy.url || '') : '';
  if (noticeEl.dataset.said !== said) {
    noticeEl.dataset.said = said;
    noticeEl.replaceChildren(!privacy ? '' : privacy.url
      ? h('a', { href: privacy.url, target: '_blank', rel: 'noopener noreferrer', text: privacy.text })
      : privacy.text);
  }
  peekEl.hidden = !S.site || !S.site.sneakPeek || ended;
  const described = ['composer-err'].concat(peekEl.hidden ? [] : ['chat-peek'], noticeEl.hidden ? [] : ['chat-privacy']);
  input.setAttribute('aria-describedby', described.join(' '));
}

function showComposerError(text) {
  composerErr.textContent = text || '';
  composerErr.hidden = !text;
  if (text) input.setAttribute('aria-invalid', 'true');
  else input.removeAttribute('aria-invalid');
}

function startNewChat() {
  S.readOnly = false;
  if (S.prevCid) session.set('fresh', S.prevCid);  // a reload of this tab does not lock it again
  renderHeader();
  input.focus();
}

function rememberEmail(email, name) {
  S.profile.email = email;
  local.set('profile:email', email);
  if (name) {
    S.profile.name = name;
    local.set('profile:name', name);
  }
}

// ---- queued for longer than the site's offline_after_s (or nobody is left to answer):
// offer to leave a message instead, with an email, and stop waiting

let leaveTimer = null;

function renderLeaveOffer() {
  clearTimeout(leaveTimer);
  const c = S.conv;
  if (!c || c.state !== 'queued' || !S.site) {
    leaveEl.hidden = true;
    leaveEl.replaceChildren();
    return;
  }
  const after = S.site.offlineAfter;
  const waited = Date.now() - c.queuedSince;
  if (!noPerson() && (after == null || waited < after * 1000)) {  // a bot's handoff waits for people
    leaveEl.hidden = true;
    leaveEl.replaceChildren();
    if (after != null) leaveTimer = setTimeout(renderLeaveOffer, after * 1000 - waited + 50);
    return;
  }
  if (!leaveEl.hidden && leaveEl.dataset.cid === c.id) return;  // shown already (maybe opened)
  leaveEl.dataset.cid = c.id;
  leaveEl.replaceChildren(h('button', { type: 'button', class: 'btn primary', text: T.leaveInstead, onclick: openLeaveForm }));
  leaveEl.hidden = false;
}

function openLeaveForm() {
  const cid = leaveEl.dataset.cid;
  const error = h('p', { class: 'error', id: 'leave-err', hidden: true });
  const email = h('input', {
    type: 'email', id: 'leave-email', maxlength: '254', autocomplete: 'email', required: true,
    'aria-required': 'true', 'aria-describedby': 'leave-err',
    value: S.profile.email || local.get('profile:email') || '',
  });
  const btn = h('button', { type: 'submit', class: 'btn primary', text: T.leaveSend });
  email.addEventListener('input', () => { error.hidden = true; email.removeAttribute('aria-invalid'); });
  leaveEl.replaceChildren(h('form', {
    novalidate: true, onsubmit: (e) => { e.preventDefault(); leaveNow(cid, email, error, btn); },
  }, h('p', { text: T.leaveAsk }), h('label', { for: 'leave-email', text: T.email }),
  h('div', { class: 'inline' }, email, btn), error));
  email.focus();
}

async function leaveNow(cid, email, error, btn) {
  const value = email.value.trim();
  const fail = (text) => {
    error.textContent = text;
    error.hidden = false;
    email.setAttribute('aria-invalid', 'true');
    email.focus();
  };
  if (!EMAIL_RE.test(value)) { fail(T.emailBad); return; }
  btn.disabled = true;
  try {
    const ok = await request('leave', { cid, email: value });
    rememberEmail(value);
    if (ok.conversation) adoptConversation(ok.conversation);
  } catch (err) {
    btn.disabled = false;
    if (err.code === 'offline') fail(T.rateOffline);
    else fail(err.code === 'bad_request' && /email/i.test(err.message || '') ? T.emailBad : T.leaveFailed);
  }
}
