"""Reconciliation against Stripe's own records (localstripe started by the tests): each kind
of discrepancy planted — a payment Stripe captured that never reached us, an amount that
differs, a refund made at Stripe that the ledger lacks — and seen reported."""

from __future__ import annotations

import httpx
import stripe

from services.common.auth import Role
from services.ledger.settlement.clients import StripeReader
from services.voucher.clients import StripeGateway
from tests.settlement.test_copay import _pay_at_stripe, _signed, localstripe  # noqa: F401

KEY = "sk_test_yiyang_local"
STRIPE_KINDS = {
    "STRIPE_NOT_IN_LEDGER",
    "STRIPE_AMOUNT_MISMATCH",
    "STRIPE_REFUND_MISSING",
    "STRIPE_REFUND_MISMATCH",
    "NOT_IN_STRIPE",
}


async def _online_copay(s, term, base, n: int, *, tamper_fen: int | None = None) -> dict:
    """A redemption whose co-payment is paid at Stripe and reported by the webhook."""
    rid = await s.redeem(term, 10_000)  # co-payment 5,000
    r = await s.w.client.post(
        f"/v1/redemptions/{rid}/copayment", headers=term.headers, json={"method": "stripe"}
    )
    assert r.status_code == 200, r.text
    cp = r.json()
    intent = await _pay_at_stripe(base, cp["payment_intent_id"])
    body, sig = _signed(
        {
            "id": f"evt_recon_{n}_{rid}",
            "object": "event",
            "type": "payment_intent.succeeded",
            "data": {"object": intent},
        }
    )
    ok = await s.w.client.post(
        "/v1/stripe/webhook", content=body, headers={"stripe-signature": sig}
    )
    assert ok.status_code == 200, ok.text
    if tamper_fen is not None:  # the event the ledger gets says another amount
        await s.w.conn.execute(
            "UPDATE outbox SET payload = jsonb_set(payload, '{amount_fen}', to_jsonb($2::int)) "
            "WHERE type = 'copay.received' AND payload->>'copayment_id' = $1",
            cp["id"],
            tamper_fen,
        )
    await s.deliver()
    return {**cp, "redemption_id": rid, "charge": intent.get("latest_charge")}


async def test_stripe_records_are_reconciled_with_the_ledger(settle, localstripe):  # noqa: F811
    s = settle
    s.w.app.state.stripe_gateway = StripeGateway(KEY, localstripe)
    ledger_app = s.lc._transport.app  # type: ignore[attr-defined]
    # configured the way production is: the ledger's settings name the Stripe API
    ledger_app.state.settings.stripe_api_base = localstripe
    ledger_app.state.settings.stripe_secret_key = KEY
    _pid, term = await s.provider()
    await _online_copay(s, term, localstripe, 1)

    async def stripe_discrepancies() -> list[dict]:
        r = await s.lc.get(
            "/v1/reconciliation",
            headers=s.finance(),
            params={"period": s.period, "region_code": "450100"},
        )
        assert r.status_code == 200, r.text
        assert r.json()["stripe_checked"] is True
        return [d for d in r.json()["discrepancies"] if d["kind"] in STRIPE_KINDS]

    assert await stripe_discrepancies() == []

    # 1. a PaymentIntent confirmed at Stripe for one of our redemptions that never reached us
    lost_rid = await s.redeem(term, 8_000)
    await s.deliver()
    client = stripe.StripeClient(KEY, base_addresses={"api": localstripe})
    pi = client.v1.payment_intents.create(
        params={"amount": 4_000, "currency": "cny", "metadata": {"redemption_id": lost_rid}}
    )
    await _pay_at_stripe(localstripe, pi.id)
    # 2. the ledger was told another amount than Stripe captured
    tampered = await _online_copay(s, term, localstripe, 2, tamper_fen=4_200)
    # 3. a refund made at Stripe (by hand, not through us): the ledger lacks it
    refunded = await _online_copay(s, term, localstripe, 3)
    client.v1.refunds.create(
        params={"payment_intent": refunded["payment_intent_id"], "amount": 1_500}
    )

    found = {d["kind"]: d for d in await stripe_discrepancies()}
    assert set(found) == {
        "STRIPE_NOT_IN_LEDGER",
        "STRIPE_AMOUNT_MISMATCH",
        "STRIPE_REFUND_MISSING",
    }, found
    d = found["STRIPE_NOT_IN_LEDGER"]
    assert (d["record"], d["side"], d["amount_fen"]) == (f"payment_intent:{pi.id}", "ledger", 4_000)
    assert lost_rid in d["detail"]
    d = found["STRIPE_AMOUNT_MISMATCH"]
    assert (d["record"], d["amount_fen"]) == (
        f"payment_intent:{tampered['payment_intent_id']}",
        4_200 - 5_000,
    )
    d = found["STRIPE_REFUND_MISSING"]
    assert (d["record"], d["amount_fen"]) == (
        f"payment_intent:{refunded['payment_intent_id']}",
        1_500,
    )

    # exported too
    r = await s.lc.get(
        "/v1/reconciliation",
        headers=s.finance(),
        params={"period": s.period, "region_code": "450100", "format": "csv"},
    )
    assert r.status_code == 200 and f"payment_intent:{pi.id}" in r.text


async def test_stripe_reconciliation_scope_and_outage(settle):
    s = settle
    ledger_app = s.lc._transport.app  # type: ignore[attr-defined]
    # Stripe unreachable: a clear 503, never a 500
    ledger_app.state.stripe_reader = StripeReader(
        httpx.AsyncClient(base_url="http://127.0.0.1:9"), KEY
    )
    r = await s.lc.get(
        "/v1/reconciliation",
        headers=s.finance(),
        params={"period": s.period, "region_code": "450100"},
    )
    assert r.status_code == 503 and r.json()["error"]["code"] == "STRIPE_UNAVAILABLE"
    r = await s.lc.get(
        "/v1/reconciliation",
        headers=s.finance("f:lz", region="450200"),
        params={"period": s.period, "region_code": "450100"},
    )
    assert r.status_code == 403
    r = await s.lc.get(
        "/v1/reconciliation",
        params={"period": s.period, "region_code": "450100"},
        headers=s.tokens.headers(Role.provider_admin, provider_id="p-1"),
    )
    assert r.status_code == 403
