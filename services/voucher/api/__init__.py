"""Routes of the voucher service, one module per area. Rules are in service/, SQL in repository/."""

from __future__ import annotations

from fastapi import APIRouter

from services.voucher.api import (
    alerts,
    beneficiaries,
    codes,
    copay,
    dashboard,
    issuance,
    lifecycle,
    programs,
    reassessments,
    reconciliation,
    redemptions,
    reviews,
    roster,
    visits,
)

router = APIRouter(prefix="/v1")
for module in (
    programs,
    roster,
    beneficiaries,
    lifecycle,
    reassessments,
    issuance,
    codes,
    redemptions,
    reconciliation,
    copay,
    reviews,
    visits,
    alerts,
    dashboard,
):
    router.include_router(module.router)
