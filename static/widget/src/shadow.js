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
