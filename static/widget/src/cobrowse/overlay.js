// ---- the agent's pointer and highlight, drawn over the page in the widget's shadow DOM
// (which is never recorded)

const CB_HIGHLIGHT_MS = 3000;
const CB_POINTER_IDLE_MS = 8000;
const ICON_POINTER = 'M5 2.5v16.8l4.3-4.1 2.9 6.5 2.7-1.2-2.9-6.4H18z';

/** The element the agent highlighted, followed until markUntil; the pointer's idle timer. */
const OV = { pointerTimer: null, markUntil: 0, markEl: null };
let cbPointer = null;
let cbPointerName = null;
let cbMark = null;

/** The pointer and the highlight's outline, after the widget's own elements. */
function cbOverlays() {
  const { h, svgIcon } = W;
  cbPointerName = h('span', { class: 'name' });
  cbPointer = h('div', { class: 'cb-pointer', hidden: true, 'aria-hidden': 'true' }, svgIcon(ICON_POINTER), cbPointerName);
  cbMark = h('div', { class: 'cb-mark', hidden: true, 'aria-hidden': 'true' });
  W.root.append(cbMark, cbPointer);
}

/** Not sharing any more: nothing of the agent's stays on the page. */
function cbHideOverlays() {
  cbPointer.hidden = true;
  cbMark.hidden = true;
  OV.markEl = null;
}

/** The agent's pointer, in CSS pixels of this viewport; off the viewport it is hidden. */
function cbShowPointer(x, y) {
  clearTimeout(OV.pointerTimer);
  const inside = x >= 0 && y >= 0 && x <= window.innerWidth && y <= window.innerHeight;
  cbPointer.hidden = !inside;
  if (!inside) return;
  cbPointerName.textContent = CB.agent;
  cbPointer.style.transform = `translate(${Math.round(x)}px, ${Math.round(y)}px)`;
  OV.pointerTimer = setTimeout(() => { cbPointer.hidden = true; }, CB_POINTER_IDLE_MS);
}

/** Outline the element the agent picked, for a few seconds. Never the widget, nor anything
 *  blocked or masked, nor the whole page. */
function cbHighlight(f) {
  let el = null;
  if (typeof f.node === 'number') {
    try { el = REC.lib && REC.lib.record.mirror.getNode(f.node); } catch (e) { el = null; }
  } else if (typeof f.selector === 'string' && f.selector.length <= 200) {
    try { el = document.querySelector(f.selector); } catch (e) { el = null; }
  }
  if (el && el.nodeType !== 1) el = el.parentElement;
  if (!el || !el.isConnected || el === document.documentElement || el === document.body || el === W.host) return;
  try {
    if (el.closest(blockSelector) || el.closest(maskSelector) || el.closest('#chat-widget-host')) return;
  } catch (e) {
    return;
  }
  const r = el.getBoundingClientRect();
  if (r.bottom < 0 || r.top > window.innerHeight) el.scrollIntoView({ block: 'center', behavior: 'smooth' });
  const follow = !OV.markEl;
  OV.markEl = el;
  OV.markUntil = Date.now() + CB_HIGHLIGHT_MS;
  cbMark.classList.remove('fade');
  cbMark.hidden = false;
  if (follow) requestAnimationFrame(cbFollowMark);
}

function cbFollowMark() {
  const el = OV.markEl;
  if (!el || !el.isConnected || CB.phase !== 'sharing') { cbMark.hidden = true; OV.markEl = null; return; }
  const left = Date.now() > OV.markUntil;
  if (left) {
    cbMark.classList.add('fade');
    OV.markEl = null;
    setTimeout(() => { if (!OV.markEl) cbMark.hidden = true; }, 400);
    return;
  }
  const r = el.getBoundingClientRect();
  const pad = 4;
  cbMark.style.transform = `translate(${Math.round(r.left - pad)}px, ${Math.round(r.top - pad)}px)`;
  cbMark.style.width = Math.round(r.width + 2 * pad) + 'px';
  cbMark.style.height = Math.round(r.height + 2 * pad) + 'px';
  requestAnimationFrame(cbFollowMark);
}
