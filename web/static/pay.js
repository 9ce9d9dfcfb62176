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

  // Stripe's refusals by their stable codes, in plain Chinese; its own message (English) is
  // never shown to the family.
  var REFUSED = {
    card_declined: '银行拒绝了这张卡，请换一张卡或联系发卡银行。',
    expired_card: '这张卡已经过期，请换一张卡。',
    incorrect_cvc: '卡背面的 3 位安全码不对，请核对。',
    invalid_cvc: '卡背面的 3 位安全码不对，请核对。',
    incomplete_cvc: '请填写卡背面的 3 位安全码。',
    incorrect_number: '卡号不对，请核对。',
    invalid_number: '卡号不对，请核对。',
    incomplete_number: '卡号没有填完整。',
    invalid_expiry_month: '有效期的月份不对，请核对。',
    invalid_expiry_year: '有效期的年份不对，请核对（两位数，例如 28）。',
    incomplete_expiry: '请填写卡的有效期。',
    insufficient_funds: '卡里余额不足，请换一张卡。',
    processing_error: '银行处理时出错了，请稍后再试一次。'
  };

  function refusal(err) {
    return REFUSED[err.decline_code] || REFUSED[err.code] || '没有付成，请检查卡号、有效期和安全码后再试。';
  }

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
          showError(refusal(result.error));
          return;
        }
        window.location.assign(form.dataset.returnUrl);
      }, function () {
        showError('网络不好，没有付成，请再试一次。');
      });
  });
})();
