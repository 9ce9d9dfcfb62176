"""Routes: a person's lifecycle -- status changes and their timeline, and status files
(deaths, hospital stays) imported in bulk. The rules: service/lifecycle_rules.py; what a
change does: service/lifecycle.py; docs/lifecycle.md."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Header, UploadFile

from services.common.auth import Principal, Role, require
from services.common.db import SessionDep
from services.voucher.api.deps import CipherDep
from services.voucher.schemas.beneficiaries import (
    BeneficiaryRead,
    StatusChange,
    StatusChangeCreate,
    StatusChangeRead,
    StatusChangeResult,
    StatusImportResult,
)
from services.voucher.service import beneficiaries as service
from services.voucher.service import (
    beneficiary_import,
    lifecycle,
    lifecycle_rules,
    request_keys,
    status_import,
)
from services.voucher.service.periods import tz

router = APIRouter(tags=["lifecycle"])
OFFICER = Role.civil_affairs


def _today() -> date:
    return datetime.now(tz()).date()


@router.post("/beneficiaries/{beneficiary_id}/status", response_model=BeneficiaryRead)
async def change_status(
    beneficiary_id: uuid.UUID,
    body: StatusChange,
    session: SessionDep,
    cipher: CipherDep,
    principal: Principal = require(OFFICER),
) -> BeneficiaryRead:
    """(Kept for older clients: use `POST .../status-changes`.) The same change effective
    today, without evidence; a move names no region (left the province). Asking for the
    current status again changes nothing; the answer is the person."""
    person = await service.get_in_scope(session, beneficiary_id, principal.covers_region, lock=True)
    today = _today()
    if body.status == lifecycle_rules.current_state(
        person.status, person.paused_from, person.paused_until, today
    ):
        return service.present(person, cipher)
    done = await lifecycle.record(
        session,
        person,
        StatusChangeCreate(status=body.status, effective_on=today, reason=body.reason),
        who=principal.sub,
        today=today,
    )
    return service.present(done.person, cipher)


@router.post(
    "/beneficiaries/{beneficiary_id}/status-changes",
    status_code=201,
    response_model=StatusChangeResult,
)
async def record_status_change(
    beneficiary_id: uuid.UUID,
    body: StatusChangeCreate,
    session: SessionDep,
    cipher: CipherDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
    principal: Principal = require(OFFICER),
) -> StatusChangeResult:
    """Record a change of the person's status (an officer of their region; docs/lifecycle.md):
    `hospitalised` (from `effective_on` to `until`: redemptions refused with
    BENEFICIARY_PAUSED), `moved` (to `to_region_code`: the old region's vouchers end and
    their balance goes back to the budget; the next issuance is in the new region, whose
    officers take over), `deceased` (every voucher revoked, balance released, proxies ended;
    redemptions made after a past date of death are recovered at once, once: `recoveries`),
    `exited`, `suspended`, `active`. The effective date may be in the past. Refusals:
    STATUS_TRANSITION_NOT_ALLOWED, EFFECTIVE_DATE_IN_FUTURE, INVALID_VALUE, INVALID_REGION.
    With an `Idempotency-Key` header a retry answers the change recorded the first time."""
    today = _today()
    key = fingerprint = None
    if idempotency_key is not None:
        key = request_keys.scoped_key(principal.sub, idempotency_key)
        fingerprint = request_keys.request_hash(
            cipher, "status_change", {"id": str(beneficiary_id), **body.model_dump(mode="json")}
        )
        earlier = await request_keys.replay(session, key, "status_change", fingerprint)
        if earlier is not None:
            found = await lifecycle.recorded(session, earlier)
            if found is not None:
                return lifecycle.present_result(found, today)
    person = await service.get_in_scope(session, beneficiary_id, principal.covers_region, lock=True)
    done = await lifecycle.record(session, person, body, who=principal.sub, today=today)
    if key is not None and fingerprint is not None:
        await request_keys.remember(
            session, key, "status_change", fingerprint, done.change.id, principal.sub
        )
    return lifecycle.present_result(done, today)


@router.get("/beneficiaries/{beneficiary_id}/status-changes", response_model=list[StatusChangeRead])
async def status_timeline(
    beneficiary_id: uuid.UUID,
    session: SessionDep,
    principal: Principal = require(OFFICER, Role.auditor),
) -> list[StatusChangeRead]:
    """The person's status timeline, oldest first: each change with its effective date, who
    recorded it and when, the reason, the evidence and the money it released (an officer of
    the person's region, or an auditor of it)."""
    person = await service.get_in_scope(session, beneficiary_id, principal.covers_region)
    return await lifecycle.timeline(session, person.id)


@router.post("/status-imports", response_model=StatusImportResult)
async def import_statuses(
    file: UploadFile,
    session: SessionDep,
    cipher: CipherDep,
    principal: Principal = require(OFFICER),
) -> StatusImportResult:
    """Record deaths and hospital stays from a CSV or XLSX file as exchanged with the
    public-security or health systems (columns `national_id`, `event` -- deceased / 死亡,
    hospitalised / 住院, discharged / 出院 -- `date`, optional `until`, `reason`,
    `evidence_ref`). Each row is matched by the national ID's keyed hash and answered:
    applied, unchanged (already recorded: importing the same file again changes nothing) or
    error with its code and column; a person outside the officer's region is
    BENEFICIARY_NOT_FOUND like an unknown ID."""
    content = await file.read(beneficiary_import.MAX_BYTES + 1)
    rows = beneficiary_import.read_rows(content, file.filename, status_import.REQUIRED_COLUMNS)
    return await status_import.import_rows(
        session,
        rows,
        cipher=cipher,
        who=principal.sub,
        today=_today(),
        covers_region=principal.covers_region,
    )
