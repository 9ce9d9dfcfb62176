"""Fixtures of the provider tests: the app on a fresh database (as the service's own role),
valid applications, and a helper that takes a provider to `approved`."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from services.common.db import asyncpg_connect_kwargs
from services.common.migrate import drop_database
from services.provider.config import ProviderSettings
from services.provider.main import create_app
from services.provider.service import uscc
from tests.conftest import running
from tests.fixtures import database as dbfix

_serial = itertools.count(1)

# How a price-list item reads when it says nothing of billing: one unit a visit, a fixed
# price, not delivered at home.
ITEM_DEFAULTS: dict[str, Any] = {
    "max_per_visit": 1,
    "variable_price": False,
    "max_price_fen": None,
    "home_visit": False,
    "min_minutes": None,
    "serves_from": None,
    "serves_until": None,
}


def valid_uscc(serial: int, region: str = "450103") -> str:
    body = f"91{region}" + f"MA{serial:06d}X"[:9]
    return body + uscc.check_character(body)


def application(**overrides: Any) -> dict[str, Any]:
    n = next(_serial)
    body: dict[str, Any] = {
        "name": f"青秀区第{n}长者食堂",
        "kind": "meal_point",
        "uscc": valid_uscc(n),
        "region_code": "450103",
        "address": "南宁市青秀区民族大道100号",
        "lat": 22.817,
        "lon": 108.366,
        "contact": {"name": "李红", "phone": "13812345678"},
        "bank_account": {
            "bank_name": "中国工商银行南宁分行",
            "account_name": "青秀区长者食堂",
            "account_number": "6222021234567890123",
        },
        "services": [
            {
                "code": "MEAL_LUNCH",
                "name": "午餐",
                "category": "meal",
                "unit": "次",
                "price_fen": 1500,
            },
            {
                "code": "BATH_HOME",
                "name": "上门助浴",
                "category": "bathing",
                "unit": "次",
                "price_fen": 6000,
            },
        ],
    }
    body.update(overrides)
    return body


class Ctx:
    def __init__(self, client: httpx.AsyncClient, tokens, owner_url: str) -> None:
        self.c = client
        self.tokens = tokens
        self.owner_url = owner_url
        self.officer = tokens.headers("civil_affairs", region="450100", sub="officer:nn")
        self.service = tokens.headers("service", sub="service:voucher")

    def admin(self, provider_id: str) -> dict[str, str]:
        return self.tokens.headers(
            "provider_admin", provider_id=provider_id, sub=f"admin:{provider_id}"
        )

    async def apply(self, *, headers: dict[str, str] | None = None, **overrides: Any) -> str:
        r = await self.c.post(
            "/v1/providers", json=application(**overrides), headers=headers or self.officer
        )
        assert r.status_code == 201, r.text
        return r.json()["id"]

    async def approved(self, **overrides: Any) -> str:
        pid = await self.apply(**overrides)
        r = await self.c.post(
            f"/v1/providers/{pid}/approve", json={"reason": "资质审核通过"}, headers=self.officer
        )
        assert r.status_code == 200, r.text
        return pid

    async def fetchval(self, sql: str, *args: Any) -> Any:
        conn = await asyncpg.connect(**asyncpg_connect_kwargs(self.owner_url))
        try:
            return await conn.fetchval(sql, *args)
        finally:
            await conn.close()

    async def set_prices(self, provider_id: str, services: list[dict[str, Any]]) -> Any:
        """The provider's admin replaces its price list; a list that raises prices waits
        for an officer (202), who approves it here: the answer with the list in force."""
        r = await self.c.put(
            f"/v1/providers/{provider_id}/services",
            json={"services": services},
            headers=self.admin(provider_id),
        )
        if r.status_code == 202:
            r = await self.c.post(
                f"/v1/providers/{provider_id}/price-list-changes/{r.json()['id']}/approve",
                json={"reason": "价格核实"},
                headers=self.officer,
            )
            assert r.status_code == 200, r.text
            r = await self.c.get(f"/v1/providers/{provider_id}", headers=self.officer)
            return httpx.Response(200, json=r.json()["services"])
        return r

    async def counts(self) -> tuple[int, ...]:
        """Rows in every table, and the directory version: to prove nothing changed."""
        conn = await asyncpg.connect(**asyncpg_connect_kwargs(self.owner_url))
        try:
            row = await conn.fetchrow("""
                SELECT (SELECT count(*) FROM provider), (SELECT count(*) FROM service_item),
                       (SELECT count(*) FROM provider_status_change),
                       (SELECT count(*) FROM credit_event), (SELECT count(*) FROM terminal),
                       (SELECT count(*) FROM provider_change),
                       (SELECT count(*) FROM price_list_change),
                       (SELECT string_agg(address || bank_account_number_masked, ','
                                          ORDER BY id) FROM provider),
                       (SELECT version FROM directory_counter),
                       (SELECT string_agg(status || credit_points, ',' ORDER BY id)
                          FROM provider),
                       (SELECT string_agg(code || ':' || price_fen, ','
                                          ORDER BY provider_id, code) FROM service_item)""")
            return tuple(row)
        finally:
            await conn.close()


@pytest.fixture(scope="module")
def provider_settings() -> dict[str, Any]:
    return {}


@pytest.fixture
async def ctx(make_db, tokens, provider_settings) -> AsyncIterator[Ctx]:
    """The app on a database of its own, for tests that need a clean slate."""
    sdb = await make_db("provider")
    app = create_app(ProviderSettings(database_url=sdb.app_url, **provider_settings))
    async with running(app) as client:
        yield Ctx(client, tokens, sdb.owner_url)


@pytest.fixture(scope="module")
async def shared_ctx(pg_admin_url, db_templates, tokens, provider_settings) -> AsyncIterator[Ctx]:
    """One app and database for a whole module whose tests do not depend on what else is in
    the database (each makes its own providers; "nothing changed" compares before/after)."""
    sdb = await dbfix.fresh_database(pg_admin_url, db_templates["provider"], "provider")
    try:
        app = create_app(ProviderSettings(database_url=sdb.app_url, **provider_settings))
        async with running(app) as client:
            yield Ctx(client, tokens, sdb.owner_url)
    finally:
        await drop_database(pg_admin_url, sdb.name)
