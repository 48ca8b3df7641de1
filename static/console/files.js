/* The agent composer's attachments (PROTOCOL.md §10): the paperclip and its file chooser, a
 * paste into the reply box, files dropped onto the conversation; each chat has its own tray
 * of uploads (common/files.js: checks, chips with progress, the server's errors), which its
 * next message takes. The console is on the server's origin: uploads go to /api/files with
 * the session cookie. The site's limits (GET /api/sites/{site}, `files`) are checked before
 * uploading when known; else the server's answer says what is wrong. Files go to the
 * visitor only: an internal note takes none. */
(function () {
  'use strict';

  const { h } = window.ChatDom;
  const { fileTray, fileSources, fileAccept } = window.ChatFiles;
  const $ = (id) => document.getElementById(id);

  const SAY = {
    empty: 'This file is empty.',
    failed: 'The upload failed.',
    offline: 'The upload failed: check your connection.',
    wait: 'Wait until the files are uploaded.',
    note: 'Files go to the visitor: switch to a reply (Alt+N) to send them.',
    or: 'or',
    text: 'text',
    tooBig: (limit) => `This file is too big: the limit is ${limit}`,
    badType: (types) => `This type of file can't be sent: ${types}`,
    many: (n) => `At most ${n} files go with one message.`,
    remove: (name) => `Remove ${name}`,
    uploading: (name) => `Uploading ${name}`,
  };
  const ATTACH = 'Attach files (or paste, or drop them on the conversation)';

  /**
   * @param {object} env
   *   chat()       the selected chat (console.js's), or null
   *   noteMode()   whether the composer writes an internal note
   */
  function create(env) {
    const trays = new Map();  // cid -> {tray, list}
    const sites = new Map();  // site id -> {limits} once asked ({limits: null}: not known)
    let shown = null;  // the chat whose tray shows

    /** The site's {maxBytes, types}; null while not known. Asked once per site. */
    function limitsOf(chat) {
      const id = (chat && chat.conv.site) || 'demo';
      const known = sites.get(id);
      if (known) return known.limits;
      sites.set(id, { limits: null });
      fetch('/api/sites/' + encodeURIComponent(id)).then((res) => (res.ok ? res.json() : null)).then((info) => {
        const f = info && info.files;
        if (!f || typeof f.max_bytes !== 'number' || !Array.isArray(f.types)) return;
        sites.set(id, { limits: { maxBytes: f.max_bytes, types: f.types } });
        show();
      }, () => sites.delete(id));  // asked again next time
      return null;
    }

    function trayOf(chat, make) {
      let entry = trays.get(chat.id);
      if (entry || !make) return entry || null;
      const list = h('ul', { class: 'file-tray', 'aria-label': 'Attachments', 'aria-live': 'polite', hidden: true });
      const tray = fileTray({
        list,
        say: SAY,
        limits: () => limitsOf(chat),
        target: (file) => (chat.closed ? null : {
          url: '/api/files?cid=' + encodeURIComponent(chat.id) + '&name=' + encodeURIComponent(file.name || 'file'),
        }),
        refused: (messages) => error(messages.join('\n')),
        home: () => $('input'),
      });
      entry = { tray, list };
      trays.set(chat.id, entry);
      return entry;
    }

    function error(text) {
      $('file-error').textContent = text || '';
      $('file-error').hidden = !text;
    }

    function enabled(chat) {
      const limits = limitsOf(chat);
      return !limits || (limits.maxBytes > 0 && limits.types.length > 0);
    }

    /** The selected chat's tray and paperclip (after a selection, a mode or a limit change). */
    function show() {
      const chat = env.chat();
      const entry = chat && trayOf(chat, false);
      $('file-tray-slot').replaceChildren(...(entry ? [entry.list] : []));
      if (shown !== (chat && chat.id)) error(null);
      shown = chat && chat.id;
      const btn = $('attach-btn');
      btn.hidden = !chat || !enabled(chat);
      btn.disabled = !chat || !!chat.closed || env.noteMode();
      btn.title = env.noteMode() ? SAY.note : ATTACH;
      const limits = chat && limitsOf(chat);
      $('file-input').accept = limits ? fileAccept(limits.types) : '';
    }

    function add(files) {
      const chat = env.chat();
      if (!chat || chat.closed) return;
      if (env.noteMode()) { error(SAY.note); return; }
      error(null);
      const entry = trayOf(chat, true);
      if (!entry.list.isConnected) $('file-tray-slot').replaceChildren(entry.list);
      entry.tray.add(files);
    }

    /** The uploaded files for the chat's next message: [] when none, null when it cannot go
     *  yet (the composer says why). */
    function take(chat) {
      const entry = trayOf(chat, false);
      if (!entry || !entry.tray.size()) return [];
      if (env.noteMode()) { error(SAY.note); return null; }
      const refs = entry.tray.ready();
      if (!refs) error(SAY.wait);
      return refs;
    }

    /** The chat's message took its files; or the chat is gone. */
    function forget(cid) {
      const entry = trays.get(cid);
      if (!entry) return;
      entry.tray.clear();
      trays.delete(cid);
      error(null);
    }

    $('attach-btn').addEventListener('click', () => $('file-input').click());
    fileSources({
      input: $('file-input'),
      paste: $('input'),
      drop: $('chat-view'),
      zone: $('drop-zone'),
      wanted: () => { const chat = env.chat(); return !!chat && !chat.closed && enabled(chat); },
      add,
    });

    return { show, take, forget };
  }

  window.ChatComposerFiles = { create };
})();
