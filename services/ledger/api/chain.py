"""The hash chain, recomputed for auditors."""

from __future__ import annotations

from fastapi import APIRouter

from services.common.auth import Principal
from services.common.db import DatabaseDep
from services.ledger.api.deps import AUDITOR_ONLY, ERRORS, province_wide
from services.ledger.schemas import ChainVerifyRead
from services.ledger.service import chain

router = APIRouter()


@router.get("/chain/verify", responses=ERRORS, response_model_exclude_unset=True)
async def verify_chain(db: DatabaseDep, p: Principal = AUDITOR_ONLY) -> ChainVerifyRead:
    """Recompute the whole hash chain: `{ok, entries_checked, head_hash}`, and the first bad
    entry when not ok. Needs a province-wide auditor scope."""
    province_wide(p)
    return await chain.verify_chain(db)
