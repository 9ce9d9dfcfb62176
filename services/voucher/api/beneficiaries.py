"""Routes: beneficiaries, their assessments, proxies, status and vouchers."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Request, Response, UploadFile
from sqlalchemy.ext.asyncio import AsyncSession

from services.common import export
from services.common.auth import Principal, Role, require
from services.common.db import SessionDep
from services.voucher.api.deps import CipherDep, EngineDep
from services.voucher.config import VoucherSettings
from services.voucher.models import CashBenefit, Voucher
from services.voucher.schemas.beneficiaries import (
    AssessmentCreate,
    AssessmentRead,
    BeneficiaryCreate,
    BeneficiaryCreated,
    BeneficiaryLookup,
    BeneficiaryRead,
    BeneficiaryUpdate,
    CashBenefitRead,
    ImportColumnRead,
    ImportResult,
    PayoutAccountCreate,
    PayoutAccountsQuery,
    PayoutAccountsRead,
    ProfileChangeRead,
    ProxyCreate,
    ProxyRead,
    VoucherBrief,
    VoucherRead,
)
from services.voucher.service import beneficiaries as service
from services.voucher.service import beneficiary_import, import_columns, request_keys
from services.voucher.service import issuance as service_issuance
from services.voucher.service import programs as program_service
from services.voucher.service.identity import check_region
from services.voucher.service.issuance import IssuanceEngine
from services.voucher.service.periods import tz

router = APIRouter(tags=["beneficiaries"])
OFFICER = Role.civil_affairs


def _settings(request: Request) -> VoucherSettings:
    settings: VoucherSettings = request.app.state.settings
    return settings


def _today() -> date:
    return datetime.now(tz()).date()


def _voucher_read(v: Voucher, names: dict[str, str] | None = None) -> VoucherRead:
    name = (names or {}).get(v.program_code, "")
    return VoucherRead.model_validate({**v.model_dump(), "id": str(v.id), "program_name": name})


def _cash_benefit_read(b: CashBenefit) -> CashBenefitRead:
    return CashBenefitRead.model_validate({**b.model_dump(), "id": str(b.id)})


@router.post("/beneficiaries", status_code=201, response_model=BeneficiaryCreated)
async def enrol(
    body: BeneficiaryCreate,
    request: Request,
    session: SessionDep,
    cipher: CipherDep,
    engine: EngineDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
    principal: Principal = require(OFFICER),
) -> BeneficiaryCreated:
    """Enrol one elderly person with their GB/T 42195-2022 assessment (an officer of their
    region). The national ID is checked (GB 11643) and stored encrypted; birth date and sex
    come from it. Answers the grade, the programs the person is eligible for, and the
    vouchers of the current month, issued at once. With an `Idempotency-Key` header a
    retried request answers the same person again (same key, other body: 409)."""
    principal.ensure_region(check_region(body.region_code))
    key = fingerprint = None
    if idempotency_key is not None:
        key = request_keys.scoped_key(principal.sub, idempotency_key)
        fingerprint = request_keys.request_hash(cipher, "enrol", body.model_dump(mode="json"))
        earlier = await request_keys.replay(session, key, "enrol", fingerprint)
        if earlier is not None:
            return await _enrolment_answer(session, engine, earlier, principal)
    enrolled = await service.enrol(
        session,
        body,
        cipher=cipher,
        who=principal.sub,
        today=_today(),
        validity_months=_settings(request).assessment_validity_months,
    )
    if key is not None and fingerprint is not None:
        await request_keys.remember(session, key, "enrol", fingerprint, enrolled.id, principal.sub)
    # The person must exist (committed) before budget is committed for them.
    await session.commit()
    return await _enrolment_answer(session, engine, enrolled.id, principal)


async def _enrolment_answer(
    session: AsyncSession, engine: IssuanceEngine, beneficiary_id: uuid.UUID, principal: Principal
) -> BeneficiaryCreated:
    """Issue what is due this month (nothing new if it was issued before) and answer."""
    person = await service.get(session, beneficiary_id)
    grade, region_code = person.grade, person.region_code
    eligible = await program_service.eligible_codes(session, person, _today().replace(day=1))
    await session.commit()
    _, pending = await service_issuance.first_month(
        engine, [beneficiary_id], set(eligible), region_code, principal.sub
    )
    vouchers = await service.vouchers_of(session, beneficiary_id)
    benefits = await service.cash_benefits_of(session, beneficiary_id)
    return BeneficiaryCreated(
        id=str(beneficiary_id),
        grade=grade or 0,
        eligible_programs=eligible,
        vouchers=[
            VoucherBrief.model_validate({**v.model_dump(), "id": str(v.id)}) for v in vouchers
        ],
        cash_benefits=[b.program_code for b in benefits],
        pending_programs=sorted(pending),
    )


@router.post("/beneficiaries/import", response_model=ImportResult)
async def import_beneficiaries(
    file: UploadFile,
    request: Request,
    session: SessionDep,
    cipher: CipherDep,
    engine: EngineDep,
    principal: Principal = require(OFFICER),
) -> ImportResult:
    """Enrol many people from a CSV or XLSX file (columns: see CONTRIBUTING.md). Every row
    gets a result: created, duplicate (national ID already enrolled) or error with its code
    and field. Rows outside the officer's region are errors (OUT_OF_SCOPE)."""
    content = await file.read(beneficiary_import.MAX_BYTES + 1)
    rows = beneficiary_import.read_rows(content, file.filename)
    results = await beneficiary_import.import_rows(
        session,
        rows,
        cipher=cipher,
        who=principal.sub,
        today=_today(),
        covers_region=principal.covers_region,
        validity_months=_settings(request).assessment_validity_months,
    )
    await session.commit()
    created = [r for r in results if r.result.status == "created"]
    if created and principal.region:
        programs = {p for r in created for p in r.eligible_programs}
        await service_issuance.first_month(
            engine,
            [uuid.UUID(r.result.id) for r in created if r.result.id],
            programs,
            principal.region,
            principal.sub,
        )
    answers = [r.result for r in results]
    return ImportResult(
        total=len(answers),
        created=len(created),
        duplicates=sum(a.status == "duplicate" for a in answers),
        errors=sum(a.status == "error" for a in answers),
        rows=answers,
    )


@router.get(
    "/imports/templates/{kind}",
    response_model=list[ImportColumnRead],
    responses={200: {"content": {export.CSV_MEDIA: {}, export.XLSX_MEDIA: {}}}},
)
async def import_template(
    kind: Literal["beneficiaries", "status"],
    format: Literal["json", "csv", "xlsx"] = "json",
    _: Principal = require(OFFICER),
) -> list[ImportColumnRead] | Response:
    """The columns of an import file -- `beneficiaries` (POST /v1/beneficiaries/import) or
    `status` (POST /v1/status-imports) -- each with its Chinese heading, whether it is
    required, and what to write in it; `format=csv|xlsx` is the empty file to fill in, its
    header row the Chinese headings (either the headings or the names are accepted)."""
    columns = import_columns.KINDS[kind]
    if format == "json":
        return [
            ImportColumnRead(name=c.name, heading=c.heading, required=c.required, meaning=c.meaning)
            for c in columns
        ]
    sheet = "老人信息" if kind == "beneficiaries" else "死亡住院信息"
    return export.attachment(
        format,
        sheet,
        [c.heading for c in columns],
        [],
        f"{kind}-template",
        text_columns=import_columns.text_columns(columns),
    )


@router.post("/beneficiaries/lookup", response_model=BeneficiaryRead)
async def lookup(
    body: BeneficiaryLookup,
    session: SessionDep,
    cipher: CipherDep,
    principal: Principal = require(OFFICER),
) -> BeneficiaryRead:
    """Find a person by national ID (an officer of their region); answered masked. Someone
    enrolled in another region is 404 BENEFICIARY_NOT_FOUND, like an ID nobody enrolled."""
    person = await service.find_by_national_id(
        session,
        body.national_id,
        cipher=cipher,
        today=_today(),
        covers_region=principal.covers_region,
    )
    return service.present(person, cipher)


@router.get("/beneficiaries/{beneficiary_id}", response_model=BeneficiaryRead)
async def get_beneficiary(
    beneficiary_id: uuid.UUID,
    session: SessionDep,
    cipher: CipherDep,
    principal: Principal = require(OFFICER, Role.beneficiary, Role.proxy),
) -> BeneficiaryRead:
    """A person's record, national ID and phone masked."""
    return service.present(await service.get_readable(session, principal, beneficiary_id), cipher)


@router.get("/beneficiaries/{beneficiary_id}/vouchers", response_model=list[VoucherRead])
async def vouchers(
    beneficiary_id: uuid.UUID,
    session: SessionDep,
    principal: Principal = require(OFFICER, Role.beneficiary, Role.proxy),
) -> list[VoucherRead]:
    """The person's vouchers, newest period first, with `balance_fen`, `valid_until` and
    `status` (the person, an authorised proxy, or an officer of their region)."""
    await service.get_readable(session, principal, beneficiary_id)
    held = await service.vouchers_of(session, beneficiary_id)
    names = await program_service.names_of(session, sorted({v.program_code for v in held}))
    return [_voucher_read(v, names) for v in held]


@router.get("/beneficiaries/{beneficiary_id}/cash-benefits", response_model=list[CashBenefitRead])
async def cash_benefits(
    beneficiary_id: uuid.UUID,
    session: SessionDep,
    principal: Principal = require(OFFICER, Role.beneficiary, Role.proxy),
) -> list[CashBenefitRead]:
    """Cash benefits (护理补贴) paid to the person."""
    await service.get_readable(session, principal, beneficiary_id)
    return [_cash_benefit_read(b) for b in await service.cash_benefits_of(session, beneficiary_id)]


@router.post(
    "/beneficiaries/{beneficiary_id}/assessments", status_code=201, response_model=AssessmentRead
)
async def reassess(
    beneficiary_id: uuid.UUID,
    body: AssessmentCreate,
    request: Request,
    session: SessionDep,
    principal: Principal = require(OFFICER),
) -> AssessmentRead:
    """Record a new assessment (an officer of the person's region): scores -> grade under
    GB/T 42195-2022, valid `YIYANG_VOUCHER_ASSESSMENT_VALIDITY_MONTHS` (12) months. The
    newest sets the person's grade from the NEXT period (`effective_from`): this period's
    eligibility and vouchers stay as they were. A deceased person's record is closed (409
    BENEFICIARY_RECORD_CLOSED)."""
    person = await service.get_in_scope(session, beneficiary_id, principal.covers_region, lock=True)
    return await service.reassess(
        session,
        person,
        body,
        who=principal.sub,
        today=_today(),
        validity_months=_settings(request).assessment_validity_months,
    )


@router.get("/beneficiaries/{beneficiary_id}/assessments", response_model=list[AssessmentRead])
async def list_assessments(
    beneficiary_id: uuid.UUID,
    session: SessionDep,
    principal: Principal = require(OFFICER),
) -> list[AssessmentRead]:
    """A person's assessments, newest first (an officer of their region)."""
    person = await service.get_in_scope(session, beneficiary_id, principal.covers_region)
    return await service.assessments(session, person)


@router.patch("/beneficiaries/{beneficiary_id}", response_model=BeneficiaryRead)
async def update_profile(
    beneficiary_id: uuid.UUID,
    body: BeneficiaryUpdate,
    session: SessionDep,
    cipher: CipherDep,
    principal: Principal = require(OFFICER),
) -> BeneficiaryRead:
    """Edit a person's phone, address, location (`lat`+`lon`, `location_approximate`),
    emergency contact and care setting (an officer of their region); only the fields sent
    change, `null` clears the phone, location or contact. Audited (GET .../profile-changes:
    the fields' names, who, when, why; their old values only encrypted). Personal data is
    stored encrypted and answered masked. A deceased person's record is closed (409)."""
    person = await service.get_in_scope(session, beneficiary_id, principal.covers_region, lock=True)
    await service.update_profile(session, person, body, cipher=cipher, who=principal.sub)
    return service.present(await service.get(session, beneficiary_id), cipher)


@router.get(
    "/beneficiaries/{beneficiary_id}/profile-changes", response_model=list[ProfileChangeRead]
)
async def profile_changes(
    beneficiary_id: uuid.UUID,
    session: SessionDep,
    principal: Principal = require(OFFICER, Role.auditor),
) -> list[ProfileChangeRead]:
    """Who changed which fields of a person's profile, when and why, newest first (field
    names only: never the values)."""
    await service.get_in_scope(session, beneficiary_id, principal.covers_region)
    return [
        service.present_profile_change(c)
        for c in await service.profile_changes(session, beneficiary_id)
    ]


@router.post("/beneficiaries/{beneficiary_id}/proxies", status_code=201, response_model=ProxyRead)
async def add_proxy(
    beneficiary_id: uuid.UUID,
    body: ProxyCreate,
    session: SessionDep,
    cipher: CipherDep,
    principal: Principal = require(OFFICER),
) -> ProxyRead:
    """Authorise a family member or agent (家属/代办人) to act for the person."""
    await service.get_in_scope(session, beneficiary_id, principal.covers_region)
    return service.present_proxy(
        await service.add_proxy(session, beneficiary_id, body, cipher=cipher, who=principal.sub),
        cipher,
    )


@router.get("/beneficiaries/{beneficiary_id}/proxies", response_model=list[ProxyRead])
async def list_proxies(
    beneficiary_id: uuid.UUID,
    session: SessionDep,
    cipher: CipherDep,
    principal: Principal = require(OFFICER, Role.beneficiary),
) -> list[ProxyRead]:
    """Who may act for the person (phones masked)."""
    await service.get_readable(session, principal, beneficiary_id)
    return [
        service.present_proxy(p, cipher)
        for p in await service.list_proxies(session, beneficiary_id)
    ]


@router.post("/beneficiaries/{beneficiary_id}/proxies/{proxy_id}/revoke", response_model=ProxyRead)
async def revoke_proxy(
    beneficiary_id: uuid.UUID,
    proxy_id: uuid.UUID,
    session: SessionDep,
    cipher: CipherDep,
    principal: Principal = require(OFFICER),
) -> ProxyRead:
    """Withdraw a proxy's authorisation; it takes effect on their next request."""
    await service.get_in_scope(session, beneficiary_id, principal.covers_region)
    return service.present_proxy(
        await service.revoke_proxy(session, beneficiary_id, proxy_id), cipher
    )


@router.put("/beneficiaries/{beneficiary_id}/payout-account", response_model=BeneficiaryRead)
async def set_payout_account(
    beneficiary_id: uuid.UUID,
    body: PayoutAccountCreate,
    session: SessionDep,
    cipher: CipherDep,
    principal: Principal = require(OFFICER),
) -> BeneficiaryRead:
    """Record or replace the bank account the person's cash benefits (护理补贴) are paid to
    (an officer of their region). Stored encrypted; answered masked (last four digits)."""
    person = await service.get_in_scope(session, beneficiary_id, principal.covers_region, lock=True)
    return service.present(
        await service.set_payout_account(session, person, body, cipher=cipher, who=principal.sub),
        cipher,
    )


@router.post(
    "/internal/beneficiaries/payout-accounts", response_model=PayoutAccountsRead, tags=["internal"]
)
async def payout_accounts(
    body: PayoutAccountsQuery,
    session: SessionDep,
    cipher: CipherDep,
    _p: Principal = require(Role.service),
) -> PayoutAccountsRead:
    """(Ledger payment batches) The full payout accounts of the people named, with their
    name, region and status; a person without an account has the account fields null, an
    unknown id is listed under `unknown`. Role service only."""
    return await service.payout_accounts(session, body.beneficiary_ids, cipher=cipher)
