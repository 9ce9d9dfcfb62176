"""The family's side of an online co-payment: the person (or their live proxy) lists what
is waiting, gets the client secret for the payment page, and the payment is recorded by
the webhook or, when that is late or lost, by the sync — once either way. Wrong role,
another person, a revoked proxy and another provider are refused."""

from __future__ import annotations

import uuid
from typing import Any

from services.common.auth import Role
from services.voucher.clients import StripeGateway
from tests.settlement.stripe_process import KEY, pay_in_browser
from tests.settlement.test_copay import _signed
from tests.voucher.redeem.conftest import key, qr


async def _redeem(s: Any, term: Any, gross: int = 10_000) -> tuple[str, str]:
    ben = await s.w.add_beneficiary()
    await s.w.add_voucher(ben, face_fen=50_000, ratio_bp=5000, period=s.period)
    r = await s.w.client.post(
        "/v1/redemptions",
        headers=term.headers,
        json={
            "token": qr(ben),
            "service_code": "CARE_BATH",
            "gross_fen": gross,
            "idempotency_key": key(),
        },
    )
    assert r.status_code == 201, r.text
    return r.json()["id"], str(ben)


def other_provider_headers(s: Any) -> dict[str, str]:
    return s.tokens.headers(Role.provider_staff, provider_id="p-someone-else")


def _err(r: Any) -> tuple[int, str]:
    return r.status_code, r.json()["error"]["code"]


async def test_family_lists_pays_and_sync_records_once(settle, stripe_ls):
    s = settle
    s.w.app.state.stripe_gateway = StripeGateway(KEY, stripe_ls.base)
    pid, term = await s.provider()
    rid, ben = await _redeem(s, term)
    cash_rid, _ = await _redeem(s, term, 3_000)
    c = s.w.client
    cp = (
        await c.post(
            f"/v1/redemptions/{rid}/copayment", headers=term.headers, json={"method": "stripe"}
        )
    ).json()
    me = s.tokens.headers(Role.beneficiary, sub=ben)
    proxy_sub = "proxy:daughter"
    await s.w.add_proxy(ben, proxy_sub)
    proxy = s.tokens.headers(Role.proxy, sub=proxy_sub, beneficiary_ids=[ben])

    for who in (me, proxy):
        r = await c.get(f"/v1/beneficiaries/{ben}/copayments", headers=who)
        assert r.status_code == 200, r.text
        assert [
            (x["id"], x["amount_fen"], x["provider_id"], x["service_code"]) for x in r.json()
        ] == [(cp["id"], 5_000, pid, "CARE_BATH")]
    r = await c.get(f"/v1/copayments/{cp['id']}/client-secret", headers=me)
    assert r.status_code == 200 and r.json()["client_secret"].startswith(cp["payment_intent_id"]), (
        r.text
    )

    # refused: another person (to whom the person and the co-payment are not found, exactly
    # like ids nobody has), a role that is not the family's, unsigned
    other_ben = str(await s.w.add_beneficiary())
    stranger = s.tokens.headers(Role.beneficiary, sub=other_ben)
    for theirs, nobodys in (
        (f"/v1/beneficiaries/{ben}/copayments", f"/v1/beneficiaries/{uuid.uuid4()}/copayments"),
        (
            f"/v1/copayments/{cp['id']}/client-secret",
            f"/v1/copayments/{uuid.uuid4()}/client-secret",
        ),
    ):
        refused = await c.get(theirs, headers=stranger)
        missing = await c.get(nobodys, headers=stranger)
        assert refused.status_code == 404 and refused.json() == missing.json(), theirs
    assert _err(await c.get(f"/v1/copayments/{cp['id']}/client-secret", headers=stranger)) == (
        404,
        "COPAYMENT_NOT_FOUND",
    )
    staff = s.tokens.headers(Role.provider_staff, provider_id=pid)
    assert _err(await c.get(f"/v1/copayments/{cp['id']}/client-secret", headers=staff)) == (
        403,
        "ROLE_NOT_ALLOWED",
    )
    assert _err(
        await c.get(
            f"/v1/beneficiaries/{ben}/copayments",
            headers=s.tokens.headers(Role.civil_affairs, region="450100"),
        )
    ) == (403, "ROLE_NOT_ALLOWED")
    assert (await c.get(f"/v1/beneficiaries/{ben}/copayments")).status_code == 401
    for role in (Role.finance, Role.auditor, Role.civil_affairs):
        who = s.tokens.headers(role, region="450000")
        assert _err(await c.get(f"/v1/copayments/{cp['id']}", headers=who)) == (
            403,
            "ROLE_NOT_ALLOWED",
        )
        assert _err(await c.post(f"/v1/copayments/{cp['id']}/sync", headers=who)) == (
            403,
            "ROLE_NOT_ALLOWED",
        )
    assert _err(await c.get(f"/v1/copayments/{cp['id']}", headers=other_provider_headers(s))) == (
        404,
        "COPAYMENT_NOT_FOUND",
    )
    other_provider = s.tokens.headers(Role.provider_admin, provider_id="p-other")
    assert _err(await c.post(f"/v1/copayments/{cp['id']}/sync", headers=other_provider)) == (
        404,
        "COPAYMENT_NOT_FOUND",
    )
    assert _err(await c.get("/v1/copayments/00000000-0000-0000-0000-000000000000", headers=me)) == (
        404,
        "COPAYMENT_NOT_FOUND",
    )
    assert _err(await c.get("/v1/copayments/not-a-uuid", headers=me))[0] == 422

    # paid at Stripe from the page; the webhook is lost; the page's return step syncs
    pay_in_browser(stripe_ls.base, r.json()["client_secret"])
    for _ in range(3):
        r = await c.post(f"/v1/copayments/{cp['id']}/sync", headers=proxy)
        assert r.status_code == 200 and r.json()["status"] == "succeeded", r.text
        assert r.json()["captured_fen"] == 5_000
    body, sig = _signed(
        {
            "id": "evt_family_late",
            "object": "event",
            "type": "payment_intent.succeeded",
            "data": {"object": {"id": cp["payment_intent_id"], "amount": 5_000}},
        }
    )
    late = await c.post("/v1/stripe/webhook", content=body, headers={"stripe-signature": sig})
    assert late.status_code == 200 and late.json().get("ignored") is True
    assert await s.w.conn.fetchval("SELECT count(*) FROM outbox WHERE type = 'copay.received'") == 1
    assert (await c.get(f"/v1/beneficiaries/{ben}/copayments", headers=me)).json() == []
    assert (await c.get(f"/v1/copayments/{cp['id']}", headers=me)).json()["status"] == "succeeded"
    assert _err(await c.get(f"/v1/copayments/{cp['id']}/client-secret", headers=me)) == (
        409,
        "COPAYMENT_NOT_PAYABLE",
    )
    cash = (
        await c.post(
            f"/v1/redemptions/{cash_rid}/copayment", headers=term.headers, json={"method": "cash"}
        )
    ).json()
    cash_me = s.tokens.headers(Role.service)
    assert (await c.get(f"/v1/copayments/{cash['id']}", headers=cash_me)).status_code == 200
    await s.deliver()
    # the online one posted once; the cash one is the provider's money and posts nothing
    assert await s.fetchval("SELECT count(*) FROM entry WHERE kind = 'copay_received'") == 1

    # a revoked proxy is refused at once, whatever its token says
    await s.w.conn.execute(
        "UPDATE proxy_authorisation SET status = 'revoked' WHERE proxy_sub = $1", proxy_sub
    )
    assert _err(await c.get(f"/v1/beneficiaries/{ben}/copayments", headers=proxy)) == (
        403,
        "OUT_OF_SCOPE",
    )
    assert _err(await c.get(f"/v1/copayments/{cp['id']}", headers=proxy)) == (403, "OUT_OF_SCOPE")


async def test_a_voided_redemption_is_not_offered_for_payment(settle, stripe_ls):
    s = settle
    s.w.app.state.stripe_gateway = StripeGateway(KEY, stripe_ls.base)
    _pid, term = await s.provider()
    rid, ben = await _redeem(s, term)
    cp = (
        await s.w.client.post(
            f"/v1/redemptions/{rid}/copayment", headers=term.headers, json={"method": "stripe"}
        )
    ).json()
    assert (await s.void(term, rid)).status_code == 200
    me = s.tokens.headers(Role.beneficiary, sub=ben)
    assert (await s.w.client.get(f"/v1/beneficiaries/{ben}/copayments", headers=me)).json() == []
    assert _err(await s.w.client.get(f"/v1/copayments/{cp['id']}/client-secret", headers=me)) == (
        409,
        "COPAYMENT_NOT_PAYABLE",
    )
