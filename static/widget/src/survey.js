// ---- the satisfaction survey, once a conversation closed

/** One question of the survey: a radio group of buttons with arrow-key navigation. */
function scale(name, question, values, labelOf, answers, stars) {
  const legendId = 'q-' + name + '-' + randomId().slice(0, 8);
  const group = h('div', {
    class: 'scale' + (stars ? ' stars' : values.length < 10 ? ' short' : ''), role: 'radiogroup', 'aria-labelledby': legendId,
  });
  group.style.setProperty('--n', String(values.length));
  const buttons = values.map((v) => h('button', {
    type: 'button', role: 'radio', 'aria-checked': 'false', 'aria-label': labelOf(v), tabindex: v === values[0] ? '0' : '-1',
    title: labelOf(v), 'data-value': String(v),
  }, stars ? svgIcon(ICON_STAR) : document.createTextNode(String(v))));
  const choose = (i, focus) => {
    answers[name] = values[i];
    buttons.forEach((b, j) => {
      b.setAttribute('aria-checked', String(i === j));
      b.tabIndex = i === j ? 0 : -1;
      if (stars) b.classList.toggle('on', j <= i);
    });
    if (focus) buttons[i].focus();
  };
  buttons.forEach((b, i) => {
    b.addEventListener('click', () => choose(i, false));
    b.addEventListener('keydown', (e) => {
      const step = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 }[e.key];
      if (step) { e.preventDefault(); choose((i + step + values.length) % values.length, true); }
      if (e.key === 'Home') { e.preventDefault(); choose(0, true); }
      if (e.key === 'End') { e.preventDefault(); choose(values.length - 1, true); }
    });
    if (stars) {
      b.addEventListener('mouseenter', () => buttons.forEach((x, j) => x.classList.toggle('on', j <= i)));
      b.addEventListener('mouseleave', () => buttons.forEach((x, j) =>
        x.classList.toggle('on', answers[name] != null && j <= values.indexOf(answers[name]))));
    }
    group.append(b);
  });
  return h('fieldset', { 'data-q': name }, h('legend', { id: legendId, text: question }), group);
}

const range = (lo, hi) => Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);

function showSurvey(cid, ask) {
  if (list.querySelector('.survey')) return;
  local.set('survey', JSON.stringify({ cid, ask }));
  const answers = {};
  const titleId = 'survey-' + randomId().slice(0, 8);
  const form = h('form', { class: 'card survey', 'aria-labelledby': titleId, novalidate: true });
  form.append(h('h3', { id: titleId, text: T.surveyTitle }));
  const asked = (name) => !ask || ask.includes(name);
  if (asked('csat')) form.append(scale('csat', T.csat, range(1, 5), (n) => tr('star', { n }), answers, true));
  if (asked('nps')) {
    form.append(scale('nps', T.nps, range(0, 10), (v) => (v === 0 ? `0, ${T.npsLo}` : v === 10 ? `10, ${T.npsHi}` : String(v)), answers, false));
    form.lastChild.append(h('div', { class: 'hint', 'aria-hidden': 'true' }, h('span', { text: T.npsLo }), h('span', { text: T.npsHi })));
  }
  if (asked('ces')) {
    form.append(scale('ces', T.ces, range(1, 7), (v) => (v === 1 ? `1, ${T.cesLo}` : v === 7 ? `7, ${T.cesHi}` : String(v)), answers, false));
    form.lastChild.append(h('div', { class: 'hint', 'aria-hidden': 'true' }, h('span', { text: T.cesLo }), h('span', { text: T.cesHi })));
  }
  const comment = h('textarea', { maxlength: '4000', placeholder: T.comment, 'aria-label': T.comment, rows: '2' });
  const error = h('p', { class: 'error', role: 'alert', hidden: true });
  const submitBtn = h('button', { class: 'btn primary', type: 'submit', text: T.sendFeedback });
  const finish = (thanked) => {
    local.set('survey', null);
    const focusWasInside = form.contains(shadow.activeElement);
    if (thanked) {
      const done = h('div', { class: 'done', role: 'status', text: T.thanks });
      form.replaceWith(done);
      done.dataset.cid = cid;
    } else {
      form.remove();
    }
    if (focusWasInside) input.focus();
  };
  form.append(comment, error, h('div', { class: 'actions' },
    h('button', { type: 'button', class: 'btn', text: T.noThanks, onclick: () => finish(false) }), submitBtn));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const frame = Object.assign({ cid }, answers);
    if (comment.value.trim()) frame.comment = comment.value.trim();
    if (Object.keys(frame).length === 1) { error.textContent = T.pick; error.hidden = false; return; }
    submitBtn.disabled = true;
    request('rate', frame).then(() => finish(true), (err) => {
      submitBtn.disabled = false;
      if (err.code === 'already_rated') { finish(true); return; }
      error.textContent = err.code === 'offline' ? T.rateOffline : T.rateFailed;
      error.hidden = false;
    });
  });
  insertRow(form, cid, null);
  scrollDown(true);
}
