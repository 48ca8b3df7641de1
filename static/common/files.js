/* Attachments (PROTOCOL.md §10), shared by the console, the dashboard and the widget: what a
 * file may be (told by its first bytes, as the server tells it), the tray of files being
 * uploaded for the next message (XMLHttpRequest, for its upload progress), where they come
 * from (the file chooser, paste, drag and drop), a message's files and the image lightbox.
 *
 * Where the bytes come from differs: the console and the dashboard are on the server's
 * origin and its session cookie reads /api/files/ as is, the widget runs on the site's pages
 * and fetches them with the visitor's token (an `io` object says which, see fileList).
 * scripts/build-widget copies these functions into the widget by name: they must use
 * nothing but h() (static/common/dom.js's, copied too) and each other, and no `async`.
 * Names and sizes go in through textContent only. */
(function () {
  'use strict';

  const { h, svgIcon } = window.ChatDom;

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

  /** For pages on the server's own origin (the console, the dashboard): the session
   *  cookie reads the files, so plain URLs do. */
  const pageIO = {
    say: {
      open: (name) => 'Open image ' + name, download: (name) => 'Download ' + name, close: 'Close',
    },
    thumb(f, img) {
      img.addEventListener('error', () => {  // not (or no longer) readable here
        const btn = img.parentElement;
        if (btn) btn.replaceWith(h('span', { class: 'file-missing', text: f.name + ': not available' }));
      }, { once: true });
      img.src = '/api/files/' + encodeURIComponent(f.id) + '/thumb';
    },
    full: (f) => '/api/files/' + encodeURIComponent(f.id),
    href: (f) => '/api/files/' + encodeURIComponent(f.id) + '?download=1',
    parent: () => document.body,
    max: 240,
  };

  /** "a.png, b.pdf": a message's files in a line of text (previews, notifications). */
  function fileNames(files) {
    return (files || []).map((f) => f.name).join(', ');
  }

  window.ChatFiles = {
    fileSize, fileTypeNames, fileAccept, sniffFile, checkFile, fileTray, fileSources, fileList, fileNames, openImage, pageIO,
  };
})();
