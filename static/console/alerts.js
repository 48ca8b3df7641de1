/* New-chat alerts for the console: a short two-tone beep (WebAudio, no audio file) and a
 * desktop notification (Notification API). Browsers only let a page play sound or ask for
 * notification permission after a user gesture, so the audio context is unlocked on the
 * first click or key press, and permission is asked from a button (or going online). The
 * agent's choice (alerts on or off) is kept in localStorage. */
(function () {
  'use strict';

  const PREF = 'chat:console:alerts';
  let audio = null;
  let enabled = localStorage.getItem(PREF) !== 'off';
  const listeners = [];

  function unlock() {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return;
    if (!audio) {
      try { audio = new Ctx(); } catch (e) { return; }
    }
    if (audio.state === 'suspended') audio.resume().catch(() => {});
  }
  document.addEventListener('pointerdown', unlock, { capture: true });
  document.addEventListener('keydown', unlock, { capture: true });

  /** Two short sine tones (about 0.3 s in all), quiet enough not to startle. */
  function beep() {
    if (!enabled || !audio || audio.state !== 'running') return false;
    const now = audio.currentTime;
    for (const [freq, at] of [[880, 0], [1320, 0.14]]) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.type = 'sine';
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, now + at);
      gain.gain.exponentialRampToValueAtTime(0.18, now + at + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + at + 0.16);
      osc.connect(gain).connect(audio.destination);
      osc.start(now + at);
      osc.stop(now + at + 0.18);
    }
    return true;
  }

  function permission() {
    return 'Notification' in window ? Notification.permission : 'unsupported';
  }

  /** Ask for notification permission; call from a user gesture. */
  async function ask() {
    unlock();
    if (permission() === 'default') {
      try { await Notification.requestPermission(); } catch (e) { /* old callback-only API */ }
    }
    changed();
    return permission();
  }

  /** Beep and, when the console is not in front, show a desktop notification. */
  function notify(title, body, tag, onclick) {
    if (!enabled) return;
    beep();
    if (permission() !== 'granted' || (!document.hidden && document.hasFocus())) return;
    try {
      const n = new Notification(title, { body, tag, renotify: true });
      n.onclick = () => { window.focus(); if (onclick) onclick(); n.close(); };
      setTimeout(() => n.close(), 15000);
    } catch (e) { /* some platforms only allow notifications from a service worker */ }
  }

  function setEnabled(on) {
    enabled = on;
    localStorage.setItem(PREF, on ? 'on' : 'off');
    if (on) ask();
    changed();
  }

  function changed() {
    for (const fn of listeners) fn();
  }

  window.ChatAlerts = {
    notify, beep, ask, permission, setEnabled, unlock,
    get enabled() { return enabled; },
    onChange(fn) { listeners.push(fn); },
  };
})();
