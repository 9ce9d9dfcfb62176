"""Reconciliation for a period and region, three ways, to the fen (the comparison itself,
and every kind of discrepancy, in discrepancies.py).

The voucher side and Stripe's records are read first; the ledger side is then read in one
read-only REPEATABLE READ snapshot, so its parts agree with each other.
"""

from __future__ import annotations

from typing import Any

from services.common import export
from services.common.db import Database
from services.common.regions import significant_prefix
from services.ledger.settlement.clients import StripeReader, VoucherClient
from services.ledger.settlement.repository import copay as copay_repo
from services.ledger.settlement.repository import reconciliation as repo
from services.ledger.settlement.repository import recoveries as recoveries_repo
from services.ledger.settlement.repository.recoveries import RecoveryEntry
from services.ledger.settlement.schemas import (
    Discrepancy,
    ReconciliationRead,
    RecoveryOutstanding,
    RecoverySettlement,
)
from services.ledger.settlement.service.discrepancies import (
    compare,
    compare_copay_claims,
    compare_stripe,
)

COLUMNS = ("kind", "record", "side", "amount_fen", "detail")


async def reconcile(
    db: Database,
    voucher: VoucherClient,
    period: str,
    region_code: str,
    stripe: StripeReader | None = None,
) -> ReconciliationRead:
    voucher_side = await voucher.reconciliation(period, region_code)
    stripe_side = await stripe.payments() if stripe is not None else None
    prefix = significant_prefix(region_code)
    copay_ids = [c["id"] for c in voucher_side.get("copayments", [])]
    redemption_ids = [r["id"] for r in voucher_side["redemptions"]]
    async with db.unit_of_work(isolation="REPEATABLE READ", readonly=True) as session:
        ledger_side = await repo.ledger_side(session, period, prefix, redemption_ids, copay_ids)
        split = await repo.copay_split(session, copay_ids) if stripe_side is not None else []
        copay_side = await copay_repo.reconciliation(session, period, prefix)
        owed_back = await recoveries_repo.in_region(session, prefix)
    found = compare(voucher_side, ledger_side)
    copay_found, copay_totals = compare_copay_claims(copay_side)
    found += copay_found
    if stripe_side is not None:
        found += compare_stripe(voucher_side, split, stripe_side)
    return ReconciliationRead(
        ok=not found,
        period=period,
        region_code=region_code,
        redemptions_checked=len(voucher_side["redemptions"]),
        stripe_checked=stripe_side is not None,
        copay_settlement=copay_totals,
        recoveries=recovery_settlement(owed_back),
        discrepancies=found,
    )


def recovery_settlement(owed: list[RecoveryEntry]) -> RecoverySettlement:
    """What providers owe back: recovered once a paid claim netted it, else outstanding."""
    outstanding = [r for r in owed if r.claim_status != "paid"]
    return RecoverySettlement(
        owed_fen=sum(r.amount_fen for r in owed),
        recovered_fen=sum(r.amount_fen for r in owed if r.claim_status == "paid"),
        outstanding_fen=sum(r.amount_fen for r in outstanding),
        outstanding=[
            RecoveryOutstanding(
                redemption_id=r.redemption_id,
                entry_id=str(r.entry_id),
                provider_id=r.provider_id,
                amount_fen=r.amount_fen,
                claim_id=str(r.claim_id) if r.claim_id else None,
                memo=r.memo,
            )
            for r in outstanding
        ],
    )


def _row(d: Discrepancy) -> list[Any]:
    return [d["kind"], d["record"], d["side"], d["amount_fen"], d["detail"]]  # COLUMNS


def as_csv(report: ReconciliationRead) -> bytes:
    return export.csv_bytes(COLUMNS, (_row(d) for d in report.discrepancies))


def as_xlsx(report: ReconciliationRead) -> bytes:
    return export.xlsx_bytes(
        f"对账 {report.period}", COLUMNS, (_row(d) for d in report.discrepancies)
    )
