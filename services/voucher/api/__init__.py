"""Routes of the voucher service, one module per area. Rules are in service/, SQL in repository/."""

from __future__ import annotations

from fastapi import APIRouter

from services.voucher.api import (
    beneficiaries,
    codes,
    copay,
    dashboard,
    issuance,
    programs,
    reconciliation,
    redemptions,
)

router = APIRouter(prefix="/v1")
for module in (
    programs,
    beneficiaries,
    issuance,
    codes,
    redemptions,
    reconciliation,
    copay,
    dashboard,
):
    router.include_router(module.router)
