"""Web test fixtures: the web app with its account store, the real ledger service on a fresh
database in-process, and contract stand-ins for the voucher and provider services (not on
main yet; see contract_fakes.py). Every service call goes over httpx to an ASGI app."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.common.settings import CommonSettings
from services.ledger.config import LedgerSettings
from services.ledger.main import create_app as create_ledger
from tests.conftest import running
from tests.ledger.conftest import Ledger
from tests.web.contract_fakes import provider_app, voucher_app
from web.accounts import AccountStore
from web.clients import Transports
from web.config import WebSettings
from web.main import create_app as create_web

PASSWORD = "correct-horse-9"
B1 = "11111111-1111-4111-8111-111111111111"
B2 = "22222222-2222-4222-8222-222222222222"
B3 = "33333333-3333-4333-8333-333333333333"
P1 = "prov-meal-1"
TERMINAL_SECRET = "yyt_t1.Zm9yLXRlc3RzLW9ubHktbm90LWEtcmVhbC1zZWNyZXQ"

ACCOUNTS: list[dict[str, Any]] = [
    {"username": "laowang", "role": "beneficiary", "display_name": "王大爷",
     "beneficiary_ids": [B1]},
    {"username": "xiaoli", "role": "proxy", "display_name": "李女士",
     "beneficiary_ids": [B1, B2]},
    {"username": "staff1", "role": "provider_staff", "display_name": "张师傅",
     "provider_id": P1, "terminal_secret": TERMINAL_SECRET},
    {"username": "staff2", "role": "provider_staff", "display_name": "赵师傅",
     "provider_id": P1},
    {"username": "admin1", "role": "provider_admin", "display_name": "孙主任",
     "provider_id": P1},
    {"username": "officer", "role": "civil_affairs", "display_name": "陈经办",
     "region": "450103"},
    {"username": "finance", "role": "finance", "display_name": "刘会计", "region": "450000"},
    {"username": "auditor", "role": "auditor", "display_name": "周审计", "region": "450000"},
    {"username": "auditor_city", "role": "auditor", "display_name": "吴审计",
     "region": "450100"},
]


@pytest.fixture(scope="session")
def accounts_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("web") / "accounts.json"
    store = AccountStore(path)
    for acc in ACCOUNTS:
        store.add(password=PASSWORD, **acc)
    return path


def _vouchers() -> dict[str, list[dict[str, Any]]]:
    return {
        B1: [{"id": "v-b1", "program_code": "disability_subsidy", "period": "2026-11",
              "face_value_fen": 50000, "balance_fen": 42050, "valid_until": "2026-11-30",
              "status": "active"}],
        B2: [{"id": "v-b2", "program_code": "meal_assistance", "period": "2026-11",
              "face_value_fen": 9000, "balance_fen": 700, "valid_until": "2026-11-30",
              "status": "active"}],
        B3: [],
    }


def _providers() -> dict[str, dict[str, Any]]:
    return {
        P1: {"id": P1, "name": "青秀区幸福助餐点", "kind": "meal_point", "status": "approved",
             "region_code": "450103", "services": [
                 {"code": "MEAL_LUNCH", "name": "午餐", "category": "meal", "price_fen": 1500},
                 {"code": "MEAL_DINNER", "name": "晚餐", "category": "meal", "price_fen": 1200}]},
        "prov-new": {"id": "prov-new", "name": "南宁市仁爱居家服务中心", "kind": "home_care",
                     "status": "applied", "region_code": "450103", "services": []},
        "prov-far": {"id": "prov-far", "name": "柳州市颐年养老院", "kind": "institution",
                     "status": "applied", "region_code": "450200", "services": []},
    }


@dataclass
class WebEnv:
    app: Any
    ledger: Ledger | None
    voucher: Any
    provider: Any
    vouchers: dict[str, list[dict[str, Any]]]
    providers: dict[str, dict[str, Any]]
    base_url: str = "http://testserver"

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app),
                                 base_url=self.base_url)

    @asynccontextmanager
    async def signed_in(self, username: str) -> AsyncIterator[httpx.AsyncClient]:
        async with self.client() as c:
            r = await login(c, username, PASSWORD)
            assert r.status_code == 303, r.text
            yield c


async def login(c: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    """Sign in as a browser does: open the form (CSRF cookie + field), then post it."""
    form = await c.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    return await c.post("/login", data={"username": username, "password": password,
                                        "csrf_token": token})


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert m, "page has no CSRF token"
    return m.group(1)


def _env(accounts_file: Path, ledger_app: Any = None, ledger: Ledger | None = None) -> WebEnv:
    vouchers, providers = _vouchers(), _providers()
    people = {B1: {"id": B1, "name": "王大爷", "region_code": "450103", "lat": 22.81,
                   "lon": 108.37, "status": "active"},
              B2: {"id": B2, "name": "李奶奶", "region_code": "450103", "lat": None,
                   "lon": None, "status": "active"}}
    vapp = voucher_app(vouchers, {TERMINAL_SECRET: P1}, people=people)
    papp = provider_app(providers)
    # Without a ledger app the ledger URL is a closed port: pages then say "busy", never 500.
    transports = Transports(voucher=httpx.ASGITransport(app=vapp),
                            provider=httpx.ASGITransport(app=papp),
                            ledger=httpx.ASGITransport(app=ledger_app) if ledger_app else None)
    app = create_web(WebSettings(accounts_file=accounts_file), common=CommonSettings(
        ledger_url="http://127.0.0.1:9"), transports=transports)
    return WebEnv(app=app, ledger=ledger, voucher=vapp, provider=papp, vouchers=vouchers,
                  providers=providers)


@pytest.fixture
async def web(make_db, tokens, accounts_file: Path) -> AsyncIterator[WebEnv]:
    """The web app with the real ledger on a fresh database."""
    sdb = await make_db("ledger")
    ledger_app = create_ledger(LedgerSettings(database_url=sdb.app_url, pool_size=4))
    async with AsyncExitStack() as stack:
        ledger_client = await stack.enter_async_context(running(ledger_app))
        yield _env(accounts_file, ledger_app, Ledger(ledger_client, sdb, tokens))


@pytest.fixture
async def web_shell(accounts_file: Path) -> WebEnv:
    """The web app without a ledger (for sign-in, session and access tests)."""
    return _env(accounts_file)
