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
