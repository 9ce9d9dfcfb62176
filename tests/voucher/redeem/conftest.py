"""Fixtures of the redemption tests: a voucher app on a fresh database and a small world.

Beneficiaries and vouchers are inserted with SQL here (the schema is in models.py) until
enrolment and issuance (branch voucher-data) land; this is the one place to switch over.
The provider directory is fed the same JSON the provider service publishes
(docs/architecture.md, "Provider directory"); tests/voucher/redeem/test_directory.py runs it
against the real provider app when that endpoint exists.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import orjson
import pytest

from services.common.auth import hash_terminal_secret, new_terminal_secret
from services.common.dev_keys import DEV_QR_PRIVATE_KEY
from services.common.ids import new_uuid
from services.common.migrate import drop_database
from services.voucher.config import VoucherSettings
from services.voucher.main import create_app
from services.voucher.service import codes
from tests.conftest import running
from tests.fixtures import database as dbfix

REGION = "450103"


def settings_for(db_url: str, **overrides: Any) -> VoucherSettings:
    values = {
        "database_url": db_url,
        "directory_poll_interval_s": 0,
        "nonce_purge_interval_s": 0,
        "raw_pool_size": 20,
        "expiry_interval_s": 0,
        "anomaly_interval_s": 0,
        "summary_interval_s": 0,
        "summary_settle_s": 0,
        # Nothing listens on port 9: a test reaches no ledger unless it injects one, even
        # while a demo runs on the default ports.
        "ledger_url": "http://127.0.0.1:9",
    }
    values.update(overrides)
    return VoucherSettings(**values)


@dataclass
class Terminal:
    id: str
    provider_id: str
    secret: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret}"}


@dataclass
class World:
    """A voucher app with its database, plus helpers to populate both."""

    app: Any
    client: httpx.AsyncClient
    owner_url: str
    conn: asyncpg.Connection
    providers: dict[str, dict] = field(default_factory=dict)
    version: int = 0
    # Rows that were there before this test (a database shared by a module's tests).
    baseline: tuple[int, int, int] = (0, 0, 0)

    # --- provider directory -------------------------------------------------------------
    def add_provider(
        self,
        *,
        kind: str = "community_embedded",
        status: str = "approved",
        services: list[dict] | None = None,
        region: str = REGION,
    ) -> str:
        pid = str(new_uuid())
        # CARE_BATH is priced per bill (a variable-price item, up to 10,000 yuan), so the
        # tests of the other rules can bill any amount; the fixed-price rules are tested with
        # MEAL_LUNCH and the items of test_priced_bills.py.
        services = services or [
            {
                "code": "CARE_BATH",
                "name": "助浴",
                "category": "bathing",
                "price_fen": 8000,
                "variable_price": True,
                "max_price_fen": 1_000_000,
            },
            {"code": "MEAL_LUNCH", "name": "午餐", "category": "meal", "price_fen": 1500},
        ]
        self.providers[pid] = {
            "id": pid,
            "name": "p",
            "kind": kind,
            "status": status,
            "region_code": region,
            "lat": 22.8,
            "lon": 108.3,
            "services": services,
        }
        self._publish(providers=[self.providers[pid]])
        return pid

    def set_provider_status(self, pid: str, status: str) -> None:
        self.providers[pid]["status"] = status
        self._publish(providers=[self.providers[pid]])

    def add_terminal(self, provider_id: str, status: str = "active") -> Terminal:
        tid = str(new_uuid())
        secret = new_terminal_secret(tid)
        self._publish(
            terminals=[
                {
                    "id": tid,
                    "provider_id": provider_id,
                    "name": "t",
                    "status": status,
                    "secret_sha256": hash_terminal_secret(secret),
                }
            ]
        )
        return Terminal(tid, provider_id, secret)

    def _publish(self, **changes: Any) -> None:
        directory = self.app.state.directory
        self.version = max(self.version, directory.version) + 1
        directory.apply({"version": self.version, **changes})

    # --- people and vouchers ------------------------------------------------------------
    async def add_beneficiary(self, *, status: str = "active", region: str = REGION) -> uuid.UUID:
        bid = new_uuid()
        await self.conn.execute(
            """INSERT INTO beneficiary (id, national_id_enc, national_id_hash, name, birth_on,
                   sex, region_code, address, care_setting, dibao, grade, status, created_by)
               VALUES ($1, $2, $3, '测试', '1950-01-01', 'F', $4, '地址', 'community', false, 3,
                   $5, 'test')""",
            bid,
            os.urandom(40),
            os.urandom(32),
            region,
            status,
        )
        return bid

    async def add_proxy(self, beneficiary_id: uuid.UUID, proxy_sub: str) -> None:
        """A live proxy authorisation (what an officer's POST .../proxies records)."""
        await self.conn.execute(
            """INSERT INTO proxy_authorisation (id, beneficiary_id, proxy_sub, name, relation,
                   created_by) VALUES ($1, $2, $3, '家属', '女儿', 'test')""",
            new_uuid(),
            beneficiary_id,
            proxy_sub,
        )

    async def add_voucher(
        self,
        beneficiary_id: uuid.UUID,
        *,
        face_fen: int = 50_000,
        balance_fen: int | None = None,
        ratio_bp: int | None = 5000,
        per_use_fen: int | None = None,
        per_txn_cap_fen: int | None = None,
        day_cap_fen: int | None = None,
        day_limit_count: int | None = None,
        kinds: tuple[str, ...] = (
            "community_embedded",
            "home_care",
            "rural_station",
            "institution",
        ),
        categories: tuple[str, ...] = ("bathing",),
        program_code: str = "disability_subsidy",
        priority: int = 100,
        status: str = "active",
        valid_from: datetime | None = None,
        valid_until: datetime | None = None,
        period: str = "2026-11",
        spend_region_prefix: str | None = None,
    ) -> uuid.UUID:
        vid = new_uuid()
        now = datetime.now(UTC)
        await self.conn.execute(
            """INSERT INTO voucher (id, beneficiary_id, program_code, program_version, period,
                   face_fen, balance_fen, valid_from, valid_until, status, region_code,
                   budget_region_code, care_setting, ratio_bp, per_use_fen, per_txn_cap_fen,
                   day_cap_fen, day_limit_count, funding_shares, allowed_kinds,
                   allowed_categories, priority, spend_region_prefix)
               VALUES ($1, $2, $3, 1, $4, $5, $6, $7, $8, $9, $10, '450100', 'community', $11,
                   $12, $13, $14, $15, $16::jsonb, $17, $18, $19, $20)""",
            vid,
            beneficiary_id,
            program_code,
            period,
            face_fen,
            face_fen if balance_fen is None else balance_fen,
            valid_from or now - timedelta(days=1),
            valid_until or now + timedelta(days=30),
            status,
            REGION,
            ratio_bp,
            per_use_fen,
            per_txn_cap_fen,
            day_cap_fen,
            day_limit_count,
            orjson.dumps({"central": 9500, "regional": 500}).decode(),
            list(kinds),
            list(categories),
            priority,
            spend_region_prefix,
        )
        return vid

    async def balance(self, voucher_id: uuid.UUID) -> int:
        return await self.conn.fetchval("SELECT balance_fen FROM voucher WHERE id = $1", voucher_id)

    async def raw_counts(self) -> tuple[int, int, int]:
        row = await self.conn.fetchrow(
            "SELECT (SELECT count(*) FROM redemption), (SELECT count(*) FROM outbox), "
            "(SELECT count(*) FROM used_nonce)"
        )
        return tuple(row)

    async def counts(self) -> tuple[int, int, int]:
        """(redemptions, outbox events, used nonces) made during this test: what a refused
        request must not move."""
        raw = await self.raw_counts()
        return tuple(a - b for a, b in zip(raw, self.baseline, strict=True))


def qr(beneficiary_id: uuid.UUID, ttl_s: int = 60, now: datetime | None = None) -> str:
    """A phone code as the app would get it (signed with the development QR key)."""
    return codes.issue_dynamic(DEV_QR_PRIVATE_KEY, beneficiary_id, ttl_s, now).text


def key() -> str:
    return f"idem-{uuid.uuid4().hex}"


@pytest.fixture
async def voucher_db(make_db):
    return await make_db("voucher")


@pytest.fixture(scope="module")
async def shared_app(pg_admin_url, db_templates):
    """One voucher app and database for a whole module (tests then make their own people,
    providers and terminals, and count relative to `World.baseline`)."""
    db = await dbfix.fresh_database(pg_admin_url, db_templates["voucher"], "voucher")
    app = create_app(settings_for(db.app_url))
    conn = await asyncpg.connect(db.owner_url)
    try:
        async with running(app) as client:
            yield app, client, db, conn
    finally:
        await conn.close()
        await drop_database(pg_admin_url, db.name)


@pytest.fixture
async def shared_world(shared_app):
    app, client, db, conn = shared_app
    w = World(app, client, db.owner_url, conn)
    w.baseline = await w.raw_counts()
    return w


@pytest.fixture
async def world(own_world):
    """A World on the test's own database (modules may override it with `shared_world`)."""
    return own_world


@pytest.fixture
async def own_world(voucher_db):
    app = create_app(settings_for(voucher_db.app_url))
    conn = await asyncpg.connect(voucher_db.owner_url)
    try:
        async with running(app) as client:
            yield World(app, client, voucher_db.owner_url, conn)
    finally:
        await conn.close()
