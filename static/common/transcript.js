/* Transcript rows shared by the console and the dashboard's read-only view: visitor and
 * agent messages with their files (common/files.js), internal notes (styled apart) and
 * system lines. Text goes in through textContent and DOM-built links only. */
(function () {
  'use strict';

  const { h, linkify, clock } = window.ChatDom;
  const { fileList, pageIO } = window.ChatFiles;

  /** The text (none when a message is only files), then the files. */
  function body(m) {
    return [m.text ? h('div', { class: 'text' }, linkify(m.text)) : null,
      m.files && m.files.length ? fileList(m.files, pageIO) : null];
  }

  function kindOf(m) {
    if (m.kind === 'event' || (m.from && m.from.role === 'system')) return 'event';
    if (m.kind === 'note') return 'note';
    return m.from && m.from.role === 'visitor' ? 'visitor' : 'agent';
  }

  /** One stored message. `visitorName` labels the visitor's messages. */
  function row(m, visitorName) {
    const kind = kindOf(m);
    const full = m.ts ? new Date(m.ts).toLocaleString() : '';
    if (kind === 'event') {
      return h('div', { class: 'm event', 'data-seq': m.seq, title: full },
        h('span', { text: m.text }), h('time', { class: 'muted', text: ' · ' + clock(m.ts) }));
    }
    const who = kind === 'visitor' ? visitorName : (m.from && m.from.name) || 'Agent';
    return h('div', { class: 'm ' + kind, 'data-seq': m.seq },
      h('div', { class: 'meta' },
        kind === 'note' ? h('span', { class: 'label', text: 'Internal note' }) : null,
        h('span', { class: 'who', text: who }),
        m.from && m.from.bot === true ? h('span', { class: 'bot-tag', text: 'Bot' }) : null,
        h('time', { class: 'muted', text: clock(m.ts), title: full })),
      ...body(m));
  }

  /** A message or note not acknowledged yet: {kind, text, files, error}. */
  function pendingRow(item) {
    const note = item.kind === 'note';
    return h('div', { class: 'm pending ' + (note ? 'note' : 'agent') + (item.error ? ' failed' : ''), 'data-cmid': item.cmid },
      h('div', { class: 'meta' },
        note ? h('span', { class: 'label', text: 'Internal note' }) : null,
        h('span', { class: 'state', text: item.error || (item.waiting ? 'Waiting for connection…' : 'Sending…') })),
      ...body(item));
  }

  window.ChatTranscript = { row, pendingRow, kindOf };
})();
