"""Dependencies shared by the voucher routes: the personal-data cipher, the issuance engine,
the provider directory, the raw pool of the hot-path module, and the check that a caller may
act for a person."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated

import asyncpg
from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal, Role
from services.common.crypto import PiiCipher
from services.common.errors import AppError, ServiceUnavailable
from services.voucher.repository import beneficiaries as beneficiaries_repo
from services.voucher.service import beneficiaries
from services.voucher.service.directory import ProviderDirectory
from services.voucher.service.issuance import IssuanceEngine


# `async def` on purpose: FastAPI runs a plain `def` dependency in the thread pool, which on
# the redemption hot path cost two thread hand-offs per request (docs/performance.md).
async def get_cipher(request: Request) -> PiiCipher:
    cipher: PiiCipher = request.app.state.pii_cipher
    return cipher


async def get_engine(request: Request) -> IssuanceEngine:
    engine: IssuanceEngine = request.app.state.issuance_engine
    return engine


async def get_directory(request: Request) -> ProviderDirectory:
    directory: ProviderDirectory = request.app.state.directory
    return directory


async def get_raw_pool(request: Request) -> asyncpg.Pool:
    """The asyncpg pool of the hot-path module (repository/redemption.py), and only for it."""
    pool: asyncpg.Pool | None = getattr(request.app.state.db, "raw_pool", None)
    if pool is None:
        raise ServiceUnavailable("The redemption pool is not running.")
    return pool


CipherDep = Annotated[PiiCipher, Depends(get_cipher)]
EngineDep = Annotated[IssuanceEngine, Depends(get_engine)]
DirectoryDep = Annotated[ProviderDirectory, Depends(get_directory)]
RawPoolDep = Annotated[asyncpg.Pool, Depends(get_raw_pool)]


async def ensure_acts_for(
    session: AsyncSession,
    principal: Principal,
    beneficiary_id: uuid.UUID,
    *,
    hidden: Callable[[], AppError] = beneficiaries.not_found,
) -> None:
    """The person themself, or a proxy with both the token's scope and a live authorisation
    on record: a revocation takes effect at once, not when the proxy's sign-in expires
    (403). Anyone else gets `hidden()` (BENEFICIARY_NOT_FOUND, or the not-found of the
    record asked for), the answer of an id nobody has."""
    if not principal.may_act_for(str(beneficiary_id)):
        raise hidden()
    if (
        principal.role == Role.proxy
        and await beneficiaries_repo.active_proxy_for(session, beneficiary_id, principal.sub)
        is None
    ):
        raise beneficiaries.authorisation_revoked()
