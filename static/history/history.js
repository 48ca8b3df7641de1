/* History (issue 16): search past and present conversations (GET /api/search: supervisors
 * all of them, agents those they held) and read one in a side panel (GET
 * /api/conversations/{cid}, audited), with notes and attachments as in the console. The
 * snippet's matching words come as plain text parts: they go in through textContent and
 * <mark> elements, never innerHTML. */
(function () {
  'use strict';

  const { h } = window.ChatDom;
  const { row: messageRow } = window.ChatTranscript;
  const $ = (id) => document.getElementById(id);
  const form = $('search-form');
  const PAGE = 20;

  let me = null;
  let next = null;        // the cursor of the next page
  let asked = '';         // the query string of the results shown
  let busy = false;       // a page is on its way
  let ticket = 0;         // the newest search asked; older answers are dropped
  let openCid = null;
  let shown = 0;

  // ---- the query ------------------------------------------------------------------------

  /** A date input's day in the browser's time zone, as an ISO instant (its first or last ms). */
  function dayBound(value, end) {
    const [y, m, d] = value.split('-').map(Number);
    const at = end ? new Date(y, m - 1, d, 23, 59, 59, 999) : new Date(y, m - 1, d);
    return at.toISOString();
  }

  function queryString() {
    const params = new URLSearchParams();
    for (const [name, value] of new FormData(form)) {
      const v = String(value).trim();
      if (!v) continue;
      params.set(name, name === 'from' || name === 'to' ? dayBound(v, name === 'to') : v);
    }
    return params.toString();
  }

  // ---- searching ------------------------------------------------------------------------

  /** Shows the first page of what the form asks, or (more) the next page of what is shown.
   * A new search replaces one still on its way: the older answer is dropped when it comes. */
  async function search(more) {
    if (more && busy) return;
    const { from, to } = form.elements;
    if (!more && from.value && to.value && from.value > to.value) {
      showError('The “From” date is after the “To” date.');
      to.focus();
      return;
    }
    const query = more ? asked : queryString();
    const params = new URLSearchParams(query);
    params.set('limit', String(PAGE));
    if (more && next) params.set('cursor', next);
    const mine = ++ticket;
    setBusy(true);
    if (!more) $('summary').textContent = 'Searching…';
    let res = null;
    let body = {};
    try {
      res = await fetch('/api/search?' + params.toString());
      body = await res.json().catch(() => ({}));
    } catch (e) { /* shown below */ }
    if (mine !== ticket) return;  // a newer search has taken its place
    setBusy(false);
    if (res && res.status === 401) {
      window.ChatAuth.showLogin('Your session has ended, please sign in again.');
      return;
    }
    if (!res || !res.ok || !Array.isArray(body.results)) {
      showError(!res ? 'The server cannot be reached, please try again.'
        : res.status === 400 ? `Check the search: ${body.message || 'a value is not valid'}.`
          : res.status === 403 ? 'You can search only the conversations you handled.'
            : `The search failed (error ${res.status}).`);
      if (!more) $('summary').textContent = '';
      return;
    }
    showError('');
    if (!more) {
      asked = query;
      shown = 0;
      $('results').replaceChildren();
      history.replaceState(null, '', query ? '?' + query : location.pathname);
    }
    for (const result of body.results) $('results').append(resultRow(result));
    shown += body.results.length;
    next = body.next;
    $('more-btn').hidden = !next;
    $('empty').hidden = shown > 0;
    $('summary').textContent = shown ? `${shown} conversation${shown === 1 ? '' : 's'}${next ? ' so far' : ''}, newest first` : '';
  }

  /** While a page is on its way, "More" waits (the search button stays: it starts afresh). */
  function setBusy(on) {
    busy = on;
    $('more-btn').disabled = on;
  }

  function showError(text) {
    $('search-error').textContent = text;
    $('search-error').hidden = !text;
  }

  // ---- results --------------------------------------------------------------------------

  function visitorName(conv) {
    return (conv.visitor && conv.visitor.name) || 'Visitor';
  }

  function stateLabel(conv) {
    if (conv.state !== 'closed') return { queued: 'Waiting', pending: 'Offline message', active: 'Open' }[conv.state] || conv.state;
    return conv.closed && conv.closed.resolved === false ? 'Closed · unresolved' : 'Closed';
  }

  function started(ts) {
    return new Date(ts).toLocaleString([], { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
  }

  function stars(rating) {
    if (!rating) return null;
    const parts = [rating.csat != null && `CSAT ${rating.csat}/5`, rating.nps != null && `NPS ${rating.nps}`,
      rating.ces != null && `CES ${rating.ces}`].filter(Boolean);
    return h('span', { class: 'rating', text: parts.join(' · ') || 'Rated' });
  }

  /** The snippet's parts: matching words in <mark>, all as text. */
  function snippet(s) {
    if (!s) return null;
    const p = h('p', { class: 'snippet' + (s.kind === 'note' ? ' note' : '') });
    if (s.kind === 'note') p.append(h('span', { class: 'label', text: 'Note' }), ' ');
    for (const part of s.parts) p.append(part.hit ? h('mark', { text: part.text }) : part.text);
    return p;
  }

  function resultRow(result) {
    const conv = result.conversation;
    const v = conv.visitor || {};
    const agent = conv.agent ? conv.agent.name : (conv.state === 'closed' ? 'No agent' : 'Unassigned');
    const button = h('button', {
      type: 'button', class: 'result', 'data-cid': conv.id, 'aria-controls': 'panel',
      onclick: () => openConversation(result),
    },
    h('div', { class: 'line1' },
      h('span', { class: 'who', text: visitorName(conv) }),
      v.email ? h('span', { class: 'email muted', text: v.email }) : null,
      h('span', { class: 'spacer' }),
      h('span', { class: 'pill', 'data-state': conv.state, text: stateLabel(conv) })),
    h('div', { class: 'line2 muted' },
      h('time', { datetime: new Date(conv.created).toISOString(), text: started(conv.created) }),
      h('span', { text: agent }),
      conv.topic ? h('span', { class: 'topic', text: conv.topic }) : null,
      ...(conv.tags || []).map((t) => h('span', { class: 'tag', text: t })),
      stars(result.rating)),
    snippet(result.snippet));
    const li = h('li', {}, button);
    if (conv.id === openCid) button.classList.add('current');
    return li;
  }

  // ---- the transcript panel -------------------------------------------------------------

  async function openConversation(result) {
    const conv = result.conversation;
    openCid = conv.id;
    for (const b of document.querySelectorAll('.result')) b.classList.toggle('current', b.dataset.cid === conv.id);
    $('panel').hidden = false;
    document.body.classList.add('panel-open');
    $('panel-title').textContent = visitorName(conv);
    $('panel-meta').textContent = [conv.visitor && conv.visitor.email, started(conv.created)].filter(Boolean).join(' · ');
    $('panel-state').textContent = stateLabel(conv);
    $('panel-state').dataset.state = conv.state;
    facts(conv, result.rating);
    const box = $('panel-transcript');
    box.replaceChildren(h('p', { class: 'muted', text: 'Loading…' }));
    $('panel-close').focus();
    let res = null;
    try { res = await fetch('/api/conversations/' + encodeURIComponent(conv.id)); } catch (e) { /* below */ }
    if (openCid !== conv.id) return;  // another one was opened meanwhile
    if (!res || !res.ok) {
      box.replaceChildren(h('p', { class: 'muted', text: res && res.status === 403
        ? 'Only a supervisor or an agent who handled this conversation can read it.'
        : res && res.status === 404 ? 'This conversation no longer exists.'
          : 'The conversation could not be loaded.' }));
      return;
    }
    const body = await res.json();
    const name = visitorName(body.conversation);
    box.replaceChildren(...(body.messages || []).map((m) => messageRow(m, name)));
    if (body.more) box.append(h('p', { class: 'muted small', text: 'Only the first messages are shown.' }));
    if (body.rating && body.rating.comment) {
      box.append(h('div', { class: 'm event', text: `Comment: “${body.rating.comment}”` }));
    }
    const hit = result.snippet && box.querySelector(`[data-seq="${result.snippet.seq}"]`);
    if (hit) {
      hit.classList.add('hit');
      hit.scrollIntoView({ block: 'center' });
    }
  }

  function facts(conv, rating) {
    const rows = [
      ['Agent', conv.agent ? conv.agent.name : '—'],
      ['Topic', conv.topic || '—'],
      ['Tags', (conv.tags || []).join(', ') || '—'],
      ['Site', conv.site || '—'],
      ['Rating', rating ? stars(rating).textContent : '—'],
    ];
    if (conv.closed) rows.push(['Closed', `${started(conv.closed.ts)} by ${conv.closed.by}${conv.closed.reason ? ` (${conv.closed.reason})` : ''}`]);
    $('panel-facts').replaceChildren(...rows.flatMap(([k, v]) => [h('dt', { text: k }), h('dd', { text: v })]));
  }

  function closePanel() {
    const was = openCid;
    openCid = null;
    $('panel').hidden = true;
    document.body.classList.remove('panel-open');
    for (const b of document.querySelectorAll('.result.current')) b.classList.remove('current');
    const back = was && document.querySelector(`.result[data-cid="${was}"]`);
    if (back) back.focus();
  }

  // ---- start ----------------------------------------------------------------------------

  async function loadAgents() {
    let res = null;
    try { res = await fetch('/api/team'); } catch (e) { return; }
    if (!res || !res.ok) return;
    const select = form.elements.agent;
    const chosen = new URLSearchParams(location.search).get('agent') || '';
    for (const a of (await res.json()).agents || []) {
      select.append(h('option', { value: a.id, text: a.name + (a.role === 'supervisor' ? ' (supervisor)' : ''), selected: a.id === chosen }));
    }
  }

  /** The form as the address says (a search can be bookmarked and shared). */
  function fillFromAddress() {
    const params = new URLSearchParams(location.search);
    for (const name of ['q', 'visitor', 'topic', 'tag', 'rating', 'state']) {
      if (params.has(name) && form.elements[name]) form.elements[name].value = params.get(name);
    }
    for (const name of ['from', 'to']) {
      const v = params.get(name);
      if (!v) continue;
      const at = new Date(v);
      if (!Number.isNaN(at.getTime())) {
        form.elements[name].value = `${at.getFullYear()}-${String(at.getMonth() + 1).padStart(2, '0')}-${String(at.getDate()).padStart(2, '0')}`;
      }
    }
  }

  async function start(agent) {
    me = agent;
    $('me-name').textContent = me.name;
    const boss = me.role === 'supervisor';
    $('dashboard-link').hidden = !boss;
    $('agent-filter').hidden = !boss;
    $('scope').textContent = boss ? 'You can search every conversation.'
      : 'You can search the conversations you handled: those open with you now, and the closed ones you took part in.';
    fillFromAddress();
    if (boss) await loadAgents();
    await search(false);
  }

  form.addEventListener('submit', (e) => { e.preventDefault(); search(false); });
  form.addEventListener('reset', () => setTimeout(() => search(false), 0));
  $('more-btn').addEventListener('click', () => search(true));
  $('panel-close').addEventListener('click', closePanel);
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && !$('panel').hidden && !document.querySelector('dialog[open]')) closePanel();
  });
  $('logout-btn').addEventListener('click', () => window.ChatAuth.logout());
  window.ChatAuth.init(start);
})();
