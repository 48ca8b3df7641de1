// ---- the intake card: the site's pre-chat questions (hello's site.form and site.topics),
// and, when nobody can answer, the offline form: the same card asking for an email and a
// name, with the composer's text as the message (sent as `leave`). It stays at the end of
// the list, after the data-prechat card, until a conversation opens.

/** controls: key -> {el, error, spec, radios?}; keys are the site's field names, and
 *  `$email`, `$name` (the offline form's own) and `$topic` (the topic picker). values: what
 *  was typed, kept when the card is rebuilt (the mode or the site's settings changed). */
const intake = { card: null, key: '', controls: {}, values: {} };

function intakeWanted(mode) {
  if (S.conv || mode === 'ended') return false;
  if (mode === 'leave') return true;
  return !!S.site && (S.site.form.length > 0 || S.site.topics.length > 0);
}

function renderIntake(mode) {
  if (!intakeWanted(mode)) {
    if (intake.card && intake.card.isConnected) intake.card.remove();
    return;
  }
  const key = mode + JSON.stringify(S.site && [S.site.form, S.site.topics]);
  if (key !== intake.key) {
    const old = intake.card;
    keepIntakeValues();
    intake.card = buildIntake(mode);
    intake.key = key;
    if (old && old.isConnected) old.replaceWith(intake.card);
  }
  if (!intake.card.isConnected) list.append(intake.card);
}

function keepIntakeValues() {
  for (const [key, c] of Object.entries(intake.controls)) {
    intake.values[key] = c.radios ? valueOf(c) : c.spec.type === 'checkbox' ? c.el.checked : c.el.value;
  }
}

function buildIntake(mode) {
  const leave = mode === 'leave';
  const site = S.site || { form: [], topics: [] };
  intake.controls = {};
  const card = h('form', {
    class: 'card intake tail', novalidate: true, 'aria-labelledby': 'in-title',
    onsubmit: (e) => { e.preventDefault(); submit(); },
    onkeydown: onIntakeKey,
  }, h('h3', { id: 'in-title', text: leave ? T.leaveTitle : T.formTitle }),
  h('p', { text: leave ? T.leaveHint : T.formHint }));
  if (leave) {
    card.append(control('$email', { label: T.email, type: 'email', required: true }, 'in-email'),
      control('$name', { label: T.nameOptional, type: 'text', required: false }, 'in-name'));
  }
  site.form.forEach((f, i) => card.append(control(f.name, f, 'in-f' + i)));
  if (site.topics.length) card.append(topicPicker(site.topics));
  if (site.form.some((f) => f.required) || site.topics.length || leave) {
    card.append(h('p', { class: 'note', text: T.requiredNote }));
  }
  return card;
}

/** Enter in a text field sends, as in the composer (a form with several fields and no
 *  submit button would not): what is missing, the message included, gets the focus. */
function onIntakeKey(e) {
  const t = e.target;
  if (e.key !== 'Enter' || e.isComposing || t.tagName !== 'INPUT' || t.type === 'checkbox' || t.type === 'radio') return;
  e.preventDefault();
  if (!input.value.trim() && composerMode() === 'chat') input.focus();  // the message is next
  else submit();
}

function control(key, spec, id) {
  const errId = id + '-err';
  const error = h('p', { class: 'error', id: errId, hidden: true });
  const star = spec.required ? h('span', { class: 'req', 'aria-hidden': 'true', text: ' *' }) : null;
  const attrs = { id, 'aria-describedby': errId, required: spec.required, 'aria-required': spec.required ? 'true' : null };
  let saved = intake.values[key];
  if (saved === undefined && (key === '$email' || key === '$name')) {
    const which = key.slice(1);
    saved = S.profile[which] || local.get('profile:' + which) || '';
  }
  let el;
  let row;
  if (spec.type === 'checkbox') {
    el = h('input', Object.assign({ type: 'checkbox' }, attrs));
    el.checked = saved === true;
    row = h('div', { class: 'field check' }, h('label', { for: id }, el, h('span', { text: spec.label }, star)), error);
  } else {
    el = spec.type === 'select'
      ? h('select', attrs, h('option', { value: '', text: T.choose }),
        ...spec.options.map((o) => h('option', { value: o, text: o })))
      : h('input', Object.assign({
        type: spec.type === 'email' ? 'email' : 'text', maxlength: spec.type === 'email' ? '254' : '500',
        autocomplete: key === '$email' || spec.type === 'email' ? 'email' : key === '$name' ? 'name' : 'off',
      }, attrs));
    el.value = typeof saved === 'string' ? saved : '';
    row = h('div', { class: 'field' }, h('label', { for: id }, spec.label, star), el, error);
  }
  el.addEventListener(spec.type === 'text' || spec.type === 'email' ? 'input' : 'change', () => setIntakeError(key, null));
  intake.controls[key] = { el, error, spec };
  return row;
}

function topicPicker(topics) {
  const error = h('p', { class: 'error', id: 'in-topic-err', hidden: true });
  const radios = topics.map((t) => h('input', { type: 'radio', name: 'in-topic', value: t.id, required: true }));
  radios.forEach((r) => {
    r.checked = r.value === intake.values.$topic;
    r.addEventListener('change', () => setIntakeError('$topic', null));
  });
  const group = h('fieldset', { class: 'topics', 'aria-describedby': 'in-topic-err' },
    h('legend', {}, T.topic, h('span', { class: 'req', 'aria-hidden': 'true', text: ' *' })),
    h('div', { class: 'chips' }, ...topics.map((t, i) => h('label', { class: 'chip' }, radios[i], h('span', { text: t.label })))),
    error);
  intake.controls.$topic = { el: group, radios, error, spec: { type: 'topic', required: true } };
  return group;
}

function valueOf(c) {
  if (c.radios) {
    const on = c.radios.find((r) => r.checked);
    return on ? on.value : '';
  }
  return c.spec.type === 'checkbox' ? c.el.checked : c.el.value.trim();
}

/** What is wrong with a control's answer, in words, or null. */
function problemOf(c) {
  const v = valueOf(c);
  const type = c.spec.type;
  if (type === 'checkbox') return c.spec.required && !v ? T.checkMissing : null;
  if (!v) {
    if (!c.spec.required) return null;
    return type === 'email' ? T.emailBad : type === 'select' || type === 'topic' ? T.pickMissing : T.fieldMissing;
  }
  if (type === 'email' && !EMAIL_RE.test(v)) return T.emailBad;
  if (type === 'select' && !c.spec.options.includes(v)) return T.pickMissing;
  return null;
}

function setIntakeError(key, text) {
  const c = intake.controls[key];
  if (!c) return;
  c.error.textContent = text || '';
  c.error.hidden = !text;
  for (const el of c.radios || [c.el]) {
    if (text) el.setAttribute('aria-invalid', 'true');
    else el.removeAttribute('aria-invalid');
  }
}

function focusControl(c) {
  const target = c.radios ? c.radios.find((r) => r.checked) || c.radios[0] : c.el;
  target.focus();
  target.scrollIntoView({ block: 'nearest' });
}

/** The card's answers {fields, topic, email, name}, or null (the errors are shown and the
 *  first wrong one has the focus). */
function takeIntake() {
  const out = { fields: null, topic: null, email: null, name: null };
  let firstBad = null;
  for (const [key, c] of Object.entries(intake.controls)) {
    const problem = problemOf(c);
    setIntakeError(key, problem);
    if (problem) { firstBad = firstBad || c; continue; }
    const v = valueOf(c);
    if (key === '$email') out.email = v;
    else if (key === '$name') out.name = v || null;
    else if (key === '$topic') out.topic = v;
    else if (c.spec.type === 'checkbox' || v) out.fields = Object.assign(out.fields || {}, { [key]: v });
  }
  if (firstBad) { focusControl(firstBad); return null; }
  if (S.site && S.site.form.length && !out.fields) out.fields = {};
  return out;
}

/** A `bad_request` from `start` or `leave` naming a field of the card: shown on that field
 *  (a field of the site's form first, then the offline form's email and name, the topic).
 *  True when it was. */
function showServerError(err) {
  if (!err || err.code !== 'bad_request' || !intake.card || !intake.card.isConnected) return false;
  const message = String(err.message || '');
  const named = (word) => new RegExp('(^|[^\\w-])' + word.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') + '($|[^\\w-])', 'i')
    .test(message);
  const keys = Object.keys(intake.controls);
  const key = keys.filter((k) => !k.startsWith('$') && named(k)).sort((a, b) => b.length - a.length)[0] ||
    keys.find((k) => k.startsWith('$') && named(k.slice(1)));
  if (!key) return false;
  const c = intake.controls[key];
  setIntakeError(key, problemOf(c) || T.fieldBad);
  focusControl(c);
  return true;
}
