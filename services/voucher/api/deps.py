"""Dependencies shared by the voucher routes: the personal-data cipher and the issuer."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.common.crypto import PiiCipher
from services.voucher.service.issuance import IssuanceEngine


def get_cipher(request: Request) -> PiiCipher:
    return request.app.state.pii_cipher


def get_engine(request: Request) -> IssuanceEngine:
    return request.app.state.issuance_engine


CipherDep = Annotated[PiiCipher, Depends(get_cipher)]
EngineDep = Annotated[IssuanceEngine, Depends(get_engine)]
