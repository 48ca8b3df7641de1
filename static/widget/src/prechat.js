// ---- the pre-chat form (only with data-prechat): name and email before the first message

const prechat = { card: null, fields: {} };
if (PRECHAT.length) {
  const card = h('form', { class: 'card prechat tail', novalidate: true, onsubmit: (e) => { e.preventDefault(); input.focus(); } },
    h('h3', { text: T.prechatTitle }), h('p', { text: T.prechatHint }));
  for (const name of PRECHAT) {
    const field = h('input', {
      type: name === 'email' ? 'email' : 'text', name, maxlength: name === 'email' ? '254' : '200',
      autocomplete: name === 'email' ? 'email' : 'name', required: true, 'aria-required': 'true',
      value: local.get('profile:' + name) || '',
      'aria-describedby': 'err-' + name,
    });
    const error = h('p', { class: 'error', id: 'err-' + name, hidden: true });
    field.addEventListener('input', () => { error.hidden = true; field.removeAttribute('aria-invalid'); });
    prechat.fields[name] = { field, error };
    card.append(h('label', { class: 'field' }, h('span', { text: T[name] }), field, error));
  }
  prechat.card = card;
}

function needsPrechat() {
  // away, the offline form asks for the name and the email itself
  if (!prechat.card || S.conv || composerMode() !== 'chat') return false;
  return PRECHAT.some((name) => !S.profile[name]);
}

function renderPrechat() {
  if (!prechat.card) return;
  // a returning visitor (with a token) may be known already: wait for `hello` to tell
  const show = needsPrechat() && !(S.conn === 'connecting' && !S.ready && local.get('token'));
  if (show && !prechat.card.isConnected) {
    list.append(prechat.card);
    const first = Object.values(prechat.fields).map((x) => x.field).find((f) => !f.value.trim());
    if (S.open && first && shadow.activeElement === input && !input.value) first.focus();
  } else if (!show && prechat.card.isConnected) {
    prechat.card.remove();
  }
}

/** Validate the pre-chat fields; on success they are sent with the next `hello`. */
function takePrechat() {
  const profile = {};
  let firstBad = null;
  for (const [name, { field, error }] of Object.entries(prechat.fields)) {
    const value = field.value.trim();
    let problem = null;
    if (name === 'name' && !value) problem = T.nameMissing;
    if (name === 'email' && !EMAIL_RE.test(value)) problem = T.emailBad;
    error.textContent = problem || '';
    error.hidden = !problem;
    if (problem) {
      field.setAttribute('aria-invalid', 'true');
      firstBad = firstBad || field;
    } else {
      field.removeAttribute('aria-invalid');
      profile[name] = value;
    }
  }
  if (firstBad) { firstBad.focus(); return false; }
  for (const [k, v] of Object.entries(profile)) local.set('profile:' + k, v);
  S.pendingProfile = profile;
  Object.assign(S.profile, profile);
  renderPrechat();
  // `hello` is where a visitor's name and email are given: say it again on a fresh socket
  if (S.ready) { S.rehello = true; dropSocket(); }
  return true;
}
