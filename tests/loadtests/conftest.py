"""Helpers for the load-test smoke tests: a seeded voucher database and real redemptions."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from loadtests import seed
from services.common.db import asyncpg_connect_kwargs
from services.voucher.repository import redemption as redemption_repo


async def connect(url: str) -> asyncpg.Connection:
    return await asyncpg.connect(**asyncpg_connect_kwargs(url))


async def redeem_meal(
    conn: asyncpg.Connection, beneficiary_id: str, *, gross_fen: int = 1500
) -> redemption_repo.Redeemed | None:
    """One real redemption through the service's own statement (REDEEM)."""
    now = datetime.now(UTC)
    return await redemption_repo.redeem(
        conn,
        beneficiary_id=uuid.UUID(beneficiary_id),
        nonce=secrets.token_bytes(8),
        nonce_expires_at=now + timedelta(seconds=60),
        provider_kind="meal_point",
        lines=redemption_repo.Lines(["MEAL_LUNCH"], ["meal"], [1], [gross_fen]),
        gross_fen=gross_fen,
        price_list_version=1,
        today=now.astimezone(ZoneInfo("Asia/Shanghai")).date(),
        now=now,
        redemption_id=uuid.uuid4(),
        event_id=uuid.uuid4(),
        provider_id="p-test",
        terminal_id="t-test",
        idempotency_key=f"k-{uuid.uuid4()}",
        request_hash=b"\0" * 32,
        card_id=None,
        provider_region="450103",
    )


@pytest.fixture
async def seeded_voucher_db(make_db):
    """A fresh voucher database with 12 beneficiaries (two vouchers each) seeded in bulk."""
    db = await make_db("voucher")
    ids = await seed.seed_beneficiaries(db.owner_url, 12, batch=5)
    return db, ids
