"""Settlement fixtures: the real ledger app and the real voucher app (each on its own fresh
database), wired to each other in-process; redemptions made through the voucher API and
delivered to the ledger by the real relay."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest

from services.common.auth import Role
from services.ledger.config import LedgerSettings
from services.ledger.main import create_app as create_ledger
from services.provider.config import ProviderSettings
from services.provider.main import create_app as create_provider
from services.voucher.relay import Relay
from tests.conftest import running
from tests.provider.conftest import application
from tests.voucher.redeem.conftest import (
    Terminal,
    World,
    key,
    own_world,  # noqa: F401 - fixture
    qr,
    voucher_db,  # noqa: F401
    world,  # noqa: F401 - fixture re-export
)

CITY = "450100"


def PERIOD_NOW():
    return datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")


class Settle:
    """Ledger + voucher apps and the people who use them."""

    def __init__(self, ledger: httpx.AsyncClient, ldb: Any, world: World, tokens: Any) -> None:  # noqa: F811
        self.lc = ledger
        self.ldb = ldb
        self.w = world
        self.tokens = tokens
        self.period = PERIOD_NOW()
        self.relay = Relay(world.app.state.db.raw_pool, ledger)

    def admin(self, provider_id: str, sub: str | None = None) -> dict[str, str]:
        return self.tokens.headers(
            Role.provider_admin, provider_id=provider_id, sub=sub or f"padmin:{provider_id}"
        )

    def finance(self, sub: str = "finance:a", region: str = CITY) -> dict[str, str]:
        return self.tokens.headers(Role.finance, sub=sub, region=region)

    provider_client: httpx.AsyncClient | None = None

    async def provider(self) -> tuple[str, Terminal]:
        """A provider known to the voucher directory (and, when the provider app runs, a
        real registered provider with a bank account, under the same id)."""
        if self.provider_client is None:
            pid = self.w.add_provider()
            return pid, self.w.add_terminal(pid)
        r = await self.provider_client.post(
            "/v1/providers",
            headers=self.tokens.headers(Role.civil_affairs, region=CITY),
            json=application(kind="community_embedded"),
        )
        assert r.status_code == 201, r.text
        pid = r.json()["id"]
        self.w.providers[pid] = {
            "id": pid,
            "name": "p",
            "kind": "community_embedded",
            "status": "approved",
            "region_code": "450103",
            "lat": 22.8,
            "lon": 108.3,
            # priced per bill (variable price), so a test can bill any amount
            "services": [
                {
                    "code": "CARE_BATH",
                    "name": "助浴",
                    "category": "bathing",
                    "price_fen": 8000,
                    "variable_price": True,
                    "max_price_fen": 1_000_000,
                }
            ],
        }
        self.w._publish(providers=[self.w.providers[pid]])
        return pid, self.w.add_terminal(pid)

    async def redeem(self, term: Terminal, gross: int = 10_000) -> str:
        ben = await self.w.add_beneficiary()
        await self.w.add_voucher(ben, face_fen=50_000, ratio_bp=5000, period=self.period)
        r = await self.w.client.post(
            "/v1/redemptions",
            headers=term.headers,
            json={
                "token": qr(ben),
                "service_code": "CARE_BATH",
                "gross_fen": gross,
                "idempotency_key": key(),
            },
        )
        assert r.status_code == 201, r.text
        return r.json()["id"]

    async def void(self, term: Terminal, rid: str) -> httpx.Response:
        return await self.w.client.post(
            f"/v1/redemptions/{rid}/void", headers=term.headers, json={"reason": "mistake"}
        )

    async def deliver(self) -> None:
        while await self.relay.deliver_once():
            pass
        assert self.relay.rejected == 0

    async def owner(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.ldb.owner_url)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        conn = await self.owner()
        try:
            return await conn.fetchval(sql, *args)
        finally:
            await conn.close()

    async def counts(self) -> tuple[int, ...]:
        conn = await self.owner()
        try:
            row = await conn.fetchrow(
                "SELECT (SELECT count(*) FROM claim), (SELECT count(*) FROM claim_line), "
                "(SELECT count(*) FROM claim_action), (SELECT count(*) FROM entry), "
                "(SELECT count(*) FROM claim WHERE status = 'approved')"
            )
            return tuple(row)
        finally:
            await conn.close()

    async def claim(
        self, pid: str, headers: dict[str, str] | None = None, **extra: Any
    ) -> httpx.Response:
        return await self.lc.post(
            "/v1/claims",
            headers=headers or self.admin(pid),
            json={"provider_id": pid, "period": self.period, **extra},
        )


@pytest.fixture
async def settle(make_db, tokens, world) -> AsyncIterator[Settle]:  # noqa: F811
    ldb = await make_db("ledger")
    app = create_ledger(LedgerSettings(database_url=ldb.app_url, pool_size=8))
    app.state.voucher_client = world.client
    async with running(app) as ledger:
        r = await ledger.post(
            "/v1/appropriations",
            headers=tokens.headers(Role.finance, region="450000"),
            json={
                "idempotency_key": f"appr:{uuid.uuid4()}",
                "program_code": "disability_subsidy",
                "region_code": CITY,
                "by_source": {"central": 95_000_000, "regional": 5_000_000},
                "memo": "预算下达",
            },
        )
        assert r.status_code == 201, r.text
        r = await ledger.post(
            "/v1/commitments",
            headers=tokens.headers(Role.service),
            json={
                "idempotency_key": f"issuance:{uuid.uuid4()}:0",
                "purpose": "voucher",
                "program_code": "disability_subsidy",
                "region_code": "450103",
                "period": PERIOD_NOW(),
                "amount_fen": 50_000_000,
                "count": 1000,
                "funding_shares": {"central": 9500, "regional": 500},
            },
        )
        assert r.status_code == 201, r.text
        yield Settle(ledger, ldb, world, tokens)


@pytest.fixture
async def paying(settle, make_db) -> AsyncIterator[Settle]:
    """`settle` plus the real provider app (bank accounts for payment files)."""
    pdb = await make_db("provider")
    papp = create_provider(ProviderSettings(database_url=pdb.app_url))
    async with running(papp) as prov:
        settle.provider_client = prov
        ledger_app = settle.lc._transport.app  # type: ignore[attr-defined]
        ledger_app.state.provider_client = prov
        yield settle
