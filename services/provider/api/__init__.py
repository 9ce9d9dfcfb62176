"""Routes of the provider service, one module per area. Rules are in service/, SQL in
repository/."""

from __future__ import annotations

from fastapi import APIRouter

from services.provider.api import (
    bank_accounts,
    credit,
    directory,
    documents,
    price_changes,
    providers,
    terminals,
    workflow,
)

router = APIRouter(prefix="/v1")
for module in (
    providers,
    bank_accounts,
    price_changes,
    workflow,
    documents,
    credit,
    terminals,
    directory,
):
    router.include_router(module.router)
