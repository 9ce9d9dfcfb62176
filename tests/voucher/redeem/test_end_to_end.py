"""Across the three services, in process: an officer enrols a person (the first month's
vouchers are issued against the ledger's budget), a provider is approved with a price list and a
terminal, the person shows a code, the terminal redeems it, the relay posts it to the ledger."""

from __future__ import annotations

import time
import uuid

import asyncpg
import httpx

from services.ledger.config import LedgerSettings
from services.ledger.main import create_app as create_ledger
from services.provider.config import ProviderSettings
from services.provider.main import create_app as create_provider
from services.voucher.main import create_app as create_voucher
from services.voucher.relay import Relay
from tests.conftest import running
from tests.provider.conftest import application
from tests.voucher.data.conftest import person
from tests.voucher.redeem.conftest import key, settings_for


async def test_enrol_issue_redeem_and_post_to_the_ledger(make_db, tokens):
    ldb, pdb, vdb = (await make_db("ledger"), await make_db("provider"), await make_db("voucher"))
    officer = tokens.headers("civil_affairs", region="450100")
    ledger_app = create_ledger(LedgerSettings(database_url=ldb.app_url))
    provider_app = create_provider(ProviderSettings(database_url=pdb.app_url))
    async with running(ledger_app) as ledger, running(provider_app) as prov:
        app = create_voucher(
            settings_for(vdb.app_url, directory_poll_interval_s=0.2),
            directory_transport=httpx.ASGITransport(app=provider_app),
        )
        app.state.ledger_client = ledger
        async with running(app) as voucher:
            ledger_app.state.voucher_client = voucher  # the ledger asks it about programmes
            r = await ledger.post(
                "/v1/appropriations",
                headers=tokens.headers("finance", region="450000"),
                json={
                    "idempotency_key": f"appr:{uuid.uuid4()}",
                    "program_code": "disability_subsidy",
                    "region_code": "450100",
                    "by_source": {"central": 9_500_000, "regional": 500_000},
                    "memo": "预算下达",
                },
            )
            assert r.status_code == 201, r.text
            enrolled = await voucher.post(
                "/v1/beneficiaries", headers=officer, json=person(care_setting="home")
            )
            assert enrolled.status_code == 201, enrolled.text
            ben = enrolled.json()["id"]
            me = tokens.headers("beneficiary", sub=ben)
            vouchers = (await voucher.get(f"/v1/beneficiaries/{ben}/vouchers", headers=me)).json()
            care = next(v for v in vouchers if v["program_code"] == "disability_subsidy")
            assert care["balance_fen"] == 50_000

            pid = (
                await prov.post(
                    "/v1/providers", headers=officer, json=application(kind="home_care")
                )
            ).json()["id"]
            assert (
                await prov.post(
                    f"/v1/providers/{pid}/approve", headers=officer, json={"reason": "ok"}
                )
            ).status_code == 200
            term = (
                await prov.post(
                    f"/v1/providers/{pid}/terminals",
                    json={"name": "t"},
                    headers=tokens.headers("provider_admin", provider_id=pid),
                )
            ).json()
            headers = {"Authorization": f"Bearer {term['secret']}"}

            deadline = time.monotonic() + 20
            while True:
                token = (await voucher.post(f"/v1/beneficiaries/{ben}/codes", headers=me)).json()[
                    "token"
                ]
                # 上门助浴 (bathing, 60 yuan): the home-care voucher pays 50 %.
                r = await voucher.post(
                    "/v1/redemptions",
                    headers=headers,
                    json={
                        "token": token,
                        "service_code": "BATH_HOME",
                        "gross_fen": 6000,
                        "idempotency_key": key(),
                        "staff_id": "staff-9",
                    },
                )
                if r.status_code != 401 or time.monotonic() > deadline:
                    break  # 401 until the directory has seen the new terminal
            assert r.status_code == 201, r.text
            assert (r.json()["subsidy_fen"], r.json()["copay_fen"], r.json()["balance_fen"]) == (
                3000,
                3000,
                47_000,
            )
            assert r.json()["voucher_id"] == care["id"]

            relay = Relay(app.state.db.raw_pool, ledger)
            while await relay.deliver_once():
                pass
            assert relay.rejected == 0 and relay.delivered >= 1
            lconn = await asyncpg.connect(ldb.owner_url)
            try:
                assert (
                    await lconn.fetchval("SELECT count(*) FROM entry WHERE kind = 'redemption'")
                    == 1
                )
                assert (
                    await lconn.fetchval(
                        "SELECT -sum(balance_fen) FROM account WHERE code = '2201'"
                    )
                    == 3000
                )
            finally:
                await lconn.close()

            # who and why reach the ledger's entry (issue 21), and the void's actor too
            auditor = tokens.headers("auditor", region="450000")
            (entry,) = (
                await ledger.get(
                    "/v1/entries", headers=auditor, params={"account_code": "provider_payable"}
                )
            ).json()["entries"]
            assert entry["details"] == {
                "terminal_id": term["terminal_id"],
                "staff_id": "staff-9",
                "service_code": "BATH_HOME",
                "gross_fen": 6000,
                "copay_fen": 3000,
            }
            voided = await voucher.post(
                f"/v1/redemptions/{r.json()['id']}/void",
                headers=headers,
                json={"reason": "录错了"},
            )
            assert voided.status_code == 200, voided.text
            while await relay.deliver_once():
                pass
            entries = (
                await ledger.get(
                    "/v1/entries", headers=auditor, params={"account_code": "provider_payable"}
                )
            ).json()["entries"]
            assert [e["kind"] for e in entries] == ["redemption", "redemption_void"]
            assert entries[1]["memo"] == "录错了"
            assert term["terminal_id"] in entries[1]["details"]["voided_by"]
