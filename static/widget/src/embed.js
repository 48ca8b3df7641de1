/* Live-chat visitor widget: one self-contained file, embedded with
 *
 *   <script src="https://HOST/widget.js" data-site="SITE" async></script>
 *
 * Optional attributes on that tag:
 *   data-prechat="name,email"   ask for these before the first message (both required)
 *   data-color="#0f766e"        accent colour (#rrggbb)
 *   data-lang="it"              force the language (otherwise <html lang>, then the browser's)
 *   data-user-id="42" data-user-hash="HMAC"
 *                               identity verification for signed-in users (PROTOCOL.md §4):
 *                               the site's server renders the HMAC-SHA256 of the user id
 *
 * Everything the widget keeps in localStorage (visitor token, unsent messages, read state)
 * is kept per site and per signed-in user, so a shared computer does not show one user's
 * chat to the next person.
 * It renders in a Shadow DOM (the host page's CSS cannot reach it, and its CSS cannot leak
 * out) and speaks the visitor protocol (PROTOCOL.md §3) over ws(s)://HOST/ws/visitor.
 * A returning visitor (with a token) connects at once, for the history and the unread badge;
 * a first-time visitor only when reaching for the launcher (hover, focus or click), so that
 * page views without a chat cost the server no socket. Reconnects use exponential backoff
 * with jitter; after each `hello` the open conversation is synced from the last seq seen and
 * unacknowledged messages are resent with their cmid. A `msg` event that skips seqs is
 * synced from the last seq too (events can be lost between server nodes; a skip can also be
 * an agent's note, which visitors never see, and then the sync finds nothing), one sync in
 * flight per conversation. A `state` frame (the server's bus was deaf for a while) is
 * applied as the `assigned`, `queue` and `closed` events it replaces would have been.
 * Frames are msgpack (`chat.v1.msgpack`) through the small codec in codec.js; JSON
 * (`chat.v1.json`) is offered too and used if the server picks it. The codec is built into
 * widget.js rather than loaded as a second download so that the embed stays one request,
 * defines no globals on the host page (but `ChatWidget`) and cannot be captured by an
 * AMD/CommonJS loader the host uses;
 * a browser test checks it byte for byte against the vendored @msgpack/msgpack.
 *
 * What the site set on the server comes with `hello` (PROTOCOL.md §4): whether someone can
 * answer now (the header's line; pushed again as it changes), the pre-chat questions and
 * topics, the privacy notice, sneak peek. When nobody can answer (closed by business hours,
 * or no agent online) the composer's message is an offline one (`leave`, with an email);
 * a visitor who comes back finds the answer there (`conversation`, or `last` once closed).
 *
 * Attachments (PROTOCOL.md §10): once a conversation is open, the visitor attaches files
 * (the paperclip, a pasted screenshot, a drop on the panel); they are checked against the
 * site's `files` setting, uploaded to this server with the visitor's token, and shown from
 * blob: URLs. A host page with a Content-Security-Policy allows this server in
 * `connect-src` (as for the socket) and `blob:` in `img-src`.
 *
 * User text only ever reaches the page through textContent and DOM-built links: never
 * innerHTML.
 *
 * Co-browsing (PROTOCOL.md §5): when the agent asks, the visitor accepts or declines; only
 * then does this tab load the widget's co-browse part (cobrowse.js, from this server) and
 * rrweb's recorder (from this server's /static/vendor/), and stream the page to the agent,
 * with the privacy options forced there. Two more optional attributes add to what is never
 * recorded (they cannot remove anything):
 *   data-cobrowse-block="CSS selector"   sent as empty boxes of the same size
 *   data-cobrowse-mask="CSS selector"    their text sent as "••••" */

// The files of static/widget/src share this one function's scope: scripts/build-widget puts
// them into widget.js in the order it lists (and src/cobrowse/ into cobrowse.js).

// ---- the script tag: which site, which server, the options

if (window.ChatWidget) return;

const script = document.currentScript ||
  document.querySelector('script[src*="widget.js"][data-site]');
const SITE = script && script.getAttribute('data-site');
if (!SITE) return;
const SERVER = new URL(script.src, location.href);
const WS_URL = (SERVER.protocol === 'https:' ? 'wss://' : 'ws://') + SERVER.host +
  '/ws/visitor?site=' + encodeURIComponent(SITE);
const USER_ID = script.getAttribute('data-user-id') || null;
const USER_HASH = script.getAttribute('data-user-hash') || null;
const KEY = 'chat:' + SITE + ':' + (USER_ID ? 'u:' + USER_ID + ':' : '');
const PRECHAT = (script.getAttribute('data-prechat') || '').split(',')
  .map((s) => s.trim().toLowerCase()).filter((s, i, all) => (s === 'name' || s === 'email') && all.indexOf(s) === i);
const ACCENT = /^#[0-9a-f]{6}$/i.test(script.getAttribute('data-color') || '')
  ? script.getAttribute('data-color') : '#2563eb';
const PROTOCOLS = ['chat.v1.msgpack', 'chat.v1.json'];
