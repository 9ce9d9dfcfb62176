"""Route of the cash benefits a payment batch could pay. Rules are in
service/cash_benefits.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from services.common.auth import Principal
from services.common.db import DatabaseDep
from services.ledger.settlement.api.deps import ERRORS, FINANCE_AUDITOR, VoucherDep
from services.ledger.settlement.schemas import CashBenefitsPayable, Period, RegionCode
from services.ledger.settlement.service import cash_benefits

router = APIRouter(tags=["settlement"])


@router.get("/cash-benefits/payable", responses=ERRORS)
async def get_payable_cash_benefits(
    db: DatabaseDep,
    vouchers: VoucherDep,
    period: Annotated[Period, Query()],
    region_code: Annotated[RegionCode, Query()],
    p: Principal = FINANCE_AUDITOR,
) -> CashBenefitsPayable:
    """The nursing-subsidy cash benefits (2202) of a period within a region not yet paid or
    batched: `payable` (with the beneficiary's bank and masked account number) and
    `not_payable` with the reason (`NO_PAYOUT_ACCOUNT`, `BENEFICIARY_UNKNOWN`)."""
    p.ensure_region(region_code)
    return await cash_benefits.payable_cash_benefits(
        db, vouchers, period=period, region_code=region_code, who=p
    )
