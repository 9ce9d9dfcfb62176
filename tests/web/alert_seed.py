"""An anomaly alert for the page tests: two real redemptions of 王大爷 at the meal point
(through the voucher API, as the terminal makes them), and the alert the `distant_providers`
rule raises on them, written as the detector writes it, with the second place moved ~34 km
east (a crafted event: the system has one approved provider)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg
import orjson

from services.common.db import asyncpg_connect_kwargs
from tests.web.test_payments import _redeem

FAR_NAME = "邕宁区某助浴点"


async def seed_alert(s) -> tuple[str, list[dict]]:
    reds = [await _redeem(s, 6_000), await _redeem(s, 4_000)]
    places = [(22.817, 108.366, "青秀区幸福助餐点"), (22.817, 108.700, FAR_NAME)]
    evidence = [
        {
            "redemption_id": r["id"],
            "at": datetime.now(UTC).isoformat(),
            "day_on": datetime.now(UTC).date().isoformat(),
            "beneficiary_id": s.b1,
            "provider_id": s.p1,
            "provider_name": name,
            "terminal_id": None,
            "subsidy_fen": r["subsidy_fen"],
            "status": "completed",
            "lat": lat,
            "lon": lon,
        }
        for r, (lat, lon, name) in zip(reds, places, strict=True)
    ]
    alert_id = str(uuid.uuid4())
    conn = await asyncpg.connect(**asyncpg_connect_kwargs(s.dbs["voucher"].owner_url))
    try:
        await conn.execute(
            "INSERT INTO alert (id, rule_code, region_code, subject_kind, subject_id, "
            "provider_ids, facts, evidence) VALUES ($1, 'distant_providers', '450103', "
            "'beneficiary', $2, $3, $4::jsonb, $5::jsonb)",
            uuid.UUID(alert_id),
            s.b1,
            [s.p1],
            orjson.dumps(
                {
                    "thresholds": {"distance_km": 20, "window_minutes": 60},
                    "rule_version": 0,
                    "rule_region_code": None,
                    "max_km": 34.2,
                }
            ).decode(),
            orjson.dumps(evidence).decode(),
        )
    finally:
        await conn.close()
    return alert_id, reds
