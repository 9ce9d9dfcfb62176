"""Every endpoint refuses a wrong role and a wrong scope; refusals change nothing."""

import uuid

import pytest

from tests.ledger.conftest import CITY, DISTRICT, PROGRAM, redemption


@pytest.fixture
async def booked(ledger):
    r = await ledger.appropriate({"central": 950_000, "regional": 50_000})
    await ledger.appropriate({"central": 50_000}, region="450200")
    await ledger.commit(100_000)
    await ledger.events([redemption(100)])
    ledger.entry_id = r.json()["entry_id"]
    ledger.city_budget_account = await ledger.fetchval(
        "SELECT id FROM account WHERE code = '3001' AND region_code = $1 LIMIT 1", CITY
    )
    return ledger


def _calls(lg):
    commitment = {
        "idempotency_key": "k-access",
        "purpose": "voucher",
        "program_code": PROGRAM,
        "region_code": DISTRICT,
        "period": "2026-11",
        "amount_fen": 1,
        "count": 1,
        "funding_shares": {"central": 10_000},
    }
    appropriation = {
        "idempotency_key": "a-access",
        "program_code": PROGRAM,
        "region_code": CITY,
        "by_source": {"central": 1},
        "memo": "预算下达",
    }
    return {
        "appropriations": ("POST", "/v1/appropriations", {"json": appropriation}),
        "commitments": ("POST", "/v1/commitments", {"json": commitment}),
        "events": ("POST", "/v1/events", {"json": {"events": [redemption(5)]}}),
        "reverse": (
            "POST",
            f"/v1/entries/{lg.entry_id}/reverse",
            {"json": {"idempotency_key": "r-access", "reason": "x"}},
        ),
        "close": ("POST", "/v1/periods/2026-01/close", {"json": {"idempotency_key": "c-a"}}),
        "budget": (
            "GET",
            "/v1/budget",
            {"params": {"program_code": PROGRAM, "region_code": DISTRICT}},
        ),
        "trial": ("GET", "/v1/trial-balance", {"params": {"region_code": CITY}}),
        "entries": ("GET", "/v1/entries", {"params": {"region_code": CITY}}),
        "statement": ("GET", f"/v1/accounts/{lg.city_budget_account}/statement", {}),
        "entry": ("GET", f"/v1/entries/{lg.entry_id}", {}),
        "verify": ("GET", "/v1/chain/verify", {}),
        "metrics": ("GET", "/v1/metrics", {}),
        # issue 21: the auditor's proof and exports
        "checkpoints": ("GET", "/v1/chain/checkpoints", {}),
        "public_key": ("GET", "/v1/chain/public-key", {}),
        "journal": ("GET", "/v1/journal/export", {}),
        "entries_file": (
            "GET",
            "/v1/entries",
            {"params": {"region_code": CITY, "format": "csv"}},
        ),
        "trial_file": (
            "GET",
            "/v1/trial-balance",
            {"params": {"region_code": CITY, "format": "xlsx"}},
        ),
    }


# who may call what; everyone else is refused ROLE_NOT_ALLOWED
ALLOWED = {
    "appropriations": {"finance"},
    "commitments": {"service"},
    "events": {"service"},
    "reverse": {"finance"},
    "close": {"finance"},
    "budget": {"service", "finance", "auditor"},
    "trial": {"finance", "auditor"},
    "entries": {"finance", "auditor"},
    "statement": {"finance", "auditor"},
    "entry": {"finance", "auditor"},
    "verify": {"auditor"},
    "metrics": {"service", "finance", "auditor"},
    "checkpoints": {"auditor"},
    "public_key": {"finance", "auditor"},
    "journal": {"finance", "auditor"},
    "entries_file": {"finance", "auditor"},
    "trial_file": {"finance", "auditor"},
}
# Not about any region: the checkpoint signing key is the same for every scope (a caller
# still needs a role and a region scope of their own).
NOT_REGIONAL = {"public_key"}
ROLES = [
    "beneficiary",
    "proxy",
    "provider_staff",
    "provider_admin",
    "civil_affairs",
    "finance",
    "auditor",
    "service",
]


async def test_wrong_role_is_refused_and_changes_nothing(booked):
    before = await booked.snapshot()
    for name, (method, url, kw) in _calls(booked).items():
        for role in ROLES:
            if role in ALLOWED[name]:
                continue
            h = booked.tokens.headers(role, region="450000", provider_id="prov-1")
            r = await booked.c.request(method, url, headers=h, **kw)
            assert r.status_code == 403, (name, role, r.text)
            assert r.json()["error"]["code"] == "ROLE_NOT_ALLOWED"
        r = await booked.c.request(method, url, **kw)
        assert r.status_code == 401, name
    assert await booked.snapshot() == before


async def test_wrong_region_scope_is_refused_and_changes_nothing(booked):
    before = await booked.snapshot()
    other_city = {"region": "450200"}  # Liuzhou: none of the Nanning things are its own
    for name, (method, url, kw) in _calls(booked).items():
        for role in sorted(ALLOWED[name] - {"service"}):
            h = booked.tokens.headers(role, **other_city)
            r = await booked.c.request(method, url, headers=h, **kw)
            if name in NOT_REGIONAL:
                assert r.status_code == 200, (name, role, r.text)
            else:
                assert r.status_code == 403, (name, role, r.text)
                assert r.json()["error"]["code"] == "OUT_OF_SCOPE", (name, role)
            no_region = booked.tokens.headers(role)
            r = await booked.c.request(method, url, headers=no_region, **kw)
            assert r.status_code == 403, (name, role, "no region")
    assert await booked.snapshot() == before


async def test_city_finance_sees_only_its_city(booked):
    nanning = booked.tokens.headers("finance", region=CITY)
    tb = (await booked.c.get("/v1/trial-balance", headers=nanning)).json()
    assert tb["accounts"] and {a["region_code"][:4] for a in tb["accounts"]} == {"4501"}
    entries = (await booked.c.get("/v1/entries", headers=nanning)).json()["entries"]
    assert entries and all(e["region_code"].startswith("4501") for e in entries)
    liuzhou_acct = await booked.fetchval(
        "SELECT id FROM account WHERE region_code = '450200' LIMIT 1"
    )
    r = await booked.c.get("/v1/entries", headers=nanning, params={"account": liuzhou_acct})
    assert r.status_code == 403
    r = await booked.c.get(f"/v1/accounts/{liuzhou_acct}/statement", headers=nanning)
    assert r.status_code == 403
    r = await booked.c.get(
        "/v1/budget", headers=nanning, params={"program_code": PROGRAM, "region_code": "450200"}
    )
    assert r.status_code == 403


async def test_unknown_ids_are_404_not_500(booked):
    r = await booked.c.get("/v1/accounts/999999/statement", headers=booked.auditor)
    assert r.status_code == 404 and r.json()["error"]["code"] == "ACCOUNT_NOT_FOUND"
    r = await booked.c.get(f"/v1/entries/{uuid.uuid4()}", headers=booked.auditor)
    assert r.status_code == 404 and r.json()["error"]["code"] == "ENTRY_NOT_FOUND"
    r = await booked.c.get(f"/v1/entries/{booked.entry_id}", headers=booked.auditor)
    assert r.status_code == 200 and sum(p["amount_fen"] for p in r.json()["postings"]) == 0
    r = await booked.c.post(
        f"/v1/entries/{uuid.uuid4()}/reverse",
        headers=booked.finance,
        json={"idempotency_key": "x-404", "reason": "x"},
    )
    assert r.status_code == 404 and r.json()["error"]["code"] == "ENTRY_NOT_FOUND"
