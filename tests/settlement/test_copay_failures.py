"""Co-payments when things go wrong: start, refund, void, capture and sync racing on real
connections (one lock order: no deadlock reaches a client, money moves once), a void while
Stripe is down (the void stands, its refund is made when Stripe is back, once), and a
refund Stripe made whose answer we lost (found again, not made twice)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

from services.common.auth import Role
from services.voucher.clients import StripeGateway
from services.voucher.service import copay_refund
from tests.settlement.stripe_process import KEY, LocalStripe, pay_in_browser
from tests.settlement.test_copay import _signed

ROUNDS = 12


def _use(s: Any, ls: LocalStripe) -> StripeGateway:
    gw = StripeGateway(KEY, ls.base)
    s.w.app.state.stripe_gateway = gw
    return gw


async def _online(s: Any, term: Any, *, pay: bool) -> dict[str, Any]:
    rid = await s.redeem(term, 10_000)  # co-payment 5,000
    r = await s.w.client.post(
        f"/v1/redemptions/{rid}/copayment", headers=term.headers, json={"method": "stripe"}
    )
    assert r.status_code == 200, r.text
    cp = {**r.json(), "rid": rid}
    if pay:
        ls_base = s.w.app.state.stripe_gateway.client._requestor.base_addresses["api"]
        pay_in_browser(ls_base, cp["client_secret"])
    return cp


async def _captured(s: Any) -> tuple[Any, dict[str, Any]]:
    """A new provider's terminal and an online co-payment paid at Stripe and captured."""
    _pid, term = await s.provider()
    cp = await _online(s, term, pay=True)
    r = await s.w.client.post(f"/v1/copayments/{cp['id']}/sync", headers=term.headers)
    assert r.json()["status"] == "succeeded", r.text
    return term, cp


async def _copayment(s: Any, cid: str) -> dict[str, Any]:
    row = await s.w.conn.fetchrow(
        "SELECT captured_fen, refunded_fen, refund_pending_fen, status FROM copayment "
        "WHERE id = $1",
        uuid.UUID(cid),
    )
    return dict(row)


async def test_start_refund_void_capture_race_without_deadlock(settle, stripe_ls):
    s = settle
    _use(s, stripe_ls)
    pid, term = await s.provider()
    admin = s.tokens.headers(Role.provider_admin, provider_id=pid)
    staff = s.tokens.headers(Role.provider_staff, provider_id=pid)
    codes: list[tuple[int, str]] = []
    rounds: list[dict[str, Any]] = []
    for n in range(ROUNDS):
        cp = await _online(s, term, pay=True)
        rounds.append(cp)
        rid, cid = cp["rid"], cp["id"]
        event = {
            "id": f"evt_race_{n}",
            "object": "event",
            "type": "payment_intent.succeeded",
            "data": {
                "object": {"id": cp["payment_intent_id"], "amount": 5_000, "amount_received": 5_000}
            },
        }
        body, sig = _signed(event)
        # Each call is its own request on its own pooled connection, all at once.
        calls = [
            s.w.client.post(
                f"/v1/redemptions/{rid}/copayment", headers=staff, json={"method": "stripe"}
            ),
            s.w.client.post(
                f"/v1/copayments/{cid}/refund",
                headers=admin,
                json={"amount_fen": 2_000, "idempotency_key": f"race-{n}-a"},
            ),
            s.w.client.post(
                f"/v1/copayments/{cid}/refund",
                headers=admin,
                json={"amount_fen": 1_000, "idempotency_key": f"race-{n}-b"},
            ),
            s.void(term, rid),
            s.w.client.post("/v1/stripe/webhook", content=body, headers={"stripe-signature": sig}),
            s.w.client.post(f"/v1/copayments/{cid}/sync", headers=staff),
        ]
        if n % 2:
            calls.reverse()
        for r in await asyncio.gather(*calls):
            codes.append(
                (
                    r.status_code,
                    r.json().get("error", {}).get("code", "") if r.status_code >= 400 else "",
                )
            )
    allowed = {(200, ""), (409, "REFUND_EXCEEDS_CAPTURED")}
    assert set(codes) <= allowed, sorted(set(codes) - allowed)

    # Money moved once: each voided redemption's co-payment came back whole, at Stripe too.
    for cp in rounds:
        row = await _copayment(s, cp["id"])
        assert row == {
            "captured_fen": 5_000,
            "refunded_fen": 5_000,
            "refund_pending_fen": 0,
            "status": "refunded",
        }, row
        assert sum(f["amount"] for f in stripe_ls.refunds(cp["payment_intent_id"])) == 5_000
    refunds = await s.w.conn.fetchval("SELECT count(*) FROM copay_refund")
    assert (
        await s.w.conn.fetchval("SELECT count(*) FROM outbox WHERE type = 'copay.refunded'")
        == refunds
    )
    assert (
        await s.w.conn.fetchval("SELECT count(*) FROM outbox WHERE type = 'copay.received'")
        == ROUNDS
    )
    await s.deliver()
    assert (
        await s.fetchval("SELECT coalesce(sum(balance_fen), 0) FROM account WHERE code = '1102'")
        == 0
    )


async def test_paid_after_the_void_is_given_back(settle, stripe_ls):
    """The family pays a co-payment while the staff void its redemption: whichever comes
    first, the payment is refunded in full, once."""
    s = settle
    _use(s, stripe_ls)
    _pid, term = await s.provider()
    for n in range(4):
        cp = await _online(s, term, pay=False)
        event_for = {"id": cp["payment_intent_id"], "amount": 5_000, "amount_received": 5_000}

        async def pay_and_tell(cp=cp, n=n, obj=event_for):
            await asyncio.to_thread(pay_in_browser, stripe_ls.base, cp["client_secret"])
            body, sig = _signed(
                {
                    "id": f"evt_late_{n}",
                    "object": "event",
                    "type": "payment_intent.succeeded",
                    "data": {"object": obj},
                }
            )
            return await s.w.client.post(
                "/v1/stripe/webhook", content=body, headers={"stripe-signature": sig}
            )

        hook, void = await asyncio.gather(pay_and_tell(), s.void(term, cp["rid"]))
        assert hook.status_code == 200 and void.status_code == 200, (hook.text, void.text)
        assert await _copayment(s, cp["id"]) == {
            "captured_fen": 5_000,
            "refunded_fen": 5_000,
            "refund_pending_fen": 0,
            "status": "refunded",
        }
        assert [f["amount"] for f in stripe_ls.refunds(cp["payment_intent_id"])] == [5_000]
    await s.deliver()
    assert (
        await s.fetchval("SELECT coalesce(sum(balance_fen), 0) FROM account WHERE code = '1102'")
        == 0
    )


async def test_void_while_stripe_is_down_refunds_when_it_is_back(settle, stripe_ls):
    s = settle
    gw = _use(s, stripe_ls)
    pid, term = await s.provider()
    admin = s.tokens.headers(Role.provider_admin, provider_id=pid)
    voided, partial = await _online(s, term, pay=True), await _online(s, term, pay=True)
    for cp in (voided, partial):
        r = await s.w.client.post(f"/v1/copayments/{cp['id']}/sync", headers=admin)
        assert r.json()["status"] == "succeeded", r.text
    db = s.w.app.state.db

    stripe_ls.stop()
    try:
        r = await s.void(term, voided["rid"])
        assert r.status_code == 200, r.text  # the void happened, and says so
        assert r.json()["status"] == "voided"
        assert await _copayment(s, voided["id"]) == {
            "captured_fen": 5_000,
            "refunded_fen": 0,
            "refund_pending_fen": 5_000,
            "status": "succeeded",
        }
        again = await s.void(term, voided["rid"])  # a retried void promises nothing more
        assert again.status_code == 200 and again.json()["already_voided"] is True
        r = await s.w.client.post(
            f"/v1/copayments/{partial['id']}/refund",
            headers=admin,
            json={"amount_fen": 1_500, "idempotency_key": "down-0001"},
        )
        assert r.status_code == 202 and r.json()["refund_pending_fen"] == 1_500, r.text
        # nothing more than captured can be promised, even while pending
        r = await s.w.client.post(
            f"/v1/copayments/{partial['id']}/refund",
            headers=admin,
            json={"amount_fen": 3_501, "idempotency_key": "down-0002"},
        )
        assert r.status_code == 409 and r.json()["error"]["code"] == "REFUND_EXCEEDS_CAPTURED"
        assert await copay_refund.retry_due(db, gw) == 0
        rows = await s.w.conn.fetch("SELECT status, attempts, last_error FROM copay_refund")
        assert [(x["status"], x["attempts"] >= 1, bool(x["last_error"])) for x in rows] == [
            ("pending", True, True)
        ] * 2
        await s.deliver()
        assert await s.fetchval("SELECT count(*) FROM entry WHERE kind = 'copay_refunded'") == 0
    finally:
        stripe_ls.start()  # the same state: Stripe is back, it forgot nothing

    await s.w.conn.execute("UPDATE copay_refund SET next_attempt_at = now()")  # skip backoff
    assert await copay_refund.retry_due(db, gw) == 2
    assert await copay_refund.retry_due(db, gw) == 0  # and never again
    for _ in range(2):
        assert (await s.void(term, voided["rid"])).status_code == 200
        r = await s.w.client.post(
            f"/v1/copayments/{partial['id']}/refund",
            headers=admin,
            json={"amount_fen": 1_500, "idempotency_key": "down-0001"},
        )
        assert r.status_code == 200 and r.json()["refunded_fen"] == 1_500, r.text
    assert await _copayment(s, voided["id"]) == {
        "captured_fen": 5_000,
        "refunded_fen": 5_000,
        "refund_pending_fen": 0,
        "status": "refunded",
    }
    assert [f["amount"] for f in stripe_ls.refunds(voided["payment_intent_id"])] == [5_000]
    assert [f["amount"] for f in stripe_ls.refunds(partial["payment_intent_id"])] == [1_500]
    await s.deliver()
    assert await s.fetchval("SELECT count(*) FROM entry WHERE kind = 'copay_refunded'") == 2
    assert (
        await s.fetchval("SELECT coalesce(sum(balance_fen), 0) FROM account WHERE code = '1102'")
        == 5_000 - 1_500
    )


async def test_a_refund_whose_answer_was_lost_is_not_made_twice(settle, stripe_ls):
    """Stripe made the refund but we never heard (a crash, a cut connection): the retry
    finds it by our key in its metadata and records it, instead of refunding again."""
    s = settle
    gw = _use(s, stripe_ls)
    term, cp = await _captured(s)
    db = s.w.app.state.db
    stripe_ls.stop()
    try:
        assert (await s.void(term, cp["rid"])).status_code == 200
    finally:
        stripe_ls.start()
    key = f"void:{cp['rid']}"
    made = await gw.refund(
        cp["payment_intent_id"],
        5_000,
        f"copay_refund:{key}",
        metadata={copay_refund.METADATA_KEY: key},
    )
    await s.w.conn.execute("UPDATE copay_refund SET next_attempt_at = now()")
    assert await copay_refund.retry_due(db, gw) == 1
    assert await s.w.conn.fetchval("SELECT stripe_refund_id FROM copay_refund") == made.id
    assert [f["amount"] for f in stripe_ls.refunds(cp["payment_intent_id"])] == [5_000]


async def test_the_retry_loop_sends_pending_refunds_and_syncs_lost_webhooks(settle, stripe_ls):
    """What the voucher service runs every YIYANG_VOUCHER_COPAY_RETRY_INTERVAL_S: a refund
    left pending by an outage is sent, and a payment whose webhook never came is recorded."""
    from services.voucher.main import _copay_retry

    s = settle
    _use(s, stripe_ls)
    _pid, term = await s.provider()
    refunded, unheard = await _online(s, term, pay=True), await _online(s, term, pay=True)
    r = await s.w.client.post(f"/v1/copayments/{refunded['id']}/sync", headers=term.headers)
    assert r.json()["status"] == "succeeded"
    stripe_ls.stop()
    try:
        assert (await s.void(term, refunded["rid"])).status_code == 200
    finally:
        stripe_ls.start()
    # due now, and the unheard payment old enough for the loop to look at it
    await s.w.conn.execute("UPDATE copay_refund SET next_attempt_at = now()")
    await s.w.conn.execute(
        "UPDATE copayment SET created_at = now() - interval '5 minutes' WHERE id = $1",
        uuid.UUID(unheard["id"]),
    )
    task = asyncio.create_task(_copay_retry(s.w.app, 0.1))
    try:
        for _ in range(200):
            rows = [await _copayment(s, cp["id"]) for cp in (refunded, unheard)]
            if rows[0]["status"] == "refunded" and rows[1]["status"] == "succeeded":
                break
            await asyncio.sleep(0.1)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert rows == [
        {
            "captured_fen": 5_000,
            "refunded_fen": 5_000,
            "refund_pending_fen": 0,
            "status": "refunded",
        },
        {"captured_fen": 5_000, "refunded_fen": 0, "refund_pending_fen": 0, "status": "succeeded"},
    ]
    assert [f["amount"] for f in stripe_ls.refunds(refunded["payment_intent_id"])] == [5_000]


class SlowRefunds(StripeGateway):
    """localstripe makes every refund `succeeded` at once; real Stripe may answer `pending`
    (or later `failed`). This gateway shows the first answers about a refund as `status`
    says, then Stripe's own."""

    def __init__(self, api_key: str, api_base: str, statuses: list[str]) -> None:
        super().__init__(api_key, api_base)
        self.statuses = statuses

    def _as_told(self, refund: Any) -> Any:
        if refund is not None and self.statuses:
            refund.status = self.statuses.pop(0)
        return refund

    async def refund(self, *args: Any, **kwargs: Any) -> Any:
        return self._as_told(await super().refund(*args, **kwargs))

    async def find_refund(self, *args: Any) -> Any:
        return self._as_told(await super().find_refund(*args))


async def test_a_refund_is_recorded_only_once_stripe_says_it_succeeded(settle, stripe_ls):
    """A refund Stripe answers `pending` (or `failed`) is not yet money back to the family:
    nothing is recorded as refunded and the ledger hears nothing until Stripe says
    `succeeded`; then it is recorded once, and Stripe was asked for one refund only."""
    s = settle
    _use(s, stripe_ls)
    term, cp = await _captured(s)
    gw = SlowRefunds(KEY, stripe_ls.base, ["pending", "failed"])
    s.w.app.state.stripe_gateway = gw
    db = s.w.app.state.db

    assert (await s.void(term, cp["rid"])).status_code == 200  # Stripe: pending
    state = await _copayment(s, cp["id"])
    assert (state["refunded_fen"], state["refund_pending_fen"]) == (0, 5_000)
    events = "SELECT count(*) FROM outbox WHERE type = 'copay.refunded'"
    assert await s.w.conn.fetchval(events) == 0
    assert await s.w.conn.fetchval("SELECT last_error FROM copay_refund") == (
        "STRIPE_REFUND_PENDING"
    )

    await s.w.conn.execute("UPDATE copay_refund SET next_attempt_at = now()")
    await copay_refund.retry_due(db, gw)  # Stripe: failed
    assert (await _copayment(s, cp["id"]))["refunded_fen"] == 0
    assert await s.w.conn.fetchval("SELECT last_error FROM copay_refund") == (
        "STRIPE_REFUND_FAILED"
    )

    await s.w.conn.execute("UPDATE copay_refund SET next_attempt_at = now()")
    await copay_refund.retry_due(db, gw)  # Stripe's own answer: succeeded
    state = await _copayment(s, cp["id"])
    assert (state["refunded_fen"], state["refund_pending_fen"]) == (5_000, 0)
    assert await s.w.conn.fetchval(events) == 1
    assert [f["amount"] for f in stripe_ls.refunds(cp["payment_intent_id"])] == [5_000]


async def test_a_refund_stripe_refuses_waits_for_a_person_and_the_void_still_answers(
    settle, stripe_ls, caplog
):
    """Stripe answers no (here: the PaymentIntent is unknown to it, as after a manual
    clean-up in its dashboard). The void still answers 200, nothing is recorded as
    refunded, the ledger hears nothing, the refund waits the longest retry delay with the
    reason, and the refusal is logged as an error for a person."""
    s = settle
    _use(s, stripe_ls)
    term, cp = await _captured(s)
    await s.w.conn.execute(
        "UPDATE copayment SET stripe_payment_intent_id = 'pi_gone' WHERE id = $1",
        uuid.UUID(cp["id"]),
    )
    caplog.set_level("ERROR", logger="yiyang.voucher.copay")
    assert (await s.void(term, cp["rid"])).status_code == 200
    state = await _copayment(s, cp["id"])
    assert (state["refunded_fen"], state["refund_pending_fen"]) == (0, 5_000)
    row = await s.w.conn.fetchrow(
        "SELECT status, last_error, next_attempt_at - now() AS wait FROM copay_refund"
    )
    assert row["status"] == "pending" and row["last_error"].startswith("STRIPE_REFUSED")
    assert row["wait"].total_seconds() > 500  # not hammered every few seconds
    assert await s.w.conn.fetchval("SELECT count(*) FROM outbox WHERE type = 'copay.refunded'") == 0
    assert any("refused by Stripe" in r.getMessage() for r in caplog.records)
