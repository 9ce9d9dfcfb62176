"""Fixtures for the voucher data tests: the real voucher app AND the real ledger app, each on
its own fresh migrated database, the voucher app calling the ledger in-process."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import date, datetime
from typing import Any

import asyncpg
import httpx
import pytest

from services.common.db import asyncpg_connect_kwargs
from services.ledger.config import LedgerSettings
from services.ledger.main import create_app as create_ledger
from services.voucher.config import VoucherSettings
from services.voucher.main import create_app as create_voucher
from services.voucher.service.identity import check_digit
from services.voucher.service.periods import current_period
from tests.conftest import running

CITY = "450100"  # Nanning
DISTRICT = "450103"  # Qingxiu, in Nanning
OTHER_DISTRICT = "450105"  # Jiangnan, in Nanning
OTHER_CITY = "450200"  # Liuzhou
OTHER_CITY_DISTRICT = "450202"
_seq = iter(range(1, 10**6))


def make_national_id(
    birth: date = date(1950, 3, 15), region: str = DISTRICT, sex: str = "M"
) -> str:
    n = next(_seq) % 500
    order = n * 2 + (1 if sex == "M" else 0)  # odd = man
    first17 = f"{region}{birth:%Y%m%d}{order:03d}"
    return first17 + check_digit(first17)


def person(**over: Any) -> dict[str, Any]:
    """A valid enrolment body: 75 years old, grade 3 (total 40), home care, not dibao."""
    body: dict[str, Any] = {
        "national_id": make_national_id(
            over.pop("birth", date(1950, 3, 15)), over.pop("id_region", DISTRICT)
        ),
        "name": "张三",
        "phone": f"138{uuid.uuid4().int % 10**8:08d}",
        "region_code": DISTRICT,
        "address": "青秀区民族大道1号",
        "lat": 22.8,
        "lon": 108.4,
        "care_setting": "home",
        "dibao": False,
        "assessment": {
            "scores": {"self_care": 15, "motor": 8, "mental": 10, "perception_social": 7},
            "flags": {},
            "assessed_on": date.today().isoformat(),
            "assessor": "南宁市评估中心",
        },
    }
    body.update(over)
    return body


class Env:
    def __init__(
        self,
        voucher: httpx.AsyncClient,
        ledger: httpx.AsyncClient,
        app: Any,
        vdb: Any,
        ldb: Any,
        tokens: Any,
    ) -> None:
        self.v = voucher
        self.ledger = ledger
        self.app = app
        self.vdb = vdb
        self.ldb = ldb
        self.tokens = tokens
        self.officer = tokens.headers("civil_affairs", sub="officer:nanning", region=CITY)
        self.province = tokens.headers("civil_affairs", sub="officer:gx", region="450000")
        self.other_officer = tokens.headers(
            "civil_affairs", sub="officer:liuzhou", region=OTHER_CITY
        )
        self.finance = tokens.headers("finance", sub="finance:gx", region="450000")
        self.service = tokens.headers("service", sub="service:voucher")
        self.period = current_period()

    async def appropriate(
        self, amount_fen: int, program: str = "disability_subsidy", region: str = CITY
    ) -> None:
        shares = {"central": amount_fen * 95 // 100}
        shares["regional"] = amount_fen - shares["central"]
        r = await self.ledger.post(
            "/v1/appropriations",
            headers=self.finance,
            json={
                "idempotency_key": f"appr:{uuid.uuid4()}",
                "program_code": program,
                "region_code": region,
                "by_source": shares,
                "memo": "预算下达",
            },
        )
        assert r.status_code == 201, r.text

    async def available(self, program: str = "disability_subsidy", region: str = DISTRICT) -> int:
        r = await self.ledger.get(
            "/v1/budget",
            headers=self.service,
            params={"program_code": program, "region_code": region},
        )
        assert r.status_code == 200, r.text
        return r.json()["available_fen"]

    async def enrol(self, **over: Any) -> dict[str, Any]:
        r = await self.v.post("/v1/beneficiaries", headers=self.officer, json=person(**over))
        assert r.status_code == 201, r.text
        return r.json()

    async def db(self) -> asyncpg.Connection:
        return await asyncpg.connect(**asyncpg_connect_kwargs(self.vdb.owner_url))

    async def fetchval(self, sql: str, *args: Any) -> Any:
        conn = await self.db()
        try:
            return await conn.fetchval(sql, *args)
        finally:
            await conn.close()

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        conn = await self.db()
        try:
            return await conn.fetch(sql, *args)
        finally:
            await conn.close()

    async def ledger_fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(**asyncpg_connect_kwargs(self.ldb.owner_url))
        try:
            return await conn.fetch(sql, *args)
        finally:
            await conn.close()

    async def ledger_fetchval(self, sql: str, *args: Any) -> Any:
        conn = await asyncpg.connect(**asyncpg_connect_kwargs(self.ldb.owner_url))
        try:
            return await conn.fetchval(sql, *args)
        finally:
            await conn.close()

    async def snapshot(self) -> dict[str, Any]:
        """Everything a refused request must leave unchanged (voucher side and ledger)."""
        tables = [
            "beneficiary",
            "assessment",
            "proxy_authorisation",
            "voucher",
            "outbox",
            "program_version",
            "issuance_run",
            "issuance_chunk",
            "cash_benefit",
        ]
        out: dict[str, Any] = {}
        for t in tables:
            out[t] = await self.fetchval(f"SELECT count(*) FROM {t}")
        out["statuses"] = [
            tuple(r) for r in await self.fetch("SELECT id, status FROM beneficiary ORDER BY id")
        ]
        out["vouchers"] = [
            tuple(r)
            for r in await self.fetch("SELECT id, status, balance_fen FROM voucher ORDER BY id")
        ]
        out["programs"] = [
            tuple(r) for r in await self.fetch("SELECT code, version FROM program ORDER BY code")
        ]
        out["ledger_entries"] = await self.ledger_fetchval("SELECT count(*) FROM entry")
        return out


@pytest.fixture
async def env(make_db, tokens) -> AsyncIterator[Env]:
    ldb = await make_db("ledger")
    vdb = await make_db("voucher")
    ledger_app = create_ledger(LedgerSettings(database_url=ldb.app_url))
    async with running(ledger_app) as ledger:
        app = create_voucher(
            VoucherSettings(database_url=vdb.app_url, expiry_interval_s=0, issuance_chunk_size=3)
        )
        app.state.ledger_client = ledger
        async with running(app) as voucher:
            ledger_app.state.voucher_client = voucher  # the ledger asks it about programmes
            yield Env(voucher, ledger, app, vdb, ldb, tokens)


def today() -> date:
    return datetime.now().date()
