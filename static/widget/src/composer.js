// ---- composer and typing ------------------------------------------------------------

let typingOn = false;
let typingSentAt = 0;
let typingIdle = null;
let typingTrail = null;

function autoGrow() {
  input.style.height = '';  // empty: back to one line (a long placeholder must not count)
  if (input.value) input.style.height = Math.min(input.scrollHeight + 2, 120) + 'px';
}

function onComposerKey(e) {
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    submit();
  }
}

function onInput() {
  autoGrow();
  if (!S.conv) return;
  if (!input.value.trim()) { stopTyping(); return; }
  clearTimeout(typingIdle);
  typingIdle = setTimeout(stopTyping, 4000);
  const wait = 1200 - (Date.now() - typingSentAt);
  if (wait <= 0) sendTyping();
  else if (!typingTrail) typingTrail = setTimeout(sendTyping, wait);
}

function sendTyping() {
  clearTimeout(typingTrail);
  typingTrail = null;
  if (!S.conv || !S.ready || !input.value.trim()) return;
  typingSentAt = Date.now();
  typingOn = true;
  if (!sneakPeek()) { send('typing', { cid: S.conv.id, on: true }); return; }  // the draft stays here
  // 4,000 UTF-16 units, never half of an emoji (a lone surrogate is refused by the server)
  const preview = input.value.slice(0, 4000).replace(/[\uD800-\uDBFF]$/, '');
  send('typing', { cid: S.conv.id, on: true, preview });
}

function stopTyping() {
  clearTimeout(typingIdle);
  clearTimeout(typingTrail);
  typingTrail = null;
  if (typingOn && S.conv) send('typing', { cid: S.conv.id, on: false });
  typingOn = false;
}
