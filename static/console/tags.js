/* Console tags (issue 17): the selected chat's tags under its header (remove with ×, add by
 * typing and Enter), each chat's tags in the list, and a filter of the list by tag.
 *
 * Tags change over the socket (`tag {cid, add?, remove?}` -> `ok {tags}`); another tab, a
 * supervisor or the write API changing them arrives as `tagged {cid, tags}`. The elements
 * are made here and kept in step with render.js's drawing by watching what it redraws (the
 * chat list, the chat title), so render.js does not know about tags. */
(function () {
  'use strict';

  const { h } = window.ChatDom;
  const $ = (id) => document.getElementById(id);
  const TAG_RE = /^[a-z0-9_-]{1,32}$/;

  function create(model, { notice }) {
    const filter = h('input', {
      id: 'tag-filter', type: 'search', class: 'tag-filter', placeholder: 'Filter by tag',
      'aria-label': 'Filter chats by tag', maxlength: '32', autocomplete: 'off',
      oninput: () => decorateList(),
    });
    $('chats').before(filter);
    const input = h('input', {
      id: 'tag-input', class: 'tag-input', placeholder: 'Add tag…', maxlength: '32',
      'aria-label': 'Add a tag', autocomplete: 'off',
      onkeydown: (e) => {
        if (e.key !== 'Enter') return;
        e.preventDefault();
        add(input.value);
      },
    });
    const list = h('ul', { class: 'tag-list', 'aria-label': 'Tags' });
    const bar = h('div', { id: 'chat-tags', class: 'chat-tags' }, list, input);
    document.querySelector('#chat-view .chat-head').after(bar);

    new MutationObserver(() => decorateList()).observe($('chats'), { childList: true });
    new MutationObserver(() => renderBar()).observe($('chat-title'), { childList: true, characterData: true, subtree: true });

    function tagsOf(chat) { return (chat && chat.conv && chat.conv.tags) || []; }

    function chip(tag, onremove, el = 'li') {
      return h(el, { class: 'tag', 'data-tag': tag }, h('span', { text: tag }),
        onremove ? h('button', { type: 'button', class: 'tag-x', 'aria-label': `Remove tag ${tag}`, text: '×', onclick: onremove }) : null);
    }

    /** Each chat's tags in the list, and the filter: chats without a matching tag hidden. */
    function decorateList() {
      const wanted = filter.value.trim().toLowerCase();
      for (const button of $('chats').querySelectorAll('button.chat-item[data-cid]')) {
        const tags = tagsOf(model.chats.get(button.dataset.cid));
        let line = button.querySelector('.tags');
        // spans: a button holds phrasing content only
        if (!line) { line = h('span', { class: 'tags tag-list small' }); button.append(line); }
        line.replaceChildren(...tags.map((t) => chip(t, null, 'span')));
        line.hidden = !tags.length;
        button.parentElement.hidden = !!wanted && !tags.some((t) => t.startsWith(wanted));
      }
    }

    function renderBar() {
      const chat = model.chats.get(model.selected);
      bar.hidden = !chat;
      if (!chat) return;
      list.replaceChildren(...tagsOf(chat).map((t) => chip(t, () => change(chat.id, { remove: [t] }))));
    }

    function add(raw) {
      const chat = model.chats.get(model.selected);
      const tag = raw.trim().toLowerCase();
      if (!chat || !tag) return;
      if (!TAG_RE.test(tag)) { notice('A tag is 1 to 32 letters, digits, "-" or "_".'); return; }
      change(chat.id, { add: [tag] }).then(() => { input.value = ''; });
    }

    function change(cid, fields) {
      if (!model.sock) { notice('Not connected: try again in a moment.'); return Promise.resolve(); }
      return model.sock.request('tag', { cid, ...fields }).then(
        (ok) => tagged({ cid, tags: ok.tags }),
        (err) => notice('Could not change the tags: ' + (err.message || err.code)),
      );
    }

    /** `tagged {cid, tags}`, or our own `ok`. */
    function tagged(f) {
      const chat = model.chats.get(f.cid);
      if (!chat) return;
      chat.conv = { ...chat.conv, tags: f.tags };
      decorateList();
      if (f.cid === model.selected) renderBar();
    }

    return { tagged, refresh: () => { decorateList(); renderBar(); } };
  }

  window.ChatTags = { create };
})();
