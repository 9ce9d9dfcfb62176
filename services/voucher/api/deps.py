"""Dependencies the voucher routes of the redemption area share."""

from __future__ import annotations

from typing import Annotated

import asyncpg
from fastapi import Depends, Request

from services.common.errors import ServiceUnavailable
from services.voucher.directory import ProviderDirectory


def raw_pool(request: Request) -> asyncpg.Pool:
    pool = getattr(request.app.state.db, "raw_pool", None)
    if pool is None:
        raise ServiceUnavailable("The redemption pool is not running.")
    return pool


def directory(request: Request) -> ProviderDirectory:
    return request.app.state.directory


RawPoolDep = Annotated[asyncpg.Pool, Depends(raw_pool)]
DirectoryDep = Annotated[ProviderDirectory, Depends(directory)]
