"""A hypothesis state machine drives the real service (real database, real HTTP app) and
checks it against a simple in-memory model of budgets and balances after every step."""

import asyncio
import uuid

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from services.common.migrate import drop_database
from services.common.money import allocate
from services.ledger.config import LedgerSettings
from services.ledger.main import create_app
from tests.conftest import Tokens, running
from tests.fixtures import database as dbfix
from tests.fixtures.voucher_programs import client_of, voucher_service
from tests.ledger.conftest import CITY, DISTRICT, PROGRAM, SHARES, event, redemption, void

SOURCES = sorted(SHARES)


def split(amount):
    return dict(zip(SOURCES, allocate(amount, [SHARES[s] for s in SOURCES]), strict=True))


class LedgerMachine(RuleBasedStateMachine):
    admin: str
    template: str
    voucher_template: str

    def __init__(self):
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.sdb = self.run(dbfix.fresh_database(self.admin, self.template, "ledger"))
        # The voucher service the ledger asks about programmes, on this machine's own loop.
        self.vdb = self.run(dbfix.fresh_database(self.admin, self.voucher_template, "voucher"))
        self.vcm = voucher_service(self.vdb.app_url)
        voucher = self.run(self.vcm.__aenter__())
        self.app = create_app(LedgerSettings(database_url=self.sdb.app_url, pool_size=2))
        self.app.state.voucher_client = client_of(voucher)
        self.cm = running(self.app)
        self.c = self.run(self.cm.__aenter__())
        t = Tokens()
        self.service = t.headers("service")
        self.finance = t.headers("finance", region="450000")
        self.auditor = t.headers("auditor", region="450000")
        # the model
        self.budget = dict.fromkeys(SOURCES, 0)
        self.outstanding = 0
        self.payable = 0  # all providers, all sources
        self.redemptions: dict[str, tuple[dict, bool]] = {}  # id -> (event, voided)
        self.sent: list[tuple[dict, dict]] = []  # (event, first result)

    def run(self, coro):
        return self.loop.run_until_complete(coro)

    def teardown(self):
        try:
            v = self.run(self.c.get("/v1/chain/verify", headers=self.auditor)).json()
            assert v["ok"], v
        finally:
            self.run(self.cm.__aexit__(None, None, None))
            self.run(self.vcm.__aexit__(None, None, None))
            self.run(drop_database(self.admin, self.sdb.name))
            self.run(drop_database(self.admin, self.vdb.name))
            self.loop.close()

    def send(self, ev):
        r = self.run(self.c.post("/v1/events", headers=self.service, json={"events": [ev]}))
        assert r.status_code == 200, r.text
        result = r.json()["results"][0]
        self.sent.append((ev, result))
        return result

    @rule(central=st.integers(1, 200_000), regional=st.integers(1, 20_000))
    def appropriate(self, central, regional):
        r = self.run(
            self.c.post(
                "/v1/appropriations",
                headers=self.finance,
                json={
                    "idempotency_key": str(uuid.uuid4()),
                    "program_code": PROGRAM,
                    "region_code": CITY,
                    "by_source": {"central": central, "regional": regional},
                    "memo": "预算下达",
                },
            )
        )
        assert r.status_code == 201, r.text
        self.budget["central"] += central
        self.budget["regional"] += regional

    @rule(amount=st.integers(1, 150_000))
    def commit(self, amount):
        r = self.run(
            self.c.post(
                "/v1/commitments",
                headers=self.service,
                json={
                    "idempotency_key": str(uuid.uuid4()),
                    "purpose": "voucher",
                    "program_code": PROGRAM,
                    "region_code": DISTRICT,
                    "period": "2026-11",
                    "amount_fen": amount,
                    "count": 1,
                    "funding_shares": SHARES,
                },
            )
        )
        parts = split(amount)
        fits = any(v > 0 for v in self.budget.values()) and all(
            self.budget[s] >= parts[s] for s in SOURCES
        )
        if fits:
            assert r.status_code == 201, r.text
            for s in SOURCES:
                self.budget[s] -= parts[s]
            self.outstanding += amount
        else:
            assert r.status_code == 409, r.text
            assert r.json()["error"]["code"] in ("BUDGET_EXCEEDED", "NO_BUDGET")

    @rule(amount=st.integers(1, 30_000), provider=st.sampled_from(["p1", "p2"]))
    def redeem(self, amount, provider):
        ev = redemption(amount, provider=provider)
        result = self.send(ev)
        if amount <= self.outstanding:
            assert result["status"] == "applied", result
            self.outstanding -= amount
            self.payable += amount
            self.redemptions[ev["payload"]["redemption_id"]] = (ev, False)
        else:
            assert result["error"]["code"] == "INSUFFICIENT_BALANCE", result

    @precondition(lambda self: self.redemptions)
    @rule(data=st.data())
    def void_one(self, data):
        rid = data.draw(st.sampled_from(sorted(self.redemptions)))
        ev, voided = self.redemptions[rid]
        result = self.send(void(ev))
        if voided:
            assert result["error"]["code"] == "ALREADY_VOIDED", result
        else:
            assert result["status"] == "applied", result
            amount = ev["payload"]["subsidy_fen"]
            self.outstanding += amount
            self.payable -= amount
            self.redemptions[rid] = (ev, True)

    @rule(amount=st.integers(1, 50_000))
    def expire(self, amount):
        result = self.send(
            event("voucher.expired", voucher_id="v", beneficiary_id="b", released_fen=amount)
        )
        if amount <= self.outstanding:
            assert result["status"] == "applied", result
            self.outstanding -= amount
            for s, part in split(amount).items():
                self.budget[s] += part
        else:
            assert result["error"]["code"] == "INSUFFICIENT_BALANCE"

    @precondition(lambda self: self.sent)
    @rule(data=st.data())
    def resend(self, data):
        ev, first = data.draw(st.sampled_from(self.sent))
        r = self.run(self.c.post("/v1/events", headers=self.service, json={"events": [ev]}))
        again = r.json()["results"][0]
        if first["status"] == "applied":
            assert again == dict(first, status="duplicate")
        else:
            assert again == first

    @invariant()
    def balances_match_the_model(self):
        b = self.run(
            self.c.get(
                "/v1/budget",
                headers=self.service,
                params={"program_code": PROGRAM, "region_code": DISTRICT},
            )
        )
        if b.status_code == 200 and b.json()["budget_region_code"]:
            # A source with nothing in it may have no account yet (an event refused for
            # overdrawing still opens the accounts it named): absent and zero are the same.
            assert {k: v for k, v in b.json()["by_source"].items() if v} == {
                k: v for k, v in self.budget.items() if v
            }
        tb = self.run(self.c.get("/v1/trial-balance", headers=self.auditor)).json()
        assert tb["balanced"]
        by_code: dict[str, int] = {}
        for a in tb["accounts"]:
            by_code[a["code"]] = by_code.get(a["code"], 0) + a["balance_fen"]
        assert -by_code.get("2101", 0) == self.outstanding
        assert -by_code.get("2201", 0) == self.payable
        assert sum(by_code.values()) == 0


def test_ledger_matches_a_model_of_balances(pg_admin_url, db_templates):
    LedgerMachine.admin = pg_admin_url
    LedgerMachine.template = db_templates["ledger"]
    LedgerMachine.voucher_template = db_templates["voucher"]
    run = LedgerMachine.TestCase
    run.settings = settings(
        max_examples=8,
        stateful_step_count=12,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    run().runTest()
