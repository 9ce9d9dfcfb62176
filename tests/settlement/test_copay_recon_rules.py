"""Reconciliation's co-payment rules, pure (no database): cash co-payments are the
provider's money and are never expected in the ledger; online ones still are."""

from __future__ import annotations

from services.ledger.service import plans
from services.ledger.settlement.repository.copay import CopayEntryCheck, CopaySide
from services.ledger.settlement.repository.reconciliation import CopayNet, LedgerSide
from services.ledger.settlement.service.discrepancies import compare, compare_copay_claims


def _sides(copayments, copays):
    voucher = {"redemptions": [], "balances": [], "copayments": copayments}
    ledger = LedgerSide(
        redemptions=[],
        stray=[],
        payments=[],
        outstanding=[],
        copays=[CopayNet(**c) for c in copays],
    )
    return voucher, ledger


def _cp(cid, method, captured, refunded=0):
    return {
        "id": cid,
        "redemption_id": f"r-{cid}",
        "method": method,
        "captured_fen": captured,
        "refunded_fen": refunded,
    }


def test_only_online_copayments_are_posted():
    assert plans.copay_is_posted("stripe")
    assert not plans.copay_is_posted("cash")


def test_a_cash_copayment_is_not_needed_in_the_ledger():
    voucher, ledger = _sides([_cp("cash-1", "cash", 1_500, 500)], [])
    assert compare(voucher, ledger) == []


def test_an_online_copayment_is_still_compared():
    voucher, ledger = _sides([_cp("web-1", "stripe", 2_500)], [])
    assert [(d["kind"], d["side"], d["amount_fen"]) for d in compare(voucher, ledger)] == [
        ("COPAY_MISMATCH", "ledger", -2_500)
    ]
    voucher, ledger = _sides(
        [_cp("web-1", "stripe", 2_500, 1_000)], [{"copayment_id": "web-1", "net_fen": 1_500}]
    )
    assert compare(voucher, ledger) == []


def test_a_cash_copayment_the_ledger_holds_is_named_on_the_ledger_side():
    voucher, ledger = _sides(
        [_cp("cash-1", "cash", 1_500)], [{"copayment_id": "cash-1", "net_fen": 1_500}]
    )
    found = compare(voucher, ledger)
    assert [(d["kind"], d["record"], d["side"], d["amount_fen"]) for d in found] == [
        ("COPAY_MISMATCH", "copayment:cash-1", "ledger", 1_500)
    ]
    assert "cash" in found[0]["detail"]


def test_copay_settlement_totals_are_online_only():
    side = CopaySide(
        entries=[
            CopayEntryCheck(
                entry_id="e1",
                copayment_id="web-1",
                provider_id=None,
                method="stripe",
                posted_fen=2_000,
                claimed_fen=None,
            ),
            CopayEntryCheck(
                entry_id="e2",
                copayment_id="cash-1",
                provider_id=None,
                method="cash",
                posted_fen=1_500,
                claimed_fen=None,
            ),
        ],
        strays=[],
    )
    found, totals = compare_copay_claims(side)
    assert found == []
    assert totals == {
        "received_fen": 2_000,
        "claimed_fen": 0,
        "unclaimed_fen": 2_000,
        "refunds_to_recover_fen": 0,
    }
