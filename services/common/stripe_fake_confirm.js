// Appended to localstripe's fake Stripe.js (services/common/stripe_fake.py): the real
// Stripe.js confirmCardPayment(clientSecret, {payment_method: {card: element}}) confirms the
// PaymentIntent with the card and, when the card asks for it, runs 3-D Secure. localstripe's
// own version only does the 3-D Secure step, so this one confirms first (the fake server
// accepts the publishable key and the client secret for that, as Stripe does) and hands over
// to localstripe's step when the intent requires action.
(function () {
  const localFactory = Stripe;
  Stripe = function (apiKey) {
    const stripe = localFactory(apiKey);
    const authenticate = stripe.confirmCardPayment;
    stripe.confirmCardPayment = async function (clientSecret, data) {
      const element = data && data.payment_method && data.payment_method.card;
      const card = element && element.value && element.value.card;
      if (!card || !card.number) {
        return {error: {type: 'validation_error', message: 'Your card number is incomplete.'}};
      }
      const pi = clientSecret.match(/^(pi_\w+)_secret_/)[1];
      const response = await fetch(`${LOCALSTRIPE_BASE_API}/v1/payment_intents/${pi}/confirm`, {
        method: 'POST',
        body: JSON.stringify({
          key: apiKey, client_secret: clientSecret,
          payment_method_data: {type: 'card', card: {
            number: card.number, exp_month: card.exp_month, exp_year: card.exp_year,
            cvc: card.cvc}},
        }),
      });
      const body = await response.json().catch(() => ({}));
      if (response.status !== 200 || body.error) {
        return {error: body.error || {type: 'card_error', message: 'Your card was declined.'}};
      }
      if (body.status === 'requires_action') {
        return authenticate(clientSecret, data);
      }
      return {paymentIntent: body};
    };
    return stripe;
  };
})();
