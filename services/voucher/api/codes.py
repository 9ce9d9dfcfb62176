"""Routes: QR codes (dynamic tokens), their images, the public key, printed cards."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fastapi import APIRouter, Request, Response

from services.common.auth import Principal, Role, require
from services.common.errors import AppError, NotFound
from services.common.ids import new_uuid
from services.voucher.api.deps import RawPoolDep, ensure_acts_for
from services.voucher.repository import codes as repo
from services.voucher.schemas.codes import CardIssued, CodeRead, PublicKeyRead
from services.voucher.service import codes, qr

router = APIRouter(tags=["codes"])

ANYONE = tuple(Role)


async def _active_beneficiary(pool, beneficiary_id: uuid.UUID):
    row = await repo.beneficiary(pool, beneficiary_id)
    if row is None:
        raise NotFound("No such beneficiary.", field="beneficiary_id")
    if row["status"] != "active":
        raise AppError(
            "The person's vouchers are frozen.",
            code="BENEFICIARY_NOT_ACTIVE",
            field="beneficiary_id",
            status_code=409,
        )
    return row


@router.get("/codes/public-key", response_model=PublicKeyRead)
async def public_key(request: Request, _: Principal = require(*ANYONE)) -> dict:
    """The Ed25519 public key that verifies QR tokens offline, and the token layout."""
    return codes.public_key_info(request.app.state.settings.qr_public_key)


@router.post("/beneficiaries/{beneficiary_id}/codes", response_model=CodeRead, status_code=201)
async def new_code(
    beneficiary_id: uuid.UUID,
    request: Request,
    pool: RawPoolDep,
    principal: Principal = require(Role.beneficiary, Role.proxy),
) -> dict:
    """A fresh dynamic QR token for the person (about a minute, accepted once).

    Only the person or an authorised proxy may ask; a proxy needs both the token's scope and
    a live authorisation, so a revocation stops new codes at once. Show it with
    `GET /v1/codes/{token}.png`.
    """
    await ensure_acts_for(pool, principal, beneficiary_id)
    await _active_beneficiary(pool, beneficiary_id)
    settings = request.app.state.settings
    token = codes.issue_dynamic(settings.qr_private_key, beneficiary_id, settings.qr_ttl_s)
    return {"token": token.text, "expires_at": token.expires_at}


@router.post("/beneficiaries/{beneficiary_id}/cards", response_model=CardIssued, status_code=201)
async def issue_card(
    beneficiary_id: uuid.UUID,
    request: Request,
    pool: RawPoolDep,
    principal: Principal = require(Role.civil_affairs),
) -> dict:
    """Issue (or reissue) the person's printed card: a static code plus a new 6-digit PIN.

    The PIN is in this answer only; any earlier card of the person stops working.
    """
    row = await repo.beneficiary(pool, beneficiary_id)
    if row is None:
        raise NotFound("No such beneficiary.", field="beneficiary_id")
    principal.ensure_region(row["region_code"])
    token = codes.issue_card(request.app.state.settings.qr_private_key, beneficiary_id)
    pin = codes.new_pin()
    salt, digest = codes.hash_pin(pin)
    card_id = new_uuid()
    async with pool.acquire() as conn, conn.transaction():
        await repo.replace_cards(conn, beneficiary_id, datetime.now(UTC))
        await repo.insert_card(
            conn,
            card_id=card_id,
            beneficiary_id=beneficiary_id,
            nonce=token.nonce,
            pin_salt=salt,
            pin_hash=digest,
            created_by=principal.sub,
        )
    return {"card_id": str(card_id), "token": token.text, "pin": pin}


async def _readable_token(token_text: str, request: Request, pool, principal: Principal) -> str:
    """The token's text once its signature holds and the caller may see the person's code."""
    token = codes.verify_token(
        request.app.state.settings.qr_public_key, token_text, check_expiry=False
    )
    ben = str(token.beneficiary_id)
    if principal.role in (Role.beneficiary, Role.proxy):
        principal.ensure_beneficiary(ben)
    else:
        row = await repo.beneficiary(pool, token.beneficiary_id)
        principal.ensure_region(row["region_code"] if row else None)
    return token.text


@router.get(
    "/codes/{token}.png", response_class=Response, responses={200: {"content": {"image/png": {}}}}
)
async def code_png(
    token: str,
    request: Request,
    pool: RawPoolDep,
    principal: Principal = require(Role.beneficiary, Role.proxy, Role.civil_affairs),
) -> Response:
    """The token as a QR code image (PNG), for the person, a proxy or an officer printing
    a card."""
    text = await _readable_token(token, request, pool, principal)
    return Response(qr.png(text), media_type="image/png", headers={"Cache-Control": "no-store"})


@router.get(
    "/codes/{token}.svg",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}}},
)
async def code_svg(
    token: str,
    request: Request,
    pool: RawPoolDep,
    principal: Principal = require(Role.beneficiary, Role.proxy, Role.civil_affairs),
) -> Response:
    """The token as a QR code image (SVG)."""
    text = await _readable_token(token, request, pool, principal)
    return Response(qr.svg(text), media_type="image/svg+xml", headers={"Cache-Control": "no-store"})
