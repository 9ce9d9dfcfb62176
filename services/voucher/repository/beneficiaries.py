"""Beneficiaries, their assessments and proxies, and reading their vouchers and cash benefits
(SQLAlchemy on the `Beneficiary`, `Assessment`, `ProxyAuthorisation`, `Voucher` and
`CashBenefit` tables)."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from sqlalchemy import case, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.voucher.models import (
    Assessment,
    Beneficiary,
    BeneficiaryProfileChange,
    CashBenefit,
    ProxyAuthorisation,
    Voucher,
)


@dataclass(frozen=True, slots=True)
class NewBeneficiary:
    """The columns an enrolment writes (personal data already encrypted and hashed)."""

    id: uuid.UUID
    national_id_enc: bytes
    national_id_hash: bytes
    phone_enc: bytes | None
    phone_hash: bytes | None
    national_id_last4: str
    phone_last4: str | None
    name: str
    birth_on: date
    sex: str
    region_code: str
    address: str
    lat: float | None
    lon: float | None
    care_setting: str
    dibao: bool
    grade: int
    grade_valid_until: date
    created_by: str
    location_approximate: bool = False
    tekun: bool = False
    hukou_region_code: str | None = None


@dataclass(frozen=True, slots=True)
class NewAssessment:
    id: uuid.UUID
    beneficiary_id: uuid.UUID
    self_care: int
    motor: int
    mental: int
    perception_social: int
    flags: dict[str, Any]
    total: int
    grade: int
    assessed_on: date
    valid_until: date
    assessor: str
    created_by: str


@dataclass(frozen=True, slots=True)
class PersonBrief:
    """Whether a person may be paid for, and where they live (for the caller's scope)."""

    id: uuid.UUID
    status: str
    region_code: str


@dataclass(frozen=True, slots=True)
class PayoutRow:
    """What the ledger's payment file needs of a person: who, where, and the sealed account."""

    id: uuid.UUID
    name: str
    region_code: str
    status: str
    payout_account_enc: bytes | None


async def id_by_national_id_hash(
    session: AsyncSession, national_id_hash: bytes
) -> uuid.UUID | None:
    return await session.scalar(
        select(col(Beneficiary.id)).where(col(Beneficiary.national_id_hash) == national_id_hash)
    )


async def insert_beneficiary(session: AsyncSession, person: NewBeneficiary) -> bool:
    """Insert a beneficiary; False when the national ID is already enrolled (a racing
    enrolment of the same person loses here, on the unique keyed hash)."""
    created = await session.scalar(
        pg_insert(Beneficiary)
        .values(**asdict(person), status="active")
        .on_conflict_do_nothing(index_elements=[col(Beneficiary.national_id_hash)])
        .returning(col(Beneficiary.id))
    )
    return created is not None


async def insert_assessment(session: AsyncSession, assessment: NewAssessment) -> None:
    await session.execute(insert(Assessment).values(**asdict(assessment)))


async def set_grade(
    session: AsyncSession, beneficiary_id: uuid.UUID, grade: int, valid_until: date
) -> None:
    await session.execute(
        update(Beneficiary)
        .where(col(Beneficiary.id) == beneficiary_id)
        .values(grade=grade, grade_valid_until=valid_until)
        .execution_options(synchronize_session=False)
    )


async def set_grade_state(
    session: AsyncSession,
    beneficiary_id: uuid.UUID,
    *,
    grade: int | None,
    valid_until: date | None,
    grade_from: date | None,
    prior_grade: int | None,
    prior_valid_until: date | None,
) -> None:
    """A reassessment: the newest grade, the day it takes effect, and the grade it replaces
    until then (service/assessment.py `after_reassessment`)."""
    await session.execute(
        update(Beneficiary)
        .where(col(Beneficiary.id) == beneficiary_id)
        .values(
            grade=grade,
            grade_valid_until=valid_until,
            grade_from=grade_from,
            prior_grade=prior_grade,
            prior_grade_valid_until=prior_valid_until,
        )
        .execution_options(synchronize_session=False)
    )


@dataclass(frozen=True, slots=True)
class ProfileValues:
    """The profile columns an officer's edit writes (personal data already sealed)."""

    phone_enc: bytes | None
    phone_hash: bytes | None
    phone_last4: str | None
    address: str
    lat: float | None
    lon: float | None
    location_approximate: bool
    contact_enc: bytes | None
    care_setting: str


async def update_profile(
    session: AsyncSession, beneficiary_id: uuid.UUID, values: ProfileValues
) -> None:
    await session.execute(
        update(Beneficiary)
        .where(col(Beneficiary.id) == beneficiary_id)
        .values(**asdict(values))
        .execution_options(synchronize_session=False)
    )


async def insert_profile_change(
    session: AsyncSession,
    *,
    id: uuid.UUID,
    beneficiary_id: uuid.UUID,
    fields: list[str],
    previous_enc: bytes,
    reason: str | None,
    created_by: str,
) -> None:
    await session.execute(
        insert(BeneficiaryProfileChange).values(
            id=id,
            beneficiary_id=beneficiary_id,
            fields=fields,
            previous_enc=previous_enc,
            reason=reason,
            created_by=created_by,
        )
    )


async def profile_changes_of(
    session: AsyncSession, beneficiary_id: uuid.UUID
) -> list[BeneficiaryProfileChange]:
    """A person's profile edits, newest first."""
    return list(
        (
            await session.scalars(
                select(BeneficiaryProfileChange)
                .where(col(BeneficiaryProfileChange.beneficiary_id) == beneficiary_id)
                .order_by(
                    col(BeneficiaryProfileChange.created_at).desc(),
                    col(BeneficiaryProfileChange.id),
                )
            )
        ).all()
    )


async def assessments_of(session: AsyncSession, beneficiary_id: uuid.UUID) -> list[Assessment]:
    """A person's assessments, newest first."""
    return list(
        (
            await session.scalars(
                select(Assessment)
                .where(col(Assessment.beneficiary_id) == beneficiary_id)
                .order_by(col(Assessment.assessed_on).desc(), col(Assessment.created_at).desc())
            )
        ).all()
    )


async def get(
    session: AsyncSession, beneficiary_id: uuid.UUID, *, lock: bool = False
) -> Beneficiary | None:
    query = (
        select(Beneficiary)
        .where(col(Beneficiary.id) == beneficiary_id)
        .execution_options(populate_existing=True)
    )
    if lock:
        # FOR NO KEY UPDATE: serialises the writers of the person's row (status changes,
        # edits) without blocking the foreign-key checks of rows that merely point at it.
        # A redemption holds its voucher and then checks the person's key as it inserts;
        # FOR UPDATE here would make a death (person, then vouchers) deadlock with it.
        query = query.with_for_update(key_share=True)
    return await session.scalar(query)


async def brief(session: AsyncSession, beneficiary_id: uuid.UUID) -> PersonBrief | None:
    row = (
        await session.execute(
            select(
                col(Beneficiary.id), col(Beneficiary.status), col(Beneficiary.region_code)
            ).where(col(Beneficiary.id) == beneficiary_id)
        )
    ).first()
    return PersonBrief(*row) if row is not None else None


async def get_assessment(session: AsyncSession, assessment_id: uuid.UUID) -> Assessment | None:
    return await session.scalar(select(Assessment).where(col(Assessment.id) == assessment_id))


async def latest_assessment(session: AsyncSession, beneficiary_id: uuid.UUID) -> Assessment | None:
    return await session.scalar(
        select(Assessment)
        .where(col(Assessment.beneficiary_id) == beneficiary_id)
        .order_by(col(Assessment.assessed_on).desc(), col(Assessment.created_at).desc())
        .limit(1)
    )


async def unfreeze_vouchers(session: AsyncSession, beneficiary_id: uuid.UUID) -> None:
    """Back to active: frozen vouchers still in their window become usable again."""
    await session.execute(
        update(Voucher)
        .where(
            col(Voucher.beneficiary_id) == beneficiary_id,
            col(Voucher.status) == "suspended",
            col(Voucher.valid_until) > func.now(),
        )
        .values(
            status=case((col(Voucher.balance_fen) == 0, "exhausted"), else_="active"),
            updated_at=func.now(),
        )
        .execution_options(synchronize_session=False)
    )


async def insert_proxy(
    session: AsyncSession,
    *,
    id: uuid.UUID,
    beneficiary_id: uuid.UUID,
    proxy_sub: str,
    name: str,
    relation: str,
    phone_enc: bytes | None,
    created_by: str,
) -> ProxyAuthorisation | None:
    """The new authorisation, or None when the account already holds a live one for the
    person (the partial unique index `uq_proxy_authorisation_active` decides, racing too)."""
    result = await session.execute(
        pg_insert(ProxyAuthorisation)
        .values(
            id=id,
            beneficiary_id=beneficiary_id,
            proxy_sub=proxy_sub,
            name=name,
            relation=relation,
            phone_enc=phone_enc,
            status="active",
            created_by=created_by,
        )
        .on_conflict_do_nothing(
            index_elements=["beneficiary_id", "proxy_sub"],
            index_where=col(ProxyAuthorisation.status) == "active",
        )
        .returning(ProxyAuthorisation)
    )
    return result.scalar_one_or_none()


async def active_proxy_for(
    session: AsyncSession, beneficiary_id: uuid.UUID, proxy_sub: str
) -> uuid.UUID | None:
    return await session.scalar(
        select(col(ProxyAuthorisation.id))
        .where(
            col(ProxyAuthorisation.beneficiary_id) == beneficiary_id,
            col(ProxyAuthorisation.proxy_sub) == proxy_sub,
            col(ProxyAuthorisation.status) == "active",
        )
        .limit(1)
    )


async def list_proxies(
    session: AsyncSession, beneficiary_id: uuid.UUID
) -> list[ProxyAuthorisation]:
    result = await session.scalars(
        select(ProxyAuthorisation)
        .where(col(ProxyAuthorisation.beneficiary_id) == beneficiary_id)
        .order_by(col(ProxyAuthorisation.created_at))
        .execution_options(populate_existing=True)
    )
    return list(result)


async def revoke_proxy(
    session: AsyncSession, beneficiary_id: uuid.UUID, proxy_id: uuid.UUID
) -> ProxyAuthorisation | None:
    return await session.scalar(
        update(ProxyAuthorisation)
        .where(
            col(ProxyAuthorisation.id) == proxy_id,
            col(ProxyAuthorisation.beneficiary_id) == beneficiary_id,
        )
        .values(
            status="revoked",
            revoked_at=func.coalesce(col(ProxyAuthorisation.revoked_at), func.now()),
        )
        .returning(ProxyAuthorisation)
        .execution_options(populate_existing=True, synchronize_session=False)
    )


async def vouchers_of(session: AsyncSession, beneficiary_id: uuid.UUID) -> list[Voucher]:
    result = await session.scalars(
        select(Voucher)
        .where(col(Voucher.beneficiary_id) == beneficiary_id)
        .order_by(col(Voucher.period).desc(), col(Voucher.priority), col(Voucher.program_code))
        .execution_options(populate_existing=True)
    )
    return list(result)


async def cash_benefits_of(session: AsyncSession, beneficiary_id: uuid.UUID) -> list[CashBenefit]:
    result = await session.scalars(
        select(CashBenefit)
        .where(col(CashBenefit.beneficiary_id) == beneficiary_id)
        .order_by(col(CashBenefit.period).desc(), col(CashBenefit.program_code))
    )
    return list(result)


async def set_payout_account(
    session: AsyncSession, beneficiary_id: uuid.UUID, blob: bytes, who: str
) -> None:
    await session.execute(
        update(Beneficiary)
        .where(col(Beneficiary.id) == beneficiary_id)
        .values(
            payout_account_enc=blob, payout_account_set_at=func.now(), payout_account_set_by=who
        )
        .execution_options(synchronize_session=False)
    )


async def payout_accounts(session: AsyncSession, ids: list[uuid.UUID]) -> list[PayoutRow]:
    rows = await session.execute(
        select(
            col(Beneficiary.id),
            col(Beneficiary.name),
            col(Beneficiary.region_code),
            col(Beneficiary.status),
            col(Beneficiary.payout_account_enc),
        )
        .where(col(Beneficiary.id).in_(ids))
        .order_by(col(Beneficiary.id))
    )
    return [PayoutRow(*r) for r in rows]
