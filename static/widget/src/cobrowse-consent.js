// ---- co-browsing (PROTOCOL.md §5): the visitor's consent --------------------------------

/* The agent asks to see the page; every tab of the visitor shows the question, and only the
 * tab that accepts records. Its phase is kept in sessionStorage, so a reload or a navigation
 * of that tab, within the same conversation, goes on sharing (with a fresh snapshot).
 * The recording (rrweb, with the privacy options forced there), and the agent's pointer and
 * highlights, are the widget's co-browse part: static/widget/cobrowse.js, built from
 * src/cobrowse/. It is fetched from this server only once the visitor has accepted (or when
 * a tab that was sharing reloads), and fetches rrweb's recorder in turn. A page view that
 * never shares loads neither. */

const CB_PART = SERVER.origin + '/static/widget/cobrowse.js?v=' + COBROWSE_BUILD;
const CB_REGISTER = 'chatWidgetCobrowse';  // the name src/cobrowse/register.js looks for

/** phase: none | asked | sharing; endOwed: a cid whose `end` the server has not heard yet. */
const CB = { phase: 'none', cid: null, agent: '', endOwed: null };
let cobrowse = null;  // the co-browse part's API, once it is loaded
let cobrowseLoading = null;

function cbSave() {
  session.set('cobrowse', CB.phase === 'none' ? null
    : JSON.stringify({ cid: CB.cid, agent: CB.agent, phase: CB.phase }));
}

function cbRender() {
  cbAsk.hidden = CB.phase !== 'asked';
  cbAskTitle.textContent = CB.phase === 'asked' ? tr('cbAsk', { name: CB.agent }) : '';
  for (const b of cbAsk.querySelectorAll('button')) b.disabled = false;
  cbBar.hidden = CB.phase !== 'sharing';
  cbBarText.textContent = CB.phase === 'sharing' ? tr('cbSharing', { name: CB.agent }) : '';
  if (CB.phase !== 'sharing' && cobrowse) cobrowse.hide();
}

function onCobrowse(f) {
  switch (f.op) {
    case 'request':
      cbEnd();  // a new question replaces anything left over
      CB.phase = 'asked';
      CB.cid = f.cid;
      CB.agent = (f.agent && f.agent.name) || (S.conv && S.conv.agentName) || T.agent;
      cbSave();
      cbRender();
      if (!S.open) open(false);  // show the question, but leave the focus where it is
      break;
    case 'accepted':  // answered in another tab of this visitor: that tab records
    case 'declined':
      if (CB.phase === 'asked' && CB.cid === f.cid) cbEnd();
      break;
    case 'ended':
      if (CB.cid === f.cid) cbEnd();
      break;
    case 'resync':
      if (CB.phase === 'sharing' && CB.cid === f.cid && cobrowse) cobrowse.snapshot();
      break;
    case 'pointer':
      if (CB.phase === 'sharing' && CB.cid === f.cid && cobrowse) cobrowse.pointer(f.x, f.y);
      break;
    case 'highlight':
      if (CB.phase === 'sharing' && CB.cid === f.cid && cobrowse) cobrowse.highlight(f);
      break;
    default:
  }
}

function cbAnswer(yes) {
  if (CB.phase !== 'asked') return;
  const cid = CB.cid;
  for (const b of cbAsk.querySelectorAll('button')) b.disabled = true;
  if (yes) loadCobrowse().then((part) => part.preload()).catch(() => {});  // fetched meanwhile; nothing records before the ok
  request('cobrowse', { cid, op: yes ? 'accept' : 'decline' }).then(() => {
    if (CB.phase !== 'asked' || CB.cid !== cid) return;
    if (yes) cbShare(); else cbEnd();
  }, (err) => {
    if (CB.phase !== 'asked' || CB.cid !== cid) return;
    if (err.code === 'offline' || err.code === 'rate_limited') { cbRender(); return; }  // ask again
    cbEnd();  // conflict: the agent withdrew the question, or another tab answered it
  });
}

function cbShare() {
  CB.phase = 'sharing';
  cbSave();
  cbRender();
  const cid = CB.cid;
  loadCobrowse().then((part) => part.share(cid), (e) => {
    console.warn('[chat] co-browsing is not available:', e.message);
    cbFailed();
  });
}

/** Stop recording and forget the co-browse here (the server is told by the caller). */
function cbEnd() {
  if (cobrowse) cobrowse.stop();
  CB.phase = 'none';
  cbSave();
  cbRender();
}

/** The visitor's "Stop sharing": recording stops now, the server is told (later if offline). */
function cbStopSharing() {
  const cid = CB.cid;
  cbEnd();
  CB.endOwed = cid;
  cbPayEnd();
  (S.open ? input : launcher).focus({ preventScroll: true });
}

function cbPayEnd() {
  const cid = CB.endOwed;
  if (!cid) return;
  request('cobrowse', { cid, op: 'end' }).then(() => { CB.endOwed = null; }, (err) => {
    if (err.code !== 'offline') CB.endOwed = null;  // conflict, closed: it is over anyway
  });
}

function cbFailed() {
  if (CB.phase === 'none') return;
  const cid = CB.cid;
  cbEnd();
  CB.endOwed = cid;
  cbPayEnd();
  insertRow(h('div', { class: 'row sys', role: 'status', text: T.cbFailed }), cid, null);
}

/** After each `hello`: pick up where this tab was (reload, navigation or reconnect). */
function cbReconnected() {
  cbPayEnd();
  if (CB.phase === 'none') {
    const saved = session.json('cobrowse');
    if (!saved || !S.conv || saved.cid !== S.conv.id) { session.set('cobrowse', null); return; }
    CB.cid = saved.cid;
    CB.agent = String(saved.agent || T.agent);
    if (saved.phase === 'sharing') { cbShare(); return; }
    CB.phase = 'asked';
    cbRender();
    return;
  }
  if (!S.conv || CB.cid !== S.conv.id) { cbEnd(); return; }
  if (CB.phase === 'sharing' && cobrowse) cobrowse.reconnected();  // frames may have been lost meanwhile
}

/** The co-browse part (a script tag from this server: the page's CSP allows this origin,
 *  since it runs the widget). It hands itself over through a property of its own tag,
 *  non-enumerable and removed once it ran: the page sees no new global. */
function loadCobrowse() {
  if (cobrowseLoading) return cobrowseLoading;
  cobrowseLoading = new Promise((resolve, reject) => {
    let part = null;
    const tag = document.createElement('script');
    Object.defineProperty(tag, CB_REGISTER, {
      configurable: true,
      value: (start) => { if (!part) part = start(cbContext()); },
    });
    tag.src = CB_PART;
    tag.async = true;
    const settle = () => {
      delete tag[CB_REGISTER];
      tag.remove();
    };
    tag.onload = () => {
      settle();
      if (!part) { reject(new Error('the co-browse part did not load')); return; }
      cobrowse = part;
      resolve(part);
    };
    tag.onerror = () => { settle(); reject(new Error('the co-browse part could not be fetched')); };
    (document.head || document.documentElement).append(tag);
  });
  cobrowseLoading.catch(() => { cobrowseLoading = null; });
  return cobrowseLoading;
}

/** What the co-browse part uses of the widget. */
function cbContext() {
  return {
    CB, script, origin: SERVER.origin, host, root, launcher, panel, h, svgIcon,
    socket: () => (S.ready ? ws : null),  // null: offline, or not past `hello`
    prepare, dispatch, end: cbEnd, failed: cbFailed,
  };
}

/** The chat window moved or changed size (opened, closed): the agent's view marks it. */
function cbWidgetMoved() {
  if (cobrowse) cobrowse.widgetMoved();
}
