"""Beneficiaries: enrolment, status changes, proxies, reassessment, the payout account.

No enrolment oracle: a person the caller may not see (another region's, someone else's)
answers BENEFICIARY_NOT_FOUND, the very answer an id nobody has gets, on every route that
reads or changes one person (`not_found`, `get_in_scope`, `get_readable`,
`find_by_national_id`). A 403 says only what the caller's role may not do, or that a proxy's
own authorisation was revoked: neither tells whether someone is enrolled.

Personal data: the national ID and phone are checked by service/identity.py, then only ever
stored encrypted (`PiiCipher.encrypt`) with a keyed lookup hash, and shown masked. Nothing in
this module logs, and no error message quotes them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal, Role
from services.common.crypto import PiiCipher, mask_name, mask_national_id, mask_phone
from services.common.errors import OutOfScope
from services.common.ids import new_uuid
from services.voucher.errors import (
    BeneficiaryExists,
    BeneficiaryNotFound,
    BeneficiaryRecordClosed,
    InvalidValue,
    ProxyExists,
    ProxyNotFound,
)
from services.voucher.models import (
    Assessment,
    Beneficiary,
    BeneficiaryProfileChange,
    CashBenefit,
    ProxyAuthorisation,
    Voucher,
)
from services.voucher.repository import beneficiaries as repo
from services.voucher.schemas.beneficiaries import (
    AssessmentCreate,
    AssessmentRead,
    BeneficiaryCreate,
    BeneficiaryRead,
    BeneficiaryUpdate,
    ContactCreate,
    ContactRead,
    Flags,
    PayoutAccountCreate,
    PayoutAccountFull,
    PayoutAccountRead,
    PayoutAccountsRead,
    ProfileChangeRead,
    ProxyCreate,
    ProxyRead,
    Scores,
)
from services.voucher.service import assessment as assessment_rules
from services.voucher.service import programs as program_service
from services.voucher.service.eligibility import is_eligible
from services.voucher.service.identity import (
    check_hukou,
    check_region,
    mask_account_number,
    normalise_phone,
    parse_national_id,
)
from services.voucher.service.lifecycle_rules import current_state
from services.voucher.service.periods import tz

# --- enrolment -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Enrolled:
    id: uuid.UUID
    grade: int
    eligible_programs: list[str]
    region_code: str


async def enrol(
    session: AsyncSession,
    data: BeneficiaryCreate,
    *,
    cipher: PiiCipher,
    who: str,
    today: date,
    validity_months: int = assessment_rules.VALIDITY_MONTHS,
) -> Enrolled:
    """Enrol one person with their assessment. Every check runs before anything is written;
    an already enrolled national ID is refused (BENEFICIARY_EXISTS), never created twice."""
    nid = parse_national_id(data.national_id, today)
    phone = normalise_phone(data.phone)
    region_code = check_region(data.region_code)
    hukou = check_hukou(data.hukou_region_code)
    scores = data.assessment.scores.model_dump()
    flags = data.assessment.flags.model_dump()
    result = assessment_rules.assess(
        scores, flags, data.assessment.assessed_on, today, validity_months=validity_months
    )

    nid_hash = cipher.lookup_hash(nid.value)
    if await repo.id_by_national_id_hash(session, nid_hash) is not None:
        raise BeneficiaryExists(field="national_id")
    beneficiary_id = new_uuid()
    inserted = await repo.insert_beneficiary(
        session,
        repo.NewBeneficiary(
            id=beneficiary_id,
            national_id_enc=cipher.encrypt(nid.value, context=b"national_id"),
            national_id_hash=nid_hash,
            phone_enc=cipher.encrypt(phone, context=b"phone") if phone else None,
            phone_hash=cipher.lookup_hash(phone) if phone else None,
            national_id_last4=nid.value[-4:],
            phone_last4=phone[-4:] if phone else None,
            name=data.name,
            birth_on=nid.birth_on,
            sex=nid.sex,
            region_code=region_code,
            address=data.address,
            lat=data.lat,
            lon=data.lon,
            location_approximate=data.location_approximate,
            care_setting=data.care_setting,
            dibao=data.dibao,
            tekun=data.tekun,
            hukou_region_code=hukou,
            grade=result.grade,
            grade_valid_until=result.valid_until,
            created_by=who,
        ),
    )
    if not inserted:
        raise BeneficiaryExists(field="national_id")
    if data.payout_account is not None:
        await repo.set_payout_account(
            session, beneficiary_id, seal_payout_account(cipher, data.payout_account), who
        )
    await repo.insert_assessment(
        session,
        _new_assessment(beneficiary_id, data.assessment, result, who),
    )
    on = today.replace(day=1)
    eligible = [
        p.code
        for p in await program_service.all_programs(session)
        if is_eligible(
            p.config,
            birth_on=nid.birth_on,
            grade=result.grade,
            grade_valid_until=result.valid_until,
            dibao=data.dibao,
            care_setting=data.care_setting,
            region_code=region_code,
            status="active",
            on=on,
            tekun=data.tekun,
            hukou_region_code=hukou,
        )
    ]
    return Enrolled(beneficiary_id, result.grade, eligible, region_code)


def _new_assessment(
    beneficiary_id: uuid.UUID,
    data: AssessmentCreate,
    result: assessment_rules.AssessmentResult,
    who: str,
) -> repo.NewAssessment:
    scores = data.scores
    return repo.NewAssessment(
        id=new_uuid(),
        beneficiary_id=beneficiary_id,
        self_care=scores.self_care,
        motor=scores.motor,
        mental=scores.mental,
        perception_social=scores.perception_social,
        flags=data.flags.model_dump(),
        total=result.total,
        grade=result.grade,
        assessed_on=data.assessed_on,
        valid_until=result.valid_until,
        assessor=data.assessor,
        created_by=who,
    )


# --- reading -------------------------------------------------------------------------------


def present(person: Beneficiary, cipher: PiiCipher) -> BeneficiaryRead:
    """A beneficiary as the API shows it: personal data decrypted only to be masked."""
    return BeneficiaryRead(
        id=str(person.id),
        national_id_masked=mask_national_id(
            cipher.decrypt(person.national_id_enc, context=b"national_id")
        ),
        name=person.name,
        phone_masked=(
            mask_phone(cipher.decrypt(person.phone_enc, context=b"phone"))
            if person.phone_enc
            else None
        ),
        birth_on=person.birth_on,
        sex=person.sex,
        region_code=person.region_code,
        address=person.address,
        lat=person.lat,
        lon=person.lon,
        location_approximate=person.location_approximate,
        care_setting=person.care_setting,
        dibao=person.dibao,
        tekun=person.tekun,
        hukou_region_code=person.hukou_region_code,
        grade=person.grade,
        grade_valid_until=person.grade_valid_until,
        grade_from=person.grade_from,
        prior_grade=person.prior_grade,
        prior_grade_valid_until=person.prior_grade_valid_until,
        contact=present_contact(person, cipher),
        status=person.status,
        status_reason=person.status_reason,
        status_changed_at=person.status_changed_at,
        created_at=person.created_at,
        payout_account=present_payout_account(person, cipher),
        current_status=current_state(
            person.status, person.paused_from, person.paused_until, datetime.now(tz()).date()
        ),
        paused_from=person.paused_from,
        paused_until=person.paused_until,
    )


async def get(
    session: AsyncSession, beneficiary_id: uuid.UUID, *, lock: bool = False
) -> Beneficiary:
    person = await repo.get(session, beneficiary_id, lock=lock)
    if person is None:
        raise BeneficiaryNotFound(field="beneficiary_id")
    return person


def not_found(field: str = "beneficiary_id") -> BeneficiaryNotFound:
    """What a person the caller may not see answers: exactly what an unknown id answers."""
    return BeneficiaryNotFound(field=field)


def authorisation_revoked() -> OutOfScope:
    """A proxy whose token names the person but whose authorisation was withdrawn: told so
    (they knew the person; it takes effect at once, not when their sign-in expires)."""
    return OutOfScope("This authorisation has been revoked.", field="beneficiary_id")


async def get_in_scope(
    session: AsyncSession,
    beneficiary_id: uuid.UUID,
    covers_region: Callable[[str], bool],
    *,
    lock: bool = False,
) -> Beneficiary:
    """The person, if the caller's region covers theirs; one of another region is
    BENEFICIARY_NOT_FOUND, as if there were none."""
    person = await repo.get(session, beneficiary_id, lock=lock)
    if person is None or not covers_region(person.region_code):
        raise not_found()
    return person


async def get_readable(
    session: AsyncSession, principal: Principal, beneficiary_id: uuid.UUID
) -> Beneficiary:
    """The person, if this caller may read them (`may_read`); otherwise BENEFICIARY_NOT_FOUND
    as for an unknown id, except for a proxy named in their token whose authorisation was
    revoked (403 OUT_OF_SCOPE, `authorisation_revoked`)."""
    person = await repo.get(session, beneficiary_id)
    if person is None:
        raise not_found()
    if await may_read(session, principal, person):
        return person
    if principal.role == Role.proxy and principal.may_act_for(str(beneficiary_id)):
        raise authorisation_revoked()
    raise not_found()


async def find_by_national_id(
    session: AsyncSession,
    raw: str,
    *,
    cipher: PiiCipher,
    today: date,
    covers_region: Callable[[str], bool],
) -> Beneficiary:
    """Look a person up by the keyed hash of their national ID (the ID itself is never
    compared in clear, and never stored unencrypted). Someone enrolled in a region the
    caller does not cover is not found, exactly like an ID nobody enrolled."""
    nid = parse_national_id(raw, today)
    found = await repo.id_by_national_id_hash(session, cipher.lookup_hash(nid.value))
    person = await repo.get(session, found) if found is not None else None
    if person is None or not covers_region(person.region_code):
        raise not_found("national_id")
    return person


async def may_read(session: AsyncSession, principal: Principal, person: Beneficiary) -> bool:
    """The person themself, a proxy authorised for them (token scope AND a live
    authorisation, so a revocation takes effect at once), or an officer of their region."""
    beneficiary_id = str(person.id)
    if principal.role == Role.beneficiary:
        return principal.may_act_for(beneficiary_id)
    if principal.role == Role.proxy:
        return (
            principal.may_act_for(beneficiary_id)
            and await repo.active_proxy_for(session, person.id, principal.sub) is not None
        )
    if principal.role in (Role.civil_affairs, Role.service):
        return principal.covers_region(person.region_code)
    return False


async def vouchers_of(session: AsyncSession, beneficiary_id: uuid.UUID) -> list[Voucher]:
    return await repo.vouchers_of(session, beneficiary_id)


async def cash_benefits_of(session: AsyncSession, beneficiary_id: uuid.UUID) -> list[CashBenefit]:
    return await repo.cash_benefits_of(session, beneficiary_id)


# --- status: service/lifecycle.py (the timeline, POST .../status-changes) ----------------


# --- proxies -------------------------------------------------------------------------------


def present_proxy(proxy: ProxyAuthorisation, cipher: PiiCipher) -> ProxyRead:
    return ProxyRead(
        id=str(proxy.id),
        beneficiary_id=str(proxy.beneficiary_id),
        proxy_sub=proxy.proxy_sub,
        name=proxy.name,
        relation=proxy.relation,
        phone_masked=(
            mask_phone(cipher.decrypt(proxy.phone_enc, context=b"phone"))
            if proxy.phone_enc
            else None
        ),
        status=proxy.status,
        created_at=proxy.created_at,
        revoked_at=proxy.revoked_at,
    )


async def add_proxy(
    session: AsyncSession,
    beneficiary_id: uuid.UUID,
    data: ProxyCreate,
    *,
    cipher: PiiCipher,
    who: str,
) -> ProxyAuthorisation:
    phone = normalise_phone(data.phone)
    proxy = await repo.insert_proxy(
        session,
        id=new_uuid(),
        beneficiary_id=beneficiary_id,
        proxy_sub=data.proxy_sub,
        name=data.name.strip(),
        relation=data.relation.strip(),
        phone_enc=cipher.encrypt(phone, context=b"phone") if phone else None,
        created_by=who,
    )
    if proxy is None:
        raise ProxyExists(field="proxy_sub")
    return proxy


async def revoke_proxy(
    session: AsyncSession, beneficiary_id: uuid.UUID, proxy_id: uuid.UUID
) -> ProxyAuthorisation:
    proxy = await repo.revoke_proxy(session, beneficiary_id, proxy_id)
    if proxy is None:
        raise ProxyNotFound(field="proxy_id")
    return proxy


async def list_proxies(
    session: AsyncSession, beneficiary_id: uuid.UUID
) -> list[ProxyAuthorisation]:
    return await repo.list_proxies(session, beneficiary_id)


# --- the profile (an officer's edit) -------------------------------------------------------

PROFILE_FIELDS = (
    "phone",
    "address",
    "location",
    "location_approximate",
    "contact",
    "care_setting",
)
_CONTACT_CONTEXT = b"contact"
_PROFILE_CHANGE_CONTEXT = b"profile_change"


def open_contact(cipher: PiiCipher, blob: bytes | None) -> ContactCreate | None:
    if not blob:
        return None
    return ContactCreate.model_validate_json(cipher.decrypt(blob, context=_CONTACT_CONTEXT))


def present_contact(person: Beneficiary, cipher: PiiCipher) -> ContactRead | None:
    contact = open_contact(cipher, person.contact_enc)
    if contact is None:
        return None
    return ContactRead(
        name_masked=mask_name(contact.name),
        relation=contact.relation,
        phone_masked=mask_phone(contact.phone),
    )


def _refuse_closed(person: Beneficiary) -> None:
    if person.status == "deceased":
        raise BeneficiaryRecordClosed(field="beneficiary_id")


async def update_profile(
    session: AsyncSession,
    person: Beneficiary,
    data: BeneficiaryUpdate,
    *,
    cipher: PiiCipher,
    who: str,
) -> list[str]:
    """Apply an officer's edit of the fields sent (the person's row locked by the caller) and
    audit it: the names of the fields that really changed, who, when, why, and what they
    held before sealed in one encrypted blob, so no personal data is ever stored or logged
    in clear. Every check runs before anything is written. Answers the changed fields (none:
    nothing written). A care setting changed applies to issuance from the next run on;
    vouchers already issued keep theirs."""
    _refuse_closed(person)
    sent = data.model_fields_set - {"reason"}
    for name in ("address", "care_setting", "location_approximate"):
        if name in sent and getattr(data, name) is None:
            raise InvalidValue(f"{name} may not be null.", field=name)
    if ("lat" in sent) != ("lon" in sent) or (data.lat is None) != (data.lon is None):
        raise InvalidValue("lat and lon go together.", field="lat")

    old_phone = cipher.decrypt(person.phone_enc, context=b"phone") if person.phone_enc else None
    old_contact = open_contact(cipher, person.contact_enc)
    phone = normalise_phone(data.phone) if "phone" in sent else old_phone
    contact = old_contact
    if "contact" in sent:
        contact = data.contact
        if contact is not None:
            contact = contact.model_copy(update={"phone": normalise_phone(contact.phone)})
    address = data.address if "address" in sent and data.address else person.address
    lat, lon = (data.lat, data.lon) if "lat" in sent else (person.lat, person.lon)
    approximate = (
        bool(data.location_approximate)
        if "location_approximate" in sent
        else person.location_approximate
    )
    care_setting = data.care_setting if "care_setting" in sent else person.care_setting
    assert care_setting is not None

    previous: dict[str, object] = {}
    if phone != old_phone:
        previous["phone"] = old_phone
    if address != person.address:
        previous["address"] = person.address
    if (lat, lon) != (person.lat, person.lon):
        previous["location"] = [person.lat, person.lon]
    if approximate != person.location_approximate:
        previous["location_approximate"] = person.location_approximate
    if contact != old_contact:
        previous["contact"] = old_contact.model_dump() if old_contact else None
    if care_setting != person.care_setting:
        previous["care_setting"] = person.care_setting
    if not previous:
        return []
    contact_enc = person.contact_enc
    if "contact" in previous:
        contact_enc = (
            cipher.encrypt(contact.model_dump_json(), context=_CONTACT_CONTEXT) if contact else None
        )
    await repo.update_profile(
        session,
        person.id,
        repo.ProfileValues(
            phone_enc=cipher.encrypt(phone, context=b"phone") if phone else None,
            phone_hash=cipher.lookup_hash(phone) if phone else None,
            phone_last4=phone[-4:] if phone else None,
            address=address,
            lat=lat,
            lon=lon,
            location_approximate=approximate,
            contact_enc=contact_enc,
            care_setting=care_setting,
        ),
    )
    fields = [f for f in PROFILE_FIELDS if f in previous]
    await repo.insert_profile_change(
        session,
        id=new_uuid(),
        beneficiary_id=person.id,
        fields=fields,
        previous_enc=cipher.encrypt(
            orjson.dumps(previous).decode(), context=_PROFILE_CHANGE_CONTEXT
        ),
        reason=(data.reason or "").strip() or None,
        created_by=who,
    )
    return fields


def present_profile_change(change: BeneficiaryProfileChange) -> ProfileChangeRead:
    return ProfileChangeRead(
        id=str(change.id),
        beneficiary_id=str(change.beneficiary_id),
        fields=list(change.fields),
        reason=change.reason,
        created_at=change.created_at,
        created_by=change.created_by,
    )


async def profile_changes(
    session: AsyncSession, beneficiary_id: uuid.UUID
) -> list[BeneficiaryProfileChange]:
    return await repo.profile_changes_of(session, beneficiary_id)


# --- reassessment --------------------------------------------------------------------------


def present_assessment(
    assessment: Assessment, effective_from: date | None = None
) -> AssessmentRead:
    return AssessmentRead(
        id=str(assessment.id),
        scores=Scores(
            self_care=assessment.self_care,
            motor=assessment.motor,
            mental=assessment.mental,
            perception_social=assessment.perception_social,
        ),
        flags=Flags.model_validate(assessment.flags),
        total=assessment.total,
        grade=assessment.grade,
        assessed_on=assessment.assessed_on,
        valid_until=assessment.valid_until,
        assessor=assessment.assessor,
        created_at=assessment.created_at,
        created_by=assessment.created_by,
        effective_from=effective_from,
    )


async def reassess(
    session: AsyncSession,
    person: Beneficiary,
    data: AssessmentCreate,
    *,
    who: str,
    today: date,
    validity_months: int = assessment_rules.VALIDITY_MONTHS,
) -> AssessmentRead:
    """Record a new assessment (the person's row locked by the caller). The newest one sets
    the person's grade and its validity from the NEXT period (`after_reassessment`): this
    period's eligibility, and the vouchers already issued for it, stay as they were. One
    dated before the newest on record is kept in the history and changes nothing."""
    _refuse_closed(person)
    result = assessment_rules.assess(
        data.scores.model_dump(),
        data.flags.model_dump(),
        data.assessed_on,
        today,
        validity_months=validity_months,
    )
    latest = await repo.latest_assessment(session, person.id)
    new = _new_assessment(person.id, data, result, who)
    await repo.insert_assessment(session, new)
    effective_from = None
    if latest is None or data.assessed_on >= latest.assessed_on:
        state = assessment_rules.after_reassessment(
            program_service.grade_state(person), result, today
        )
        await repo.set_grade_state(
            session,
            person.id,
            grade=state.grade,
            valid_until=state.valid_until,
            grade_from=state.grade_from,
            prior_grade=state.prior_grade,
            prior_valid_until=state.prior_valid_until,
        )
        effective_from = state.grade_from
    inserted = await repo.get_assessment(session, new.id)
    if inserted is None:  # pragma: no cover - it was inserted just above
        raise BeneficiaryNotFound(field="beneficiary_id")
    return present_assessment(inserted, effective_from)


async def assessments(session: AsyncSession, person: Beneficiary) -> list[AssessmentRead]:
    """A person's assessments, newest first; the one behind the current grade carries the
    period it takes effect from."""
    rows = await repo.assessments_of(session, person.id)
    return [
        present_assessment(a, person.grade_from if i == 0 else None) for i, a in enumerate(rows)
    ]


# --- payout bank account (cash benefits) ---------------------------------------------------

_PAYOUT_CONTEXT = b"payout_account"


def seal_payout_account(cipher: PiiCipher, account: PayoutAccountCreate) -> bytes:
    """Bank, holder and number as one encrypted blob (never stored or logged in clear)."""
    return cipher.encrypt(account.model_dump_json(), context=_PAYOUT_CONTEXT)


def open_payout_account(cipher: PiiCipher, blob: bytes | None) -> PayoutAccountCreate | None:
    if not blob:
        return None
    return PayoutAccountCreate.model_validate_json(cipher.decrypt(blob, context=_PAYOUT_CONTEXT))


def present_payout_account(person: Beneficiary, cipher: PiiCipher) -> PayoutAccountRead | None:
    account = open_payout_account(cipher, person.payout_account_enc)
    if account is None:
        return None
    return PayoutAccountRead(
        bank_name=account.bank_name,
        account_name_masked=mask_name(account.account_name),
        account_number_masked=mask_account_number(account.account_number),
        set_at=person.payout_account_set_at,
    )


async def set_payout_account(
    session: AsyncSession,
    person: Beneficiary,
    account: PayoutAccountCreate,
    *,
    cipher: PiiCipher,
    who: str,
) -> Beneficiary:
    """Record (or replace) the person's payout account; answers the person."""
    await repo.set_payout_account(session, person.id, seal_payout_account(cipher, account), who)
    return await get(session, person.id)


async def payout_accounts(
    session: AsyncSession, ids: list[uuid.UUID], *, cipher: PiiCipher
) -> PayoutAccountsRead:
    """Full payout accounts of the people asked for (for the ledger's payment file); a
    person without one is answered with the account fields empty, an unknown id listed."""
    rows = await repo.payout_accounts(session, sorted(set(ids)))
    found = {r.id for r in rows}
    accounts = []
    for r in rows:
        account = open_payout_account(cipher, r.payout_account_enc)
        accounts.append(
            PayoutAccountFull(
                beneficiary_id=str(r.id),
                name=r.name,
                region_code=r.region_code,
                status=r.status,
                bank_name=account.bank_name if account else None,
                account_name=account.account_name if account else None,
                account_number=account.account_number if account else None,
            )
        )
    return PayoutAccountsRead(accounts=accounts, unknown=sorted(str(i) for i in set(ids) - found))
