// The family's co-payment page: Stripe.js card element and confirmCardPayment, exactly as
// Stripe documents them (in development Stripe.js is localstripe's fake, which keeps the
// same calls). The card goes from this page to Stripe, never to our servers.
(function () {
  'use strict';
  var form = document.getElementById('pay-form');
  if (!form) { return; }
  var button = document.getElementById('pay-button');
  var error = document.getElementById('pay-error');
  var wait = document.getElementById('pay-wait');

  function showError(text) {
    error.textContent = text;
    error.hidden = false;
    wait.hidden = true;
    button.disabled = false;
  }

  if (typeof Stripe === 'undefined') {
    showError('在线支付暂时打不开，请稍后再试，或到服务机构付现金。');
    button.disabled = true;
    return;
  }
  var stripe = Stripe(form.dataset.publishableKey);
  var card = stripe.elements().create('card', {
    hidePostalCode: true, style: {base: {fontSize: '20px'}}});
  card.mount('#card-element');

  form.addEventListener('submit', function (event) {
    event.preventDefault();
    button.disabled = true;
    error.hidden = true;
    wait.hidden = false;
    stripe.confirmCardPayment(form.dataset.clientSecret, {payment_method: {card: card}})
      .then(function (result) {
        if (result.error) {
          showError('没有付成：' + (result.error.message || '请检查卡号后再试。'));
          return;
        }
        window.location.assign(form.dataset.returnUrl);
      }, function () {
        showError('网络不好，没有付成，请再试一次。');
      });
  });
})();
