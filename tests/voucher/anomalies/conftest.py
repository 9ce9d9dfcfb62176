"""Fixtures of the anomaly tests: the redemption tests' World (a voucher app on its own
database, the provider directory fed directly), plus crafted redemptions and their outbox
events written as the redemption statement writes them, at chosen times."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, date, datetime, timedelta

import orjson
import pytest

from services.common.ids import new_uuid
from services.voucher.service.anomalies import DetectorPass, detect_once
from tests.voucher.redeem.conftest import (  # noqa: F401  (fixtures)
    REGION,
    World,
    own_world,
    voucher_db,
    world,
)

SHANGHAI_OFFSET_H = 8


async def craft(
    w: World,
    *,
    voucher_id: uuid.UUID,
    beneficiary_id: uuid.UUID,
    provider_id: str,
    at: datetime,
    terminal_id: str | None = None,
    subsidy_fen: int = 1000,
    status: str = "completed",
    day_on: date | None = None,
    visit_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """A redemption at `at` and its `redemption.created` event (and `redemption.voided`
    when `status` is voided), as if the terminal had made them."""
    rid = new_uuid()
    day = day_on or (at.astimezone(UTC) + timedelta(hours=SHANGHAI_OFFSET_H)).date()
    await w.conn.execute(
        """INSERT INTO redemption (id, voucher_id, beneficiary_id, provider_id, terminal_id,
               service_code, category, gross_fen, subsidy_fen, copay_fen, balance_after_fen,
               idempotency_key, request_hash, day_on, created_at, status, voided_at,
               void_reason, visit_id)
           VALUES ($1, $2, $3, $4, $5, 'CARE_BATH', 'bathing', $6 * 2, $6, $6, 0, $7, $8, $9,
               $10::timestamptz, $11::text, CASE WHEN $11::text = 'voided' THEN $10::timestamptz END,
               CASE WHEN $11::text = 'voided' THEN '测试' END, $12)""",
        rid,
        voucher_id,
        beneficiary_id,
        provider_id,
        terminal_id,
        subsidy_fen,
        f"k-{rid}",
        os.urandom(32),
        day,
        at,
        status,
        visit_id,
    )
    payload = {
        "redemption_id": str(rid),
        "voucher_id": str(voucher_id),
        "beneficiary_id": str(beneficiary_id),
        "provider_id": provider_id,
    }
    await w.conn.execute(
        "INSERT INTO outbox (event_id, type, payload, occurred_at) VALUES ($1, $2, $3::jsonb, $4)",
        new_uuid(),
        "redemption.created",
        orjson.dumps(payload).decode(),
        at,
    )
    if status == "voided":
        await w.conn.execute(
            "INSERT INTO outbox (event_id, type, payload, occurred_at) "
            "VALUES ($1, 'redemption.voided', $2::jsonb, $3)",
            new_uuid(),
            orjson.dumps(payload).decode(),
            at,
        )
    return rid


async def detect(w: World, *, settle_s: float = 0.0) -> DetectorPass:
    async with w.app.state.db.unit_of_work() as session:
        return await detect_once(session, w.app.state.directory, settle_s=settle_s)


async def alerts(w: World, rule: str | None = None) -> list[dict]:
    rows = await w.conn.fetch(
        "SELECT id, rule_code, subject_id, status, evidence::text AS evidence, facts::text AS "
        "facts, region_code, provider_ids FROM alert "
        "WHERE $1::text IS NULL OR rule_code = $1 ORDER BY created_at",
        rule,
    )
    out = []
    for r in rows:
        d = dict(r)
        d["evidence"] = orjson.loads(d["evidence"])
        d["facts"] = orjson.loads(d["facts"])
        out.append(d)
    return out


def ids_of(alert: dict) -> set[str]:
    return {e["redemption_id"] for e in alert["evidence"]}


@pytest.fixture
def place(own_world):  # noqa: F811  (the fixture, not the import)
    """Move a provider of the directory to a place (lat, lon)."""

    def _place(pid: str, lat: float, lon: float) -> None:
        own_world.providers[pid]["lat"] = lat
        own_world.providers[pid]["lon"] = lon
        own_world._publish(providers=[own_world.providers[pid]])

    return _place
