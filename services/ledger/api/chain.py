"""The hash chain for auditors: recomputed by the service, and the signed checkpoints of its
head kept outside the database (service/checkpoints.py) with the key that signs them."""

from __future__ import annotations

import json
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from services.common.auth import Principal
from services.common.db import DatabaseDep
from services.ledger.api.deps import (
    AUDITOR_ONLY,
    ERRORS,
    FINANCE_AUDITOR,
    AsOf,
    aware,
    file_response,
    province_wide,
    scope,
)
from services.ledger.schemas import (
    ChainVerifyRead,
    CheckpointRecord,
    CheckpointsRead,
    PublicKeyRead,
)
from services.ledger.service import audit, chain, checkpoints, exports

router = APIRouter()


@router.get("/chain/verify", responses=ERRORS, response_model_exclude_unset=True)
async def verify_chain(db: DatabaseDep, p: Principal = AUDITOR_ONLY) -> ChainVerifyRead:
    """Recompute the whole hash chain: `{ok, entries_checked, head_hash}`, and the first bad
    entry when not ok. Needs a province-wide auditor scope."""
    province_wide(p)
    return await chain.verify_chain(db)


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
    lines = [
        json.dumps(r, ensure_ascii=False)
        for r in checkpoints.read_records(request.app.state.settings)
    ]
    content = exports.journal_zip(page.as_of, accounts, page.entries, lines)
    return file_response(content, "zip", "journal")
