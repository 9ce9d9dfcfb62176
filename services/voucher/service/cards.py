"""Printed cards for people without a phone (docs/lifecycle.md, "Cards"): issue or reissue
(the new card replaces any earlier one at once) and unlock after five wrong PINs. The card's
code and PIN rules are in the pure `codes` module; a wrong PIN is counted by the redemption's
cold path (`redemption_flow.check_card`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.ids import new_uuid
from services.voucher.errors import BeneficiaryDeceased, CardNotFound, CardNotLocked
from services.voucher.models import Card
from services.voucher.repository import beneficiaries as beneficiaries_repo
from services.voucher.repository import codes as repo
from services.voucher.service import beneficiaries, codes


@dataclass(frozen=True, slots=True)
class IssuedCard:
    """A new card: its id, its signed code and its PIN (the PIN exists only here)."""

    card_id: uuid.UUID
    token: str
    pin: str


async def _person_in_scope(
    session: AsyncSession, principal: Principal, beneficiary_id: uuid.UUID
) -> str:
    """The person's status if an officer of their region asks; else BENEFICIARY_NOT_FOUND
    (another region's person is not told apart from an unknown id)."""
    person = await beneficiaries_repo.brief(session, beneficiary_id)
    if person is None or not principal.covers_region(person.region_code):
        raise beneficiaries.not_found()
    return person.status


async def issue(
    session: AsyncSession, principal: Principal, beneficiary_id: uuid.UUID, private_key_pem: str
) -> IssuedCard:
    """Issue (or reissue) the person's card: any earlier card stops working in this same
    transaction; the PIN is returned once and only its scrypt hash is kept. Nobody issues a
    card for a deceased person (BENEFICIARY_DECEASED)."""
    if await _person_in_scope(session, principal, beneficiary_id) == "deceased":
        raise BeneficiaryDeceased(field="beneficiary_id", status_code=409)
    token = codes.issue_card(private_key_pem, beneficiary_id)
    pin = codes.new_pin()
    salt, digest = codes.hash_pin(pin)
    card_id = new_uuid()
    await repo.replace_cards(session, beneficiary_id, datetime.now(UTC))
    await repo.insert_card(
        session,
        card_id=card_id,
        beneficiary_id=beneficiary_id,
        nonce=token.nonce,
        pin_salt=salt,
        pin_hash=digest,
        created_by=principal.sub,
    )
    return IssuedCard(card_id, token.text, pin)


async def unlock(
    session: AsyncSession, principal: Principal, beneficiary_id: uuid.UUID, card_id: uuid.UUID
) -> Card:
    """Unlock a card locked after five wrong PINs (an officer of the person's region, once
    the person has shown who they are): active again, the count back to 0, the PIN
    unchanged. A card that is not locked is CARD_NOT_LOCKED (a replaced card never comes
    back: issue a new one); another person's card is CARD_NOT_FOUND."""
    status = await _person_in_scope(session, principal, beneficiary_id)
    card = await repo.card_of(session, beneficiary_id, card_id)
    if card is None:
        raise CardNotFound(field="card_id")
    if status == "deceased":
        raise BeneficiaryDeceased(field="beneficiary_id", status_code=409)
    unlocked = await repo.unlock(session, card.id, datetime.now(UTC), principal.sub)
    if unlocked is None:
        raise CardNotLocked(field="card_id")
    return unlocked
