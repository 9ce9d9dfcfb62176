"""Route of reconciliation. Rules are in service/reconciliation.py and
service/discrepancies.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from services.common.auth import Principal
from services.common.db import DatabaseDep
from services.ledger.settlement.api.deps import ERRORS, FINANCE_AUDITOR, StripeDep, VoucherDep
from services.ledger.settlement.schemas import Period, ReconciliationRead, RegionCode
from services.ledger.settlement.service import reconciliation

router = APIRouter(tags=["settlement"])

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.get("/reconciliation", responses=ERRORS, response_model=ReconciliationRead)
async def get_reconciliation(
    db: DatabaseDep,
    vouchers: VoucherDep,
    stripe: StripeDep,
    period: Annotated[Period, Query()],
    region_code: Annotated[RegionCode, Query()],
    format: Annotated[str, Query(pattern="^(json|csv|xlsx)$")] = "json",
    p: Principal = FINANCE_AUDITOR,
) -> ReconciliationRead | Response:
    """Reconcile a period and region three ways: voucher-side redemptions vs ledger postings
    vs claims and payments, and Σ voucher balances vs vouchers outstanding. `{ok,
    discrepancies: [{kind, record, side, amount_fen, detail}]}`, empty when all agree;
    `format=csv` or `format=xlsx` exports the discrepancies."""
    p.ensure_region(region_code)
    report = await reconciliation.reconcile(db, vouchers, period, region_code, stripe)
    name = f"reconciliation-{region_code}-{period}"
    if format == "csv":
        return Response(
            reconciliation.as_csv(report),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    if format == "xlsx":
        return Response(
            reconciliation.as_xlsx(report),
            media_type=XLSX,
            headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'},
        )
    return report
