"""Beneficiaries: enrolment, national ID rules, status changes, proxies.

Personal data: the national ID and phone are validated here, then only ever stored encrypted
(`PiiCipher.encrypt`) with a keyed lookup hash, and shown masked. Nothing in this module logs,
and no error message quotes them.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.crypto import PiiCipher, mask_name, mask_national_id, mask_phone
from services.common.errors import Forbidden
from services.common.ids import new_uuid
from services.common.regions import is_known, is_valid_code_shape, region_covers
from services.common.settings import get_common_settings
from services.voucher.errors import (
    BeneficiaryExists,
    BeneficiaryNotFound,
    InvalidNationalId,
    InvalidPhone,
    InvalidRegion,
    ProxyNotFound,
    StatusTransitionNotAllowed,
)
from services.voucher.repository import beneficiaries as repo
from services.voucher.schemas.beneficiaries import (
    BeneficiaryCreate,
    PayoutAccountCreate,
    ProxyCreate,
)
from services.voucher.service import assessment as assessment_rules
from services.voucher.service import programs as program_service

# --- national ID (GB 11643-1999) -----------------------------------------------------------

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK_MAP = "10X98765432"
_ID_SHAPE = re.compile(r"^[1-9][0-9]{16}[0-9X]$")


@dataclass(frozen=True)
class NationalId:
    value: str
    birth_on: date
    sex: str  # 'M' or 'F'


def check_digit(first17: str) -> str:
    """GB 11643: Σ digit × weight mod 11, mapped through '10X98765432'."""
    return _ID_CHECK_MAP[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS)) % 11]


def parse_national_id(raw: str, today: date) -> NationalId:
    """Validate an 18-character resident ID and derive birth date and sex from it.

    Digits 7-14 are the birth date (YYYYMMDD), digit 17 is odd for men and even for women,
    the 18th is the check character. A lower-case x is accepted as X.
    """
    value = (raw or "").strip().upper()
    if not _ID_SHAPE.match(value):
        raise InvalidNationalId(field="national_id")
    if check_digit(value[:17]) != value[17]:
        raise InvalidNationalId(
            "The national ID's check character does not match.", field="national_id"
        )
    try:
        birth_on = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError as exc:
        raise InvalidNationalId(
            "The national ID holds no valid birth date.", field="national_id"
        ) from exc
    if birth_on > today or birth_on.year < 1880:
        raise InvalidNationalId(
            "The national ID holds no plausible birth date.", field="national_id"
        )
    sex = "M" if int(value[16]) % 2 == 1 else "F"
    return NationalId(value, birth_on, sex)


_MOBILE = re.compile(r"^1[3-9][0-9]{9}$")
_LANDLINE = re.compile(r"^0[0-9]{9,11}$")


def normalise_phone(raw: str | None, field: str = "phone") -> str | None:
    if raw is None or not raw.strip():
        return None
    value = re.sub(r"[\s\-()]", "", raw)
    value = value.removeprefix("+86")
    if not (_MOBILE.match(value) or _LANDLINE.match(value)):
        raise InvalidPhone(field=field)
    return value


def check_region(code: str) -> str:
    code = (code or "").strip()
    province = get_common_settings().province_code
    if not is_valid_code_shape(code) or not region_covers(province, code):
        raise InvalidRegion(field="region_code")
    if not (is_known(code) or (len(code) > 6 and is_known(code[:6]))):
        raise InvalidRegion(field="region_code")
    return code


# --- enrolment -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Enrolled:
    id: uuid.UUID
    grade: int
    eligible_programs: list[str]
    region_code: str


async def enrol(
    session: AsyncSession, data: BeneficiaryCreate, *, cipher: PiiCipher, who: str, today: date
) -> Enrolled:
    """Enrol one person with their assessment. Every check runs before anything is written;
    an already enrolled national ID is refused (BENEFICIARY_EXISTS), never created twice."""
    nid = parse_national_id(data.national_id, today)
    phone = normalise_phone(data.phone)
    region_code = check_region(data.region_code)
    scores = data.assessment.scores.model_dump()
    flags = data.assessment.flags.model_dump()
    result = assessment_rules.assess(scores, flags, data.assessment.assessed_on, today)

    nid_hash = cipher.lookup_hash(nid.value)
    if await repo.id_by_national_id_hash(session, nid_hash) is not None:
        raise BeneficiaryExists(field="national_id")
    beneficiary_id = new_uuid()
    inserted = await repo.insert_beneficiary(
        session,
        {
            "id": beneficiary_id,
            "national_id_enc": cipher.encrypt(nid.value, context=b"national_id"),
            "national_id_hash": nid_hash,
            "phone_enc": cipher.encrypt(phone, context=b"phone") if phone else None,
            "phone_hash": cipher.lookup_hash(phone) if phone else None,
            "name": data.name,
            "birth_on": nid.birth_on,
            "sex": nid.sex,
            "region_code": region_code,
            "address": data.address,
            "lat": data.lat,
            "lon": data.lon,
            "care_setting": data.care_setting,
            "dibao": data.dibao,
            "grade": result.grade,
            "grade_valid_until": result.valid_until,
            "created_by": who,
        },
    )
    if not inserted:
        raise BeneficiaryExists(field="national_id")
    if data.payout_account is not None:
        await repo.set_payout_account(
            session, beneficiary_id, seal_payout_account(cipher, data.payout_account), who
        )
    await repo.insert_assessment(
        session,
        {
            "id": new_uuid(),
            "beneficiary_id": beneficiary_id,
            **scores,
            "flags": flags,
            "total": result.total,
            "grade": result.grade,
            "assessed_on": data.assessment.assessed_on,
            "valid_until": result.valid_until,
            "assessor": data.assessment.assessor,
            "created_by": who,
        },
    )
    on = today.replace(day=1)
    eligible = [
        p.code
        for p in await program_service.all_programs(session)
        if program_service.is_eligible(
            p.config,
            birth_on=nid.birth_on,
            grade=result.grade,
            grade_valid_until=result.valid_until,
            dibao=data.dibao,
            care_setting=data.care_setting,
            region_code=region_code,
            status="active",
            on=on,
        )
    ]
    return Enrolled(beneficiary_id, result.grade, eligible, region_code)


# --- reading -------------------------------------------------------------------------------


def present(row: dict[str, Any], cipher: PiiCipher) -> dict[str, Any]:
    """A beneficiary row as the API shows it: personal data decrypted only to be masked."""
    out = {
        k: v
        for k, v in row.items()
        if k not in ("national_id_enc", "phone_enc", "payout_account_enc", "payout_account_set_at")
    }
    out["id"] = str(row["id"])
    out["national_id_masked"] = mask_national_id(
        cipher.decrypt(row["national_id_enc"], context=b"national_id")
    )
    out["phone_masked"] = (
        mask_phone(cipher.decrypt(row["phone_enc"], context=b"phone"))
        if row.get("phone_enc")
        else None
    )
    out["payout_account"] = present_payout_account(row, cipher)
    return out


async def get(
    session: AsyncSession, beneficiary_id: uuid.UUID, *, lock: bool = False
) -> dict[str, Any]:
    row = await repo.get(session, beneficiary_id, lock=lock)
    if row is None:
        raise BeneficiaryNotFound(field="beneficiary_id")
    return row


async def get_in_scope(
    session: AsyncSession,
    beneficiary_id: uuid.UUID,
    covers_region: Callable[[str], bool],
    *,
    lock: bool = False,
) -> dict[str, Any]:
    """The person, if the caller's region covers theirs; otherwise 403 OUT_OF_SCOPE."""
    row = await get(session, beneficiary_id, lock=lock)
    if not covers_region(row["region_code"]):
        raise Forbidden(
            "This person is outside your region.", code="OUT_OF_SCOPE", field="beneficiary_id"
        )
    return row


# --- status --------------------------------------------------------------------------------

ALLOWED_TRANSITIONS: dict[str, set[str]] = {
    "active": {"suspended", "deceased", "moved"},
    "suspended": {"active", "deceased", "moved"},
    "moved": {"active", "deceased"},
    "deceased": set(),
}


async def change_status(
    session: AsyncSession, row: dict[str, Any], status: str, reason: str
) -> dict[str, Any]:
    """Change a person's status at once. Leaving 'active' freezes every active voucher in the
    same transaction (database trigger); returning to 'active' unfreezes the vouchers still in
    their window. Asking for the current status again changes nothing."""
    current = row["status"]
    if status == current:
        return row
    if status not in ALLOWED_TRANSITIONS[current]:
        raise StatusTransitionNotAllowed(field="status", details={"from": current, "to": status})
    await repo.set_status(session, row["id"], status, reason)
    if status == "active":
        await repo.unfreeze_vouchers(session, row["id"])
    return await get(session, row["id"])


# --- proxies -------------------------------------------------------------------------------


def present_proxy(row: dict[str, Any], cipher: PiiCipher) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k != "phone_enc"}
    out["id"] = str(row["id"])
    out["beneficiary_id"] = str(row["beneficiary_id"])
    out["phone_masked"] = (
        mask_phone(cipher.decrypt(row["phone_enc"], context=b"phone"))
        if row.get("phone_enc")
        else None
    )
    return out


async def add_proxy(
    session: AsyncSession,
    beneficiary_id: uuid.UUID,
    data: ProxyCreate,
    *,
    cipher: PiiCipher,
    who: str,
) -> dict[str, Any]:
    phone = normalise_phone(data.phone)
    proxy_id = new_uuid()
    await repo.insert_proxy(
        session,
        {
            "id": proxy_id,
            "beneficiary_id": beneficiary_id,
            "proxy_sub": data.proxy_sub,
            "name": data.name.strip(),
            "relation": data.relation.strip(),
            "phone_enc": cipher.encrypt(phone, context=b"phone") if phone else None,
            "created_by": who,
        },
    )
    return next(p for p in await repo.list_proxies(session, beneficiary_id) if p["id"] == proxy_id)


async def revoke_proxy(
    session: AsyncSession, beneficiary_id: uuid.UUID, proxy_id: uuid.UUID
) -> dict[str, Any]:
    row = await repo.revoke_proxy(session, beneficiary_id, proxy_id)
    if row is None:
        raise ProxyNotFound(field="proxy_id")
    return row


async def may_read(session: AsyncSession, principal: Any, row: dict[str, Any]) -> bool:
    """The person themself, a proxy authorised for them (token scope AND a live
    authorisation, so a revocation takes effect at once), or an officer of their region."""
    from services.common.auth import Role

    beneficiary_id = str(row["id"])
    if principal.role == Role.beneficiary:
        return principal.may_act_for(beneficiary_id)
    if principal.role == Role.proxy:
        return (
            principal.may_act_for(beneficiary_id)
            and await repo.active_proxy_for(session, row["id"], principal.sub) is not None
        )
    if principal.role in (Role.civil_affairs, Role.service):
        return principal.covers_region(row["region_code"])
    return False


# --- reassessment --------------------------------------------------------------------------


async def reassess(
    session: AsyncSession, row: dict[str, Any], data: Any, *, who: str, today: date
) -> dict[str, Any]:
    """Record a new assessment; the newest one sets the person's grade and its validity."""
    scores = data.scores.model_dump()
    flags = data.flags.model_dump()
    result = assessment_rules.assess(scores, flags, data.assessed_on, today)
    latest = await repo.latest_assessment(session, row["id"])
    assessment_id = new_uuid()
    await repo.insert_assessment(
        session,
        {
            "id": assessment_id,
            "beneficiary_id": row["id"],
            **scores,
            "flags": flags,
            "total": result.total,
            "grade": result.grade,
            "assessed_on": data.assessed_on,
            "valid_until": result.valid_until,
            "assessor": data.assessor,
            "created_by": who,
        },
    )
    if latest is None or data.assessed_on >= latest["assessed_on"]:
        await repo.set_grade(session, row["id"], result.grade, result.valid_until)
    return await repo.latest_assessment(session, row["id"]) or {}


async def vouchers_of(session: AsyncSession, beneficiary_id: uuid.UUID) -> list[dict[str, Any]]:
    return await repo.vouchers_of(session, beneficiary_id)


async def cash_benefits_of(
    session: AsyncSession, beneficiary_id: uuid.UUID
) -> list[dict[str, Any]]:
    return await repo.cash_benefits_of(session, beneficiary_id)


async def list_proxies(session: AsyncSession, beneficiary_id: uuid.UUID) -> list[dict[str, Any]]:
    return await repo.list_proxies(session, beneficiary_id)


async def find_by_national_id(
    session: AsyncSession, raw: str, *, cipher: PiiCipher, today: date
) -> dict[str, Any]:
    """Look a person up by the keyed hash of their national ID (the ID itself is never
    compared in clear, and never stored unencrypted)."""
    nid = parse_national_id(raw, today)
    found = await repo.id_by_national_id_hash(session, cipher.lookup_hash(nid.value))
    if found is None:
        raise BeneficiaryNotFound(field="national_id")
    return await get(session, found)


# --- payout bank account (cash benefits) ---------------------------------------------------

_PAYOUT_CONTEXT = b"payout_account"


def seal_payout_account(cipher: PiiCipher, account: PayoutAccountCreate) -> bytes:
    """Bank, holder and number as one encrypted blob (never stored or logged in clear)."""
    return cipher.encrypt(account.model_dump_json(), context=_PAYOUT_CONTEXT)


def open_payout_account(cipher: PiiCipher, blob: bytes | None) -> dict[str, str] | None:
    if not blob:
        return None
    return PayoutAccountCreate.model_validate_json(
        cipher.decrypt(blob, context=_PAYOUT_CONTEXT)
    ).model_dump()


def mask_account_number(number: str) -> str:
    """6222021234567890123 -> ***************0123: the last four only."""
    return "*" * max(len(number) - 4, 0) + number[-4:]


def present_payout_account(row: dict[str, Any], cipher: PiiCipher) -> dict[str, Any] | None:
    account = open_payout_account(cipher, row.get("payout_account_enc"))
    if account is None:
        return None
    return {
        "bank_name": account["bank_name"],
        "account_name_masked": mask_name(account["account_name"]),
        "account_number_masked": mask_account_number(account["account_number"]),
        "set_at": row.get("payout_account_set_at"),
    }


async def set_payout_account(
    session: AsyncSession,
    row: dict[str, Any],
    account: PayoutAccountCreate,
    *,
    cipher: PiiCipher,
    who: str,
) -> dict[str, Any]:
    """Record (or replace) the person's payout account; answers the person, masked."""
    await repo.set_payout_account(session, row["id"], seal_payout_account(cipher, account), who)
    return await get(session, row["id"])


async def payout_accounts(
    session: AsyncSession, ids: list[uuid.UUID], *, cipher: PiiCipher
) -> dict[str, Any]:
    """Full payout accounts of the people asked for (for the ledger's payment file); a
    person without one is answered with the account fields empty, an unknown id listed."""
    rows = await repo.payout_accounts(session, sorted(set(ids)))
    found = {r["id"] for r in rows}
    accounts = []
    for r in rows:
        account = open_payout_account(cipher, r["payout_account_enc"]) or {}
        accounts.append(
            {
                "beneficiary_id": str(r["id"]),
                "name": r["name"],
                "region_code": r["region_code"],
                "status": r["status"],
                **account,
            }
        )
    return {"accounts": accounts, "unknown": sorted(str(i) for i in set(ids) - found)}
