"""The directory feed the voucher service polls (services only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from services.common.auth import Principal, Role, require
from services.common.db import DatabaseDep
from services.provider import schemas
from services.provider.api.deps import ERRORS
from services.provider.service import search

router = APIRouter(tags=["internal"])


@router.get("/internal/directory", response_model=schemas.DirectoryFeed, responses=ERRORS)
async def directory(
    db: DatabaseDep,
    since: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
    _: Principal = require(Role.service),
) -> schemas.DirectoryFeed:
    """Everything changed after directory version `since` (0: everything): providers with
    their price lists, and terminals with the SHA-256 of their secrets. See
    docs/architecture.md, "Provider directory"."""
    # One snapshot: the counter and the rows agree, so a reader that saw version N has seen
    # every change up to N.
    async with db.unit_of_work(isolation="REPEATABLE READ", readonly=True) as session:
        return await search.directory(session, since)
