"""Home visits (issue 14, part 3): a care worker checks in and out on the provider's terminal
with the elder's live code, and a bill for a home-visit item must name a completed visit long
enough for it (the rules: service/review_rules.py; the bill's minutes: service/pricing.py).

The proof of presence is the code's freshness, not the device's position: a phone's dynamic
code (its nonce is spent here, as a redemption spends it) or the printed card with its PIN
typed by the elder (counted towards the card's lock). Nothing the worker's device can make
is accepted -- no short numeric code exists for this. The position is recorded and, when the
person's registered location is exact, must lie within `visit_radius_m` of it at check-in and
at check-out (VISIT_OUT_OF_RADIUS, nothing recorded); an approximate location (a community's
centre) or none skips that check and the visit says so (`location_check`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db import Database
from services.common.ids import new_uuid
from services.voucher.errors import (
    BeneficiaryNotActive,
    ProviderNotApproved,
    TokenInvalid,
    TokenUsed,
    VisitAlreadyCheckedOut,
    VisitCodeMismatch,
    VisitNotFound,
    VisitOutOfRadius,
    VisitRequired,
)
from services.voucher.models import Visit
from services.voucher.repository import reviews as repo
from services.voucher.schemas.reviews import VisitRead
from services.voucher.service import codes
from services.voucher.service import review_rules as rules
from services.voucher.service.directory import ProviderDirectory


@dataclass(frozen=True)
class Scan:
    """What the terminal sends at check-in or check-out."""

    token: str
    pin: str | None
    lat: float
    lon: float


def visit_read(v: Visit) -> VisitRead:
    return VisitRead(
        id=str(v.id),
        beneficiary_id=str(v.beneficiary_id),
        provider_id=v.provider_id,
        care_worker=v.care_worker,
        status=v.status,
        checked_in_at=rules.local(v.checked_in_at),
        location_check=v.location_check,
        check_in_distance_m=v.check_in_distance_m,
        checked_out_at=None if v.checked_out_at is None else rules.local(v.checked_out_at),
        check_out_distance_m=v.check_out_distance_m,
        duration_s=v.duration_s,
        minutes=rules.visit_minutes(v.duration_s),
    )


async def _where(
    session: AsyncSession, beneficiary_id: uuid.UUID, scan: Scan, radius_m: int
) -> tuple[str, int | None]:
    """The person must be active; the position within the radius of an exact home."""
    subject = await repo.visit_subject(session, beneficiary_id)
    if subject is None:
        raise TokenInvalid(field="token")
    status, home_lat, home_lon, approximate = subject
    if status != "active":
        raise BeneficiaryNotActive()
    check = rules.location_check(home_lat, home_lon, approximate)
    distance = None
    if home_lat is not None and home_lon is not None:
        distance = rules.distance_m(home_lat, home_lon, scan.lat, scan.lon)
        if check == "within_radius" and distance > radius_m:
            raise VisitOutOfRadius(
                field="lat", details={"distance_m": distance, "radius_m": radius_m}
            )
    return check, distance


async def _spend(session: AsyncSession, token: codes.Token) -> None:
    """A dynamic code is accepted once (here, at a redemption, at another check-in)."""
    if token.kind != codes.KIND_DYNAMIC:
        return
    assert token.expires_at is not None
    try:
        async with session.begin_nested():
            await repo.use_nonce(session, token.nonce, token.expires_at)
    except IntegrityError as exc:
        raise TokenUsed(field="token") from exc


def _approved(directory: ProviderDirectory, provider_id: str) -> None:
    provider = directory.provider(provider_id)
    if provider is None or not provider.approved:
        raise ProviderNotApproved(field="provider_id")


async def check_in(
    db: Database,
    directory: ProviderDirectory,
    *,
    provider_id: str,
    terminal_id: str | None,
    scan: Scan,
    care_worker: str | None,
    qr_public_key: str,
    radius_m: int,
    now: datetime,
) -> VisitRead:
    """Open a visit: the elder's live code (card: with its PIN), the provider approved, the
    person active, the position near an exact home. The code is spent with the visit's
    row, in one transaction; a refusal records nothing (but a wrong PIN counts)."""
    from services.voucher.service.redemption_flow import check_card, ensure_in_province

    token = codes.verify_token(qr_public_key, scan.token, now)
    ensure_in_province(token)
    _approved(directory, provider_id)
    if token.kind == codes.KIND_CARD:
        await check_card(db, token, scan.pin, now)
    async with db.unit_of_work() as session:
        check, distance = await _where(session, token.beneficiary_id, scan, radius_m)
        await _spend(session, token)
        row = Visit(
            id=new_uuid(),
            beneficiary_id=token.beneficiary_id,
            provider_id=provider_id,
            care_worker=care_worker or None,
            status="open",
            check_in_terminal_id=terminal_id,
            checked_in_at=now,
            check_in_lat=scan.lat,
            check_in_lon=scan.lon,
            location_check=check,
            check_in_distance_m=distance,
        )
        await repo.insert_visit(session, row)
        return visit_read(row)


async def check_out(
    db: Database,
    directory: ProviderDirectory,
    *,
    provider_id: str,
    terminal_id: str | None,
    visit_id: uuid.UUID,
    scan: Scan,
    qr_public_key: str,
    radius_m: int,
    now: datetime,
) -> VisitRead:
    """Close a visit of this provider with a fresh code of the same person: records the
    position and the duration. Once (VISIT_ALREADY_CHECKED_OUT)."""
    from services.voucher.service.redemption_flow import check_card

    token = codes.verify_token(qr_public_key, scan.token, now)
    async with db.unit_of_work() as session:
        found = await repo.visit(session, visit_id)
    if found is None or found.provider_id != provider_id:
        raise VisitNotFound(field="visit_id")
    if found.status == "completed":
        raise VisitAlreadyCheckedOut()
    if token.beneficiary_id != found.beneficiary_id:
        raise VisitCodeMismatch(field="token")
    _approved(directory, provider_id)
    if token.kind == codes.KIND_CARD:
        await check_card(db, token, scan.pin, now)
    async with db.unit_of_work() as session:
        v = await repo.visit(session, visit_id, lock=True)
        assert v is not None
        if v.status == "completed":
            raise VisitAlreadyCheckedOut()
        _check, distance = await _where(session, v.beneficiary_id, scan, radius_m)
        await _spend(session, token)
        duration = max(0, int((now - v.checked_in_at).total_seconds()))
        await repo.check_out_visit(
            session,
            v.id,
            check_out_terminal_id=terminal_id,
            checked_out_at=now,
            check_out_lat=scan.lat,
            check_out_lon=scan.lon,
            check_out_distance_m=distance,
            duration_s=duration,
        )
        done = await repo.visit(session, v.id)
        assert done is not None
        return visit_read(done)


async def get(db: Database, provider_id: str, visit_id: uuid.UUID) -> VisitRead:
    async with db.unit_of_work() as session:
        v = await repo.visit(session, visit_id)
    if v is None or v.provider_id != provider_id:
        raise VisitNotFound(field="visit_id")
    return visit_read(v)


async def check_billable(
    db: Database,
    *,
    visit_id: uuid.UUID | None,
    provider_id: str,
    beneficiary_id: uuid.UUID,
    min_minutes: int,
    needed: bool,
    include_used: bool,
) -> None:
    """A bill with a home-visit item names a completed visit of this person at this
    provider lasting at least `min_minutes` (sum of min_minutes x quantity), not billed by
    another live redemption; else 422 VISIT_REQUIRED (`details.reason`: missing, unknown,
    not_completed, too_short, used). Runs only when the bill needs a visit or names one."""
    details: dict[str, object] = {"min_minutes": min_minutes}
    if visit_id is None:
        if needed:
            raise VisitRequired(field="visit_id", details={**details, "reason": "missing"})
        return
    async with db.unit_of_work() as session:
        v = await repo.visit(session, visit_id)
        used = include_used and v is not None and await repo.visit_in_use(session, visit_id)
    if v is None or v.provider_id != provider_id or v.beneficiary_id != beneficiary_id:
        raise VisitRequired(field="visit_id", details={**details, "reason": "unknown"})
    if v.status != "completed":
        raise VisitRequired(field="visit_id", details={**details, "reason": "not_completed"})
    minutes = rules.visit_minutes(v.duration_s)
    if minutes < min_minutes:
        raise VisitRequired(
            field="visit_id", details={**details, "reason": "too_short", "minutes": minutes}
        )
    if used:
        raise VisitRequired(field="visit_id", details={**details, "reason": "used"})


async def in_use(db: Database, visit_id: uuid.UUID) -> bool:
    async with db.unit_of_work() as session:
        return await repo.visit_in_use(session, visit_id)


async def listing(
    db: Database, provider_id: str, status: str, unbilled: bool, days: int, now: datetime
) -> list[VisitRead]:
    async with db.unit_of_work() as session:
        rows = await repo.provider_visits(
            session, provider_id, status, unbilled, now - timedelta(days=days), 200
        )
    return [visit_read(v) for v in rows]
