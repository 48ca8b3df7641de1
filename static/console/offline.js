/* The console's part of "the visitor is never left hanging" (PROTOCOL.md, issue 14): the
 * offline messages waiting to be picked up (`pending` in the `ok` of `hello`, in `state` and
 * in `pending` events), the business hours of the site in the top bar (GET
 * /api/sites/{site}), the visitor's pre-chat answers in the visitor panel, and snoozing a
 * chat's auto-close on inactivity.
 *
 * An older server sends no `pending` list and has no /api/sites: then none of this shows,
 * and the console is what it was. It reads the console's state (console.js) and draws; what
 * its buttons do goes through `act`. User text goes in through textContent only. */
(function () {
  'use strict';

  const { h, duration, clock } = window.ChatDom;
  const $ = (id) => document.getElementById(id);

  /** The site whose hours show when the selected chat does not say which site it is on. */
  const DEFAULT_SITE = 'demo';
  const DAYS = [['mon', 'Monday'], ['tue', 'Tuesday'], ['wed', 'Wednesday'], ['thu', 'Thursday'],
    ['fri', 'Friday'], ['sat', 'Saturday'], ['sun', 'Sunday']];
  const WARNING = /^This chat will close in \d+ minutes?/;
  const REFRESH_MS = 10 * 60 * 1000;

  /** Site settings by id, as GET /api/sites/{id} gave them: {info} or {missing: true}. */
  const sites = new Map();

  function siteOf(conv) {
    return (conv && typeof conv.site === 'string' && conv.site) || DEFAULT_SITE;
  }

  /** A topic's label from the site's topic picker; the id itself when no site lists it. */
  function topicLabel(topic, conv) {
    if (!topic) return null;
    const preferred = sites.get(siteOf(conv));
    const all = preferred && preferred.info ? [preferred, ...sites.values()] : [...sites.values()];
    for (const s of all) {
      const found = s.info && Array.isArray(s.info.topics) && s.info.topics.find((t) => t && t.id === topic);
      if (found && found.label) return found.label;
    }
    return topic;
  }

  /** "09:00", or "Mon 09:00" when not today, or "25 Dec 09:00" when more than 6 days away. */
  function when(ts, now) {
    const at = new Date(ts);
    const today = new Date(now);
    if (at.toDateString() === today.toDateString()) return 'at ' + clock(ts);
    const days = (ts - now) / 86400000;
    const date = days < 6
      ? at.toLocaleDateString([], { weekday: 'short' })
      : at.toLocaleDateString([], { day: 'numeric', month: 'short' });
    return date + ' ' + clock(ts);
  }

  /** [open, now, next] for the top bar: "Open now", "closes at 17:30"; "Closed", "opens Mon 09:00". */
  function hoursSummary(info, now) {
    if (!info.hours) return [true, 'Always open', ''];
    const next = typeof info.next_change === 'number' ? info.next_change : null;
    if (info.open) return [true, 'Open now', next ? 'closes ' + when(next, now) : ''];
    return [false, 'Closed', next ? 'opens ' + when(next, now) : ''];
  }

  /**
   * @param {object} model  what it reads: me, sock, pending (list or null), pendingAt,
   *   offline (whether the server knows offline messages), chats, selected
   * @param {object} act    claim(cid, button), snooze(cid, minutes) -> Promise, notice(text)
   */
  function create(model, act) {
    const current = () => model.chats.get(model.selected);
    let shownSite = null;
    let timer = null;

    // ---- pending list -----------------------------------------------------------------

    function renderPending() {
      const list = model.pending;
      $('pending-section').hidden = !Array.isArray(list);
      if (!Array.isArray(list)) return;
      const box = $('pending');
      const focused = box.contains(document.activeElement) ? document.activeElement.dataset.cid : null;
      box.replaceChildren(...list.map((p) => {
        const v = p.visitor || {};
        const who = v.name || v.email || 'Visitor';
        const topic = topicLabel(p.topic, null);
        return h('li', { class: 'pending-item', 'data-cid': p.cid },
          h('div', { class: 'row' },
            h('strong', { text: who }),
            h('span', { class: 'muted waited', 'data-waited': p.waited_s || 0 })),
          v.email && v.name ? h('div', { class: 'email', text: v.email }) : null,
          topic ? h('div', { class: 'topic', text: topic }) : null,
          h('div', { class: 'preview pending-preview', text: p.preview || '', title: p.preview || '' }),
          h('button', {
            type: 'button', class: 'primary', text: 'Pick up', 'data-cid': p.cid,
            'aria-label': `Pick up the message from ${who}`,
            onclick: (e) => act.claim(p.cid, e.currentTarget),
          }));
      }));
      if (!list.length) box.append(h('li', { class: 'empty', text: 'No offline messages: nobody is waiting for an answer.' }));
      $('pending-count').textContent = list.length ? String(list.length) : '';
      updateWaited();
      const again = focused && [...box.querySelectorAll('button')].find((b) => b.dataset.cid === focused);
      if (again) again.focus();
    }

    function updateWaited() {
      const elapsed = (Date.now() - model.pendingAt) / 1000;
      for (const el of $('pending').querySelectorAll('.waited')) {
        const s = +el.dataset.waited + elapsed;
        el.textContent = duration(s);
        el.title = `Left ${duration(s)} ago, waiting for an answer`;
      }
    }

    // ---- business hours ---------------------------------------------------------------

    async function loadSite(id) {
      const known = sites.get(id);
      if (known && known.loading) return;
      sites.set(id, Object.assign({}, known, { loading: true }));
      let entry;
      try {
        const res = await fetch('/api/sites/' + encodeURIComponent(id));
        entry = res.ok ? { info: await res.json(), at: Date.now() }
          : { missing: true, at: Date.now() };  // an older server, or no such site
      } catch (e) {
        entry = Object.assign({}, known, { at: Date.now() });  // try again at the next refresh
      }
      entry.loading = false;
      sites.set(id, entry);
      renderHours();
      renderPending();  // topic labels
      const chat = current();
      if (chat) renderVisitor(chat);
    }

    /** The hours of the selected chat's site (else the last shown, else the default one). */
    function renderHours() {
      const chat = current();
      const id = chat ? siteOf(chat.conv) : shownSite || DEFAULT_SITE;
      shownSite = id;
      const entry = sites.get(id);
      const stale = !entry || (!entry.loading && Date.now() - (entry.at || 0) > REFRESH_MS) ||
        (entry.info && typeof entry.info.next_change === 'number' && Date.now() >= entry.info.next_change && !entry.loading);
      if (stale && model.me && model.offline) loadSite(id);  // an older server has no /api/sites
      const box = $('site-hours');
      if (!entry || !entry.info) { box.hidden = true; return; }
      const info = entry.info;
      const [open, now, next] = hoursSummary(info, Date.now());
      const text = now + (next ? ' · ' + next : '');
      box.hidden = false;
      box.dataset.open = String(open);
      $('hours-now').textContent = now;
      $('hours-next').textContent = next ? ' · ' + next : '';
      $('hours-full').textContent = text + '.';
      box.querySelector('summary').title = `Business hours of the site “${id}”: ${text}`;
      $('hours-site').textContent = id;
      renderWeek(info);
      clearTimeout(timer);
      const due = typeof info.next_change === 'number' ? info.next_change - Date.now() : null;
      // at the next opening or closing the server says what holds then; at least every 10 min
      timer = setTimeout(renderHours, Math.max(1000, Math.min(due == null ? REFRESH_MS : due + 1000, REFRESH_MS)));
    }

    function renderWeek(info) {
      const hours = info.hours;
      const body = $('hours-week');
      if (!hours) {
        $('hours-tz').textContent = 'No business hours are set: chats are routed at any time.';
        body.replaceChildren();
        $('hours-holidays').textContent = '';
        return;
      }
      $('hours-tz').textContent = `Times in the site's time zone, ${hours.tz || 'UTC'}.`;
      const weekly = hours.weekly || {};
      body.replaceChildren(...DAYS.map(([key, name]) => {
        const spans = Array.isArray(weekly[key]) ? weekly[key] : [];
        return h('tr', {}, h('th', { scope: 'row', text: name }),
          h('td', { text: spans.length ? spans.map((s) => `${s[0]}–${s[1]}`).join(', ') : 'Closed' }));
      }));
      const holidays = Array.isArray(hours.holidays) ? hours.holidays : [];
      $('hours-holidays').textContent = holidays.length ? 'Closed on ' + holidays.join(', ') + '.' : '';
    }

    // ---- visitor panel: pre-chat answers, topic, auto-close ----------------------------

    function fieldValue(value, field) {
      if (typeof value === 'boolean') return document.createTextNode(value ? 'Yes' : 'No');
      const text = value == null || value === '' ? '—' : String(value);
      if (field && field.type === 'email' && text.includes('@')) return h('a', { href: 'mailto:' + text, text });
      return document.createTextNode(text);
    }

    function renderVisitor(chat) {
      const conv = chat.conv;
      const entry = sites.get(siteOf(conv));
      const form = entry && entry.info && Array.isArray(entry.info.form) ? entry.info.form : [];
      const byName = new Map(form.map((f) => [f.name, f]));
      const fields = conv.fields && typeof conv.fields === 'object' ? Object.entries(conv.fields) : [];
      $('v-fields-section').hidden = !fields.length;
      $('v-fields').replaceChildren(...fields.flatMap(([name, value]) => {
        const field = byName.get(name);
        return [h('dt', { text: (field && field.label) || name }), h('dd', {}, fieldValue(value, field))];
      }));
      $('v-topic').textContent = conv.topic ? topicLabel(conv.topic, conv) : '—';
      renderSnooze(chat);
    }

    function renderSnooze(chat) {
      if (!chat) return;
      const section = $('autoclose');
      const on = model.offline && !chat.closed && (chat.conv.state || 'active') === 'active';
      section.hidden = !on;
      const last = chat.msgs[chat.msgs.length - 1];
      const until = chat.conv.snoozed_until;
      const snoozed = typeof until === 'number' && until > Date.now();
      const warned = on && !snoozed && last && last.kind === 'event' && WARNING.test(last.text || '');
      $('inactive-bar').hidden = !warned;
      if (!on) return;
      const entry = sites.get(siteOf(chat.conv));
      const info = entry && entry.info;
      $('snooze-state').textContent = snoozed ? `Auto-close snoozed until ${clock(until)}.`
        : info && info.inactive_warn_s ? `After ${duration(info.inactive_warn_s)} without a message the chat is warned,` +
          ` then closed ${duration(info.inactive_close_s || 0)} later.`
          : 'A chat without messages for a while is warned, then closed.';
      $('autoclose').dataset.snoozed = String(snoozed);
    }

    async function snooze(minutes, button) {
      const chat = current();
      if (!chat || chat.closed) return;
      button.disabled = true;
      try {
        const ok = await act.snooze(chat.id, minutes);
        chat.conv = Object.assign({}, chat.conv, { snoozed_until: ok.until });
        act.notice(`Auto-close snoozed until ${clock(ok.until)}.`);
      } catch (err) {
        act.notice(err.code === 'offline' ? 'You are offline: snooze again once reconnected.'
          : 'Could not snooze: ' + (err.message || err.code));
      } finally {
        button.disabled = false;
      }
      if (current() === chat) renderSnooze(chat);
    }

    $('snooze-btn').addEventListener('click', (e) => snooze(+$('snooze-minutes').value, e.currentTarget));
    $('inactive-snooze').addEventListener('click', (e) => snooze(30, e.currentTarget));
    const details = $('site-hours');
    details.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && details.open) { e.preventDefault(); details.open = false; details.querySelector('summary').focus(); }
    });
    document.addEventListener('click', (e) => { if (details.open && !details.contains(e.target)) details.open = false; });
    setInterval(() => { const chat = current(); if (chat) renderSnooze(chat); }, 30000);

    return { pending: renderPending, waited: updateWaited, hours: renderHours, visitor: renderVisitor, snooze: renderSnooze };
  }

  window.ChatOffline = { create, topicLabel, hoursSummary };
})();
