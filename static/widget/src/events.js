// ---- events from the server -------------------------------------------------------

function onEvent(f) {
  const c = S.conv;
  if (!c && S.starting && f.cid && f.cid !== S.prevCid && f.t !== 'survey') {
    S.early.push(f);  // about the conversation our `start` is opening: replayed on its ok
    return;
  }
  if (!c && !S.starting && f.cid && f.cid !== S.prevCid && ['msg', 'queue', 'assigned'].includes(f.t)) {
    // another tab of this visitor opened a conversation: follow it here too
    adoptConversation({ id: f.cid, state: f.t === 'assigned' ? 'active' : 'queued', agent: f.agent });
    syncHistory(f.cid).catch(() => {});
  }
  const cur = S.conv;
  const mine = cur && f.cid === cur.id;
  switch (f.t) {
    case 'msg': {
      if (!mine && f.cid !== S.prevCid) break;
      const last = S.last.get(f.cid) || 0;
      showMessage(f);
      if (f.seq > last + 1) syncHistory(f.cid, last).catch(() => {});  // lost events, or a note
      break;
    }
    case 'queue':  // also after a transfer back to the queue
      if (!mine) break;
      adoptConversation({ id: f.cid, state: 'queued', agent: null, position: f.position, eta_s: f.eta_s });
      showAgentTyping(false);
      break;
    case 'assigned':
      if (mine) adoptConversation({ id: f.cid, state: 'active', agent: f.agent });
      break;
    case 'typing':
      if (mine) showAgentTyping(!!f.on);
      break;
    case 'read':
      if (!mine) break;
      if (f.by === 'agent') {
        S.agentRead = Math.max(S.agentRead, f.seq);
        local.set('seen', JSON.stringify({ cid: f.cid, seq: S.agentRead }));
        renderSeen();
      } else {
        setReadSeq(f.seq);  // read in another tab
      }
      break;
    case 'closed':
      if (!mine) break;
      conversationEnded();
      if (f.reason === 'inactive') insertRow(h('div', { class: 'row sys', text: T.closedInactive }), f.cid, null);
      break;
    case 'availability':
      applyAvailability(f);
      break;
    case 'survey':
      showSurvey(f.cid, f.ask);
      break;
    case 'state':
      applyState(f.conversation || null, f);
      break;
    case 'cobrowse':
      if (mine) onCobrowse(f);
      break;
    case 'error':
      console.warn('[chat]', f.code, f.message);
      break;
    default:  // future events: nothing to show here
  }
}

/** `state {conversation}`: the visitor's conversation as it is now (null: none), after
 *  events may have been lost. The one shown ends if it is closed or another one is
 *  current (with the survey, when the frame asks one); an open one is adopted (agent joined,
 *  place in the queue); both are synced from their last seq. */
function applyState(conv, f) {
  if (S.starting) return;  // the answer to `start` is newer
  const cur = S.conv;
  const open = conv && conv.state !== 'closed' ? conv : null;
  if (cur && (!open || open.id !== cur.id)) {
    conversationEnded();
    if (conv && conv.id === cur.id && Array.isArray(f.survey)) showSurvey(cur.id, f.survey);
    syncHistory(cur.id).catch(() => {});
  }
  if (!open) return;
  adoptConversation(open);
  if (open.state !== 'active') showAgentTyping(false);
  syncHistory(open.id).catch(() => {});
}
