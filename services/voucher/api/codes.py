"""Routes: QR codes (dynamic tokens), their images, the public key, printed cards."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal, Role, require
from services.common.db import DatabaseDep, SessionDep
from services.voucher.api.deps import RawPoolDep
from services.voucher.errors import BeneficiaryDeceased, BeneficiaryNotActive
from services.voucher.repository import beneficiaries as beneficiaries_repo
from services.voucher.repository import codes as repo
from services.voucher.repository import redemption as hot_repo
from services.voucher.schemas.codes import CardIssued, CardRead, CodeRead, PublicKeyRead
from services.voucher.service import beneficiaries, cards, codes, qr, short_codes

router = APIRouter(tags=["codes"])

ANYONE = tuple(Role)


@router.get("/codes/public-key", response_model=PublicKeyRead)
async def public_key(request: Request, _: Principal = require(*ANYONE)) -> PublicKeyRead:
    """The Ed25519 public key that verifies QR tokens offline, and the token layout."""
    return PublicKeyRead(**codes.public_key_info(request.app.state.settings.qr_public_key))


@router.post("/beneficiaries/{beneficiary_id}/codes", response_model=CodeRead, status_code=201)
async def new_code(
    beneficiary_id: uuid.UUID,
    request: Request,
    pool: RawPoolDep,
    db: DatabaseDep,
    principal: Principal = require(Role.beneficiary, Role.proxy),
) -> CodeRead:
    """A fresh dynamic QR token for the person (about a minute, accepted once), and the
    same code as `short_code`, 12-18 digits to type when the QR cannot be scanned (bound to
    the token, one-time with it; a terminal sends the digits as the `token`).

    Only the person or an authorised proxy may ask; a proxy needs both the token's scope and
    a live authorisation, so a revocation stops new codes at once. Show it with
    `GET /v1/codes/{token}.png`. (Part of the redemption's hot path: one raw statement,
    `CODE_HOLDER` in repository/redemption.py.)
    """
    if not principal.may_act_for(str(beneficiary_id)):
        raise beneficiaries.not_found()
    proxy = principal.sub if principal.role == Role.proxy else None
    person = await hot_repo.code_holder(pool, beneficiary_id, proxy)
    if person is None:
        raise beneficiaries.not_found()
    if proxy is not None and not person.may_act:
        raise beneficiaries.authorisation_revoked()
    if person.status == "deceased":
        raise BeneficiaryDeceased(field="beneficiary_id", status_code=409)
    if person.status != "active":
        raise BeneficiaryNotActive(
            "The person's vouchers are frozen.", field="beneficiary_id", status_code=409
        )
    settings = request.app.state.settings
    token = codes.issue_dynamic(settings.qr_private_key, beneficiary_id, settings.qr_ttl_s)
    assert token.expires_at is not None  # a dynamic code always expires
    digits = await short_codes.issue(db, token.text, token.expires_at, settings.short_code_digits)
    return CodeRead(token=token.text, expires_at=token.expires_at, short_code=digits)


@router.post("/beneficiaries/{beneficiary_id}/cards", response_model=CardIssued, status_code=201)
async def issue_card(
    beneficiary_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    principal: Principal = require(Role.civil_affairs),
) -> CardIssued:
    """Issue (or reissue) the person's printed card: a static code plus a new 6-digit PIN.

    The PIN is in this answer only; any earlier card of the person stops working. A person
    of another region is 404 BENEFICIARY_NOT_FOUND, like an unknown id; a deceased person
    409 BENEFICIARY_DECEASED.
    """
    issued = await cards.issue(
        session, principal, beneficiary_id, request.app.state.settings.qr_private_key
    )
    return CardIssued(card_id=str(issued.card_id), token=issued.token, pin=issued.pin)


@router.get("/beneficiaries/{beneficiary_id}/cards", response_model=list[CardRead])
async def list_cards(
    beneficiary_id: uuid.UUID,
    session: SessionDep,
    principal: Principal = require(Role.civil_affairs),
) -> list[CardRead]:
    """The person's printed cards, newest first: status (active, locked after five wrong
    PINs, replaced), wrong-PIN count, when issued and by whom (an officer of their region;
    another region's person is 404 BENEFICIARY_NOT_FOUND)."""
    person = await beneficiaries_repo.brief(session, beneficiary_id)
    if person is None or not principal.covers_region(person.region_code):
        raise beneficiaries.not_found()
    return [
        CardRead.model_validate({**c.model_dump(), "id": str(c.id)})
        for c in await repo.cards_of(session, beneficiary_id)
    ]


@router.post(
    "/beneficiaries/{beneficiary_id}/cards/{card_id}/unlock",
    response_model=CardRead,
    responses={
        404: {"description": "BENEFICIARY_NOT_FOUND, CARD_NOT_FOUND"},
        409: {"description": "CARD_NOT_LOCKED, BENEFICIARY_DECEASED"},
    },
)
async def unlock_card(
    beneficiary_id: uuid.UUID,
    card_id: uuid.UUID,
    session: SessionDep,
    principal: Principal = require(Role.civil_affairs),
) -> CardRead:
    """Unlock the person's card after five wrong PINs (an officer of their region): it works
    again with the same PIN and no wrong PINs counted. Only a locked card
    (409 CARD_NOT_LOCKED); a lost card or a forgotten PIN is a new card (POST .../cards)."""
    card = await cards.unlock(session, principal, beneficiary_id, card_id)
    return CardRead.model_validate({**card.model_dump(), "id": str(card.id)})


async def _readable_token(
    token_text: str, request: Request, session: AsyncSession, principal: Principal
) -> str:
    """The token's text once its signature holds and the caller may see the person's code."""
    token = codes.verify_token(
        request.app.state.settings.qr_public_key, token_text, check_expiry=False
    )
    if principal.role in (Role.beneficiary, Role.proxy):
        principal.ensure_beneficiary(str(token.beneficiary_id))
    else:
        person = await beneficiaries_repo.brief(session, token.beneficiary_id)
        principal.ensure_region(person.region_code if person else None)
    return token.text


@router.get(
    "/codes/{token}.png", response_class=Response, responses={200: {"content": {"image/png": {}}}}
)
async def code_png(
    token: str,
    request: Request,
    session: SessionDep,
    principal: Principal = require(Role.beneficiary, Role.proxy, Role.civil_affairs),
) -> Response:
    """The token as a QR code image (PNG), for the person, a proxy or an officer printing
    a card."""
    text = await _readable_token(token, request, session, principal)
    return Response(qr.png(text), media_type="image/png", headers={"Cache-Control": "no-store"})


@router.get(
    "/codes/{token}.svg",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}}},
)
async def code_svg(
    token: str,
    request: Request,
    session: SessionDep,
    principal: Principal = require(Role.beneficiary, Role.proxy, Role.civil_affairs),
) -> Response:
    """The token as a QR code image (SVG)."""
    text = await _readable_token(token, request, session, principal)
    return Response(qr.svg(text), media_type="image/svg+xml", headers={"Cache-Control": "no-store"})
