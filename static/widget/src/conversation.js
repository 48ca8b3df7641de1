// ---- conversation lifecycle -------------------------------------------------------

function adoptConversation(conv) {
  const agentName = conv.agent ? conv.agent.name : null;
  const agentBot = !!(conv.agent && conv.agent.bot === true);  // issue 17
  if (!S.conv || S.conv.id !== conv.id) {
    if (S.conv) S.prevCid = S.conv.id;
    const created = typeof conv.created === 'number' ? Math.min(conv.created, Date.now()) : Date.now();
    S.conv = {
      id: conv.id, state: conv.state, agentName, agentBot, position: conv.position, eta: conv.eta_s,
      queuedSince: created, email: (conv.visitor && conv.visitor.email) || null,
    };
    S.readOnly = false;
    const read = local.json('read');
    S.readSeq = read && read.cid === conv.id ? read.seq : 0;
    const seen = local.json('seen');
    S.agentRead = seen && seen.cid === conv.id ? seen.seq : 0;
    S.readSent = S.readSeq;
    S.unread.clear();
    local.set('last', conv.id);
  } else {
    if (conv.state === 'queued' && S.conv.state !== 'queued') S.conv.queuedSince = Date.now();  // back in the queue
    if (conv.visitor && conv.visitor.email) S.conv.email = conv.visitor.email;
    S.conv.state = conv.state;
    S.conv.agentName = agentName;
    S.conv.agentBot = agentBot;
    if ('position' in conv) S.conv.position = conv.position;
    if ('eta_s' in conv) S.conv.eta = conv.eta_s;
  }
  renderQueue();
  renderHeader();
  renderBadge();
}

function conversationEnded() {
  if (!S.conv) return;
  cbEnd();
  stopTyping();
  tray.clear();  // uploads into it cannot be sent any more
  S.prevCid = S.conv.id;
  S.conv = null;
  S.unread.clear();
  renderBadge();
  renderQueue();
  renderSeen();
  showAgentTyping(false);
  renderHeader();
}

function askEnd() {
  confirmBar.hidden = false;
  confirmBar.querySelector('.danger').focus();
}

function hideConfirm(refocus) {
  if (confirmBar.hidden) return;
  confirmBar.hidden = true;
  if (refocus) input.focus();
}

function endChat() {
  if (!S.conv) return;
  const cid = S.conv.id;
  hideConfirm(false);
  request('close', { cid }).then(() => {
    if (S.conv && S.conv.id === cid) conversationEnded();
    input.focus();
  }, () => {});
}

