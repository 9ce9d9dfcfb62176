"""Cash benefits in payment batches: which of a period's nursing-subsidy cash benefits
(2202 beneficiary payable) a batch can pay, and to which account.

Rule (docs/settlement.md, "Nursing-subsidy cash benefits in batches"): a benefit of the period
within the batch's region, not reversed and in no pending or paid line, is paid to the
beneficiary's payout account from the voucher service; without one it is listed as not
payable with the reason (NO_PAYOUT_ACCOUNT, BENEFICIARY_UNKNOWN), never silently dropped.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from services.common.auth import Principal
from services.common.crypto import mask_name
from services.common.db import Database
from services.ledger.errors import VoucherUnavailable
from services.ledger.settlement.clients import VoucherClient
from services.ledger.settlement.repository import cash_benefits as repo
from services.ledger.settlement.repository.cash_benefits import PayableBenefit
from services.ledger.settlement.schemas import (
    CashBenefitRead,
    CashBenefitsPayable,
    NotPayableCashBenefit,
    PayableCashBenefit,
)
from services.ledger.settlement.service.batch_rules import within
from services.ledger.settlement.service.secrets import mask_number


@dataclass(frozen=True, slots=True)
class BenefitToPay:
    """A payable cash benefit with the beneficiary's account (number in the clear)."""

    benefit: CashBenefitRead
    name: str
    cash_entry_id: uuid.UUID
    payee_name: str
    bank_name: str
    account_number: str


def _read(b: PayableBenefit) -> CashBenefitRead:
    return CashBenefitRead(
        benefit_id=b.benefit_id,
        entry_id=str(b.entry_id),
        beneficiary_id=b.beneficiary_id,
        program_code=b.program_code,
        period=b.period,
        amount_fen=b.amount_fen,
    )


async def benefits_to_pay(
    db: Database,
    vouchers: VoucherClient | None,
    period: str,
    region_code: str,
    who: Principal,
) -> tuple[list[BenefitToPay], list[NotPayableCashBenefit]]:
    """The period's payable cash benefits within the region, each with the beneficiary's
    payout account — or, without one, listed as not payable with the reason."""
    async with db.unit_of_work() as session:
        found = await repo.payable_cash_benefits(session, period)
    found = [
        b
        for b in found
        if b.region_code
        and who.covers_region(b.region_code)
        and within(region_code, [b.region_code])
    ]
    if not found:
        return [], []
    if vouchers is None:
        raise VoucherUnavailable()
    accounts = await vouchers.payout_accounts([b.beneficiary_id for b in found])
    payable: list[BenefitToPay] = []
    not_payable: list[NotPayableCashBenefit] = []
    for b in found:
        item = _read(b)
        acct = accounts.get(b.beneficiary_id)
        if acct is None:
            not_payable.append(
                NotPayableCashBenefit(**item.model_dump(), reason="BENEFICIARY_UNKNOWN")
            )
        elif not acct.get("account_number"):
            not_payable.append(
                NotPayableCashBenefit(
                    **item.model_dump(),
                    reason="NO_PAYOUT_ACCOUNT",
                    name_masked=mask_name(acct.get("name") or ""),
                )
            )
        else:
            payable.append(
                BenefitToPay(
                    benefit=item,
                    name=acct.get("name") or "",
                    cash_entry_id=b.entry_id,
                    payee_name=acct["account_name"] or "",
                    bank_name=acct["bank_name"] or "",
                    account_number=acct["account_number"] or "",
                )
            )
    return payable, not_payable


async def payable_cash_benefits(
    db: Database, vouchers: VoucherClient, *, period: str, region_code: str, who: Principal
) -> CashBenefitsPayable:
    """What a batch with `cash_benefit_period` would take now, and what it could not pay
    and why (account numbers masked)."""
    payable, not_payable = await benefits_to_pay(db, vouchers, period, region_code, who)
    return CashBenefitsPayable(
        period=period,
        region_code=region_code,
        total_fen=sum(b.benefit.amount_fen for b in payable),
        payable=[
            PayableCashBenefit(
                **b.benefit.model_dump(),
                name_masked=mask_name(b.name),
                bank_name=b.bank_name,
                account_number_masked=mask_number(b.account_number),
            )
            for b in payable
        ],
        not_payable=not_payable,
    )
