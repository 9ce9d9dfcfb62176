"""The two Stripe discrepancies no other test plants, each planted and seen named by the
reconciliation: STRIPE_REFUND_MISMATCH (the ledger refunded more than Stripe did) and
NOT_IN_STRIPE (the ledger received an online co-payment Stripe never took)."""

from __future__ import annotations

from typing import Any

from services.voucher.clients import StripeGateway
from tests.settlement.stripe_process import KEY, LocalStripe, pay_in_browser
from tests.settlement.test_copay import _signed
from tests.settlement.test_stripe_reconciliation import STRIPE_KINDS


def _wire(s: Any, ls: LocalStripe) -> None:
    s.w.app.state.stripe_gateway = StripeGateway(KEY, ls.base)
    ledger_app = s.lc._transport.app  # type: ignore[attr-defined]
    ledger_app.state.settings.stripe_api_base = ls.base
    ledger_app.state.settings.stripe_secret_key = KEY


async def _open(s: Any, term: Any) -> dict[str, Any]:
    rid = await s.redeem(term, 10_000)  # co-payment 5,000
    r = await s.w.client.post(
        f"/v1/redemptions/{rid}/copayment", headers=term.headers, json={"method": "stripe"}
    )
    assert r.status_code == 200, r.text
    return r.json()


async def _stripe_discrepancies(s: Any) -> dict[str, dict[str, Any]]:
    r = await s.lc.get(
        "/v1/reconciliation",
        headers=s.finance(),
        params={"period": s.period, "region_code": "450100"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["stripe_checked"] is True
    found = [d for d in r.json()["discrepancies"] if d["kind"] in STRIPE_KINDS]
    assert len({d["kind"] for d in found}) == len(found), found
    return {d["kind"]: d for d in found}


async def test_ledger_refunded_more_than_stripe(settle, stripe_ls):
    s = settle
    _wire(s, stripe_ls)
    _pid, term = await s.provider()
    cp = await _open(s, term)
    pay_in_browser(stripe_ls.base, cp["client_secret"])
    r = await s.w.client.post(f"/v1/copayments/{cp['id']}/sync", headers=term.headers)
    assert r.json()["status"] == "succeeded", r.text
    await s.deliver()
    assert await _stripe_discrepancies(s) == {}

    # Plant: a refund of 1,200 fen reaches the ledger that Stripe never made (through the
    # voucher database's owner connection, the way the other planted tests do).
    await s.w.conn.execute(
        "INSERT INTO outbox (event_id, type, payload, occurred_at) "
        "SELECT gen_random_uuid(), 'copay.refunded', "
        "jsonb_set(payload, '{amount_fen}', to_jsonb(1200)), now() FROM outbox "
        "WHERE type = 'copay.received' AND payload->>'copayment_id' = $1",
        cp["id"],
    )
    await s.deliver()
    found = await _stripe_discrepancies(s)
    assert set(found) == {"STRIPE_REFUND_MISMATCH"}, found
    d = found["STRIPE_REFUND_MISMATCH"]
    assert (d["record"], d["side"], d["amount_fen"]) == (
        f"payment_intent:{cp['payment_intent_id']}",
        "ledger",
        1_200,
    )


async def test_ledger_received_what_stripe_never_took(settle, stripe_ls):
    s = settle
    _wire(s, stripe_ls)
    _pid, term = await s.provider()
    cp = await _open(s, term)  # opened, never paid at Stripe
    # Plant: a signed event claims the payment succeeded (a mistaken or replayed webhook
    # from another account); Stripe itself has no succeeded PaymentIntent for it.
    body, sig = _signed(
        {
            "id": "evt_plant_not_in_stripe",
            "object": "event",
            "type": "payment_intent.succeeded",
            "data": {
                "object": {
                    "id": cp["payment_intent_id"],
                    "amount": 5_000,
                    "amount_received": 5_000,
                    "metadata": {"redemption_id": cp["redemption_id"]},
                }
            },
        }
    )
    r = await s.w.client.post("/v1/stripe/webhook", content=body, headers={"stripe-signature": sig})
    assert r.status_code == 200 and r.json()["captured_fen"] == 5_000, r.text
    await s.deliver()
    found = await _stripe_discrepancies(s)
    assert set(found) == {"NOT_IN_STRIPE"}, found
    d = found["NOT_IN_STRIPE"]
    assert (d["record"], d["side"], d["amount_fen"]) == (f"copayment:{cp['id']}", "stripe", 5_000)
    assert cp["redemption_id"] in d["detail"]
