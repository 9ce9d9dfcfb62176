"""Ledger test fixtures: the real app on a fresh migrated database, connected as the
service's own least-privileged role (asking a stand-in of the voucher service which
programmes exist: tests/fixtures/voucher_programs.py), and helpers that build requests and
events."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest

from services.common.db import asyncpg_connect_kwargs
from services.ledger.config import LedgerSettings
from tests.conftest import running
from tests.fixtures.voucher_programs import ledger_app

PROGRAM = "disability_subsidy"
CITY = "450100"  # Nanning
DISTRICT = "450103"
SHARES = {"central": 9500, "regional": 500}


class Ledger:
    """A running ledger app plus the database behind it."""

    def __init__(self, client: httpx.AsyncClient, sdb: Any, tokens: Any) -> None:
        self.c = client
        self.sdb = sdb
        self.tokens = tokens
        self.app: Any = None
        self.service = tokens.headers("service", sub="service:voucher")
        self.finance = tokens.headers("finance", sub="finance:province", region="450000")
        # a second finance officer: reverses what the first made (maker-checker)
        self.checker = tokens.headers("finance", sub="finance:checker", region="450000")
        self.auditor = tokens.headers("auditor", sub="auditor:province", region="450000")

    async def owner(self) -> asyncpg.Connection:
        return await asyncpg.connect(**asyncpg_connect_kwargs(self.sdb.owner_url))

    async def fetchval(self, sql: str, *args: Any) -> Any:
        conn = await self.owner()
        try:
            return await conn.fetchval(sql, *args)
        finally:
            await conn.close()

    async def snapshot(self) -> dict[str, Any]:
        """Everything a refused request must leave unchanged."""
        conn = await self.owner()
        try:
            return {
                "entries": await conn.fetchval("SELECT count(*) FROM entry"),
                "postings": await conn.fetchval("SELECT count(*) FROM posting"),
                "balances": [
                    tuple(r)
                    for r in await conn.fetch("SELECT id, balance_fen FROM account ORDER BY id")
                ],
                "keys": await conn.fetchval("SELECT count(*) FROM idempotency_record"),
                "events": await conn.fetchval("SELECT count(*) FROM ledger_event"),
            }
        finally:
            await conn.close()

    async def appropriate(
        self,
        amount_by_source: dict[str, int],
        region: str = CITY,
        program: str = PROGRAM,
        key: str | None = None,
    ) -> httpx.Response:
        return await self.c.post(
            "/v1/appropriations",
            headers=self.finance,
            json={
                "idempotency_key": key or f"appr:{uuid.uuid4()}",
                "program_code": program,
                "region_code": region,
                "by_source": amount_by_source,
                "memo": "预算下达",
            },
        )

    async def commit(
        self,
        amount: int,
        region: str = DISTRICT,
        key: str | None = None,
        purpose: str = "voucher",
        shares: dict[str, int] | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> httpx.Response:
        return await (client or self.c).post(
            "/v1/commitments",
            headers=self.service,
            json={
                "idempotency_key": key or f"issuance:{uuid.uuid4()}:0",
                "purpose": purpose,
                "program_code": PROGRAM,
                "region_code": region,
                "period": "2026-11",
                "amount_fen": amount,
                "count": 1,
                "funding_shares": shares or SHARES,
            },
        )

    async def events(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        r = await self.c.post("/v1/events", headers=self.service, json={"events": events})
        assert r.status_code == 200, r.text
        return r.json()["results"]

    async def budget(self, region: str = DISTRICT) -> dict[str, Any]:
        r = await self.c.get(
            "/v1/budget",
            headers=self.service,
            params={"program_code": PROGRAM, "region_code": region},
        )
        assert r.status_code == 200, r.text
        return r.json()

    async def verify(self) -> dict[str, Any]:
        r = await self.c.get("/v1/chain/verify", headers=self.auditor)
        assert r.status_code == 200, r.text
        return r.json()


def event(type_: str, budget_region: str = CITY, **payload: Any) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "type": type_,
        "occurred_at": datetime.now(UTC).isoformat(),
        "payload": {
            "program_code": PROGRAM,
            "region_code": DISTRICT,
            "budget_region_code": budget_region,
            "period": "2026-11",
            "funding_shares": SHARES,
            **payload,
        },
    }


def redemption(
    subsidy: int,
    redemption_id: str | None = None,
    provider: str = "prov-1",
    voucher: str = "v-1",
    beneficiary: str = "b-1",
) -> dict[str, Any]:
    return event(
        "redemption.created",
        redemption_id=redemption_id or str(uuid.uuid4()),
        voucher_id=voucher,
        beneficiary_id=beneficiary,
        provider_id=provider,
        service_code="MEAL_LUNCH",
        gross_fen=subsidy + 300,
        subsidy_fen=subsidy,
        copay_fen=300,
    )


def void(redemption_event: dict[str, Any]) -> dict[str, Any]:
    p = redemption_event["payload"]
    return event(
        "redemption.voided",
        p["budget_region_code"],
        redemption_id=p["redemption_id"],
        voucher_id=p["voucher_id"],
        beneficiary_id=p["beneficiary_id"],
        provider_id=p["provider_id"],
        subsidy_fen=p["subsidy_fen"],
        reason="mistake",
    )


@pytest.fixture
async def ledger(make_db, tokens, tmp_path) -> AsyncIterator[Ledger]:
    sdb = await make_db("ledger")
    app = ledger_app(
        LedgerSettings(
            database_url=sdb.app_url,
            pool_size=8,
            checkpoint_file=tmp_path / "checkpoints.jsonl",
            checkpoint_interval_s=0,
        )
    )
    async with running(app) as client:
        lg = Ledger(client, sdb, tokens)
        lg.app = app
        yield lg
