"""A whole Yiyang system in-process for the web tests: the real ledger, provider and voucher
apps, each on its own fresh migrated database, wired the way production wires them (the
voucher app asks the ledger for budget and reads the provider directory, both over
injectable transports), and the web app in front of them on its own fresh database, whose
accounts carry the ids the services really made.

The shared web app runs with two-factor sign-in off (`totp_required=False`, allowed in test
only), so the page tests sign in with a password as often as they like; the two-factor tests
(tests/web/test_identity.py, the TOTP browser walk) use apps of their own with it on, over the
same database.

Demo-like data is made through the services' own APIs, never written into their tables:
budgets (ledger appropriations for every program in the city and the district), an approved
meal point with a price list and a terminal, two applied providers (one outside the
officer's district), two beneficiaries enrolled with this month's vouchers and a proxy.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from services.common.db import asyncpg_connect_kwargs
from services.common.migrate import drop_database
from services.common.settings import CommonSettings
from services.ledger.config import LedgerSettings
from services.ledger.main import create_app as create_ledger
from services.provider.config import ProviderSettings
from services.provider.main import create_app as create_provider
from services.voucher.config import VoucherSettings
from services.voucher.main import create_app as create_voucher
from services.voucher.relay import Relay
from services.voucher.service.identity import check_digit
from tests.conftest import running
from tests.fixtures import database as dbfix
from tests.provider.conftest import valid_uscc
from web.clients import Transports
from web.config import WebSettings
from web.main import create_app as create_web
from web.roles import PERSON_ROLES, PROVIDER_ROLES
from web.service import accounts as web_accounts
from web.service.accounts import Scope
from web.service.context import Identity

PASSWORD = "correct-horse-9"
PROVINCE, CITY, DISTRICT = "450000", "450100", "450103"
OTHER_CITY = "450200"

MEAL_POINT = {
    "name": "青秀区幸福助餐点",
    "kind": "meal_point",
    "region_code": DISTRICT,
    "address": "南宁市青秀区民族大道100号",
    "lat": 22.817,
    "lon": 108.366,
    "contact": {"name": "李红", "phone": "13812345678"},
    "bank_account": {
        "bank_name": "中国工商银行南宁分行",
        "account_name": "青秀区幸福助餐点",
        "account_number": "6222021234567890123",
    },
    "services": [
        {
            "code": "MEAL_LUNCH",
            "name": "午餐",
            "category": "meal",
            "unit": "次",
            "price_fen": 1500,
            "serves_from": "11:00",
            "serves_until": "13:00",
        },
        {
            "code": "MEAL_DINNER",
            "name": "晚餐",
            "category": "meal",
            "unit": "次",
            "price_fen": 1200,
            "serves_from": "17:00",
            "serves_until": "18:30",
        },
        # priced per visit (a variable-price item, at most 1,000 yuan), so tests can bill
        # any amount; the fixed-price items are the meals
        {
            "code": "BATH_HOME",
            "name": "上门助浴",
            "category": "bathing",
            "unit": "次",
            "price_fen": 6000,
            "variable_price": True,
            "max_price_fen": 100_000,
        },
        {"code": "MEAL_PORRIDGE", "name": "粥", "category": "meal", "unit": "份", "price_fen": 400},
    ],
}


def _uscc(n: int) -> str:
    return valid_uscc(n)


def national_id(serial: int, birth: date = date(1948, 5, 20), region: str = DISTRICT) -> str:
    first17 = f"{region}{birth:%Y%m%d}{serial % 1000:03d}"
    return first17 + check_digit(first17)


def enrolment(
    name: str,
    serial: int,
    *,
    care_setting: str = "home",
    scores: tuple[int, int, int, int] = (15, 8, 10, 7),
    lat: float | None = 22.81,
    lon: float | None = 108.37,
) -> dict[str, Any]:
    """A valid enrolment body: 78 years old, grade 3 by default, in the district."""
    return {
        "national_id": national_id(serial),
        "name": name,
        "phone": f"1387710{serial % 10000:04d}",
        "region_code": DISTRICT,
        "address": "青秀区民族大道1号",
        "lat": lat,
        "lon": lon,
        "care_setting": care_setting,
        "dibao": False,
        "assessment": {
            "scores": dict(zip(("self_care", "motor", "mental", "perception_social"), scores)),
            "flags": {},
            "assessed_on": date.today().replace(day=1).isoformat(),
            "assessor": "南宁市老年人能力评估中心",
        },
    }


@dataclass
class System:
    """Handles on every part of the running system and the ids the services made."""

    web: Any
    voucher_app: Any
    provider_app: Any
    ledger_app: Any
    voucher: httpx.AsyncClient  # service clients (in-process), for setup and checks
    provider: httpx.AsyncClient
    ledger: httpx.AsyncClient
    dbs: dict[str, dbfix.ServiceDatabase]
    tokens: Any
    transports: Transports | None = None
    b1: str = ""  # 王大爷: home care, disability + meal vouchers
    b2: str = ""  # 李奶奶: in an institution (800-yuan voucher), no coordinates
    b3: str = ""  # a real person nobody in the account store may act for
    national_ids: tuple[str, ...] = ()  # of b1, b2, b3 (to find them as an administrator does)
    p1: str = ""  # the approved meal point
    p_new: str = ""  # applied, in the officer's district
    p_far: str = ""  # applied, in another city
    terminal_secret: str = ""
    base_url: str = "http://testserver"

    @property
    def app(self) -> Any:
        """The web app (what a browser talks to)."""
        return self.web

    # --- the web app and its database -------------------------------------------------------
    def web_settings(self, **overrides: Any) -> WebSettings:
        """Settings of a web app on this system's web database (two-factor sign-in off unless
        `totp_required=True`)."""
        return WebSettings(
            **{"database_url": self.dbs["web"].app_url, "totp_required": False, **overrides}
        )

    @asynccontextmanager
    async def other_web(
        self,
        common: CommonSettings | None = None,
        transports: Transports | None = None,
        clock: Any = None,
        **settings: Any,
    ) -> AsyncIterator[Any]:
        """Another web app (its lifespan running) on the same database and services."""
        app = create_web(
            self.web_settings(**settings),
            common=common or CommonSettings(),
            transports=transports or self.transports,
            **({"clock": clock} if clock else {}),
        )
        async with app.router.lifespan_context(app):
            yield app

    async def add_account(self, **fields: Any) -> None:
        """An account in the web's database, with the test password unless given."""
        await add_accounts(self.dbs["web"].app_url, [fields])

    # --- the browser side ----------------------------------------------------------------
    def client(self, app: Any = None, address: str = "127.0.0.1") -> httpx.AsyncClient:
        """A browser of the web app (or of `app`), coming from `address`."""
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app or self.web, client=(address, 40000)),
            base_url=self.base_url,
        )

    @asynccontextmanager
    async def signed_in(self, username: str) -> AsyncIterator[httpx.AsyncClient]:
        async with self.client() as c:
            r = await login(c, username, PASSWORD)
            assert r.status_code == 303, r.text
            yield c

    # --- reading the services as an officer would (for assertions) -------------------------
    def officer(self, region: str = CITY) -> dict[str, str]:
        return self.tokens.headers("civil_affairs", sub="test:officer", region=region)

    async def set_prices(self, provider_id: str, services: list[dict[str, Any]]) -> None:
        """The provider's admin replaces its price list; a list that raises prices waits
        for an officer (202), who approves it here (the list is then in force)."""
        admin = self.tokens.headers("provider_admin", sub="test:admin", provider_id=provider_id)
        r = await self.provider.put(
            f"/v1/providers/{provider_id}/services", headers=admin, json={"services": services}
        )
        if r.status_code == 202:
            r = await self.provider.post(
                f"/v1/providers/{provider_id}/price-list-changes/{r.json()['id']}/approve",
                headers=self.officer(),
            )
        assert r.status_code == 200, r.text

    async def vouchers(self, bid: str) -> list[dict[str, Any]]:
        r = await self.voucher.get(f"/v1/beneficiaries/{bid}/vouchers", headers=self.officer())
        assert r.status_code == 200, r.text
        return r.json()

    async def balance(self, bid: str, program: str) -> int:
        return next(
            v["balance_fen"]
            for v in await self.vouchers(bid)
            if v["program_code"] == program and v["status"] == "active"
        )

    async def provider_status(self, pid: str) -> str:
        r = await self.provider.get(f"/v1/providers/{pid}", headers=self.officer(PROVINCE))
        return r.json()["status"]

    async def count(self, service: str, sql: str) -> Any:
        conn = await asyncpg.connect(**asyncpg_connect_kwargs(self.dbs[service].owner_url))
        try:
            return await conn.fetchval(sql)
        finally:
            await conn.close()

    async def relay(self) -> int:
        """Deliver the voucher outbox to the ledger (what `yiyang relay` does)."""
        relay = Relay(self.voucher_app.state.db.raw_pool, self.ledger)
        while await relay.deliver_once():
            pass
        return relay.delivered


async def import_finished(
    c: httpx.AsyncClient,
    started: httpx.Response,
    timeout_s: float = 30,
    prefix: str = "/officer/imports/",
) -> httpx.Response:
    """An officer's upload (or an auditor's chain check, `prefix="/audit/chain/checks/"`)
    answers at once with its job's page (web/service/background.py); the job's page once the
    background work has ended (done or failed)."""
    assert started.status_code == 303, started.text
    where = started.headers["location"]
    assert where.startswith(prefix), where
    for _ in range(int(timeout_s / 0.05)):
        r = await c.get(where)
        if 'data-status="running"' not in r.text:
            return r
        await asyncio.sleep(0.05)
    raise AssertionError(f"the import at {where} did not end")


async def login(c: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    """Sign in as a browser does: open the form (CSRF cookie + field), then post it."""
    form = await c.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    return await c.post(
        "/login", data={"username": username, "password": password, "csrf_token": token}
    )


async def _ok(r: httpx.Response, *codes: int) -> dict[str, Any]:
    assert r.status_code in (codes or (200, 201)), f"{r.request.url}: {r.status_code} {r.text}"
    return r.json()


async def seed(s: System) -> None:
    """Budgets, providers, people and proxy, through the real APIs."""
    t = s.tokens
    finance = t.headers("finance", sub="test:finance", region=PROVINCE)
    province = t.headers("civil_affairs", sub="test:gx", region=PROVINCE)
    programs = await _ok(await s.voucher.get("/v1/programs", headers=province))
    for program in programs:
        shares: dict[str, int] = program["config"]["funding_shares"]
        total_bp = sum(shares.values())
        for region, amount in ((CITY, 50_000_000), (DISTRICT, 10_000_000)):
            by_source = {k: amount * bp // total_bp for k, bp in shares.items()}
            await _ok(
                await s.ledger.post(
                    "/v1/appropriations",
                    headers=finance,
                    json={
                        "idempotency_key": f"web-test:{program['code']}:{region}",
                        "program_code": program["code"],
                        "region_code": region,
                        "by_source": {k: v for k, v in by_source.items() if v > 0},
                        "memo": "测试预算",
                    },
                ),
                201,
            )

    serial = uuid.uuid4().int % 10**6
    officer = s.officer(DISTRICT)
    s.p1 = (
        await _ok(
            await s.provider.post(
                "/v1/providers", headers=officer, json={**MEAL_POINT, "uscc": _uscc(serial)}
            ),
            201,
        )
    )["id"]
    await _ok(
        await s.provider.post(
            f"/v1/providers/{s.p1}/approve", headers=officer, json={"reason": "资质审核通过"}
        )
    )
    admin = t.headers("provider_admin", sub="test:admin", provider_id=s.p1)
    s.terminal_secret = (
        await _ok(
            await s.provider.post(
                f"/v1/providers/{s.p1}/terminals", headers=admin, json={"name": "前台收银终端"}
            ),
            201,
        )
    )["secret"]
    s.p_new = (
        await _ok(
            await s.provider.post(
                "/v1/providers",
                headers=officer,
                json={
                    **MEAL_POINT,
                    "name": "南宁市仁爱居家服务中心",
                    "kind": "home_care",
                    "uscc": _uscc(serial + 1),
                },
            ),
            201,
        )
    )["id"]
    far = t.headers("civil_affairs", sub="test:liuzhou", region=OTHER_CITY)
    s.p_far = (
        await _ok(
            await s.provider.post(
                "/v1/providers",
                headers=far,
                json={
                    **MEAL_POINT,
                    "name": "柳州市颐年养老院",
                    "kind": "institution",
                    "region_code": "450202",
                    "lat": 24.33,
                    "lon": 109.42,
                    "uscc": _uscc(serial + 2),
                },
            ),
            201,
        )
    )["id"]

    # The world's three people take ID serials 1-3; the tests enrol theirs from 100 up (an ID
    # carries the serial's last three digits), so no test's person is ever "already enrolled".
    people = [
        enrolment("王大爷", 1),
        enrolment("李奶奶", 2, care_setting="institution", lat=None, lon=None),
        enrolment("黄爷爷", 3),
    ]
    ids = []
    for body in people:
        ids.append(
            (await _ok(await s.voucher.post("/v1/beneficiaries", headers=officer, json=body), 201))[
                "id"
            ]
        )
    s.b1, s.b2, s.b3 = ids
    s.national_ids = tuple(body["national_id"] for body in people)
    for bid, relation in ((s.b1, "女儿"), (s.b2, "儿媳")):  # the proxy acts for both
        await _ok(
            await s.voucher.post(
                f"/v1/beneficiaries/{bid}/proxies",
                headers=officer,
                json={"proxy_sub": "web:xiaoli", "name": "李女士", "relation": relation},
            ),
            201,
        )
    # Redemptions need the directory to know the terminal: wait until it does.
    directory = s.voucher_app.state.directory
    for _ in range(300):
        if await directory.resolve_terminal(s.terminal_secret):
            break
        await asyncio.sleep(0.05)
    assert await directory.resolve_terminal(s.terminal_secret), "directory never loaded"


ACCOUNTS: list[dict[str, Any]] = [
    {"username": "laowang", "role": "beneficiary", "display_name": "王大爷", "people": ["b1"]},
    {"username": "xiaoli", "role": "proxy", "display_name": "李女士", "people": ["b1", "b2"]},
    {
        "username": "staff1",
        "role": "provider_staff",
        "display_name": "张师傅",
        "provider": "p1",
        "terminal": True,
    },
    {"username": "staff2", "role": "provider_staff", "display_name": "赵师傅", "provider": "p1"},
    {"username": "admin1", "role": "provider_admin", "display_name": "孙主任", "provider": "p1"},
    {"username": "officer", "role": "civil_affairs", "display_name": "陈经办", "region": DISTRICT},
    {"username": "finance", "role": "finance", "display_name": "刘会计", "region": PROVINCE},
    {"username": "finance2", "role": "finance", "display_name": "黄复核", "region": PROVINCE},
    {"username": "finance_lz", "role": "finance", "display_name": "柳州财务", "region": OTHER_CITY},
    {"username": "auditor", "role": "auditor", "display_name": "周审计", "region": PROVINCE},
    {
        "username": "auditor_city",
        "role": "auditor",
        "display_name": "吴审计",
        "region": OTHER_CITY,
    },
    {"username": "useradmin", "role": "admin", "display_name": "区账号管理员", "region": CITY},
    {
        "username": "useradmin_lz",
        "role": "admin",
        "display_name": "柳州管理员",
        "region": OTHER_CITY,
    },
]


async def add_accounts(web_db_url: str, rows: list[dict[str, Any]]) -> None:
    """Accounts straight into the web's database (through the web's own account service).
    A row: username, role, display_name, password (default PASSWORD) and the scope: region,
    provider_id or beneficiary_ids, terminal_secret."""
    from services.common.db import Database

    ident = Identity(WebSettings(database_url=web_db_url), CommonSettings().auth_private_key)
    db = Database(web_db_url, pool_size=1)
    try:
        async with db.unit_of_work() as session:
            for row in rows:
                role = row["role"]
                region = row.get("region") or DISTRICT
                await web_accounts.create(
                    session,
                    ident,
                    username=row["username"],
                    password=row.get("password", PASSWORD),
                    role=role,
                    display_name=row["display_name"],
                    scope=Scope(
                        region,
                        row.get("provider_id") if role in PROVIDER_ROLES else None,
                        tuple(row.get("beneficiary_ids") or ()) if role in PERSON_ROLES else (),
                    ),
                    terminal_secret=row.get("terminal_secret"),
                    must_change_password=row.get("must_change_password", False),
                    created_by="test",
                )
    finally:
        await db.dispose()


async def accounts(s: System) -> None:
    rows = []
    for row in ACCOUNTS:
        fields = {k: v for k, v in row.items() if k not in ("people", "provider", "terminal")}
        if "people" in row:
            fields["beneficiary_ids"] = [getattr(s, name) for name in row["people"]]
        if "provider" in row:
            fields["provider_id"] = getattr(s, row["provider"])
        if row.get("terminal"):
            fields["terminal_secret"] = s.terminal_secret
        rows.append(fields)
    await add_accounts(s.dbs["web"].app_url, rows)


@asynccontextmanager
async def system(
    admin_url: str, templates: dict[str, str], tokens: Any, tmp: Path, **voucher_settings: Any
) -> AsyncIterator[System]:
    """Start the three services and the web app on fresh databases, seed them, yield."""
    dbs = {
        name: await dbfix.fresh_database(admin_url, templates[name], name)
        for name in ("ledger", "provider", "voucher", "web")
    }
    try:
        async with AsyncExitStack() as stack:
            lapp = create_ledger(
                LedgerSettings(
                    database_url=dbs["ledger"].app_url,
                    pool_size=4,
                    checkpoint_file=tmp / "ledger-checkpoints.jsonl",
                    checkpoint_interval_s=0.5,
                )
            )
            papp = create_provider(ProviderSettings(database_url=dbs["provider"].app_url))
            ledger = await stack.enter_async_context(running(lapp))
            provider = await stack.enter_async_context(running(papp))
            vapp = create_voucher(
                VoucherSettings(
                    database_url=dbs["voucher"].app_url,
                    directory_poll_interval_s=0.1,
                    nonce_purge_interval_s=0,
                    expiry_interval_s=0,
                    raw_pool_size=8,
                    **voucher_settings,
                ),
                directory_transport=httpx.ASGITransport(app=papp),
            )
            vapp.state.ledger_client = ledger
            voucher = await stack.enter_async_context(running(vapp))
            # Settlement in the ledger calls the voucher (claims) and provider (bank
            # accounts) services: the in-process clients, looked up at request time.
            lapp.state.voucher_client = voucher
            lapp.state.provider_client = provider
            s = System(
                web=None,
                voucher_app=vapp,
                provider_app=papp,
                ledger_app=lapp,
                voucher=voucher,
                provider=provider,
                ledger=ledger,
                dbs=dbs,
                tokens=tokens,
            )
            await seed(s)
            await accounts(s)
            s.transports = Transports(
                voucher=httpx.ASGITransport(app=vapp),
                provider=httpx.ASGITransport(app=papp),
                ledger=httpx.ASGITransport(app=lapp),
            )
            s.web = await stack.enter_async_context(s.other_web())
            yield s
    finally:
        for db in dbs.values():
            await drop_database(admin_url, db.name)
