/* Canned responses: kept per agent in localStorage, five defaults to start with.
 * Typing "/" at the start of the composer opens a list filtered by what follows the slash
 * (shortcut or text); ArrowUp/ArrowDown move, Enter or Tab insert, Escape closes.
 * A small editor (a <dialog>) adds and removes entries. */
(function () {
  'use strict';

  const { h } = window.ChatDom;

  const DEFAULTS = [
    { key: 'hi', text: 'Hi, thanks for reaching out! How can I help you today?' },
    { key: 'check', text: 'Let me check that for you, it will only take a moment.' },
    { key: 'order', text: 'Could you give me your order number, or the email address you ordered with, so that I can look it up?' },
    { key: 'else', text: 'Is there anything else I can help you with?' },
    { key: 'bye', text: 'Thanks for chatting with us. Have a great day!' },
  ];

  let storageKey = null;
  let items = [];

  function load(agentId) {
    storageKey = 'chat:canned:' + agentId;
    let saved = null;
    try { saved = JSON.parse(localStorage.getItem(storageKey)); } catch (e) { /* corrupt: defaults */ }
    items = Array.isArray(saved) ? saved.filter((x) => x && typeof x.key === 'string' && typeof x.text === 'string')
      : DEFAULTS.map((x) => Object.assign({}, x));
  }

  function save() {
    try { localStorage.setItem(storageKey, JSON.stringify(items)); } catch (e) { /* full: kept for this page */ }
  }

  function matching(query) {
    const q = query.trim().toLowerCase();
    if (!q) return items.slice();
    const starts = items.filter((x) => x.key.toLowerCase().startsWith(q));
    const rest = items.filter((x) => !starts.includes(x) &&
      (x.key.toLowerCase().includes(q) || x.text.toLowerCase().includes(q)));
    return starts.concat(rest);
  }

  // ---- the "/" list -------------------------------------------------------------------

  /** Attach the list to a textarea; `onInsert(text)` is called with the chosen text. */
  function attach(textarea, popup) {
    let shown = [];
    let active = 0;

    function isOpen() { return !popup.hidden; }

    function close() {
      popup.hidden = true;
      textarea.setAttribute('aria-expanded', 'false');
      textarea.removeAttribute('aria-activedescendant');
    }

    function render() {
      popup.replaceChildren(...shown.map((x, i) => h('li', {
        id: 'canned-opt-' + i, role: 'option', class: 'canned-opt', 'aria-selected': String(i === active),
        onmousedown: (e) => { e.preventDefault(); choose(i); },
      }, h('span', { class: 'key', text: '/' + x.key }), h('span', { class: 'txt', text: x.text }))));
      if (!shown.length) popup.append(h('li', { class: 'canned-none', text: 'No canned response matches. Manage them with the ☰ button.' }));
      textarea.setAttribute('aria-activedescendant', shown.length ? 'canned-opt-' + active : '');
      const el = popup.children[active];
      if (el && el.scrollIntoView) el.scrollIntoView({ block: 'nearest' });
    }

    function update() {
      const value = textarea.value;
      if (!value.startsWith('/') || value.includes('\n') || value.length > 40) { close(); return; }
      shown = matching(value.slice(1));
      active = Math.min(active, Math.max(0, shown.length - 1));
      popup.hidden = false;
      textarea.setAttribute('aria-expanded', 'true');
      render();
    }

    function choose(i) {
      const item = shown[i];
      if (!item) return;
      textarea.value = item.text;
      close();
      textarea.focus();
      textarea.setSelectionRange(item.text.length, item.text.length);
      textarea.dispatchEvent(new Event('input', { bubbles: true }));
    }

    textarea.setAttribute('aria-autocomplete', 'list');
    textarea.setAttribute('aria-controls', popup.id);
    textarea.setAttribute('aria-expanded', 'false');
    textarea.addEventListener('input', () => { active = 0; update(); });
    textarea.addEventListener('blur', () => setTimeout(close, 100));
    textarea.addEventListener('keydown', (e) => {
      if (!isOpen()) return;
      if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        e.preventDefault();
        if (!shown.length) return;
        active = (active + (e.key === 'ArrowDown' ? 1 : -1) + shown.length) % shown.length;
        render();
      } else if ((e.key === 'Enter' && !e.shiftKey) || e.key === 'Tab') {
        if (!shown.length) return;
        e.preventDefault();
        e.stopImmediatePropagation();
        choose(active);
      } else if (e.key === 'Escape') {
        e.preventDefault();
        e.stopImmediatePropagation();
        close();
      }
    });
    return { close, isOpen };
  }

  // ---- the editor ---------------------------------------------------------------------

  function openEditor(dialog, onClose) {
    const listEl = dialog.querySelector('.canned-list');
    const form = dialog.querySelector('form.canned-add');
    const error = dialog.querySelector('.canned-error');

    function render() {
      listEl.replaceChildren(...items.map((x, i) => h('li', {},
        h('div', { class: 'canned-item' }, h('strong', { text: '/' + x.key }), h('span', { text: x.text })),
        h('button', {
          type: 'button', class: 'danger small', text: 'Remove', 'aria-label': 'Remove /' + x.key,
          onclick: () => {
            items.splice(i, 1);
            save();
            render();
            const next = listEl.querySelectorAll('button')[Math.min(i, items.length - 1)];
            (next || form.elements.key).focus();
          },
        }))));
      if (!items.length) listEl.append(h('li', { class: 'empty', text: 'No canned responses yet.' }));
    }

    form.onsubmit = (e) => {
      e.preventDefault();
      const key = form.elements.key.value.trim().replace(/^\/+/, '').replace(/\s+/g, '-').toLowerCase();
      const text = form.elements.text.value.trim();
      let problem = null;
      if (!key) problem = 'Give it a shortcut, for example "shipping".';
      else if (!text) problem = 'Write the text of the response.';
      else if (items.some((x) => x.key === key)) problem = `/${key} exists already.`;
      error.textContent = problem || '';
      error.hidden = !problem;
      if (problem) return;
      items.push({ key, text });
      save();
      form.reset();
      render();
      form.elements.key.focus();
    };
    dialog.querySelector('.canned-reset').onclick = () => {
      items = DEFAULTS.map((x) => Object.assign({}, x));
      save();
      render();
    };
    dialog.onclose = () => { error.hidden = true; if (onClose) onClose(); };
    render();
    dialog.showModal();
    form.elements.key.focus();
  }

  window.ChatCanned = { load, attach, openEditor, matching, get items() { return items.slice(); }, DEFAULTS };
})();
