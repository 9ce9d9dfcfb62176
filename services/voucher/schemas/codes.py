"""Shapes of QR codes and printed cards."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class CodeRead(BaseModel):
    token: str
    expires_at: datetime
    # The same code as 12-18 digits, to type when the QR cannot be scanned (one-time, bound
    # to `token`, expires with it; service/short_codes.py).
    short_code: str | None = None


class CardIssued(BaseModel):
    card_id: str
    token: str
    pin: str  # shown once, to be printed on the PIN mailer; only its scrypt hash is kept


class CardRead(BaseModel):
    """A printed card as an officer sees it (never its code or PIN)."""

    id: str
    status: str  # active, locked (five wrong PINs), replaced
    failed_attempts: int
    created_at: datetime
    created_by: str
    locked_at: datetime | None
    replaced_at: datetime | None
    unlocked_at: datetime | None = None  # the last unlock, and the officer who did it
    unlocked_by: str | None = None


class PublicKeyRead(BaseModel):
    algorithm: str
    pem: str
    raw_base64: str
    format: str
