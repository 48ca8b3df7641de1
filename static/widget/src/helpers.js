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
