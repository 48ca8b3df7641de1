// ---- start: mount once the page has a body; follow navigation, network and visibility

function mount() {
  document.body.append(host);
  for (const name of PRECHAT) S.profile[name] = null;
  restoreOutbox();
  renderHeader();
  renderBadge();
  if (session.get('open')) open();
  if (local.get('token') || S.outbox.length) ensureConnected();
  launcher.addEventListener('pointerenter', ensureConnected);
  launcher.addEventListener('focus', ensureConnected);
}

// navigation: single-page apps change the URL without a reload
let lastUrl = location.href;
function checkPage() {
  if (location.href === lastUrl || !S.ready) return;
  lastUrl = location.href;
  send('page', pageInfo());
}
window.addEventListener('resize', autoGrow);  // a turned phone: the draft's lines change
window.addEventListener('popstate', checkPage);
window.addEventListener('hashchange', checkPage);
setInterval(checkPage, 2000);
const started = () => S.conn !== 'idle' && S.conn !== 'unavailable';
window.addEventListener('online', () => { if (!ws && started()) { attempt = 0; connect(); } });
window.addEventListener('offline', () => {
  if (!started()) return;
  // the browser lost its network: say so now rather than when the socket times out
  dropSocket();
  setConn('offline');
});
document.addEventListener('visibilitychange', () => {
  if (document.hidden) return;
  if (S.open) markRead();
  if (!ws && started()) { attempt = 0; connect(); }  // a phone woke up: do not wait for the backoff
});

window.ChatWidget = { open, close, codec: { encode: mpEncode, decode: mpDecode } };
if (document.body) mount();
else document.addEventListener('DOMContentLoaded', mount);
