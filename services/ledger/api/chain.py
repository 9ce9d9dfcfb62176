"""The hash chain for auditors: recomputed by the service, and the signed checkpoints of its
head kept outside the database (service/checkpoints.py) with the key that signs them."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from services.common.auth import Principal, Role
from services.common.db import DatabaseDep
from services.ledger.api.deps import (
    AUDITOR_ONLY,
    ERRORS,
    FINANCE_AUDITOR,
    SERVICE_FINANCE_AUDITOR,
    AsOf,
    aware,
    file_response,
    province_wide,
    scope,
)
from services.ledger.schemas import (
    AnchorRead,
    BookRead,
    ChainVerifyRead,
    CheckpointRecord,
    CheckpointsRead,
    PublicKeyRead,
)
from services.ledger.service import audit, chain, checkpoints, exports

router = APIRouter()


@router.get("/chain/verify", responses=ERRORS, response_model_exclude_unset=True)
async def verify_chain(
    db: DatabaseDep,
    book: Annotated[str | None, Query(pattern=r"^(main|[0-9]{4}|root)$")] = None,
    p: Principal = AUDITOR_ONLY,
) -> ChainVerifyRead:
    """Recompute every book's hash chain and the root chain of anchors over them:
    `{ok, entries_checked, head_hash, books, anchors_checked}` (`head_hash`: the root's head),
    and the first bad entry (with its book) or the reason when not ok. `book=4501`: that
    book's chain only (`head_hash`: its head). `book=root`: the root chain over the books'
    heads and the stored balances, without the books' entries (the last step after checking
    each book on its own). Needs a province-wide auditor scope."""
    province_wide(p)
    if book == "root":
        return await chain.verify_root(db)
    return await chain.verify_chain(db, book)


@router.get("/chain/books", responses=ERRORS)
async def list_books(db: DatabaseDep, p: Principal = AUDITOR_ONLY) -> list[BookRead]:
    """The journal's books with their heads (`entries`: the book's last seq), by book: what
    a verification book by book walks. Needs a province-wide auditor scope."""
    province_wide(p)
    return await chain.list_books(db)


@router.post("/chain/anchor", responses=ERRORS)
async def anchor_now(
    db: DatabaseDep, force: bool = False, p: Principal = SERVICE_FINANCE_AUDITOR
) -> AnchorRead | None:
    """Anchor every book's head into the root chain now (on demand; the ledger also anchors
    before each signed checkpoint): the newest anchor, written when some book moved since
    the last one (`force=true`: even if none did). Services, or province-wide finance and
    auditors."""
    if p.role != Role.service:
        province_wide(p)
    row = await chain.anchor(db, force=force)
    return None if row is None else chain.anchor_read(row)


@router.get("/chain/anchors", responses=ERRORS)
async def list_anchors(
    db: DatabaseDep,
    after: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    p: Principal = FINANCE_AUDITOR,
) -> list[AnchorRead]:
    """The root chain's anchors after seq `after`, oldest first. Province-wide finance or
    auditors."""
    province_wide(p)
    return [chain.anchor_read(a) for a in await audit.anchors(db, after, limit)]


@router.get(
    "/chain/checkpoints",
    responses=ERRORS,
    response_model=CheckpointsRead,
    response_model_exclude_none=True,
)
async def get_checkpoints(
    request: Request,
    format: Annotated[Literal["json", "jsonl"], Query()] = "json",
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    p: Principal = AUDITOR_ONLY,
) -> CheckpointsRead | Response:
    """The signed checkpoints of the chain's head (and key hand-overs), newest first, the
    last `limit`; `format=jsonl` is the whole file, oldest first, one record a line, as the
    verifier reads it (audit/verify_ledger.py --checkpoints). Province-wide auditors."""
    province_wide(p)
    settings = request.app.state.settings
    records = checkpoints.read_records(settings)
    if format == "jsonl":
        body = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        return Response(
            body.encode(),
            media_type="application/x-ndjson",
            headers={"Content-Disposition": 'attachment; filename="checkpoints.jsonl"'},
        )
    key = checkpoints.public_hex(settings.checkpoint_private_key)
    return CheckpointsRead(
        public_key=key,
        fingerprint=checkpoints.fingerprint(key),
        checkpoints=[CheckpointRecord(**r) for r in reversed(records[-limit:])],
    )


@router.get("/chain/public-key", responses=ERRORS)
async def get_public_key(request: Request, p: Principal = FINANCE_AUDITOR) -> PublicKeyRead:
    """The Ed25519 public key that signs the checkpoints now (raw 32 bytes as hex, and PEM),
    with its fingerprint. Earlier keys are named in the hand-over records."""
    scope(p)
    private = request.app.state.settings.checkpoint_private_key
    key = checkpoints.public_hex(private)
    return PublicKeyRead(
        algorithm="Ed25519",
        public_key=key,
        public_key_pem=checkpoints.public_pem(private),
        fingerprint=checkpoints.fingerprint(key),
    )


@router.get("/journal/export", responses=ERRORS, response_class=Response)
async def export_journal(
    db: DatabaseDep, request: Request, as_of: AsOf = None, p: Principal = FINANCE_AUDITOR
) -> Response:
    """The whole journal up to `as_of` (default now) as one self-describing zip: README.md,
    schema.json, accounts.csv, entries.csv, postings.csv, entries.json (what the verifier
    reads) and checkpoints.jsonl. Province-wide finance or auditors."""
    province_wide(p)
    page = await audit.entries(
        db,
        region_prefix="",
        account=None,
        filters={},
        period=None,
        start=None,
        end=None,
        after_seq=0,
        limit=1,
        as_of=aware(as_of),
        whole=True,
    )
    accounts = await audit.chart_accounts(db, "")
    until = datetime.fromisoformat(page.as_of)
    anchors = [
        chain.anchor_read(a)
        for a in await audit.anchors(db, 0, 1_000_000)
        if a.anchored_at <= until
    ]
    lines = [
        json.dumps(r, ensure_ascii=False)
        for r in checkpoints.read_records(request.app.state.settings)
    ]
    content = exports.journal_zip(page.as_of, accounts, page.entries, lines, anchors)
    return file_response(content, "zip", "journal")
