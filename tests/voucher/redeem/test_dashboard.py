"""GET /v1/dashboard (the voucher service's figures): equal to counts made directly in the
database on seeded data; in scope only."""

from __future__ import annotations

from services.voucher.service.dashboard import used_bp
from tests.voucher.redeem.conftest import key, qr

PERIOD = "2026-11"


async def test_the_dashboard_equals_what_the_database_counts(world, tokens):
    pid = world.add_provider()
    term = world.add_terminal(pid)
    people = [await world.add_beneficiary() for _ in range(3)]
    elsewhere = await world.add_beneficiary(region="450105")
    await world.add_beneficiary(status="suspended")
    vouchers = [await world.add_voucher(b, face_fen=50_000, period=PERIOD) for b in people]
    await world.add_voucher(people[0], face_fen=20_000, period="2026-10")
    paid = []
    for ben in people[:2]:
        r = await world.client.post(
            "/v1/redemptions",
            headers=term.headers,
            json={
                "token": qr(ben),
                "service_code": "CARE_BATH",
                "gross_fen": 8000,
                "idempotency_key": key(),
            },
        )
        assert r.status_code == 201, r.text
        paid.append(r.json())
    r = await world.client.post(
        f"/v1/redemptions/{paid[1]['id']}/void", headers=term.headers, json={"reason": "录错"}
    )
    assert r.status_code == 200, r.text

    officer = tokens.headers("civil_affairs", sub="o:nn", region="450100")
    r = await world.client.get(
        "/v1/dashboard", headers=officer, params={"region_code": "450100", "period": PERIOD}
    )
    assert r.status_code == 200, r.text
    d = r.json()
    db = world.conn
    active = await db.fetchval(
        "SELECT count(*) FROM beneficiary WHERE status = 'active' AND region_code LIKE '4501%'"
    )
    assert d["enrolled"]["total"] == active == 4
    assert d["enrolled"]["by_grade"] == {"3": 4}
    assert d["enrolled"]["by_care_setting"] == {"community": 4}
    (use,) = d["programs"]
    face = await db.fetchval("SELECT sum(face_fen) FROM voucher WHERE period = $1", PERIOD)
    redeemed = await db.fetchval(
        "SELECT sum(subsidy_fen) FROM redemption r JOIN voucher v ON v.id = r.voucher_id"
        " WHERE r.status <> 'voided' AND v.period = $1",
        PERIOD,
    )
    assert (use["program_code"], use["vouchers"], use["face_fen"]) == (
        "disability_subsidy",
        3,
        face,
    )
    assert (use["redemptions"], use["redeemed_fen"]) == (1, redeemed) == (1, 4000)
    assert use["used_bp"] == used_bp(4000, 150_000) == 266
    assert [(t["period"], t["vouchers"]) for t in d["trend"]] == [("2026-10", 1), ("2026-11", 3)]
    # no ledger reachable here: the budget is said to be unknown, the rest still answers
    assert d["budget"] is None
    assert d["providers"] == [{"kind": "community_embedded", "status": "approved", "providers": 1}]
    subs = {s["region_code"]: s for s in d["subregions"]}
    assert subs["450103"]["enrolled"] == 3 and subs["450103"]["vouchers"] == 3
    assert subs["450105"]["enrolled"] == 1 and subs["450105"]["vouchers"] == 0
    assert elsewhere and vouchers
    # drill-down: the district itself; its townships (none coded) give no sub-regions
    r = await world.client.get(
        "/v1/dashboard", headers=officer, params={"region_code": "450105", "period": PERIOD}
    )
    assert r.json()["enrolled"]["total"] == 1 and r.json()["programs"] == []
    # wrong scope, wrong role, bad input
    liuzhou = tokens.headers("civil_affairs", sub="o:lz", region="450200")
    r = await world.client.get("/v1/dashboard", headers=liuzhou, params={"region_code": "450100"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "OUT_OF_SCOPE"
    staff = tokens.headers("provider_staff", sub="s:1", provider_id=pid)
    r = await world.client.get("/v1/dashboard", headers=staff, params={"region_code": "450100"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "ROLE_NOT_ALLOWED"
    r = await world.client.get(
        "/v1/dashboard", headers=officer, params={"region_code": "450100", "period": "2026-13"}
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "INVALID_PERIOD"
    auditor = tokens.headers("auditor", sub="a:gx", region="450000")
    r = await world.client.get(
        "/v1/dashboard", headers=auditor, params={"region_code": "450000", "period": PERIOD}
    )
    assert [s["region_code"] for s in r.json()["subregions"]] == ["450100"]
