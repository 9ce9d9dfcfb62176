"""Routes of the voucher service, one module per area. Rules are in service/, SQL in repository/."""

from __future__ import annotations

from fastapi import APIRouter

from services.voucher.api import (
    alerts,
    beneficiaries,
    codes,
    copay,
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
    alerts,
):
    router.include_router(module.router)
