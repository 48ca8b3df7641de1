/* static/widget/widget.js,
 * built from static/widget/src by scripts/build-widget: edit the sources, then run it
 * (tests/integration/test_widget_build.py checks that this file is a fresh build).
 * The visitor widget that sites embed: see src/embed.js for how. */
(function () {
'use strict';

const COBROWSE_BUILD = 'c9ad80ff87d4';  // cobrowse.js's content hash, for its URL

// ==== static/widget/src/embed.js

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

// ==== static/widget/src/codec.js

// ---- msgpack: the subset the protocol uses (maps, arrays, strings, numbers, booleans, nil)

const utf8 = new TextEncoder();
const utf8d = new TextDecoder();

function mpEncode(value) {
  let buf = new Uint8Array(256);
  let view = new DataView(buf.buffer);
  let pos = 0;
  const room = (n) => {
    if (pos + n <= buf.length) return;
    const bigger = new Uint8Array(Math.max(buf.length * 2, pos + n));
    bigger.set(buf);
    buf = bigger;
    view = new DataView(buf.buffer);
  };
  const u8 = (b) => { room(1); buf[pos++] = b; };
  const u16 = (v) => { room(2); view.setUint16(pos, v); pos += 2; };
  const u32 = (v) => { room(4); view.setUint32(pos, v); pos += 4; };
  const head = (n, fix, fixMax, b8, b16, b32) => {
    if (n <= fixMax) u8(fix | n);
    else if (b8 != null && n < 0x100) { u8(b8); u8(n); }
    else if (n < 0x10000) { u8(b16); u16(n); }
    else { u8(b32); u32(n); }
  };
  const int = (v) => {
    if (v >= 0) {
      if (v < 0x80) u8(v);
      else if (v < 0x100) { u8(0xcc); u8(v); }
      else if (v < 0x10000) { u8(0xcd); u16(v); }
      else if (v < 0x100000000) { u8(0xce); u32(v); }
      else { u8(0xcf); u32(Math.floor(v / 0x100000000)); u32(v >>> 0); }
    } else if (v >= -0x20) u8(v & 0xff);
    else if (v >= -0x80) { u8(0xd0); room(1); view.setInt8(pos, v); pos += 1; }
    else if (v >= -0x8000) { u8(0xd1); room(2); view.setInt16(pos, v); pos += 2; }
    else if (v >= -0x80000000) { u8(0xd2); room(4); view.setInt32(pos, v); pos += 4; }
    else { u8(0xd3); room(8); view.setInt32(pos, Math.floor(v / 0x100000000)); view.setUint32(pos + 4, v >>> 0); pos += 8; }
  };
  const write = (v, depth) => {
    if (depth > 64) throw new Error('too deep');
    if (v == null) u8(0xc0);
    else if (v === false) u8(0xc2);
    else if (v === true) u8(0xc3);
    else if (typeof v === 'number') {
      if (!Number.isFinite(v)) u8(0xc0);  // NaN and infinities: nil, as JSON.stringify does
      else if (Number.isSafeInteger(v)) int(v);
      else { u8(0xcb); room(8); view.setFloat64(pos, v); pos += 8; }
    } else if (typeof v === 'string') {
      const bytes = utf8.encode(v);
      head(bytes.length, 0xa0, 31, 0xd9, 0xda, 0xdb);
      room(bytes.length); buf.set(bytes, pos); pos += bytes.length;
    } else if (Array.isArray(v)) {
      head(v.length, 0x90, 15, null, 0xdc, 0xdd);
      for (const x of v) write(x, depth + 1);
    } else if (typeof v === 'object') {
      const keys = Object.keys(v).filter((k) => v[k] !== undefined);
      head(keys.length, 0x80, 15, null, 0xde, 0xdf);
      for (const k of keys) { write(k, depth + 1); write(v[k], depth + 1); }
    } else {
      throw new Error('cannot encode ' + typeof v);
    }
  };
  write(value, 0);
  return buf.slice(0, pos);
}

function mpDecode(data) {
  const buf = data instanceof Uint8Array ? data : new Uint8Array(data);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let pos = 0;
  const need = (n) => { if (pos + n > buf.length) throw new Error('truncated msgpack'); };
  const str = (n) => { need(n); const s = utf8d.decode(buf.subarray(pos, pos + n)); pos += n; return s; };
  const bin = (n) => { need(n); const b = buf.slice(pos, pos + n); pos += n; return b; };
  const arr = (n, depth) => { const a = new Array(n); for (let i = 0; i < n; i++) a[i] = read(depth + 1); return a; };
  const map = (n, depth) => {
    const o = {};
    for (let i = 0; i < n; i++) {
      const k = read(depth + 1);
      const v = read(depth + 1);
      if (k === '__proto__') continue;
      o[k] = v;
    }
    return o;
  };
  const get = (n, fn) => { need(n); const v = fn(pos); pos += n; return v; };
  const read = (depth) => {
    if (depth > 100) throw new Error('msgpack nested too deeply');
    need(1);
    const b = buf[pos++];
    if (b < 0x80) return b;
    if (b < 0x90) return map(b & 0x0f, depth);
    if (b < 0xa0) return arr(b & 0x0f, depth);
    if (b < 0xc0) return str(b & 0x1f);
    if (b >= 0xe0) return b - 0x100;
    switch (b) {
      case 0xc0: return null;
      case 0xc2: return false;
      case 0xc3: return true;
      case 0xc4: return bin(get(1, (p) => view.getUint8(p)));
      case 0xc5: return bin(get(2, (p) => view.getUint16(p)));
      case 0xc6: return bin(get(4, (p) => view.getUint32(p)));
      case 0xca: return get(4, (p) => view.getFloat32(p));
      case 0xcb: return get(8, (p) => view.getFloat64(p));
      case 0xcc: return get(1, (p) => view.getUint8(p));
      case 0xcd: return get(2, (p) => view.getUint16(p));
      case 0xce: return get(4, (p) => view.getUint32(p));
      case 0xcf: return get(8, (p) => view.getUint32(p) * 0x100000000 + view.getUint32(p + 4));
      case 0xd0: return get(1, (p) => view.getInt8(p));
      case 0xd1: return get(2, (p) => view.getInt16(p));
      case 0xd2: return get(4, (p) => view.getInt32(p));
      case 0xd3: return get(8, (p) => view.getInt32(p) * 0x100000000 + view.getUint32(p + 4));
      case 0xd9: return str(get(1, (p) => view.getUint8(p)));
      case 0xda: return str(get(2, (p) => view.getUint16(p)));
      case 0xdb: return str(get(4, (p) => view.getUint32(p)));
      case 0xdc: return arr(get(2, (p) => view.getUint16(p)), depth);
      case 0xdd: return arr(get(4, (p) => view.getUint32(p)), depth);
      case 0xde: return map(get(2, (p) => view.getUint16(p)), depth);
      case 0xdf: return map(get(4, (p) => view.getUint32(p)), depth);
      default: throw new Error('unsupported msgpack type 0x' + b.toString(16));
    }
  };
  const value = read(0);
  if (pos !== buf.length) throw new Error('extra bytes after msgpack value');
  return value;
}

// ==== static/widget/src/strings.js

// ---- language -----------------------------------------------------------------------

const STRINGS = {
  en: {
    title: 'Chat with us',
    idle: 'We usually reply in a few minutes',
    waiting: 'Waiting for an agent',
    agentSub: 'Support team',
    bot: 'Bot',
    botSub: 'Automated assistant: ask for a person at any time',
    botOnline: 'Our assistant answers now; a person joins when needed',
    emptyBot: 'Hi! Our assistant answers right away, and a person takes over whenever you ask.',
    connecting: 'Connecting…',
    unavailable: 'Chat is unavailable right now',
    reconnecting: 'Connection lost. Reconnecting… your messages will be sent once we are back.',
    offline: 'You are offline. Your messages will be sent when you reconnect.',
    open: 'Open chat',
    close: 'Close chat',
    unread: '{n} unread',
    minimize: 'Minimize chat',
    end: 'End chat',
    endAsk: 'End this chat?',
    endYes: 'End chat',
    cancel: 'Cancel',
    empty: 'Hi! Ask us anything: a real person will answer.',
    messages: 'Messages',
    write: 'Write a message…',
    writeStart: 'Write a message to start a chat…',
    writeNew: 'Write a message to start a new chat…',
    message: 'Message',
    send: 'Send',
    sending: 'Sending…',
    queued: 'Waiting for connection…',
    notSent: 'Not sent.',
    tooLong: 'Not sent: the message is too long.',
    retry: 'Retry',
    seen: 'Seen',
    you: 'You',
    agent: 'Agent',
    position: 'You are number {n} in line',
    eta: 'about {m} min',
    noAgent: 'No agent is free right now: we will answer as soon as one is.',
    typing: '{name} is typing',
    prechatTitle: 'Before we start',
    prechatHint: 'So that we can reach you if the chat is interrupted.',
    name: 'Your name',
    email: 'Email',
    nameMissing: 'Please enter your name.',
    emailBad: 'Please enter a valid email address.',
    surveyTitle: 'How did we do?',
    csat: 'How satisfied are you with this chat?',
    nps: 'How likely are you to recommend us to a friend or colleague?',
    ces: 'How easy was it to get the help you wanted?',
    star: '{n} out of 5 stars',
    npsLo: 'Not at all likely',
    npsHi: 'Extremely likely',
    cesLo: 'Very difficult',
    cesHi: 'Very easy',
    comment: 'Anything else you want to tell us? (optional)',
    sendFeedback: 'Send feedback',
    noThanks: 'No thanks',
    thanks: 'Thank you for your feedback!',
    pick: 'Pick a rating first.',
    rateOffline: 'You are offline: try again in a moment.',
    rateFailed: 'Your rating could not be sent, please try again.',
    ended: 'This chat has ended. Write below to start a new one.',
    cbAsk: '{name} wants to see this page to help you',
    cbAskText: 'They will see this page and what you do on it, but not what you type into fields, nor your other tabs or apps. You can stop at any time.',
    cbAccept: 'Accept',
    cbDecline: 'Decline',
    cbSharing: '{name} can see this page',
    cbStop: 'Stop sharing',
    cbFailed: 'This page could not be shared.',
    online: 'Online',
    onlineReply: 'Online, typically replies in ~{m} min',
    away: "We're away",
    awayAt: "We're away, back at {time}",
    awayTomorrow: "We're away, back tomorrow at {time}",
    awayDay: "We're away, back {day} at {time}",
    emptyAway: "Hi! Nobody can answer right now. Leave a message and we'll answer here and by email.",
    leaveTitle: 'Leave us a message',
    leaveHint: "Write your message below: we'll answer here and by email.",
    writeLeave: 'Write your message…',
    sendLeave: 'Send message',
    messageMissing: 'Please write your message first.',
    nameOptional: 'Your name (optional)',
    formTitle: 'Before we start',
    formHint: 'A few details help us answer faster.',
    requiredNote: 'Fields marked * are required.',
    topic: 'What is it about?',
    choose: 'Choose…',
    fieldMissing: 'Please fill in this field.',
    pickMissing: 'Please choose one.',
    checkMissing: 'Please tick this box.',
    fieldBad: 'Please check this answer.',
    pendingSub: 'Message received',
    pendingThanks: "Thanks! We'll answer here and by email at {email}.",
    pendingThanksHere: "Thanks! We'll answer here as soon as we can.",
    leaveInstead: 'Leave a message instead',
    leaveAsk: "Leave your email: we'll answer here and by email, you don't need to wait.",
    leaveSend: 'Send',
    leaveFailed: 'That did not work, please try again.',
    startNew: 'Start a new chat',
    endedRead: 'This chat has ended.',
    endedInactive: 'This chat was closed because nobody wrote for a while.',
    closedInactive: 'Closed after a period of inactivity',
    sneakPeek: 'Agents can see what you type before you send it',
    attach: 'Attach a file',
    attachFirst: 'Send a message first to attach a file',
    attachments: 'Attachments',
    dropFiles: 'Drop files to attach them',
    fileTooBig: 'This file is too big: the limit is {limit}',
    fileType: "This type of file can't be sent: {types}",
    fileEmpty: 'This file is empty.',
    fileMany: 'You can send up to {n} files with one message.',
    fileWait: 'Wait until your files are uploaded.',
    fileFailed: 'The upload failed.',
    fileOffline: 'The upload failed: check your connection.',
    fileRemove: 'Remove {name}',
    fileUploading: 'Uploading {name}',
    fileOpen: 'Open image {name}',
    fileDownload: 'Download {name}',
    fileUnavailable: 'This file could not be loaded.',
    filesGone: 'Not sent: the attached files are no longer available.',
    closeImage: 'Close',
    or: 'or',
    textType: 'text',
  },
  it: {
    title: 'Scrivici',
    idle: 'Di solito rispondiamo in pochi minuti',
    waiting: 'In attesa di un operatore',
    agentSub: 'Assistenza clienti',
    bot: 'Bot',
    botSub: 'Assistente automatico: puoi chiedere un operatore in qualsiasi momento',
    botOnline: 'Il nostro assistente risponde subito; un operatore interviene se serve',
    emptyBot: 'Ciao! Il nostro assistente risponde subito, e un operatore subentra quando vuoi.',
    connecting: 'Connessione in corso…',
    unavailable: 'La chat non è disponibile al momento',
    reconnecting: 'Connessione persa. Riconnessione in corso… i tuoi messaggi verranno inviati appena torniamo online.',
    offline: 'Sei offline. I tuoi messaggi verranno inviati quando tornerai online.',
    open: 'Apri la chat',
    close: 'Chiudi la chat',
    unread: '{n} non letti',
    minimize: 'Riduci la chat',
    end: 'Termina',
    endAsk: 'Terminare questa chat?',
    endYes: 'Termina chat',
    cancel: 'Annulla',
    empty: 'Ciao! Chiedici qualsiasi cosa: ti risponderà una persona vera.',
    messages: 'Messaggi',
    write: 'Scrivi un messaggio…',
    writeStart: 'Scrivi per iniziare la chat…',
    writeNew: 'Scrivi per iniziare una nuova chat…',
    message: 'Messaggio',
    send: 'Invia',
    sending: 'Invio…',
    queued: 'In attesa della connessione…',
    notSent: 'Non inviato.',
    tooLong: 'Non inviato: il messaggio è troppo lungo.',
    retry: 'Riprova',
    seen: 'Visualizzato',
    you: 'Tu',
    agent: 'Operatore',
    position: 'Sei il numero {n} in coda',
    eta: 'circa {m} min',
    noAgent: 'Al momento nessun operatore è libero: ti risponderemo appena possibile.',
    typing: '{name} sta scrivendo',
    prechatTitle: 'Prima di iniziare',
    prechatHint: 'Così possiamo ricontattarti se la chat si interrompe.',
    name: 'Il tuo nome',
    email: 'Email',
    nameMissing: 'Inserisci il tuo nome.',
    emailBad: 'Inserisci un indirizzo email valido.',
    surveyTitle: 'Com’è andata?',
    csat: 'Quanto sei soddisfatto di questa chat?',
    nps: 'Quanto è probabile che ci consiglieresti a un amico o a un collega?',
    ces: 'Quanto è stato facile ottenere l’aiuto che cercavi?',
    star: '{n} stelle su 5',
    npsLo: 'Per niente probabile',
    npsHi: 'Estremamente probabile',
    cesLo: 'Molto difficile',
    cesHi: 'Molto facile',
    comment: 'Vuoi aggiungere qualcosa? (facoltativo)',
    sendFeedback: 'Invia valutazione',
    noThanks: 'No, grazie',
    thanks: 'Grazie per la tua valutazione!',
    pick: 'Scegli prima un voto.',
    rateOffline: 'Sei offline: riprova tra un momento.',
    rateFailed: 'Non è stato possibile inviare la valutazione, riprova.',
    ended: 'Questa chat è terminata. Scrivi qui sotto per iniziarne una nuova.',
    cbAsk: '{name} vorrebbe vedere questa pagina per aiutarti',
    cbAskText: 'Vedrà questa pagina e cosa fai, ma non quello che scrivi nei campi, né le altre schede o app. Puoi interrompere in qualsiasi momento.',
    cbAccept: 'Accetta',
    cbDecline: 'Rifiuta',
    cbSharing: '{name} può vedere questa pagina',
    cbStop: 'Interrompi',
    cbFailed: 'Non è stato possibile condividere questa pagina.',
    online: 'Online',
    onlineReply: 'Online, di solito risponde in ~{m} min',
    away: 'Non siamo disponibili',
    awayAt: 'Non disponibili, torniamo alle {time}',
    awayTomorrow: 'Non disponibili, torniamo domani alle {time}',
    awayDay: 'Non disponibili, torniamo {day} alle {time}',
    emptyAway: 'Ciao! Al momento nessuno può rispondere. Lasciaci un messaggio: ti risponderemo qui e via email.',
    leaveTitle: 'Lasciaci un messaggio',
    leaveHint: 'Scrivi il tuo messaggio qui sotto: ti risponderemo qui e via email.',
    writeLeave: 'Scrivi il tuo messaggio…',
    sendLeave: 'Invia messaggio',
    messageMissing: 'Scrivi prima il tuo messaggio.',
    nameOptional: 'Il tuo nome (facoltativo)',
    formTitle: 'Prima di iniziare',
    formHint: 'Qualche dettaglio ci aiuta a risponderti prima.',
    requiredNote: 'I campi con * sono obbligatori.',
    topic: 'Di cosa si tratta?',
    choose: 'Scegli…',
    fieldMissing: 'Compila questo campo.',
    pickMissing: 'Scegli una voce.',
    checkMissing: 'Spunta questa casella.',
    fieldBad: 'Controlla questa risposta.',
    pendingSub: 'Messaggio ricevuto',
    pendingThanks: 'Grazie! Ti risponderemo qui e via email a {email}.',
    pendingThanksHere: 'Grazie! Ti risponderemo qui appena possibile.',
    leaveInstead: 'Lascia un messaggio',
    leaveAsk: 'Lasciaci la tua email: ti risponderemo qui e via email, senza bisogno di aspettare.',
    leaveSend: 'Invia',
    leaveFailed: 'Non ha funzionato, riprova.',
    startNew: 'Inizia una nuova chat',
    endedRead: 'Questa chat è terminata.',
    endedInactive: 'Questa chat è stata chiusa perché nessuno ha scritto per un po’.',
    closedInactive: 'Chiusa per inattività',
    sneakPeek: 'Gli operatori vedono quello che scrivi prima che tu lo invii',
    attach: 'Allega un file',
    attachFirst: 'Invia prima un messaggio per allegare un file',
    attachments: 'Allegati',
    dropFiles: 'Rilascia i file per allegarli',
    fileTooBig: 'Questo file è troppo grande: il limite è {limit}',
    fileType: 'Questo tipo di file non può essere inviato: {types}',
    fileEmpty: 'Questo file è vuoto.',
    fileMany: 'Puoi inviare fino a {n} file con un messaggio.',
    fileWait: 'Attendi che i file siano caricati.',
    fileFailed: 'Il caricamento non è riuscito.',
    fileOffline: 'Il caricamento non è riuscito: controlla la connessione.',
    fileRemove: 'Rimuovi {name}',
    fileUploading: 'Caricamento di {name}',
    fileOpen: "Apri l'immagine {name}",
    fileDownload: 'Scarica {name}',
    fileUnavailable: 'Impossibile caricare questo file.',
    filesGone: 'Non inviato: i file allegati non sono più disponibili.',
    closeImage: 'Chiudi',
    or: 'o',
    textType: 'testo',
  },
};

/** The server's system lines are English; these say the same in the widget's language. */
const SYSTEM_LINES = {
  en: [
    [/^Co-browsing started$/, 'Page sharing started'],
    [/^Co-browsing declined$/, 'Page sharing declined'],
    [/^Co-browsing ended$/, 'Page sharing ended'],
  ],
  it: [
    [/^Co-browsing started$/, 'Condivisione della pagina avviata'],
    [/^Co-browsing declined$/, 'Condivisione della pagina rifiutata'],
    [/^Co-browsing ended$/, 'Condivisione della pagina terminata'],
    [/^Transferred to (.+)$/, 'Conversazione trasferita a $1'],
    [/^(.+) joined the chat$/, 'Ti risponde $1'],
    [/^Transferred back to the queue$/, 'Di nuovo in coda: ti risponderà il prossimo operatore disponibile'],
    [/^Your agent was disconnected: waiting for the next available agent$/,
      'Il tuo operatore si è disconnesso: in attesa del prossimo operatore disponibile'],
    [/^Back in the queue$/, 'Di nuovo in coda'],
    [/^Connecting you with a person: please wait a moment$/, 'Ti mettiamo in contatto con un operatore: attendi un momento'],
    [/^The conversation was closed$/, 'La conversazione è stata chiusa'],
    [/^We're away right now: leave your email and we'll answer here\.$/,
      'Al momento non siamo disponibili: lasciaci la tua email e ti risponderemo qui.'],
    [/^We'll answer here and by email at (.+)\.$/, 'Ti risponderemo qui e via email a $1.'],
    [/^This chat will close in 1 minute if there is no reply\.$/,
      'Questa chat si chiuderà tra 1 minuto se nessuno scrive.'],
    [/^This chat will close in (\d+) minutes if there is no reply\.$/,
      'Questa chat si chiuderà tra $1 minuti se nessuno scrive.'],
  ],
};

function pickLang() {
  const wanted = [script.getAttribute('data-lang'), document.documentElement.lang,
    ...(navigator.languages || []), navigator.language];
  for (const tag of wanted) {
    const base = String(tag || '').toLowerCase().split(/[-_]/)[0];
    if (STRINGS[base]) return base;
  }
  return 'en';
}
const LANG = pickLang();
const T = STRINGS[LANG];
const tr = (key, vars) => T[key].replace(/\{(\w+)\}/g, (_, k) => String(vars[k]));

function systemText(text) {
  for (const [re, out] of SYSTEM_LINES[LANG] || []) if (re.test(text)) return text.replace(re, out);
  return text;
}

// ==== static/common/dom.js: h, randomId, svgIcon

/** Build an element; `text` sets textContent, `on*` adds listeners, other keys are attributes. */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) if (c != null) el.append(c);
  return el;
}

function randomId() {
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
  return Date.now().toString(36) + Math.random().toString(36).slice(2, 12);
}

/** A small inline SVG icon of one path `d` (decorative: hidden from assistive technology),
 * with `className` if given. The widget has it too (scripts/build-widget). */
function svgIcon(d, className) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  if (className) svg.setAttribute('class', className);
  const path = document.createElementNS(ns, 'path');
  path.setAttribute('fill', 'currentColor');
  path.setAttribute('d', d);
  svg.append(path);
  return svg;
}

// ==== static/widget/src/helpers.js

// ---- small helpers (h() and randomId() are static/common/dom.js's, built in before this)

function store(kind) {
  return {
    get(k) { try { return window[kind].getItem(KEY + k); } catch (e) { return null; } },
    set(k, v) {
      try {
        if (v == null) window[kind].removeItem(KEY + k);
        else window[kind].setItem(KEY + k, v);
      } catch (e) { /* storage disabled or full: the widget still works on this page */ }
    },
    json(k) { try { return JSON.parse(this.get(k)); } catch (e) { return null; } },
  };
}
const local = store('localStorage');
const session = store('sessionStorage');

const ICON_CHAT = 'M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z';
const ICON_DOWN = 'M6.4 8.6 12 14.2l5.6-5.6L19 10l-7 7-7-7z';
const ICON_SEND = 'M3.4 20.4 21 12 3.4 3.6 3.4 10l12.6 2-12.6 2z';
const ICON_SCREEN = 'M3 3h18a1 1 0 0 1 1 1v12a1 1 0 0 1-1 1h-7v2h3v2H7v-2h3v-2H3a1 1 0 0 1-1-1V4a1 1 0 0 1 1-1zm1 2v10h16V5z';
const ICON_CLIP = 'M16.5 6.5v10.25a4.5 4.5 0 0 1-9 0V5.5a3 3 0 0 1 6 0v10.25a1.5 1.5 0 0 1-3 0V6.5H9v9.25a3 3 0 0 0 6 0V5.5a4.5 4.5 0 0 0-9 0v11.25a6 6 0 0 0 12 0V6.5z';
const ICON_STAR = 'm12 17.3 6.2 3.7-1.6-7L22 9.2l-7.2-.6L12 2 9.2 8.6 2 9.2 7.4 14l-1.6 7z';

const URL_RE = /\bhttps?:\/\/[^\s<>"']+/gi;

/** Text with http(s) URLs turned into links, as DOM nodes (never parsed as HTML). */
function linkify(text) {
  const frag = document.createDocumentFragment();
  let last = 0;
  for (const m of String(text).matchAll(URL_RE)) {
    const url = m[0].replace(/[.,;:!?)\]}'"]+$/, '');
    frag.append(text.slice(last, m.index));
    frag.append(h('a', { href: url, target: '_blank', rel: 'noopener noreferrer nofollow', text: url }));
    last = m.index + url.length;
  }
  frag.append(text.slice(last));
  return frag;
}

function timeOf(ts) {
  return ts ? new Date(ts).toLocaleTimeString(LANG, { hour: '2-digit', minute: '2-digit' }) : '';
}

function pageInfo() {
  return { url: location.href.slice(0, 2048), title: document.title.slice(0, 500) };
}

const EMAIL_RE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

// ==== static/widget/src/styles.js

// ---- styles -----------------------------------------------------------------------

const CSS = `
:host { all: initial !important; }
* { box-sizing: border-box; }
[hidden] { display: none !important; }
.root { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
color: #111827; text-align: left; direction: ltr; letter-spacing: normal; text-transform: none;
-webkit-font-smoothing: antialiased; }
button, input, textarea, select { font: inherit; color: inherit; letter-spacing: inherit; margin: 0; }
button { cursor: pointer; }
:focus { outline: none; }
:focus-visible { outline: 2px solid ${ACCENT}; outline-offset: 2px; }
input:focus-visible, textarea:focus-visible, select:focus-visible { outline: none; }
.launcher { position: fixed; right: 20px; bottom: 20px; z-index: 2147483000; width: 58px; height: 58px;
border: 0; padding: 0; border-radius: 50%; background: ${ACCENT}; color: #fff; display: grid; place-items: center;
box-shadow: 0 6px 20px rgba(17,24,39,.28); transition: transform .15s ease; }
.launcher:hover { transform: scale(1.06); }
.launcher:focus-visible { outline: 3px solid #111827; outline-offset: 3px; }
.launcher svg { width: 28px; height: 28px; }
.badge { position: absolute; top: -3px; right: -3px; min-width: 22px; height: 22px; padding: 0 6px;
border-radius: 11px; background: #dc2626; color: #fff; font-size: 12px; font-weight: 700;
line-height: 18px; text-align: center; border: 2px solid #fff; }
.panel { position: fixed; right: 20px; bottom: 92px; z-index: 2147483000; width: 380px;
height: min(620px, calc(100vh - 112px)); display: flex; flex-direction: column; background: #fff;
border-radius: 16px; overflow: hidden; box-shadow: 0 16px 48px rgba(17,24,39,.24), 0 0 0 1px rgba(17,24,39,.06); }
header { display: flex; align-items: center; gap: 10px; padding: 14px 10px 14px 16px;
background: ${ACCENT}; color: #fff; }
.avatar { flex: none; width: 36px; height: 36px; border-radius: 50%; background: rgba(255,255,255,.2);
display: grid; place-items: center; font-weight: 700; font-size: 15px; position: relative; }
.avatar svg { width: 20px; height: 20px; }
.dot { position: absolute; right: -1px; bottom: -1px; width: 11px; height: 11px; border-radius: 50%;
border: 2px solid ${ACCENT}; background: #22c55e; }
.dot.off { background: #f59e0b; }
.dot.down { background: #9ca3af; }
.dot.away { background: #d1d5db; }
header .title { flex: 1; min-width: 0; }
header h2 { margin: 0; font-size: 16px; font-weight: 650; line-height: 1.3; white-space: nowrap; overflow: hidden;
text-overflow: ellipsis; color: #fff; }
header p { margin: 0; font-size: 12.5px; opacity: .9; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; color: #fff; }
header button { border: 0; background: rgba(255,255,255,.16); color: #fff; border-radius: 8px;
padding: 6px 10px; font-size: 13px; white-space: nowrap; }
header button:hover { background: rgba(255,255,255,.3); }
header button:focus-visible { outline-color: #fff; }
header .icon { width: 34px; height: 34px; padding: 0; display: grid; place-items: center; }
header .icon svg { width: 22px; height: 22px; }
.confirm { display: flex; align-items: center; gap: 8px; padding: 8px 12px; background: #f3f4f6;
border-bottom: 1px solid #e5e7eb; font-size: 13px; }
.confirm span { flex: 1; }
.btn { border: 1px solid #d1d5db; background: #fff; border-radius: 8px; padding: 5px 12px; font-size: 13px; }
.btn:hover { background: #f9fafb; }
.btn.primary { background: ${ACCENT}; border-color: ${ACCENT}; color: #fff; font-weight: 600; }
.btn.danger { background: #b91c1c; border-color: #b91c1c; color: #fff; font-weight: 600; }
.banner { padding: 7px 12px; font-size: 12.5px; text-align: center; background: #fef3c7; color: #92400e;
border-bottom: 1px solid #fde68a; }
.banner.offline { background: #fee2e2; color: #991b1b; border-color: #fecaca; }
.queue { padding: 8px 12px; font-size: 13px; text-align: center; background: #eff6ff; color: #1e3a8a;
border-bottom: 1px solid #dbeafe; }
.list { flex: 1; overflow-y: auto; padding: 14px 12px 6px; display: flex; flex-direction: column; gap: 4px;
background: #f9fafb; overscroll-behavior: contain; }
.empty { align-self: flex-start; max-width: 85%; margin: 4px 0; padding: 10px 14px; background: #fff; color: #111827;
border: 1px solid #e5e7eb; border-radius: 16px; border-bottom-left-radius: 4px; }
.row { display: flex; flex-direction: column; max-width: 82%; }
.row.me { align-self: flex-end; align-items: flex-end; }
.row.agent { align-self: flex-start; align-items: flex-start; }
.row.sys { align-self: center; max-width: 92%; color: #6b7280; font-size: 12px; text-align: center;
margin: 6px 0; }
.who { font-size: 12px; color: #6b7280; margin: 6px 0 2px 4px; }
.bot-tag { display: inline-block; font-size: 10px; font-weight: 600; line-height: 1.4; padding: 0 5px;
border-radius: 6px; background: #e0e7ff; color: #3730a3; vertical-align: middle; }
.bubble { padding: 8px 12px; border-radius: 16px; white-space: pre-wrap; overflow-wrap: anywhere;
word-break: normal; }
.me .bubble { background: ${ACCENT}; color: #fff; border-bottom-right-radius: 4px; }
.agent .bubble { background: #fff; color: #111827; border: 1px solid #e5e7eb; border-bottom-left-radius: 4px; }
.bubble a { color: inherit; text-decoration: underline; }
.meta { font-size: 11px; color: #6b7280; margin: 2px 4px 2px; display: flex; gap: 6px; align-items: center; }
.meta .seen { color: ${ACCENT}; font-weight: 600; }
.pending .bubble { opacity: .65; }
.failed .bubble { background: #fee2e2; color: #991b1b; }
.failed .meta { color: #b91c1c; }
.meta button { border: 0; background: none; color: ${ACCENT}; padding: 0; font-size: 11px; font-weight: 600;
text-decoration: underline; }
.typing { display: flex; align-items: center; gap: 8px; padding: 2px 16px 6px; min-height: 24px; font-size: 12px;
color: #6b7280; background: #f9fafb; }
.dots { display: inline-flex; gap: 3px; }
.dots i { width: 6px; height: 6px; border-radius: 50%; background: #9ca3af; animation: blink 1.2s infinite both; }
.dots i:nth-child(2) { animation-delay: .2s; }
.dots i:nth-child(3) { animation-delay: .4s; }
@keyframes blink { 0%, 80%, 100% { opacity: .3; } 40% { opacity: 1; } }
.card { align-self: stretch; background: #fff; border: 1px solid #e5e7eb; border-radius: 12px;
padding: 12px 14px; margin: 6px 0; }
.card h3 { margin: 0 0 4px; font-size: 14px; font-weight: 650; }
.card p { margin: 0 0 8px; font-size: 12.5px; color: #4b5563; }
.field { display: flex; flex-direction: column; gap: 3px; margin-bottom: 8px; font-size: 12.5px; color: #374151;
font-weight: 500; }
input, textarea, select { border: 1px solid #d1d5db; border-radius: 10px; padding: 8px 10px; background: #fff;
font-weight: 400; color: #111827; }
select { padding: 7px 8px; }
input:focus, textarea:focus, select:focus { border-color: ${ACCENT}; box-shadow: 0 0 0 3px rgba(37,99,235,.18); }
input[aria-invalid="true"], select[aria-invalid="true"], textarea[aria-invalid="true"] { border-color: #dc2626; }
.req { color: #b91c1c; }
.card p.note { font-size: 11.5px; color: #6b7280; margin: 2px 0 0; }
.field.check label { display: flex; gap: 8px; align-items: flex-start; font-weight: 400; color: #111827; }
.field.check input { width: 18px; height: 18px; margin: 1px 0 0; padding: 0; flex: none; accent-color: ${ACCENT}; }
.topics { border: 0; margin: 0 0 8px; padding: 0; min-width: 0; }
.topics legend { font-size: 12.5px; color: #374151; font-weight: 500; padding: 0; margin-bottom: 5px; }
.chips { display: flex; flex-wrap: wrap; gap: 6px; }
.chip { position: relative; }
.chip input { position: absolute; opacity: 0; width: 1px; height: 1px; margin: 0; padding: 0; }
.chip span { display: inline-block; border: 1px solid #d1d5db; border-radius: 999px; padding: 5px 12px; font-size: 13px;
background: #fff; color: #111827; cursor: pointer; }
.chip span:hover { border-color: ${ACCENT}; }
.chip input:checked + span { background: ${ACCENT}; border-color: ${ACCENT}; color: #fff; }
.chip input:focus-visible + span { outline: 2px solid ${ACCENT}; outline-offset: 2px; }
.chip input[aria-invalid="true"] + span { border-color: #dc2626; }
.queue.pending { background: #ecfdf5; color: #065f46; border-bottom-color: #a7f3d0; }
.leave-now { padding: 8px 12px; background: #eff6ff; border-bottom: 1px solid #dbeafe; text-align: center; font-size: 13px; }
.leave-now form { text-align: left; }
.leave-now p { margin: 0 0 6px; color: #1e3a8a; }
.leave-now label { display: block; font-size: 12.5px; color: #374151; margin-bottom: 3px; }
.leave-now .inline { display: flex; gap: 6px; }
.leave-now .inline input { flex: 1; min-width: 0; }
.leave-now .btn { padding: 6px 14px; }
.notice { margin: 0; padding: 6px 12px 0; font-size: 11.5px; color: #6b7280; background: #fff; border-top: 1px solid #e5e7eb; }
.notice a { color: inherit; text-decoration: underline; }
.notice + .composer-err, .notice:not([hidden]) + .composer-err + form.composer,
.notice:not([hidden]) + form.composer { border-top: 0; }
.notice.peek { padding: 0 12px 8px; border-top: 0; margin-top: -4px; }
.composer-err { padding: 6px 12px 0; margin: 0; background: #fff; border-top: 1px solid #e5e7eb; }
.composer-err:not([hidden]) + form.composer { border-top: 0; }
.ended { display: flex; align-items: center; gap: 10px; padding: 10px 12px; border-top: 1px solid #e5e7eb;
background: #fff; font-size: 13px; color: #374151; }
.ended .txt { flex: 1; }
.ended .btn { padding: 7px 14px; white-space: nowrap; }
.error, .card p.error { color: #b91c1c; font-size: 12px; margin: 2px 0 0; font-weight: 400; }
form.composer { display: flex; gap: 8px; align-items: flex-end; padding: 10px 12px;
border-top: 1px solid #e5e7eb; background: #fff; }
form.composer textarea { flex: 1; resize: none; max-height: 120px; min-height: 40px; line-height: 1.4; }
.send { flex: none; border: 0; border-radius: 10px; background: ${ACCENT}; color: #fff; width: 40px; height: 40px;
display: grid; place-items: center; padding: 0; }
.send svg { width: 20px; height: 20px; }
.send:disabled { opacity: .45; cursor: default; }
.survey fieldset { border: 0; margin: 0 0 12px; padding: 0; min-width: 0; }
.survey legend { font-size: 12.5px; color: #374151; margin-bottom: 6px; padding: 0; font-weight: 500; }
.scale { display: grid; grid-template-columns: repeat(var(--n), minmax(0, 1fr)); gap: 3px; }
.scale button { min-width: 0; height: 30px; padding: 0; border: 1px solid #d1d5db;
border-radius: 6px; background: #fff; color: #111827; font-size: 12.5px; }
.scale.short { max-width: 240px; }
.scale button:hover { border-color: ${ACCENT}; }
.scale button[aria-checked="true"] { background: ${ACCENT}; border-color: ${ACCENT}; color: #fff; }
.scale.stars { display: flex; gap: 2px; }
.stars button, .stars button[aria-checked="true"] { border: 0; background: none; width: 36px; height: 36px;
padding: 2px; color: #d1d5db; border-radius: 8px; }
.stars button svg { width: 30px; height: 30px; }
.stars button.on { color: #f59e0b; }
.hint { display: flex; justify-content: space-between; font-size: 11px; color: #6b7280; margin-top: 3px; }
.scale.short + .hint { max-width: 240px; }
.survey textarea { width: 100%; min-height: 56px; resize: vertical; }
.actions { display: flex; gap: 8px; justify-content: flex-end; margin-top: 8px; }
.done { align-self: center; color: #166534; background: #dcfce7; border-radius: 999px; padding: 4px 12px;
font-size: 12.5px; margin: 6px 0; }
.cobrowse-ask { display: flex; gap: 10px; padding: 12px 14px; background: #eff6ff; border-bottom: 1px solid #bfdbfe; }
.cobrowse-ask .cb-icon { flex: none; width: 34px; height: 34px; border-radius: 50%; background: ${ACCENT}; color: #fff;
display: grid; place-items: center; }
.cobrowse-ask .cb-icon svg { width: 18px; height: 18px; }
.cobrowse-ask .cb-body { flex: 1; min-width: 0; }
.cobrowse-ask p { margin: 0; }
.cb-title { font-weight: 650; font-size: 14px; color: #111827; }
.cb-text { font-size: 12.5px; color: #374151; margin-top: 3px !important; }
.cb-actions { display: flex; gap: 8px; margin-top: 10px; justify-content: flex-end; }
.cb-actions .btn { padding: 6px 14px; }
.cobrowse-bar { position: fixed; top: 12px; left: 50%; transform: translateX(-50%); z-index: 2147483001;
display: flex; align-items: center; gap: 10px; max-width: calc(100vw - 24px); padding: 6px 6px 6px 14px;
border-radius: 999px; background: #111827; color: #fff; font-size: 13px; font-weight: 500;
box-shadow: 0 8px 24px rgba(17,24,39,.35); }
.cobrowse-bar .rec { flex: none; width: 10px; height: 10px; border-radius: 50%; background: #ef4444;
box-shadow: 0 0 0 3px rgba(239,68,68,.35); }
.cobrowse-bar .txt { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.cobrowse-bar button { flex: none; border: 0; border-radius: 999px; background: #dc2626; color: #fff; font-weight: 600;
font-size: 12.5px; padding: 6px 14px; }
.cobrowse-bar button:hover { background: #b91c1c; }
.cobrowse-bar button:focus-visible { outline-color: #fff; }
.cb-pointer { position: fixed; left: 0; top: 0; z-index: 2147483002; pointer-events: none; color: #db2777;
transition: transform .1s linear; will-change: transform; }
.cb-pointer svg { display: block; width: 24px; height: 24px; stroke: #fff; stroke-width: 1.2px;
filter: drop-shadow(0 1px 2px rgba(0,0,0,.35)); }
.cb-pointer .name { position: absolute; left: 18px; top: 20px; padding: 2px 8px; border-radius: 999px; background: #db2777;
color: #fff; font-size: 11.5px; font-weight: 600; white-space: nowrap; }
.cb-mark { position: fixed; left: 0; top: 0; z-index: 2147482999; pointer-events: none; border: 3px solid #db2777;
border-radius: 6px; box-shadow: 0 0 0 4px rgba(219,39,119,.25); transition: opacity .4s; }
.cb-mark.fade { opacity: 0; }
form.composer { flex-wrap: wrap; position: relative; }
.attach { flex: none; width: 36px; height: 40px; border: 0; border-radius: 10px; background: transparent; color: #4b5563;
display: grid; place-items: center; padding: 0; margin: 0 -4px; }
.attach:hover { background: #f3f4f6; color: #111827; }
.attach svg { width: 22px; height: 22px; }
.attach[aria-disabled="true"] { color: #9ca3af; cursor: default; }
.attach[aria-disabled="true"]:hover { background: transparent; color: #9ca3af; }
.attach-tip { display: none; position: absolute; right: 8px; bottom: calc(100% + 2px); z-index: 3; max-width: calc(100% - 16px);
padding: 6px 10px; border-radius: 8px; background: #111827; color: #fff; font-size: 12px; line-height: 1.35;
box-shadow: 0 4px 12px rgba(17,24,39,.2); }
.attach[aria-disabled="true"]:hover + .attach-tip, .attach[aria-disabled="true"]:focus-visible + .attach-tip { display: block; }
.composer-err { white-space: pre-line; }
.file-tray { flex: 1 0 100%; list-style: none; margin: 0 0 2px; padding: 2px 0 4px; display: flex; gap: 6px; overflow-x: auto; }
.file-chip { flex: none; display: flex; align-items: center; gap: 8px; width: 176px; padding: 5px; border: 1px solid #e5e7eb;
border-radius: 10px; background: #fff; }
.file-chip.failed { border-color: #fca5a5; background: #fef2f2; align-items: flex-start; }
.chip-preview { flex: none; width: 38px; height: 38px; border-radius: 6px; overflow: hidden; background: #f3f4f6;
display: grid; place-items: center; color: #dc2626; }
.chip-preview img { width: 100%; height: 100%; object-fit: cover; }
.chip-preview .file-icon { width: 22px; height: 22px; }
.chip-body { flex: 1; min-width: 0; display: flex; flex-direction: column; gap: 2px; font-size: 12px; line-height: 1.3; }
.chip-name { font-weight: 500; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.chip-size { color: #6b7280; }
.chip-error { color: #b91c1c; font-size: 11.5px; }
.chip-bar { display: block; height: 4px; border-radius: 2px; background: #e5e7eb; overflow: hidden; margin-top: 2px; }
.chip-fill { display: block; width: 0; height: 100%; background: ${ACCENT}; transition: width .15s; }
.chip-remove { flex: none; align-self: flex-start; width: 22px; height: 22px; padding: 0; border: 0; border-radius: 50%;
background: transparent; color: #6b7280; font-size: 17px; line-height: 1; }
.chip-remove:hover { background: #f3f4f6; color: #111827; }
.files { display: flex; flex-wrap: wrap; gap: 4px; margin-top: 2px; max-width: 100%; }
.me .files { justify-content: flex-end; }
.bubble + .files { margin-top: 4px; }
.file-img { display: block; padding: 0; border: 1px solid #e5e7eb; border-radius: 14px; overflow: hidden; background: #f3f4f6;
line-height: 0; cursor: zoom-in; max-width: 100%; }
.file-img img { display: block; max-width: 100%; height: auto; }
.pending .file-img { opacity: .65; }
.file-dl { display: inline-block; max-width: 100%; padding: 8px 12px; border: 1px solid #e5e7eb; white-space: nowrap;
border-radius: 14px; background: #fff; color: #111827; font-size: 13px; text-decoration: none; text-align: left; }
.file-dl:hover { border-color: ${ACCENT}; }
.file-dl[aria-busy="true"] { opacity: .6; cursor: progress; }
.file-icon { width: 20px; height: 20px; flex: none; color: #dc2626; }
.file-dl .file-icon { vertical-align: middle; margin: -2px 6px 0 0; }
.file-name { font-weight: 500; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.file-dl .file-name { display: inline-block; max-width: 150px; vertical-align: bottom; }
.file-size { color: #6b7280; white-space: nowrap; }
.file-missing { font-size: 12px; color: #6b7280; font-style: italic; }
.drop-zone { position: absolute; inset: 8px; z-index: 4; display: grid; place-items: center; padding: 24px; pointer-events: none;
border: 2px dashed ${ACCENT}; border-radius: 14px; background: rgba(239,246,255,.94); text-align: center; }
.drop-zone p { margin: 0; font-size: 15px; font-weight: 600; color: #1e3a8a; }
.lightbox { border: 0; padding: 0; margin: auto; width: fit-content; min-width: min(320px, 96vw); max-width: 96vw; max-height: 96vh;
background: transparent; display: flex; flex-direction: column; gap: 8px; overflow: visible; color: #111827; }
.lightbox:not([open]) { display: none; }
.lightbox::backdrop { background: rgba(17,24,39,.82); }
.lb-bar { display: flex; align-items: center; justify-content: space-between; gap: 12px; }
.lb-close { flex: none; width: 38px; height: 38px; padding: 0; border: 0; border-radius: 50%; background: rgba(255,255,255,.95);
font-size: 24px; line-height: 1; color: #111827; }
.lb-close:focus-visible { outline-color: #fff; }
.lb-stage { display: grid; place-items: center; min-height: 0; }
.lb-img { display: block; max-width: 100%; max-height: calc(96vh - 60px); object-fit: contain; border-radius: 6px; background: #fff;
box-shadow: 0 12px 40px rgba(0,0,0,.4); }
@media (max-width: 480px) {
.panel { inset: 0; width: 100%; height: 100%; border-radius: 0; }
input, textarea, select { font-size: 16px; }  /* phones zoom into smaller fields */
/* the larger text: a long hint would wrap below the one line the composer shows */
form.composer textarea::placeholder { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.root.open .launcher { display: none; }
}
@media (prefers-reduced-motion: reduce) {
.launcher, .cb-pointer, .cb-mark, .chip-fill { transition: none; }
.dots i { animation: none; opacity: .7; }
}
`;

// ==== static/widget/src/state.js

// ---- state: what the widget knows of the visitor's conversation and connection

/** conv: the open conversation {id, state, agentName, agentBot,
 *  position, eta, created, queuedSince}
 *  or null; prevCid: the one that ended last (its history and late events still show);
 *  last: cid -> highest seq shown; outbox: messages not acknowledged yet (kept in
 *  localStorage across reloads). site: the site's settings from `hello` (form, topics,
 *  privacy, sneak_peek, offline_after_s) and avail: its `availability`, both null from a
 *  server that does not send them; readOnly: a returning visitor looks at their last,
 *  closed conversation (hello's `last`) until they ask for a new chat; lastClosed: its
 *  `closed` object; greeted: a `hello` was answered on this page. */
const S = {
  conv: null, prevCid: null, starting: false, early: [], ready: false, conn: 'idle',
  last: new Map(), shown: new Set(), outbox: [], unread: new Set(), open: false,
  readSeq: 0, readSent: 0, agentRead: 0, profile: {}, pendingProfile: null, rehello: false,
  site: null, avail: null, readOnly: false, lastClosed: null, greeted: false,
};

// ==== static/widget/src/availability.js

// ---- availability and the site's settings, from `hello` and the `availability` event.
// A server that sends neither leaves S.site and S.avail null: the widget then behaves as it
// always did (the constant "We usually reply..." line, no forms, the composer).

/** The site's settings from hello ok's `site`, kept only in the shapes the widget can show. */
function readSite(site) {
  if (!site || typeof site !== 'object') return null;
  const str = (v) => (typeof v === 'string' ? v : '');
  const form = (Array.isArray(site.form) ? site.form : [])
    .filter((f) => f && str(f.name) && ['text', 'email', 'select', 'checkbox'].includes(f.type))
    .map((f) => ({
      name: f.name, label: str(f.label) || f.name, type: f.type, required: f.required === true,
      options: Array.isArray(f.options) ? f.options.filter((o) => typeof o === 'string') : [],
    }));
  const topics = (Array.isArray(site.topics) ? site.topics : [])
    .filter((t) => t && str(t.id))
    .map((t) => ({ id: t.id, label: str(t.label) || t.id }));
  const p = site.privacy;
  const privacy = p && str(p.text) ? { text: p.text, url: /^https?:\/\//i.test(str(p.url)) ? p.url : null } : null;
  const after = Number(site.offline_after_s);
  const f = site.files;
  const files = f && typeof f.max_bytes === 'number' && Array.isArray(f.types)
    ? { maxBytes: f.max_bytes, types: f.types.filter((t) => typeof t === 'string') } : null;
  return {
    form, topics, privacy, sneakPeek: site.sneak_peek === true,
    offlineAfter: Number.isFinite(after) && after > 0 ? after : null, files,
  };
}

function applyAvailability(a) {
  if (!a || typeof a !== 'object') return;
  const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  S.avail = {
    open: a.open !== false, online: a.online === true, bot: a.bot === true,
    replyS: num(a.reply_s), next: num(a.next_change),
  };
  renderHeader();
  renderQueue();
}

/** Nobody can answer now: the site is closed (business hours), or neither an agent nor
 *  the site's bot (issue 17) is online. Not known yet (or an older server): not away. */
function isAway() {
  return !!S.avail && (!S.avail.open || (!S.avail.online && !S.avail.bot));
}

/** No person can answer now (a bot may): what a queued conversation waits for. */
function noPerson() {
  return !!S.avail && (!S.avail.open || !S.avail.online);
}

/** Agents see the visitor's draft only when the site turned sneak peek on (a server that
 *  sends no site settings forwards drafts as it always did). */
function sneakPeek() {
  return S.site ? S.site.sneakPeek : true;
}

/** The header's line while there is no open conversation. */
function availabilityText() {
  const a = S.avail;
  if (!a) return T.idle;
  if (!isAway() && !a.online) return T.botOnline;
  if (!isAway()) return a.replyS != null ? tr('onlineReply', { m: Math.max(1, Math.round(a.replyS / 60)) }) : T.online;
  if (a.open || a.next == null) return T.away;
  return backAt(a.next);
}

/** "back at 09:00" today, "tomorrow at", a weekday within the week, else a date: in the
 *  visitor's own time zone. */
function backAt(ts) {
  const when = new Date(ts);
  const day = (d) => new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
  const days = Math.round((day(when) - day(new Date())) / 86400000);
  const time = timeOf(ts);
  if (days <= 0) return tr('awayAt', { time });
  if (days === 1) return tr('awayTomorrow', { time });
  const name = days < 7
    ? when.toLocaleDateString(LANG, { weekday: 'long' })
    : when.toLocaleDateString(LANG, { day: 'numeric', month: 'short' });
  return tr('awayDay', { day: name, time });
}

// ==== static/widget/src/shadow.js

// ---- DOM: the widget's elements, in a shadow root --------------------------------------

const host = h('div', { id: 'chat-widget-host', 'data-chat-private': '' });
const shadow = host.attachShadow({ mode: 'open' });
if (shadow.adoptedStyleSheets !== undefined && window.CSSStyleSheet &&
    'replaceSync' in CSSStyleSheet.prototype) {
  // A constructed sheet is not an inline <style>, so a host page's CSP cannot block it.
  const sheet = new CSSStyleSheet();
  sheet.replaceSync(CSS);
  shadow.adoptedStyleSheets = [sheet];
} else {
  shadow.append(h('style', { text: CSS }));
}

const badge = h('span', { class: 'badge', hidden: true, 'aria-hidden': 'true' });
const launcherIcon = h('span', { class: 'licon' }, svgIcon(ICON_CHAT));
const launcher = h('button', {
  class: 'launcher', type: 'button', 'aria-expanded': 'false', 'aria-controls': 'chat-panel',
  onclick: () => (S.open ? close() : open()),
}, launcherIcon, badge);

const avatar = h('div', { class: 'avatar', 'aria-hidden': 'true' });
const dot = h('span', { class: 'dot down' });
const titleEl = h('h2', { id: 'chat-title', text: T.title });
const subEl = h('p', { id: 'chat-sub', text: T.connecting });
const endBtn = h('button', { type: 'button', class: 'end', hidden: true, text: T.end, onclick: askEnd });
const minBtn = h('button', {
  class: 'icon', type: 'button', 'aria-label': T.minimize, title: T.minimize, onclick: () => close(),
}, svgIcon(ICON_DOWN));
const confirmBar = h('div', { class: 'confirm', role: 'group', 'aria-label': T.endAsk, hidden: true },
  h('span', { text: T.endAsk }),
  h('button', { type: 'button', class: 'btn', text: T.cancel, onclick: () => hideConfirm(true) }),
  h('button', { type: 'button', class: 'btn danger', text: T.endYes, onclick: endChat }));
const banner = h('div', { class: 'banner', role: 'status', hidden: true });
// co-browsing: the consent question (in the panel) and the "shared" bar; the agent's pointer
// and highlight are added over the page by the co-browse part (cobrowse.js, in src/cobrowse/).
// All in this shadow DOM, which is never recorded
const cbAskTitle = h('p', { class: 'cb-title', id: 'cb-ask-title', role: 'alert' });
const cbAsk = h('div', {
  class: 'cobrowse-ask', role: 'group', 'aria-labelledby': 'cb-ask-title', 'aria-describedby': 'cb-ask-text', hidden: true,
},
h('div', { class: 'cb-icon', 'aria-hidden': 'true' }, svgIcon(ICON_SCREEN)),
h('div', { class: 'cb-body' }, cbAskTitle, h('p', { class: 'cb-text', id: 'cb-ask-text', text: T.cbAskText }),
  h('div', { class: 'cb-actions' },
    h('button', { type: 'button', class: 'btn cb-decline', text: T.cbDecline, onclick: () => cbAnswer(false) }),
    h('button', { type: 'button', class: 'btn primary cb-accept', text: T.cbAccept, onclick: () => cbAnswer(true) }))));
const cbBarText = h('span', { class: 'txt' });
const cbBar = h('div', { class: 'cobrowse-bar', role: 'status', hidden: true },
  h('span', { class: 'rec', 'aria-hidden': 'true' }), cbBarText,
  h('button', { type: 'button', class: 'cb-stop', text: T.cbStop, onclick: () => cbStopSharing() }));
const queueEl = h('div', { class: 'queue', role: 'status', hidden: true });
const emptyEl = h('p', { class: 'empty', text: T.empty });
const list = h('div', {
  class: 'list', role: 'log', 'aria-live': 'polite', 'aria-label': T.messages, tabindex: '0',
}, emptyEl);
const typingEl = h('div', { class: 'typing', 'aria-live': 'polite' });
const input = h('textarea', {
  rows: '1', maxlength: '4000', placeholder: T.writeStart, 'aria-label': T.message,
  oninput: onInput, onkeydown: onComposerKey,
});
const sendBtn = h('button', { class: 'send', type: 'submit', 'aria-label': T.send, title: T.send }, svgIcon(ICON_SEND));
// attachments (files.js): the paperclip (its hint shows while there is no conversation to
// attach to), the chooser, the tray of uploads above the text, the drop target over the panel
const attachBtn = h('button', {
  class: 'attach', type: 'button', 'aria-label': T.attach, hidden: true, onclick: onAttach,
}, svgIcon(ICON_CLIP));
const attachTip = h('span', { class: 'attach-tip', id: 'attach-tip', role: 'tooltip', text: T.attachFirst });
const fileInput = h('input', { type: 'file', multiple: true, hidden: true, tabindex: '-1' });
const trayEl = h('ul', { class: 'file-tray', 'aria-label': T.attachments, 'aria-live': 'polite', hidden: true });
const dropZone = h('div', { class: 'drop-zone', hidden: true }, h('p', { text: T.dropFiles }));
const composer = h('form', { class: 'composer', onsubmit: (e) => { e.preventDefault(); submit(); } },
  trayEl, input, attachBtn, attachTip, fileInput, sendBtn);
// around the composer: the site's privacy notice, what is wrong with the offline message or
// a file (an alert), the sneak-peek notice; instead of it, a returning visitor's closed chat (offline.js)
const noticeEl = h('p', { class: 'notice', id: 'chat-privacy', hidden: true });
const composerErr = h('p', { class: 'error composer-err', id: 'composer-err', role: 'alert', hidden: true });
const peekEl = h('p', { class: 'notice peek', id: 'chat-peek', hidden: true, text: T.sneakPeek });
const endedText = h('span', { class: 'txt' });
const endedBar = h('div', { class: 'ended', role: 'group', 'aria-label': T.endedRead, hidden: true },
  endedText, h('button', { type: 'button', class: 'btn primary', text: T.startNew, onclick: startNewChat }));
const leaveEl = h('div', { class: 'leave-now', hidden: true });  // "Leave a message instead"
const panel = h('div', {
  id: 'chat-panel', class: 'panel', role: 'dialog', 'aria-modal': 'false',
  'aria-labelledby': 'chat-title', 'aria-describedby': 'chat-sub', hidden: true,
},
h('header', {}, h('div', { class: 'avatar-wrap' }, avatar), h('div', { class: 'title' }, titleEl, subEl), endBtn, minBtn),
confirmBar, banner, cbAsk, queueEl, leaveEl, list, typingEl, noticeEl, composerErr, composer, peekEl, endedBar, dropZone);
avatar.append(svgIcon(ICON_CHAT), dot);
const root = h('div', { class: 'root', lang: LANG, onkeydown: onRootKey }, launcher, panel, cbBar);
shadow.append(root);

// ==== static/widget/src/prechat.js

// ---- the pre-chat form (only with data-prechat): name and email before the first message

const prechat = { card: null, fields: {} };
if (PRECHAT.length) {
  const card = h('form', { class: 'card prechat tail', novalidate: true, onsubmit: (e) => { e.preventDefault(); input.focus(); } },
    h('h3', { text: T.prechatTitle }), h('p', { text: T.prechatHint }));
  for (const name of PRECHAT) {
    const field = h('input', {
      type: name === 'email' ? 'email' : 'text', name, maxlength: name === 'email' ? '254' : '200',
      autocomplete: name === 'email' ? 'email' : 'name', required: true, 'aria-required': 'true',
      value: local.get('profile:' + name) || '',
      'aria-describedby': 'err-' + name,
    });
    const error = h('p', { class: 'error', id: 'err-' + name, hidden: true });
    field.addEventListener('input', () => { error.hidden = true; field.removeAttribute('aria-invalid'); });
    prechat.fields[name] = { field, error };
    card.append(h('label', { class: 'field' }, h('span', { text: T[name] }), field, error));
  }
  prechat.card = card;
}

function needsPrechat() {
  // away, the offline form asks for the name and the email itself
  if (!prechat.card || S.conv || composerMode() !== 'chat') return false;
  return PRECHAT.some((name) => !S.profile[name]);
}

function renderPrechat() {
  if (!prechat.card) return;
  // a returning visitor (with a token) may be known already: wait for `hello` to tell
  const show = needsPrechat() && !(S.conn === 'connecting' && !S.ready && local.get('token'));
  if (show && !prechat.card.isConnected) {
    list.append(prechat.card);
    const first = Object.values(prechat.fields).map((x) => x.field).find((f) => !f.value.trim());
    if (S.open && first && shadow.activeElement === input && !input.value) first.focus();
  } else if (!show && prechat.card.isConnected) {
    prechat.card.remove();
  }
}

/** Validate the pre-chat fields; on success they are sent with the next `hello`. */
function takePrechat() {
  const profile = {};
  let firstBad = null;
  for (const [name, { field, error }] of Object.entries(prechat.fields)) {
    const value = field.value.trim();
    let problem = null;
    if (name === 'name' && !value) problem = T.nameMissing;
    if (name === 'email' && !EMAIL_RE.test(value)) problem = T.emailBad;
    error.textContent = problem || '';
    error.hidden = !problem;
    if (problem) {
      field.setAttribute('aria-invalid', 'true');
      firstBad = firstBad || field;
    } else {
      field.removeAttribute('aria-invalid');
      profile[name] = value;
    }
  }
  if (firstBad) { firstBad.focus(); return false; }
  for (const [k, v] of Object.entries(profile)) local.set('profile:' + k, v);
  S.pendingProfile = profile;
  Object.assign(S.profile, profile);
  renderPrechat();
  // `hello` is where a visitor's name and email are given: say it again on a fresh socket
  if (S.ready) { S.rehello = true; dropSocket(); }
  return true;
}

// ==== static/widget/src/siteform.js

// ---- the intake card: the site's pre-chat questions (hello's site.form and site.topics),
// and, when nobody can answer, the offline form: the same card asking for an email and a
// name, with the composer's text as the message (sent as `leave`). It stays at the end of
// the list, after the data-prechat card, until a conversation opens.

/** controls: key -> {el, error, spec, radios?}; keys are the site's field names, and
 *  `$email`, `$name` (the offline form's own) and `$topic` (the topic picker). values: what
 *  was typed, kept when the card is rebuilt (the mode or the site's settings changed). */
const intake = { card: null, key: '', controls: {}, values: {} };

function intakeWanted(mode) {
  if (S.conv || mode === 'ended') return false;
  if (mode === 'leave') return true;
  return !!S.site && (S.site.form.length > 0 || S.site.topics.length > 0);
}

function renderIntake(mode) {
  if (!intakeWanted(mode)) {
    if (intake.card && intake.card.isConnected) intake.card.remove();
    return;
  }
  const key = mode + JSON.stringify(S.site && [S.site.form, S.site.topics]);
  if (key !== intake.key) {
    const old = intake.card;
    keepIntakeValues();
    intake.card = buildIntake(mode);
    intake.key = key;
    if (old && old.isConnected) old.replaceWith(intake.card);
  }
  if (!intake.card.isConnected) list.append(intake.card);
}

function keepIntakeValues() {
  for (const [key, c] of Object.entries(intake.controls)) {
    intake.values[key] = c.radios ? valueOf(c) : c.spec.type === 'checkbox' ? c.el.checked : c.el.value;
  }
}

function buildIntake(mode) {
  const leave = mode === 'leave';
  const site = S.site || { form: [], topics: [] };
  intake.controls = {};
  const card = h('form', {
    class: 'card intake tail', novalidate: true, 'aria-labelledby': 'in-title',
    onsubmit: (e) => { e.preventDefault(); submit(); },
    onkeydown: onIntakeKey,
  }, h('h3', { id: 'in-title', text: leave ? T.leaveTitle : T.formTitle }),
  h('p', { text: leave ? T.leaveHint : T.formHint }));
  if (leave) {
    card.append(control('$email', { label: T.email, type: 'email', required: true }, 'in-email'),
      control('$name', { label: T.nameOptional, type: 'text', required: false }, 'in-name'));
  }
  site.form.forEach((f, i) => card.append(control(f.name, f, 'in-f' + i)));
  if (site.topics.length) card.append(topicPicker(site.topics));
  if (site.form.some((f) => f.required) || site.topics.length || leave) {
    card.append(h('p', { class: 'note', text: T.requiredNote }));
  }
  return card;
}

/** Enter in a text field sends, as in the composer (a form with several fields and no
 *  submit button would not): what is missing, the message included, gets the focus. */
function onIntakeKey(e) {
  const t = e.target;
  if (e.key !== 'Enter' || e.isComposing || t.tagName !== 'INPUT' || t.type === 'checkbox' || t.type === 'radio') return;
  e.preventDefault();
  if (!input.value.trim() && composerMode() === 'chat') input.focus();  // the message is next
  else submit();
}

function control(key, spec, id) {
  const errId = id + '-err';
  const error = h('p', { class: 'error', id: errId, hidden: true });
  const star = spec.required ? h('span', { class: 'req', 'aria-hidden': 'true', text: ' *' }) : null;
  const attrs = { id, 'aria-describedby': errId, required: spec.required, 'aria-required': spec.required ? 'true' : null };
  let saved = intake.values[key];
  if (saved === undefined && (key === '$email' || key === '$name')) {
    const which = key.slice(1);
    saved = S.profile[which] || local.get('profile:' + which) || '';
  }
  let el;
  let row;
  if (spec.type === 'checkbox') {
    el = h('input', Object.assign({ type: 'checkbox' }, attrs));
    el.checked = saved === true;
    row = h('div', { class: 'field check' }, h('label', { for: id }, el, h('span', { text: spec.label }, star)), error);
  } else {
    el = spec.type === 'select'
      ? h('select', attrs, h('option', { value: '', text: T.choose }),
        ...spec.options.map((o) => h('option', { value: o, text: o })))
      : h('input', Object.assign({
        type: spec.type === 'email' ? 'email' : 'text', maxlength: spec.type === 'email' ? '254' : '500',
        autocomplete: key === '$email' || spec.type === 'email' ? 'email' : key === '$name' ? 'name' : 'off',
      }, attrs));
    el.value = typeof saved === 'string' ? saved : '';
    row = h('div', { class: 'field' }, h('label', { for: id }, spec.label, star), el, error);
  }
  el.addEventListener(spec.type === 'text' || spec.type === 'email' ? 'input' : 'change', () => setIntakeError(key, null));
  intake.controls[key] = { el, error, spec };
  return row;
}

function topicPicker(topics) {
  const error = h('p', { class: 'error', id: 'in-topic-err', hidden: true });
  const radios = topics.map((t) => h('input', { type: 'radio', name: 'in-topic', value: t.id, required: true }));
  radios.forEach((r) => {
    r.checked = r.value === intake.values.$topic;
    r.addEventListener('change', () => setIntakeError('$topic', null));
  });
  const group = h('fieldset', { class: 'topics', 'aria-describedby': 'in-topic-err' },
    h('legend', {}, T.topic, h('span', { class: 'req', 'aria-hidden': 'true', text: ' *' })),
    h('div', { class: 'chips' }, ...topics.map((t, i) => h('label', { class: 'chip' }, radios[i], h('span', { text: t.label })))),
    error);
  intake.controls.$topic = { el: group, radios, error, spec: { type: 'topic', required: true } };
  return group;
}

function valueOf(c) {
  if (c.radios) {
    const on = c.radios.find((r) => r.checked);
    return on ? on.value : '';
  }
  return c.spec.type === 'checkbox' ? c.el.checked : c.el.value.trim();
}

/** What is wrong with a control's answer, in words, or null. */
function problemOf(c) {
  const v = valueOf(c);
  const type = c.spec.type;
  if (type === 'checkbox') return c.spec.required && !v ? T.checkMissing : null;
  if (!v) {
    if (!c.spec.required) return null;
    return type === 'email' ? T.emailBad : type === 'select' || type === 'topic' ? T.pickMissing : T.fieldMissing;
  }
  if (type === 'email' && !EMAIL_RE.test(v)) return T.emailBad;
  if (type === 'select' && !c.spec.options.includes(v)) return T.pickMissing;
  return null;
}

function setIntakeError(key, text) {
  const c = intake.controls[key];
  if (!c) return;
  c.error.textContent = text || '';
  c.error.hidden = !text;
  for (const el of c.radios || [c.el]) {
    if (text) el.setAttribute('aria-invalid', 'true');
    else el.removeAttribute('aria-invalid');
  }
}

function focusControl(c) {
  const target = c.radios ? c.radios.find((r) => r.checked) || c.radios[0] : c.el;
  target.focus();
  target.scrollIntoView({ block: 'nearest' });
}

/** The card's answers {fields, topic, email, name}, or null (the errors are shown and the
 *  first wrong one has the focus). */
function takeIntake() {
  const out = { fields: null, topic: null, email: null, name: null };
  let firstBad = null;
  for (const [key, c] of Object.entries(intake.controls)) {
    const problem = problemOf(c);
    setIntakeError(key, problem);
    if (problem) { firstBad = firstBad || c; continue; }
    const v = valueOf(c);
    if (key === '$email') out.email = v;
    else if (key === '$name') out.name = v || null;
    else if (key === '$topic') out.topic = v;
    else if (c.spec.type === 'checkbox' || v) out.fields = Object.assign(out.fields || {}, { [key]: v });
  }
  if (firstBad) { focusControl(firstBad); return null; }
  if (S.site && S.site.form.length && !out.fields) out.fields = {};
  return out;
}

/** A `bad_request` from `start` or `leave` naming a field of the card: shown on that field
 *  (a field of the site's form first, then the offline form's email and name, the topic).
 *  True when it was. */
function showServerError(err) {
  if (!err || err.code !== 'bad_request' || !intake.card || !intake.card.isConnected) return false;
  const message = String(err.message || '');
  const named = (word) => new RegExp('(^|[^\\w-])' + word.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') + '($|[^\\w-])', 'i')
    .test(message);
  const keys = Object.keys(intake.controls);
  const key = keys.filter((k) => !k.startsWith('$') && named(k)).sort((a, b) => b.length - a.length)[0] ||
    keys.find((k) => k.startsWith('$') && named(k.slice(1)));
  if (!key) return false;
  const c = intake.controls[key];
  setIntakeError(key, problemOf(c) || T.fieldBad);
  focusControl(c);
  return true;
}

// ==== static/widget/src/offline.js

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

// ==== static/widget/src/render.js

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

// ==== static/widget/src/messages.js

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

// ==== static/widget/src/outbox.js

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

// ==== static/widget/src/conversation.js

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


// ==== static/widget/src/survey.js

// ---- the satisfaction survey, once a conversation closed

/** One question of the survey: a radio group of buttons with arrow-key navigation. */
function scale(name, question, values, labelOf, answers, stars) {
  const legendId = 'q-' + name + '-' + randomId().slice(0, 8);
  const group = h('div', {
    class: 'scale' + (stars ? ' stars' : values.length < 10 ? ' short' : ''), role: 'radiogroup', 'aria-labelledby': legendId,
  });
  group.style.setProperty('--n', String(values.length));
  const buttons = values.map((v) => h('button', {
    type: 'button', role: 'radio', 'aria-checked': 'false', 'aria-label': labelOf(v), tabindex: v === values[0] ? '0' : '-1',
    title: labelOf(v), 'data-value': String(v),
  }, stars ? svgIcon(ICON_STAR) : document.createTextNode(String(v))));
  const choose = (i, focus) => {
    answers[name] = values[i];
    buttons.forEach((b, j) => {
      b.setAttribute('aria-checked', String(i === j));
      b.tabIndex = i === j ? 0 : -1;
      if (stars) b.classList.toggle('on', j <= i);
    });
    if (focus) buttons[i].focus();
  };
  buttons.forEach((b, i) => {
    b.addEventListener('click', () => choose(i, false));
    b.addEventListener('keydown', (e) => {
      const step = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 }[e.key];
      if (step) { e.preventDefault(); choose((i + step + values.length) % values.length, true); }
      if (e.key === 'Home') { e.preventDefault(); choose(0, true); }
      if (e.key === 'End') { e.preventDefault(); choose(values.length - 1, true); }
    });
    if (stars) {
      b.addEventListener('mouseenter', () => buttons.forEach((x, j) => x.classList.toggle('on', j <= i)));
      b.addEventListener('mouseleave', () => buttons.forEach((x, j) =>
        x.classList.toggle('on', answers[name] != null && j <= values.indexOf(answers[name]))));
    }
    group.append(b);
  });
  return h('fieldset', { 'data-q': name }, h('legend', { id: legendId, text: question }), group);
}

const range = (lo, hi) => Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);

function showSurvey(cid, ask) {
  if (list.querySelector('.survey')) return;
  local.set('survey', JSON.stringify({ cid, ask }));
  const answers = {};
  const titleId = 'survey-' + randomId().slice(0, 8);
  const form = h('form', { class: 'card survey', 'aria-labelledby': titleId, novalidate: true });
  form.append(h('h3', { id: titleId, text: T.surveyTitle }));
  const asked = (name) => !ask || ask.includes(name);
  if (asked('csat')) form.append(scale('csat', T.csat, range(1, 5), (n) => tr('star', { n }), answers, true));
  if (asked('nps')) {
    form.append(scale('nps', T.nps, range(0, 10), (v) => (v === 0 ? `0, ${T.npsLo}` : v === 10 ? `10, ${T.npsHi}` : String(v)), answers, false));
    form.lastChild.append(h('div', { class: 'hint', 'aria-hidden': 'true' }, h('span', { text: T.npsLo }), h('span', { text: T.npsHi })));
  }
  if (asked('ces')) {
    form.append(scale('ces', T.ces, range(1, 7), (v) => (v === 1 ? `1, ${T.cesLo}` : v === 7 ? `7, ${T.cesHi}` : String(v)), answers, false));
    form.lastChild.append(h('div', { class: 'hint', 'aria-hidden': 'true' }, h('span', { text: T.cesLo }), h('span', { text: T.cesHi })));
  }
  const comment = h('textarea', { maxlength: '4000', placeholder: T.comment, 'aria-label': T.comment, rows: '2' });
  const error = h('p', { class: 'error', role: 'alert', hidden: true });
  const submitBtn = h('button', { class: 'btn primary', type: 'submit', text: T.sendFeedback });
  const finish = (thanked) => {
    local.set('survey', null);
    const focusWasInside = form.contains(shadow.activeElement);
    if (thanked) {
      const done = h('div', { class: 'done', role: 'status', text: T.thanks });
      form.replaceWith(done);
      done.dataset.cid = cid;
    } else {
      form.remove();
    }
    if (focusWasInside) input.focus();
  };
  form.append(comment, error, h('div', { class: 'actions' },
    h('button', { type: 'button', class: 'btn', text: T.noThanks, onclick: () => finish(false) }), submitBtn));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const frame = Object.assign({ cid }, answers);
    if (comment.value.trim()) frame.comment = comment.value.trim();
    if (Object.keys(frame).length === 1) { error.textContent = T.pick; error.hidden = false; return; }
    submitBtn.disabled = true;
    request('rate', frame).then(() => finish(true), (err) => {
      submitBtn.disabled = false;
      if (err.code === 'already_rated') { finish(true); return; }
      error.textContent = err.code === 'offline' ? T.rateOffline : T.rateFailed;
      error.hidden = false;
    });
  });
  insertRow(form, cid, null);
  scrollDown(true);
}

// ==== static/widget/src/cobrowse-consent.js

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

// ==== static/widget/src/events.js

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

// ==== static/widget/src/connection.js

// ---- connection: the visitor socket, requests and their answers, `hello`, sync, ping

let ws = null;
let codec = 'json';
let nextId = 1;
let attempt = 0;
let retryTimer = null;
let pingTimer = null;
let pingOut = false;
const pending = new Map();  // request id -> {resolve, reject}

function setConn(state) {
  if (S.conn === state) return;
  S.conn = state;
  renderHeader();
  refreshPendingRows();
}

function encode(frame) {
  return codec === 'msgpack' ? mpEncode(frame) : JSON.stringify(frame);
}

function decode(data) {
  return typeof data === 'string' ? JSON.parse(data) : mpDecode(data);
}

function request(t, fields) {
  return dispatch(t, prepare(t, fields));
}

/** A request frame, encoded: {id, data, size} (size in bytes). */
function prepare(t, fields) {
  const id = nextId++;
  const data = encode(Object.assign({ t, id }, fields));
  return { id, data, size: typeof data === 'string' ? utf8.encode(data).length : data.length };
}

function dispatch(t, frame) {
  if (!ws || ws.readyState !== WebSocket.OPEN || (!S.ready && t !== 'hello')) {
    return Promise.reject({ code: 'offline' });
  }
  ws.send(frame.data);
  return new Promise((resolve, reject) => pending.set(frame.id, { resolve, reject }));
}

function send(t, fields) {
  if (S.ready && ws && ws.readyState === WebSocket.OPEN) ws.send(encode(Object.assign({ t }, fields)));
}

function connect() {
  clearTimeout(retryTimer);
  retryTimer = null;
  if (ws) return;
  let sock;
  try {
    sock = new WebSocket(WS_URL, PROTOCOLS);
  } catch (e) {
    scheduleReconnect();
    return;
  }
  sock.binaryType = 'arraybuffer';
  ws = sock;
  sock.onopen = () => {
    codec = sock.protocol === 'chat.v1.msgpack' ? 'msgpack' : 'json';
    hello();
  };
  sock.onmessage = (ev) => {
    let f;
    try { f = decode(ev.data); } catch (e) { console.warn('[chat] undecodable frame', e); return; }
    if (!f || typeof f !== 'object') return;
    if (f.re != null && pending.has(f.re)) {
      const p = pending.get(f.re);
      pending.delete(f.re);
      if (f.t === 'error') p.reject(f); else p.resolve(f);
    } else {
      onEvent(f);
    }
  };
  sock.onclose = (ev) => socketGone(sock, ev.code);
}

/** Forget the socket now (a dead one can take a minute to report its close). */
function dropSocket() {
  if (!ws) return;
  const sock = ws;
  sock.onclose = sock.onmessage = sock.onopen = null;
  try { sock.close(4000, 'reconnect'); } catch (e) { /* already closing */ }
  socketGone(sock, 4000);
}

function socketGone(sock, code) {
  if (ws !== sock) return;
  ws = null;
  S.ready = false;
  clearInterval(pingTimer);
  for (const p of pending.values()) p.reject({ code: 'offline' });
  pending.clear();
  for (const item of S.outbox) item.inflight = false;
  S.starting = false;
  if (code === 1008 || code === 4403) { setConn('unavailable'); return; }
  if (S.rehello) { S.rehello = false; connect(); return; }
  scheduleReconnect();
}

/** Exponential backoff with jitter (backoffDelay: static/common/ws.js's, built in after this). */
function scheduleReconnect() {
  const wait = backoffDelay(attempt);
  attempt++;
  if (navigator.onLine === false) setConn('offline');
  else setConn(S.conn === 'connecting' && attempt === 1 ? 'connecting' : 'reconnecting');
  retryTimer = setTimeout(connect, wait);
}

async function hello() {
  const fields = { page: Object.assign(pageInfo(), { referrer: document.referrer.slice(0, 2048) }), lang: LANG };
  const token = local.get('token');
  if (token) fields.token = token;
  if (S.pendingProfile) Object.assign(fields, S.pendingProfile);
  if (USER_ID) Object.assign(fields, { user_id: USER_ID, user_hash: USER_HASH || '' });
  let ok;
  try {
    ok = await request('hello', fields);
  } catch (err) {
    if (err.code === 'offline') return;
    if (err.code === 'unauthorized' && USER_ID) {
      // a wrong data-user-hash will not get better by retrying: say so and stop
      console.warn('[chat] identity verification failed: check data-user-hash for this data-user-id');
      dropSocket();
      clearTimeout(retryTimer);
      setConn('unavailable');
      return;
    }
    console.warn('[chat] hello refused:', err.code);
    dropSocket();
    return;
  }
  if (ok.token) local.set('token', ok.token);
  S.profile = Object.assign({}, S.profile, ok.visitor && { name: ok.visitor.name, email: ok.visitor.email });
  S.pendingProfile = null;
  S.ready = true;
  attempt = 0;
  pingOut = false;
  clearInterval(pingTimer);
  pingTimer = setInterval(ping, 25000);
  lastUrl = location.href;
  if ('site' in ok) S.site = readSite(ok.site);
  if (ok.availability) applyAvailability(ok.availability);
  const conv = ok.conversation;
  if (conv && conv.state !== 'closed') adoptConversation(conv);
  else conversationEnded();  // it ended while we were away
  const last = !S.conv && ok.last && ok.last.id ? ok.last : null;
  if (last) {
    S.prevCid = last.id;
    S.lastClosed = last.closed || null;
    // on arrival only (not after a reconnect), and not over messages already on their way
    if (!S.greeted && session.get('fresh') !== last.id && !S.outbox.length) S.readOnly = true;
  }
  S.greeted = true;
  setConn('online');
  renderHeader();
  try {
    if (S.conv) await syncHistory(S.conv.id);
    else await restorePrevious('last' in ok ? (last && last.id) : undefined);
  } catch (err) {
    if (err.code === 'offline') return;
  }
  for (const item of S.outbox) if (S.conv && !item.cid) item.cid = S.conv.id;
  flush();
  markRead();
  renderSeen();
  cbReconnected();
}

/** With no open conversation (after a reload, or the end of one): show the last one, and
 *  its survey if it was neither answered nor dismissed. `known`: hello's `last` (its id, or
 *  null: none closed in the last 7 days); from an older server, undefined: then the one this
 *  browser remembers, if it was active in the last day. */
async function restorePrevious(known) {
  const cid = known === undefined ? S.prevCid || local.get('last') : known;
  if (!cid) return;
  S.prevCid = cid;
  try {
    await syncHistory(cid);
  } catch (err) {
    if (err.code !== 'not_found' && err.code !== 'forbidden') throw err;
  }
  const rows = [...list.querySelectorAll('.row')].filter((r) => r.dataset.cid === cid);
  const newest = Math.max(0, ...rows.map((r) => +r.dataset.ts || 0));
  if (!rows.length || (known === undefined && newest < Date.now() - 24 * 3600 * 1000)) {
    rows.forEach((r) => r.remove());
    S.prevCid = null;
    S.readOnly = false;
    local.set('last', null);
    local.set('survey', null);
    renderHeader();
    return;
  }
  renderHeader();
  const survey = local.json('survey');
  if (survey && survey.cid === cid) showSurvey(cid, survey.ask);
}

/** Messages after `after` (default: the last seq shown), paged while `more`. One sync is
 *  in flight per conversation: one asked for meanwhile (a burst of seq jumps) is sent
 *  once, after it, from the lowest `after` asked (the console's ChatSeqSync does the same;
 *  the embed loads nothing else). */
const syncRuns = new Map();  // cid -> {after: pending or null, done: Promise}

function syncHistory(cid, after) {
  const from = after == null ? S.last.get(cid) || 0 : after;
  const run = syncRuns.get(cid);
  if (run) {
    run.after = run.after == null ? from : Math.min(run.after, from);
    return run.done;
  }
  const fresh = { after: from, done: null };
  syncRuns.set(cid, fresh);
  fresh.done = runSync(cid, fresh);
  return fresh.done;
}

async function runSync(cid, run) {
  try {
    while (run.after != null) {
      let after = run.after;
      run.after = null;
      for (;;) {
        const r = await request('sync', { cid, after });
        const got = r.messages || [];
        for (const m of got) showMessage(m);
        if (!r.more || !got.length) break;
        after = got[got.length - 1].seq;
      }
    }
  } finally {
    syncRuns.delete(cid);
  }
}

function ping() {
  if (pingOut) { dropSocket(); return; }  // no pong for a whole period: the link is dead
  pingOut = true;
  request('ping', {}).then(() => { pingOut = false; }, () => {});
}

// ==== static/common/ws.js: backoffDelay

/** How long to wait before reconnecting, after `attempt` failed attempts in a row:
 *  exponential backoff with jitter, 0.5 s doubling up to 15 s, each wait drawn in
 *  [base/2, base]. Built into the widget too (scripts/build-widget copies its text). */
function backoffDelay(attempt) {
  const base = Math.min(15000, 500 * 2 ** attempt);
  return base / 2 + Math.random() * base / 2;
}

// ==== static/widget/src/composer.js

// ---- composer and typing ------------------------------------------------------------

let typingOn = false;
let typingSentAt = 0;
let typingIdle = null;
let typingTrail = null;

function autoGrow() {
  input.style.height = '';  // empty: back to one line (a long placeholder must not count)
  if (input.value) input.style.height = Math.min(input.scrollHeight + 2, 120) + 'px';
}

function onComposerKey(e) {
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    submit();
  }
}

function onInput() {
  autoGrow();
  if (!S.conv) return;
  if (!input.value.trim()) { stopTyping(); return; }
  clearTimeout(typingIdle);
  typingIdle = setTimeout(stopTyping, 4000);
  const wait = 1200 - (Date.now() - typingSentAt);
  if (wait <= 0) sendTyping();
  else if (!typingTrail) typingTrail = setTimeout(sendTyping, wait);
}

function sendTyping() {
  clearTimeout(typingTrail);
  typingTrail = null;
  if (!S.conv || !S.ready || !input.value.trim()) return;
  typingSentAt = Date.now();
  typingOn = true;
  if (!sneakPeek()) { send('typing', { cid: S.conv.id, on: true }); return; }  // the draft stays here
  // 4,000 UTF-16 units, never half of an emoji (a lone surrogate is refused by the server)
  const preview = input.value.slice(0, 4000).replace(/[\uD800-\uDBFF]$/, '');
  send('typing', { cid: S.conv.id, on: true, preview });
}

function stopTyping() {
  clearTimeout(typingIdle);
  clearTimeout(typingTrail);
  typingTrail = null;
  if (typingOn && S.conv) send('typing', { cid: S.conv.id, on: false });
  typingOn = false;
}

// ==== static/widget/src/files.js

// ---- attachments (PROTOCOL.md §10): the paperclip, a pasted screenshot and files dropped on
// the panel go into the tray of uploads (fileTray and fileSources, static/common/files.js's,
// built in after this), which the next message takes; a message's files are read with the
// visitor's token (fetch, then a blob: URL kept for the page's life). Files attach to an
// open conversation only: the first message opens it. Like the rest of the widget, none of
// this is ever recorded by co-browsing (the shadow host is blocked, see src/cobrowse/).

const FILE_SAY = {
  empty: T.fileEmpty, failed: T.fileFailed, offline: T.fileOffline, or: T.or, text: T.textType, close: T.closeImage,
  tooBig: (limit) => tr('fileTooBig', { limit }),
  badType: (types) => tr('fileType', { types }),
  many: (n) => tr('fileMany', { n }),
  remove: (name) => tr('fileRemove', { name }),
  uploading: (name) => tr('fileUploading', { name }),
  open: (name) => tr('fileOpen', { name }),
  download: (name) => tr('fileDownload', { name }),
};

/** The site's {maxBytes, types} (hello's `site.files`), or null from a server without files. */
function fileLimits() {
  return (S.site && S.site.files) || null;
}

function filesOn() {
  const f = fileLimits();
  return !!f && f.maxBytes > 0 && f.types.length > 0;
}

const auth = () => ({ Authorization: 'Bearer ' + (local.get('token') || '') });
const fileUrl = (id, part) => SERVER.origin + '/api/files/' + encodeURIComponent(id) + (part || '');
const fileBlobs = new Map();  // url -> Promise of its blob: URL

const tray = fileTray({
  list: trayEl,
  say: FILE_SAY,
  limits: fileLimits,
  target: (file) => (S.conv ? {
    url: SERVER.origin + '/api/files?cid=' + encodeURIComponent(S.conv.id) + '&name=' + encodeURIComponent(file.name || 'file'),
    headers: auth(),
  } : null),
  refused: (messages) => showComposerError(messages.join('\n') || null),
  home: () => input,
  // the image as it was picked stands for its thumbnail in this page (also offline)
  uploaded: (ref, url) => { if (url) fileBlobs.set(fileUrl(ref.id, '/thumb'), Promise.resolve(url)); },
});

fileSources({ input: fileInput, paste: input, drop: panel, zone: dropZone, wanted: filesOn, add: addFiles });

function addFiles(files) {
  if (!S.conv) { showComposerError(T.attachFirst); return; }
  tray.add(files);
}

function onAttach() {
  if (!S.conv) { showComposerError(T.attachFirst); return; }
  fileInput.click();
}

/** The paperclip: hidden when the site takes no files; until a conversation is open it
 *  stays focusable but says it is not available yet (aria-disabled and its hint). */
function renderAttach(mode) {
  attachBtn.hidden = !filesOn() || mode === 'ended';
  const waiting = !S.conv;
  attachBtn.setAttribute('aria-disabled', String(waiting));
  attachBtn.title = waiting ? T.attachFirst : T.attach;
  if (waiting) attachBtn.setAttribute('aria-describedby', 'attach-tip');
  else attachBtn.removeAttribute('aria-describedby');
  fileInput.accept = filesOn() ? fileAccept(fileLimits().types) : '';
}

/** The uploaded files for the next message: [] when none, null when it cannot go yet (the
 *  composer says why). */
function takeFiles() {
  if (!tray.size()) return [];
  const refs = tray.ready();
  if (!refs) showComposerError(T.fileWait);
  return refs;
}

/** The files of messages kept in localStorage, as the server described them. */
function savedFiles(files) {
  if (!Array.isArray(files)) return undefined;
  const ok = files.filter((f) => f && typeof f.id === 'string' && typeof f.name === 'string' && typeof f.type === 'string');
  return ok.length ? ok : undefined;
}

function fileBlob(url) {
  if (!fileBlobs.has(url)) {
    const got = fetch(url, { headers: auth(), credentials: 'omit' })
      .then((res) => (res.ok ? res.blob() : Promise.reject({ status: res.status })))
      .then((blob) => URL.createObjectURL(blob));
    got.catch(() => fileBlobs.delete(url));  // asked again next time
    fileBlobs.set(url, got);
  }
  return fileBlobs.get(url);
}

/** How fileList reads the files: with the visitor's token, into blob: URLs. */
const FILE_IO = {
  say: FILE_SAY,
  thumb(f, img) {
    fileBlob(fileUrl(f.id, '/thumb')).then((url) => { img.src = url; }, (e) => {
      const btn = img.parentElement;  // offline: its name shows, and it loads when drawn again
      if (btn && e && e.status) btn.replaceWith(h('span', { class: 'file-missing', text: f.name + ': ' + T.fileUnavailable }));
    });
  },
  full: (f) => fileBlob(fileUrl(f.id)),
  download(f, btn) {
    btn.setAttribute('aria-busy', 'true');
    fileBlob(fileUrl(f.id)).then((url) => {
      const a = h('a', { href: url, download: f.name, hidden: true });
      root.append(a);
      a.click();
      a.remove();
    }, () => showComposerError(f.name + ': ' + T.fileUnavailable)).then(() => btn.removeAttribute('aria-busy'));
  },
  parent: () => root,
  max: 220,
};

/** A message's text bubble (none when it is only files), its files, and the rest. */
function messageParts(text, files, ...rest) {
  return [text ? h('div', { class: 'bubble' }, linkify(text)) : null,
    files && files.length ? fileList(files, FILE_IO) : null, ...rest].filter(Boolean);
}

// ==== static/common/files.js: fileSize, fileTypeNames, fileAccept, sniffFile, checkFile, fileIcon, fileTray, fileSources, fitSize, fileLink, fileList, openImage

/** 512 bytes, 340 KB, 1.5 MB: the size of a file as people read it (1 KB = 1024 bytes). */
function fileSize(n) {
  if (n < 1024) return n + ' B';
  if (n < 1024 * 1024) return Math.max(1, Math.round(n / 1024)) + ' KB';
  const mb = n / (1024 * 1024);
  return (mb < 10 ? Math.round(mb * 10) / 10 : Math.round(mb)) + ' MB';
}

/** "PNG, JPEG, GIF, WebP, PDF or text": the types a site takes, for people. */
function fileTypeNames(types, or, text) {
  const names = { png: 'PNG', jpeg: 'JPEG', gif: 'GIF', webp: 'WebP', pdf: 'PDF', txt: text };
  const list = types.map((t) => names[t] || t);
  return list.length > 1 ? list.slice(0, -1).join(', ') + ' ' + or + ' ' + list[list.length - 1] : list.join('');
}

/** The file chooser's `accept`: the types' MIME types and usual extensions. */
function fileAccept(types) {
  const accept = {
    png: 'image/png,.png', jpeg: 'image/jpeg,.jpg,.jpeg', gif: 'image/gif,.gif', webp: 'image/webp,.webp',
    pdf: 'application/pdf,.pdf', txt: 'text/plain,.txt,.log,.csv,.md',
  };
  return types.map((t) => accept[t]).filter(Boolean).join(',');
}

/** The type of a file from its first bytes, as the server's core/files.sniff tells it:
 *  png, jpeg, gif, webp, pdf, txt (UTF-8 without control bytes other than tab, newline,
 *  carriage return and form feed), or null. */
function sniffFile(b) {
  const ascii = String.fromCharCode(...b.subarray(0, 12));
  if (b[0] === 0x89 && ascii.slice(1, 8) === 'PNG\r\n\x1a\n') return 'png';
  if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (ascii.startsWith('GIF87a') || ascii.startsWith('GIF89a')) return 'gif';
  if (ascii.startsWith('%PDF-')) return 'pdf';
  if (ascii.startsWith('RIFF') && ascii.slice(8, 12) === 'WEBP') return 'webp';
  if (!b.length) return null;
  const body = b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf ? b.subarray(3) : b;
  for (const x of body) if ((x < 0x20 && x !== 9 && x !== 10 && x !== 12 && x !== 13) || x === 0x7f) return null;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(body, { stream: true });  // a cut last character is fine
  } catch (e) {
    return null;
  }
  return 'txt';
}

/** Why `file` cannot be sent (a message for people), or null: checked before uploading,
 *  as the server would (type first, then size). limits: {maxBytes, types}, or null when
 *  not known (the server says then). Resolves, never rejects. */
function checkFile(file, limits, say) {
  if (!file.size) return Promise.resolve(say.empty);
  if (!limits) return Promise.resolve(null);
  return file.slice(0, 512).arrayBuffer().then((head) => {
    const type = sniffFile(new Uint8Array(head));
    if (!type || !limits.types.includes(type)) return say.badType(fileTypeNames(limits.types, say.or, say.text));
    return file.size > limits.maxBytes ? say.tooBig(fileSize(limits.maxBytes)) : null;
  }, () => say.failed);
}

/** A small document icon (decorative). */
function fileIcon() {
  return svgIcon('M6 2h8l6 6v12a2 2 0 0 1-2 2H6a2 2 0 0 1-2-2V4a2 2 0 0 1 2-2zm7 1.5V9h5.5zM8 13v1.5h8V13zm0 3.5V18h8v-1.5z', 'file-icon');
}

/**
 * The files being uploaded for the next message, as chips in `o.list` (an element): a
 * preview (the image itself, or an icon), name and size, a progress bar while uploading,
 * the server's message if it failed, and a remove button.
 * @param {object} o
 *   list                  the element that holds the chips
 *   say                   the texts: empty, failed, offline, or, text, tooBig(limit),
 *                         badType(types), many(n), remove(name), uploading(name)
 *   limits()              {maxBytes, types} of the site, or null when not known
 *   target(file)          where to upload: {url, headers}, or null when there is nowhere
 *   refused(messages)     files that were not taken, and why (an empty list: all were)
 *   home()                what takes the focus when the last chip is removed
 *   uploaded(ref, url)    optional: a file is uploaded; `url`, its image's blob: URL
 *                         (or null), stays valid once its message is sent
 */
function fileTray(o) {
  const chips = [];

  function add(files) {
    const messages = [];
    let chain = Promise.resolve();
    for (const file of files) {
      chain = chain.then(() => checkFile(file, o.limits(), o.say)).then((why) => {
        const name = file.name || 'file';
        if (!why && chips.filter((c) => c.state !== 'failed').length >= 10) why = o.say.many(10);
        if (why) messages.push(files.length > 1 ? name + ': ' + why : why);
        else start(file, name);
      });
    }
    return chain.then(() => o.refused(messages));
  }

  function start(file, name) {
    const chip = { file, name, state: 'uploading', ref: null, xhr: null, url: null };
    const bar = h('span', { class: 'chip-fill' });
    chip.meter = h('span', {
      class: 'chip-bar', role: 'progressbar', 'aria-label': o.say.uploading(name),
      'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': '0',
    }, bar);
    chip.bar = bar;
    chip.note = h('span', { class: 'chip-size', text: fileSize(file.size) });
    if (/^image\//.test(file.type)) chip.url = URL.createObjectURL(file);
    chip.el = h('li', { class: 'file-chip uploading' },
      h('span', { class: 'chip-preview', 'aria-hidden': 'true' }, chip.url ? h('img', { src: chip.url, alt: '' }) : fileIcon()),
      h('span', { class: 'chip-body' }, h('span', { class: 'chip-name', text: name, title: name }), chip.note, chip.meter),
      h('button', { type: 'button', class: 'chip-remove', 'aria-label': o.say.remove(name), title: o.say.remove(name), text: '×', onclick: () => remove(chip) }));
    chips.push(chip);
    o.list.append(chip.el);
    o.list.hidden = false;
    send(chip);
  }

  function send(chip) {
    const where = o.target(chip.file);
    if (!where) { failed(chip, o.say.failed); return; }
    const xhr = new XMLHttpRequest();
    chip.xhr = xhr;
    xhr.open('POST', where.url);
    for (const [k, v] of Object.entries(where.headers || {})) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => {
      if (!e.lengthComputable) return;
      const pct = Math.min(99, Math.floor((e.loaded / e.total) * 100));
      chip.bar.style.width = pct + '%';
      chip.meter.setAttribute('aria-valuenow', String(pct));
    };
    xhr.onload = () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch (e) { body = null; }
      if (xhr.status === 201 && body && body.file) done(chip, body.file);
      else failed(chip, (body && body.message) || o.say.failed);
    };
    xhr.onerror = () => failed(chip, o.say.offline);
    xhr.send(chip.file);
  }

  function done(chip, ref) {
    chip.xhr = null;
    chip.state = 'done';
    chip.ref = ref;
    chip.el.className = 'file-chip done';
    chip.meter.remove();
    chip.note.textContent = fileSize(ref.size);
    if (o.uploaded) o.uploaded(ref, chip.url);
  }

  function failed(chip, message) {
    chip.xhr = null;
    chip.state = 'failed';
    chip.el.className = 'file-chip failed';
    chip.meter.remove();
    chip.note.className = 'chip-error';
    chip.note.textContent = message;
  }

  function remove(chip) {
    const i = chips.indexOf(chip);
    if (i < 0) return;
    chips.splice(i, 1);
    if (chip.xhr) chip.xhr.abort();
    if (chip.url) URL.revokeObjectURL(chip.url);
    const next = chips[i] || chips[i - 1];
    chip.el.remove();
    o.list.hidden = !chips.length;
    (next ? next.el.querySelector('.chip-remove') : o.home()).focus();  // not lost with the chip
  }

  /** Every chip gone: `sent` with a message (whose rows may show the uploaded images'
   *  previews), or not (the conversation ended). */
  function clear(sent) {
    for (const chip of chips.splice(0)) {
      if (chip.xhr) chip.xhr.abort();
      if (chip.url && !(sent && chip.state === 'done')) URL.revokeObjectURL(chip.url);
      chip.el.remove();
    }
    o.list.hidden = true;
  }

  /** The uploaded files, for a message; null while some are still uploading. */
  function ready() {
    if (chips.some((c) => c.state === 'uploading')) return null;
    return chips.filter((c) => c.state === 'done').map((c) => c.ref);
  }

  return { add, clear, ready, size: () => chips.length };
}

/**
 * Where files come from: the chooser (`o.input`, a hidden <input type=file>), a paste
 * into `o.paste` (a screenshot; pasted text still pastes), and a drop onto `o.drop`,
 * which shows `o.zone` while files are dragged over it. o.add(files) takes them;
 * o.wanted() says whether attachments are on (else drops and pastes are left alone).
 */
function fileSources(o) {
  o.input.addEventListener('change', () => {
    const files = [...o.input.files];
    o.input.value = '';
    if (files.length) o.add(files);
  });
  o.paste.addEventListener('paste', (e) => {
    const data = e.clipboardData;
    const files = data ? [...data.files] : [];
    if (!files.length || !o.wanted()) return;
    if (!data.types.includes('text/plain')) e.preventDefault();
    o.add(files);
  });
  const dragged = (e) => e.dataTransfer && [...e.dataTransfer.types].includes('Files') && o.wanted();
  const over = (e) => {
    if (!dragged(e)) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = 'copy';
    o.zone.hidden = false;
  };
  o.drop.addEventListener('dragenter', over);
  o.drop.addEventListener('dragover', over);
  o.drop.addEventListener('dragleave', (e) => {
    if (!e.relatedTarget || !o.drop.contains(e.relatedTarget)) o.zone.hidden = true;
  });
  o.drop.addEventListener('drop', (e) => {
    o.zone.hidden = true;
    if (!dragged(e)) return;
    e.preventDefault();
    o.add([...e.dataTransfer.files]);
  });
}

/** An image's size on screen: at most `max` pixels either way, its proportions kept. */
function fitSize(f, max) {
  if (!f.width || !f.height) return [max, max];
  const k = Math.min(1, max / Math.max(f.width, f.height));
  return [Math.max(1, Math.round(f.width * k)), Math.max(1, Math.round(f.height * k))];
}

/** "name (size)", downloading the file: a link where the page may read the file as is
 *  (io.href), else a button (io.download fetches it). */
function fileLink(f, io) {
  const label = [fileIcon(), h('span', { class: 'file-name', text: f.name }), ' ',
    h('span', { class: 'file-size', text: '(' + fileSize(f.size) + ')' })];
  const title = io.say.download(f.name);
  if (io.href) return h('a', { class: 'file-dl', href: io.href(f), download: f.name, title }, ...label);
  return h('button', { type: 'button', class: 'file-dl', title, onclick: (e) => io.download(f, e.currentTarget) }, ...label);
}

/**
 * A message's files: images as thumbnails that open the lightbox, the others as downloads.
 * @param {Array} files  the message's File objects {id, name, type, size, width?, height?}
 * @param {object} io
 *   say        the texts: open(name), download(name), close
 *   thumb(f, img)   load the thumbnail into `img`
 *   full(f)    the full image's URL, or a Promise of it
 *   href(f)    a download URL the page can follow; or instead
 *   download(f, button)   fetch the file and save it
 *   parent()   where the lightbox goes
 *   max        the thumbnails' largest side on screen
 */
function fileList(files, io) {
  const images = ['png', 'jpeg', 'gif', 'webp'];
  return h('div', { class: 'files' }, ...files.map((f) => {
    if (!images.includes(f.type)) return fileLink(f, io);
    const [width, height] = fitSize(f, io.max);
    const img = h('img', { alt: f.name, width: String(width), height: String(height) });
    io.thumb(f, img);
    return h('button', {
      type: 'button', class: 'file-img', title: f.name, 'aria-label': io.say.open(f.name),
      onclick: (e) => openImage(f, io, e.currentTarget, img.currentSrc || img.src),
    }, img);
  }));
}

/** The lightbox: a modal dialog with the image (the thumbnail until the full one is
 *  here), its download and a close button. Esc, the button or a click beside the image
 *  close it; the focus goes back to `opener`. */
function openImage(f, io, opener, first) {
  const img = h('img', { class: 'lb-img', alt: f.name, src: first || null });
  const close = h('button', { type: 'button', class: 'lb-close', 'aria-label': io.say.close, title: io.say.close, text: '×' });
  const stage = h('div', { class: 'lb-stage' }, img);
  const dialog = h('dialog', { class: 'lightbox', 'aria-modal': 'true', 'aria-label': f.name },
    h('div', { class: 'lb-bar' }, fileLink(f, io), close), stage);
  close.addEventListener('click', () => dialog.close());
  dialog.addEventListener('click', (e) => { if (e.target === dialog || e.target === stage) dialog.close(); });
  dialog.addEventListener('keydown', (e) => { if (e.key === 'Escape') e.stopPropagation(); });  // not the page's
  dialog.addEventListener('close', () => {
    dialog.remove();
    if (opener && opener.isConnected) opener.focus();
  });
  io.parent().append(dialog);
  dialog.showModal();
  close.focus();
  Promise.resolve(io.full(f)).then((src) => { if (src) img.src = src; }, () => {});
  return dialog;
}

// ==== static/widget/src/panel.js

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

// ==== static/widget/src/main.js

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
})();
