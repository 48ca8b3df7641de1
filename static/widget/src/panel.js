// ---- open / close -------------------------------------------------------------------

function onRootKey(e) {
  if (e.key !== 'Escape' || !S.open) return;
  e.stopPropagation();
  if (!confirmBar.hidden) { hideConfirm(true); return; }
  close();
}

/** First-time visitors connect when they show interest (hover, focus or open the
 *  launcher), not on every page view; returning ones at once (history, unread badge). */
function ensureConnected() {
  if (S.conn !== 'idle') return;
  setConn('connecting');
  connect();
}

function open(focus) {
  ensureConnected();
  if (S.open) return;
  S.open = true;
  session.set('open', '1');
  panel.hidden = false;
  root.classList.add('open');
  launcher.setAttribute('aria-expanded', 'true');
  renderBadge();
  scrollDown(true);
  const first = prechat.card && prechat.card.isConnected &&
    Object.values(prechat.fields).map((x) => x.field).find((f) => !f.value.trim());
  if (focus !== false) (first || input).focus();
  markRead();
  cbWidgetMoved();
}

function close() {
  if (!S.open) return;
  S.open = false;
  session.set('open', null);
  panel.hidden = true;
  root.classList.remove('open');
  launcher.setAttribute('aria-expanded', 'false');
  hideConfirm(false);
  renderBadge();
  launcher.focus();
  cbWidgetMoved();
}
