"""Dependencies shared by the voucher routes: the personal-data cipher, the issuer, the raw
pool of the redemption hot path and the provider directory."""

from __future__ import annotations

import uuid
from typing import Annotated

import asyncpg
from fastapi import Depends, Request

from services.common.auth import Principal, Role
from services.common.crypto import PiiCipher
from services.common.errors import Forbidden, ServiceUnavailable
from services.voucher.directory import ProviderDirectory
from services.voucher.repository import codes as codes_repo
from services.voucher.service.issuance import IssuanceEngine


async def get_cipher(request: Request) -> PiiCipher:
    return request.app.state.pii_cipher


async def get_engine(request: Request) -> IssuanceEngine:
    return request.app.state.issuance_engine


# `async def` on purpose: FastAPI runs a plain `def` dependency in the thread pool, which on
# the redemption hot path cost two thread hand-offs per request (docs/performance.md).
async def raw_pool(request: Request) -> asyncpg.Pool:
    pool = getattr(request.app.state.db, "raw_pool", None)
    if pool is None:
        raise ServiceUnavailable("The redemption pool is not running.")
    return pool


async def directory(request: Request) -> ProviderDirectory:
    return request.app.state.directory


CipherDep = Annotated[PiiCipher, Depends(get_cipher)]
EngineDep = Annotated[IssuanceEngine, Depends(get_engine)]
RawPoolDep = Annotated[asyncpg.Pool, Depends(raw_pool)]
DirectoryDep = Annotated[ProviderDirectory, Depends(directory)]


async def ensure_acts_for(
    pool: asyncpg.Pool, principal: Principal, beneficiary_id: uuid.UUID
) -> None:
    """The person themself, or a proxy with both the token's scope and a live authorisation
    on record: a revocation takes effect at once, not when the proxy's sign-in expires."""
    principal.ensure_beneficiary(str(beneficiary_id))
    if principal.role == Role.proxy and not await codes_repo.proxy_is_live(
        pool, beneficiary_id, principal.sub
    ):
        raise Forbidden(
            "This authorisation has been revoked.", code="OUT_OF_SCOPE", field="beneficiary_id"
        )
