/* The demo shop's order tracking form: answers on the page, sends nothing anywhere. */
(function () {
  'use strict';
  const form = document.getElementById('track-form');
  const result = document.getElementById('track-result');
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const order = form.elements.order.value.trim();
    const email = form.elements.email.value.trim();
    const ok = /^\d{4,8}$/.test(order) && /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email);
    result.textContent = ok
      ? 'Your order has shipped: it should arrive within 2 working days.'
      : 'Please enter an order number (4 to 8 digits) and a valid email address.';
    result.classList.toggle('error', !ok);
    result.hidden = false;
  });
})();
