// ---- hand this part to the widget that loaded it

/** Called once by the widget with what this part uses of it (cbContext in
 *  src/cobrowse-consent.js); returns what the widget calls. */
function start(widget) {
  W = widget;
  CB = widget.CB;
  cbSelectors();
  cbOverlays();
  window.addEventListener('resize', cbWidgetMoved);
  return {
    preload: loadRecorder, share: cbShare, stop: cbStop, reconnected: cbReconnected, snapshot: cbSnapshot,
    hide: cbHideOverlays, pointer: cbShowPointer, highlight: cbHighlight, widgetMoved: cbWidgetMoved,
  };
}

// The widget set this on the script tag that loads this file (CB_REGISTER in
// src/cobrowse-consent.js), not enumerable, and removes it once this file ran.
const register = document.currentScript && document.currentScript.chatWidgetCobrowse;
if (typeof register === 'function') register(start);
