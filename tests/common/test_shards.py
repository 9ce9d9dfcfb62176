"""Provinces as shards (docs/shards.md), end to end on two embedded PostgreSQL servers.

Guangxi (45) lives on the test server, a part of Guangdong (44) on a second embedded server
of its own. Each of the three services runs sharded (`create_service` with `shards`): one
app per province behind the province router. In each province an officer enrols a person
(the month's vouchers are issued against that province's ledger budget), runs the next
month's issuance, registers a provider with a terminal; the person's code is redeemed there,
the relay of that province delivers to that province's ledger, the provider claims, finance
approves and pays (the bank's batch and its confirmation), the chain verifies and
reconciliation agrees. Every row stays in its province's databases; a redemption
of one province's person at the other's terminal is OUT_OF_PROVINCE and changes nothing;
the national dashboard is the two provinces' dashboards added.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest
from starlette.requests import Request

from services.common import embedded_pg
from services.common.db import asyncpg_connect_kwargs
from services.common.ids import new_uuid
from services.common.migrate import drop_database, prepare_service_database
from services.common.shards import (
    HEADER,
    ProvinceRouter,
    in_province,
    parse_shards,
    province_hooks,
    province_of_id,
    province_of_request,
)
from services.ledger.config import LedgerSettings
from services.ledger.main import create_service as ledger_service
from services.provider.config import ProviderSettings
from services.provider.main import create_service as provider_service
from services.voucher.main import create_service as voucher_service
from services.voucher.relay import Relay
from services.voucher.service.recovery import start_recovery
from tests.conftest import running
from tests.fixtures import database as dbfix
from tests.provider.conftest import application
from tests.settlement.test_batches import _confirmation
from tests.voucher.data.conftest import make_national_id, person
from tests.voucher.redeem.conftest import key, settings_for

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("voucher", "provider", "ledger")
# Each province: its city, district, a place in it, and names.
PLACES = {
    "45": {"city": "450100", "district": "450103", "lat": 22.817, "lon": 108.366},
    "44": {"city": "440100", "district": "440106", "lat": 23.125, "lon": 113.361},
}


def _period(months_ahead: int = 0) -> str:
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    month = today.month - 1 + months_ahead
    return f"{today.year + month // 12}-{month % 12 + 1:02d}"


@pytest.fixture
async def guangdong_server() -> AsyncIterator[str]:
    """A second embedded PostgreSQL (its own data folder, its own socket)."""
    data = ROOT / ".data" / "test-pg-shard"
    url = embedded_pg.start(data, stop_at_exit=True)
    await dbfix._throwaway_durability(url)
    yield url


@pytest.fixture
async def shard_urls(make_db, guangdong_server) -> AsyncIterator[dict[str, dict[str, Any]]]:
    """service -> province -> (owner_url, app_url): 45 on the test server, 44 on the other."""
    urls: dict[str, dict[str, Any]] = {s: {} for s in SERVICES}
    made: list[str] = []
    for service in SERVICES:
        db = await make_db(service)
        urls[service]["45"] = (db.owner_url, db.app_url)
        name = f"yt_shard44_{service}_{dbfix.RUN}_{uuid.uuid4().hex[:6]}"
        urls[service]["44"] = await prepare_service_database(guangdong_server, service, name)
        made.append(name)
    yield urls
    for name in made:
        await drop_database(guangdong_server, name)


def _map(urls: dict[str, Any]) -> str:
    return ";".join(f"{p}={app_url}" for p, (_owner, app_url) in urls.items())


async def _fetchval(url: str, sql: str, *args: Any) -> Any:
    conn = await asyncpg.connect(**asyncpg_connect_kwargs(url))
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


def test_the_shard_map_is_parsed_and_mistakes_are_refused():
    assert parse_shards("") == {}
    assert parse_shards(" 45=postgresql://a/x?b=1 ; 44=postgresql://c/y ") == {
        "45": "postgresql://a/x?b=1",
        "44": "postgresql://c/y",
    }
    for bad in ("45", "4=postgresql://a", "45=", "00=postgresql://a", "45=a;45=b"):
        with pytest.raises(ValueError):
            parse_shards(bad)


def test_ids_made_in_a_province_carry_it_and_others_do_not_change():
    with in_province("44"):
        made = {str(new_uuid()) for _ in range(50)}
    assert {province_of_id(i) for i in made} == {"44"}
    assert all(uuid.UUID(i).version == 7 for i in made)
    plain = [str(new_uuid()) for _ in range(200)]
    assert len({i[-2:] for i in plain}) > 20  # the last byte stays random without shards


# uuid4 is for what no request names: a service token's subject, a scheduler's own name.
_RANDOM_IDS_ALLOWED = {"services/common/auth.py", "services/voucher/service/scheduler.py"}


def test_every_id_a_request_can_name_is_made_with_its_province():
    """A plain uuid4 carries no province, so a request naming it could not be routed: every
    id the services store is made by `new_uuid` (outbox event ids, made by the database,
    are named by no request: the relay's calls carry the province in the header)."""
    found = sorted(
        str(f.relative_to(ROOT))
        for f in (ROOT / "services").rglob("*.py")
        if "uuid4(" in f.read_text(encoding="utf-8")
    )
    assert set(found) <= _RANDOM_IDS_ALLOWED, found


def _scope(path: str = "/v1/x", query: bytes = b"", **headers: str) -> dict[str, Any]:
    return {
        "type": "http",
        "path": path,
        "query_string": query,
        "headers": [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()],
    }


def test_a_request_is_routed_by_header_region_credential_then_path_id(tokens):
    served = {"45": None, "44": None}
    with in_province("44"):
        gd_provider, gd_terminal, gd_person = (str(new_uuid()) for _ in range(3))
    officer = tokens.token("civil_affairs", region="450100")
    route = province_of_request
    # the header of a service call wins, then a region_code, then the caller's region
    assert route(_scope(x_yiyang_province="44", authorization=f"Bearer {officer}"), served) == "44"
    assert route(_scope(query=b"period=2026-01&region_code=440106"), served) == "44"
    assert route(_scope(authorization=f"Bearer {officer}"), served) == "45"
    # ids made in a province: a provider's people, a person, a terminal's secret, a path
    staff = tokens.token("provider_admin", provider_id=gd_provider)
    assert route(_scope(authorization=f"Bearer {staff}"), served) == "44"
    me = tokens.token("beneficiary", sub=gd_person)
    assert route(_scope(authorization=f"Bearer {me}"), served) == "44"
    secret = f"yyt_{gd_terminal}.abcdef"
    assert route(_scope(authorization=f"Bearer {secret}"), served) == "44"
    assert route(_scope(f"/v1/providers/{gd_provider}/terminals"), served) == "44"
    # nothing to go by: no province (the router answers PROVINCE_UNKNOWN)
    assert route(_scope(authorization=f"Bearer {tokens.token('service')}"), served) is None
    assert route(_scope(authorization="Bearer not-a-token"), served) is None
    with in_province("31"):
        elsewhere = str(new_uuid())
    assert route(_scope(f"/v1/providers/{elsewhere}"), served) is None


async def test_the_router_serves_each_province_in_its_own_context_and_refuses_the_rest(tokens):
    from fastapi import FastAPI

    from services.common.shards import current_province, province_code

    def app() -> FastAPI:
        a = FastAPI()

        @a.get("/v1/where")
        async def where() -> dict[str, Any]:
            return {"province": current_province(), "code": province_code(), "id": str(new_uuid())}

        @a.get("/readyz")
        async def ready() -> dict[str, str]:
            return {"status": "ok"}

        return a

    router = ProvinceRouter("test", {"45": app(), "44": app()})
    async with running(router) as c:
        for code, region in (("45", "450103"), ("44", "440106")):
            r = await c.get("/v1/where", params={"region_code": region})
            assert r.json()["province"] == code and r.json()["code"] == f"{code}0000"
            assert province_of_id(r.json()["id"]) == code
        r = await c.get("/v1/where", headers={"Authorization": f"Bearer {tokens.token('service')}"})
        assert r.status_code == 422 and r.json()["error"]["code"] == "PROVINCE_UNKNOWN"
        r = await c.get("/v1/where", params={"region_code": "310101"})
        assert r.status_code == 422 and r.json()["error"]["code"] == "PROVINCE_UNKNOWN"
        r = await c.get("/readyz")
        assert r.status_code == 200 and set(r.json()["shards"]) == {"45", "44"}
    assert current_province() is None


async def test_the_processes_beside_a_service_run_once_per_province_in_its_province():
    from services.common.shards import current_province, each_database

    async def single() -> str:
        return "postgresql://one/db"

    async def run(province: str | None, url: str) -> tuple[str | None, str | None, str]:
        return province, current_province(), url

    assert await each_database("", single, run) == [(None, None, "postgresql://one/db")]
    got = await each_database("45=postgresql://gx/v;44=postgresql://gd/v", single, run)
    assert got == [("45", "45", "postgresql://gx/v"), ("44", "44", "postgresql://gd/v")]
    assert current_province() is None


async def test_the_stripe_webhook_reaches_the_province_of_the_payment_it_names():
    import json

    from fastapi import FastAPI

    from services.common.shards import current_province
    from services.voucher.service.webhook_routing import stripe_webhook

    def app() -> FastAPI:
        a = FastAPI()

        @a.post("/v1/stripe/webhook")
        async def hook(request: Request) -> dict[str, Any]:
            return {
                "province": current_province(),
                "body": (await request.body()).decode(),
                "signature": request.headers.get("stripe-signature"),
            }

        return a

    router = ProvinceRouter("voucher", {"45": app(), "44": app()})
    router.routes["/v1/stripe/webhook"] = stripe_webhook
    with in_province("44"):
        redemption_id = str(new_uuid())
    event = {
        "type": "payment_intent.succeeded",
        "data": {"object": {"id": "pi_1", "metadata": {"redemption_id": redemption_id}}},
    }
    body = json.dumps(event)
    async with running(router) as c:
        r = await c.post("/v1/stripe/webhook", content=body, headers={"Stripe-Signature": "t=1"})
        assert r.status_code == 200, r.text
        assert r.json() == {"province": "44", "body": body, "signature": "t=1"}
        event["data"]["object"]["metadata"] = {}
        r = await c.post("/v1/stripe/webhook", content=json.dumps(event))
        assert r.status_code == 422 and r.json()["error"]["code"] == "PROVINCE_UNKNOWN"
        r = await c.post("/v1/stripe/webhook", content=b"not json")
        assert r.status_code == 422 and r.json()["error"]["code"] == "PROVINCE_UNKNOWN"


async def test_migrate_brings_every_province_database_of_a_service_to_head(
    pg_admin_url, monkeypatch
):
    from services import launcher
    from services.common.migrate import ensure_database
    from services.provider.config import get_settings

    names = [f"yt_shardmig_{p}_{dbfix.RUN}_{uuid.uuid4().hex[:6]}" for p in ("45", "44", "one")]
    gx, gd, one = [await ensure_database(pg_admin_url, n) for n in names]
    monkeypatch.setenv("YIYANG_PROVIDER_SHARDS", f"45={gx};44={gd}")
    monkeypatch.setenv("YIYANG_PROVIDER_DATABASE_URL", one)
    get_settings.cache_clear()
    try:
        urls = await launcher.prepare_databases("provider")
        assert urls == {"provider:45": gx, "provider:44": gd, "provider": one}
        for url in (gx, gd, one):
            assert await _fetchval(url, "SELECT count(*) FROM alembic_version") >= 1
            assert await _fetchval(url, "SELECT to_regclass('provider') IS NOT NULL")
    finally:
        get_settings.cache_clear()
        for name in names:
            await drop_database(pg_admin_url, name)


class Province:
    """The three sharded services as one province's people use them."""

    def __init__(self, code: str, voucher, provider, ledger, tokens) -> None:
        self.code = code
        self.place = PLACES[code]
        self.v, self.p, self.l = voucher, provider, ledger
        self.tokens = tokens
        self.officer = tokens.headers("civil_affairs", region=self.place["city"])
        self.finance = tokens.headers("finance", region=f"{code}0000", sub=f"finance:{code}")

    async def fund(self) -> None:
        r = await self.l.post(
            "/v1/appropriations",
            headers=self.finance,
            json={
                "idempotency_key": f"appr:{uuid.uuid4()}",
                "program_code": "disability_subsidy",
                "region_code": self.place["city"],
                "by_source": {"central": 9_500_000, "regional": 500_000},
                "memo": "预算下达",
            },
        )
        assert r.status_code == 201, r.text

    async def enrol(self) -> str:
        district = self.place["district"]
        r = await self.v.post(
            "/v1/beneficiaries",
            headers=self.officer,
            json=person(
                national_id=make_national_id(date(1948, 5, 1), district),
                region_code=district,
                lat=self.place["lat"],
                lon=self.place["lon"],
            ),
        )
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    async def provider(self) -> tuple[str, dict[str, str]]:
        body = application(
            kind="home_care",
            region_code=self.place["district"],
            lat=self.place["lat"],
            lon=self.place["lon"],
        )
        r = await self.p.post("/v1/providers", headers=self.officer, json=body)
        assert r.status_code == 201, r.text
        pid = r.json()["id"]
        r = await self.p.post(
            f"/v1/providers/{pid}/approve", headers=self.officer, json={"reason": "ok"}
        )
        assert r.status_code == 200, r.text
        r = await self.p.post(
            f"/v1/providers/{pid}/terminals",
            json={"name": "t"},
            headers=self.tokens.headers("provider_admin", provider_id=pid),
        )
        assert r.status_code == 201, r.text
        return pid, {"Authorization": f"Bearer {r.json()['secret']}"}

    async def qr(self, ben: str) -> str:
        me = self.tokens.headers("beneficiary", sub=ben)
        r = await self.v.post(f"/v1/beneficiaries/{ben}/codes", headers=me)
        assert r.status_code in (200, 201), r.text
        return str(r.json()["token"])

    async def redeem(self, terminal: dict[str, str], token: str) -> httpx.Response:
        return await self.v.post(
            "/v1/redemptions",
            headers=terminal,
            json={
                "token": token,
                "service_code": "BATH_HOME",
                "gross_fen": 6000,
                "idempotency_key": key(),
            },
        )


async def _counts(owner_url: str) -> tuple[int, ...]:
    conn = await asyncpg.connect(**asyncpg_connect_kwargs(owner_url))
    try:
        row = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM redemption), (SELECT count(*) FROM outbox), "
            "(SELECT coalesce(sum(balance_fen), 0) FROM voucher), "
            "(SELECT count(*) FROM used_nonce)"
        )
        return tuple(row)
    finally:
        await conn.close()


async def test_two_provinces_end_to_end_each_in_its_own_databases(shard_urls, tokens):
    vsettings = settings_for(
        "", database_url=None, shards=_map(shard_urls["voucher"]), directory_poll_interval_s=0.2
    )
    prouter = provider_service(ProviderSettings(shards=_map(shard_urls["provider"])))
    lrouter = ledger_service(LedgerSettings(shards=_map(shard_urls["ledger"])))
    vrouter = voucher_service(vsettings, directory_transport=httpx.ASGITransport(app=prouter))
    assert isinstance(prouter, ProvinceRouter) and isinstance(lrouter, ProvinceRouter)
    assert isinstance(vrouter, ProvinceRouter)

    def client(app: Any) -> httpx.AsyncClient:  # service-to-service: the province header
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://svc",
            event_hooks=province_hooks(),
        )

    to_ledger, to_voucher, to_provider = client(lrouter), client(vrouter), client(prouter)
    for p in ("45", "44"):
        vrouter.apps[p].state.ledger_client = to_ledger
        lrouter.apps[p].state.voucher_client = to_voucher
        lrouter.apps[p].state.provider_client = to_provider
    async with (
        running(prouter) as prov,
        running(lrouter) as ledger,
        running(vrouter) as voucher,
    ):
        assert (await voucher.get("/readyz")).status_code == 200
        gx = Province("45", voucher, prov, ledger, tokens)
        gd = Province("44", voucher, prov, ledger, tokens)
        people: dict[str, str] = {}
        terminals: dict[str, dict[str, str]] = {}
        providers: dict[str, str] = {}
        runs: dict[str, str] = {}
        for prv in (gx, gd):
            await prv.fund()
            people[prv.code] = await prv.enrol()  # the month's vouchers come with enrolment
            assert province_of_id(people[prv.code]) == prv.code
            r = await voucher.post(
                "/v1/issuance-runs",
                headers=prv.officer,
                json={
                    "program_code": "disability_subsidy",
                    "period": _period(1),
                    "region_code": prv.place["city"],
                },
            )
            assert r.status_code == 200, r.text
            assert r.json()["issued"] == 1, r.json()
            runs[prv.code] = r.json()["run_id"]
            assert province_of_id(runs[prv.code]) == prv.code
            providers[prv.code], terminals[prv.code] = await prv.provider()
            assert province_of_id(providers[prv.code]) == prv.code

        # a request naming only an issuance run (a service's token names no province)
        # reaches the run's province; an id of a province not served is refused
        service = tokens.headers("service")
        for p in ("45", "44"):
            r = await voucher.get(f"/v1/issuance-runs/{runs[p]}", headers=service)
            assert r.status_code == 200, r.text
            assert r.json()["region_code"] == PLACES[p]["city"] and r.json()["issued"] == 1
        with in_province("31"):
            elsewhere = new_uuid()
        r = await voucher.get(f"/v1/issuance-runs/{elsewhere}", headers=service)
        assert r.status_code == 422 and r.json()["error"]["code"] == "PROVINCE_UNKNOWN", r.text

        # a licence document uploaded in Guangdong is made there and read from there
        pid = providers["44"]
        r = await prov.post(
            f"/v1/providers/{pid}/documents",
            headers=gd.officer,
            data={"kind": "business_licence"},
            files={"file": ("licence.pdf", b"%PDF-1.4 guangdong", "application/pdf")},
        )
        assert r.status_code == 201, r.text
        document = r.json()["id"]
        assert province_of_id(document) == "44"
        r = await prov.get(
            f"/v1/providers/{pid}/documents/{document}",
            headers=tokens.headers("provider_admin", provider_id=pid),
        )
        assert r.status_code == 200 and r.content == b"%PDF-1.4 guangdong"

        # each person redeems at their own province's provider (once its directory has it)
        redemptions: dict[str, str] = {}
        for prv in (gx, gd):
            deadline = time.monotonic() + 20
            while True:
                r = await prv.redeem(terminals[prv.code], await prv.qr(people[prv.code]))
                if r.status_code != 401 or time.monotonic() > deadline:
                    break
            assert r.status_code == 201, r.text
            assert (r.json()["subsidy_fen"], r.json()["copay_fen"]) == (3000, 3000)
            redemptions[prv.code] = r.json()["id"]

        # a Guangxi person's code at a Guangdong terminal: refused, nothing changes anywhere
        before = {p: await _counts(shard_urls["voucher"][p][0]) for p in ("45", "44")}
        r = await gd.redeem(terminals["44"], await gx.qr(people["45"]))
        assert r.status_code == 422 and r.json()["error"]["code"] == "OUT_OF_PROVINCE", r.text
        r = await gx.redeem(terminals["45"], await gd.qr(people["44"]))
        assert r.status_code == 422 and r.json()["error"]["code"] == "OUT_OF_PROVINCE", r.text
        r = await voucher.post(
            "/v1/redemptions/preview",
            headers=terminals["45"],
            json={"token": await gd.qr(people["44"]), "service_code": "BATH_HOME"},
        )
        assert r.status_code == 422 and r.json()["error"]["code"] == "OUT_OF_PROVINCE", r.text
        assert {p: await _counts(shard_urls["voucher"][p][0]) for p in ("45", "44")} == before

        # each province's relay delivers to its own province's ledger
        for p in ("45", "44"):
            http = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=lrouter),
                base_url="http://svc",
                headers={HEADER: p},
            )
            relay = Relay(vrouter.apps[p].state.db.raw_pool, http)
            while await relay.deliver_once():
                pass
            assert relay.rejected == 0 and relay.delivered >= 1
            await http.aclose()

        # settle: the provider claims the month, finance approves; reconciliation agrees
        period = _period()
        for prv in (gx, gd):
            p = prv.code
            pid = providers[prv.code]
            r = await ledger.post(
                "/v1/claims",
                headers=tokens.headers("provider_admin", provider_id=pid),
                json={"provider_id": pid, "period": period},
            )
            assert r.status_code == 201, r.text
            claim = r.json()
            assert [ln["redemption_id"] for ln in claim["redemptions"]] == [redemptions[prv.code]]
            r = await ledger.post(
                f"/v1/claims/{claim['id']}/approve",
                headers=tokens.headers("finance", region=prv.place["city"], sub="finance:b"),
                json={},
            )
            assert r.status_code == 200, r.text
            # paid: finance makes the bank's batch, another officer imports its confirmation
            maker = tokens.headers("finance", region=prv.place["city"], sub="finance:c")
            r = await ledger.post(
                "/v1/payment-batches",
                headers=maker,
                json={"region_code": prv.place["city"], "idempotency_key": f"batch-{p}"},
            )
            assert r.status_code == 201, r.text
            batch = r.json()
            assert batch["count"] == 1 and batch["total_fen"] == 3000, batch
            r = await ledger.post(
                f"/v1/payment-batches/{batch['id']}/confirmations",
                content=_confirmation(batch, {}),
                headers={
                    **tokens.headers("finance", region=prv.place["city"], sub="finance:d"),
                    "content-type": "text/csv",
                },
            )
            assert r.status_code == 200 and r.json()["paid_fen"] == 3000, r.text
            r = await ledger.get(f"/v1/claims/{claim['id']}", headers=maker)
            assert r.json()["status"] == "paid"
            r = await ledger.get(
                "/v1/chain/verify", headers=tokens.headers("auditor", region=f"{p}0000")
            )
            assert r.status_code == 200 and r.json()["ok"] is True, r.text
            r = await ledger.get(
                "/v1/reconciliation",
                params={"period": period, "region_code": prv.place["city"]},
                headers=tokens.headers("auditor", region=f"{prv.code}0000"),
            )
            assert r.status_code == 200, r.text
            assert r.json()["ok"] is True, r.json()
            assert r.json()["redemptions_checked"] == 1

        # every row lives in its own province's databases
        for p, other in (("45", "44"), ("44", "45")):
            vown = shard_urls["voucher"][p][0]
            assert await _fetchval(vown, "SELECT count(*) FROM beneficiary") == 1
            assert (
                await _fetchval(
                    vown, "SELECT count(*) FROM beneficiary WHERE region_code LIKE $1", f"{p}%"
                )
                == 1
            )
            assert await _fetchval(vown, "SELECT count(*) FROM redemption") == 1
            assert await _fetchval(vown, "SELECT count(*) FROM voucher") >= 2
            pown = shard_urls["provider"][p][0]
            assert (
                await _fetchval(
                    pown, "SELECT count(*) FROM provider WHERE region_code NOT LIKE $1", f"{p}%"
                )
                == 0
            )
            assert await _fetchval(pown, "SELECT count(*) FROM provider") == 1
            lown = shard_urls["ledger"][p][0]
            assert (
                await _fetchval(lown, "SELECT count(*) FROM entry WHERE kind = 'redemption'") == 1
            )
            assert (
                await _fetchval(
                    lown,
                    "SELECT count(*) FROM account WHERE region_code LIKE $1",
                    f"{other}%",
                )
                == 0
            )
            assert await _fetchval(lown, "SELECT count(*) FROM claim") == 1
            # and every id made there says so
            for url, table in (
                (vown, "beneficiary"),
                (vown, "voucher"),
                (vown, "redemption"),
                (vown, "issuance_run"),
                (pown, "provider"),
                (pown, "terminal"),
                (lown, "claim"),
            ):
                sql = f"SELECT count(*) FROM {table} WHERE right(id::text, 2) <> $1"
                assert await _fetchval(url, sql, p) == 0, table

        # the dashboards: each province's, and the national one adding them
        boards = {}
        for prv in (gx, gd):
            r = await voucher.get(
                "/v1/dashboard",
                params={"region_code": f"{prv.code}0000", "period": period},
                headers=tokens.headers("auditor", region=f"{prv.code}0000"),
            )
            assert r.status_code == 200, r.text
            boards[prv.code] = r.json()
            assert boards[prv.code]["enrolled"]["total"] == 1
        r = await voucher.get(
            "/v1/national/dashboard",
            params={"period": period},
            headers=tokens.headers("auditor", region="000000"),
        )
        assert r.status_code == 200, r.text
        nation = r.json()
        assert nation["enrolled"]["total"] == 2
        for name in ("vouchers", "face_fen", "redemptions", "redeemed_fen"):
            for code in {p["program_code"] for b in boards.values() for p in b["programs"]}:
                assert next(p[name] for p in nation["programs"] if p["program_code"] == code) == (
                    sum(
                        p[name]
                        for b in boards.values()
                        for p in b["programs"]
                        if p["program_code"] == code
                    )
                )
        care = next(p for p in nation["programs"] if p["program_code"] == "disability_subsidy")
        assert care["redeemed_fen"] == 6000 and care["redemptions"] == 2
        assert sorted(s["region_code"] for s in nation["subregions"]) == ["440000", "450000"]
        assert sum(ln["spent_fen"] for ln in nation["budget"]) == sum(
            ln["spent_fen"] for b in boards.values() for ln in b["budget"]
        )
        # a province's officer is not a national one; an unroutable request is refused
        r = await voucher.get(
            "/v1/national/dashboard", headers=tokens.headers("auditor", region="450000")
        )
        assert r.status_code == 403 and r.json()["error"]["code"] == "OUT_OF_SCOPE"
        r = await voucher.get(
            "/v1/national/dashboard", headers=tokens.headers("beneficiary", sub=people["45"])
        )
        assert r.status_code == 403 and r.json()["error"]["code"] == "ROLE_NOT_ALLOWED"
        assert (await voucher.get("/v1/national/dashboard")).status_code == 401
        r = await voucher.get("/v1/programs", headers=tokens.headers("service"))
        assert r.status_code == 422 and r.json()["error"]["code"] == "PROVINCE_UNKNOWN"
        r = await voucher.get(
            "/v1/dashboard",
            params={"region_code": "310000"},
            headers=tokens.headers("auditor", region="310000"),
        )
        assert r.status_code == 422 and r.json()["error"]["code"] == "PROVINCE_UNKNOWN"

        # a recovery is made in the redemption's province, and read there by its provider
        for p in ("45", "44"):
            with in_province(p):
                async with vrouter.apps[p].state.db.unit_of_work() as session:
                    (made,) = await start_recovery(session, [uuid.UUID(redemptions[p])], "测试")
            assert province_of_id(made.id) == p
            r = await voucher.get(
                "/v1/recoveries",
                params={"provider_id": providers[p]},
                headers=tokens.headers("provider_admin", provider_id=providers[p]),
            )
            assert r.status_code == 200, r.text
            assert [x["id"] for x in r.json()] == [str(made.id)]
            for url, table in (
                (shard_urls["voucher"][p][0], "recovery"),
                (shard_urls["provider"][p][0], "provider_document"),
            ):
                sql = f"SELECT count(*) FROM {table} WHERE right(id::text, 2) <> $1"
                assert await _fetchval(url, sql, p) == 0, table
    for c in (to_ledger, to_voucher, to_provider):
        await c.aclose()
