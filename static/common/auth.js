/* Sign-in shared by the console and the dashboard: GET /api/me decides, the page's
 * #login form POSTs JSON to /api/login (the server sets an HttpOnly session cookie),
 * and logout POSTs /api/logout. The page keeps its app in #app. */
(function () {
  'use strict';

  const $ = (id) => document.getElementById(id);
  let onLogin = null;

  function showLogin(message) {
    $('app').hidden = true;
    $('login').hidden = false;
    const error = $('login-error');
    error.textContent = message || '';
    error.hidden = !message;
    const email = $('login-form').elements.email;
    (email.value ? $('login-form').elements.password : email).focus();
  }

  function showApp(agent) {
    $('login').hidden = true;
    $('app').hidden = false;
    onLogin(agent);
  }

  async function submit(e) {
    e.preventDefault();
    const form = e.currentTarget;
    const button = form.querySelector('button[type=submit]');
    button.disabled = true;
    let res;
    try {
      res = await fetch('/api/login', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ email: form.elements.email.value.trim(), password: form.elements.password.value }),
      });
    } catch (err) {
      showLogin('The server cannot be reached, please try again.');
      return;
    } finally {
      button.disabled = false;
    }
    if (res.ok) {
      const body = await res.json();
      form.elements.password.value = '';
      showApp(body.agent);
    } else if (res.status === 401) {
      showLogin('Wrong email or password');
    } else if (res.status === 429) {
      showLogin('Too many attempts, please wait a minute and try again.');
    } else {
      showLogin(`Could not sign in (error ${res.status}).`);
    }
  }

  /** Wire the login form and show either it or the app; `login(agent)` runs once signed in. */
  async function init(login) {
    onLogin = login;
    $('login-form').addEventListener('submit', submit);
    let res = null;
    try {
      res = await fetch('/api/me');
    } catch (err) { /* offline: show the form */ }
    if (res && res.ok) {
      const body = await res.json();
      showApp(body.agent || body);
    } else {
      showLogin(res && res.status !== 401 ? `The server answered ${res.status}.` : '');
    }
  }

  async function logout() {
    try {
      await fetch('/api/logout', { method: 'POST' });
    } catch (err) { /* the cookie stays until it expires; still leave the app */ }
    showLogin('');
  }

  window.ChatAuth = { init, logout, showLogin };
})();
