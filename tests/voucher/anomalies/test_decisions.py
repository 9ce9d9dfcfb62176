"""Officers' side: rule thresholds per region (versioned, audited; role and scope), the alert
queue and decisions (role and scope; out of scope answers like an unknown id), and what a
confirmation does: a credit event on the provider (two confirmed findings suspend it) and
the recovery of the redemptions paid wrongly, once."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest

from services.provider.config import ProviderSettings
from services.provider.main import create_app as create_provider_app
from services.voucher.main import create_app
from tests.conftest import running
from tests.provider.conftest import application
from tests.voucher.anomalies.conftest import alerts, craft, detect
from tests.voucher.redeem.conftest import World, settings_for

NOW = datetime.now(UTC) - timedelta(hours=2)


async def _burst(world: World, pid: str, terminal_id: str, n: int = 11) -> list[uuid.UUID]:
    """`n` elders served at one terminal within minutes; each voucher's balance is what the
    redemption left (face 50,000, 1,000 spent)."""
    out = []
    for i in range(n):
        b = await world.add_beneficiary()
        v = await world.add_voucher(b, balance_fen=49_000)
        out.append(
            await craft(
                world,
                voucher_id=v,
                beneficiary_id=b,
                provider_id=pid,
                terminal_id=terminal_id,
                at=NOW + timedelta(seconds=30 * i),
            )
        )
    assert (await detect(world)).raised == 1
    return out


async def test_rule_thresholds_per_region_versioned(world, tokens):
    c = world.client
    officer = tokens.headers("civil_affairs", region="450100")
    r = await c.get("/v1/anomaly-rules", params={"region_code": "450103"}, headers=officer)
    assert r.status_code == 200
    burst = next(x for x in r.json() if x["rule_code"] == "terminal_burst")
    assert burst["source_region_code"] is None and burst["version"] == 0
    assert burst["thresholds"] == {"max_elders": 10, "window_minutes": 10}

    body = {
        "region_code": "450100",
        "enabled": True,
        "thresholds": {"max_elders": 6, "window_minutes": 15},
        "reason": "城区机构规模小",
        "expected_version": 0,
    }
    r = await c.put("/v1/anomaly-rules/terminal_burst", json=body, headers=officer)
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 1
    # The county below follows the city.
    r = await c.get("/v1/anomaly-rules", params={"region_code": "450103"}, headers=officer)
    burst = next(x for x in r.json() if x["rule_code"] == "terminal_burst")
    assert burst["source_region_code"] == "450100"
    assert burst["thresholds"] == {"max_elders": 6, "window_minutes": 15}

    # A stale version, a bad threshold, another region's officer, another role: refused.
    r = await c.put("/v1/anomaly-rules/terminal_burst", json=body, headers=officer)
    assert r.status_code == 409 and r.json()["error"]["code"] == "RULE_VERSION_CONFLICT"
    bad = {**body, "expected_version": 1, "thresholds": {"max_elders": 0, "window_minutes": 15}}
    r = await c.put("/v1/anomaly-rules/terminal_burst", json=bad, headers=officer)
    assert r.status_code == 422 and r.json()["error"]["field"] == "thresholds.max_elders"
    other = tokens.headers("civil_affairs", region="450200")
    r = await c.put(
        "/v1/anomaly-rules/terminal_burst", json={**body, "expected_version": 1}, headers=other
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "OUT_OF_SCOPE"
    finance = tokens.headers("finance", region="450100")
    r = await c.put(
        "/v1/anomaly-rules/terminal_burst", json={**body, "expected_version": 1}, headers=finance
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "ROLE_NOT_ALLOWED"
    r = await c.put("/v1/anomaly-rules/no_such_rule", json=body, headers=officer)
    assert r.status_code == 404 and r.json()["error"]["code"] == "UNKNOWN_ANOMALY_RULE"

    # The audit trail: old and new, who, when, why.
    r = await c.get("/v1/anomaly-rules/versions", params={"region_code": "450100"}, headers=officer)
    [v1] = r.json()
    assert v1["old_thresholds"] == {"max_elders": 10, "window_minutes": 10}
    assert v1["thresholds"] == {"max_elders": 6, "window_minutes": 15}
    assert v1["reason"] == "城区机构规模小" and v1["changed_by"]
    assert (
        await world.conn.fetchval("SELECT count(*) FROM anomaly_rule_version")
    ) == 1  # the refusals wrote nothing


async def test_queue_and_decision_role_and_scope(world, tokens):
    pid = world.add_provider()
    t = world.add_terminal(pid)
    await _burst(world, pid, t.id)
    c = world.client
    officer = tokens.headers("civil_affairs", region="450100")
    other = tokens.headers("civil_affairs", region="450200")
    r = await c.get(
        "/v1/alerts", params={"region_code": "450103", "status": "open"}, headers=officer
    )
    assert r.status_code == 200
    [alert] = r.json()["items"]
    assert alert["rule_code"] == "terminal_burst" and len(alert["evidence"]) == 11
    aid = alert["id"]
    # Another region: its list is refused, the alert answers like an unknown id.
    r = await c.get("/v1/alerts", params={"region_code": "450103"}, headers=other)
    assert r.status_code == 403
    assert (await c.get("/v1/alerts", headers=other)).json()["items"] == []
    for path in (f"/v1/alerts/{aid}", f"/v1/alerts/{uuid.uuid4()}"):
        r = await c.get(path, headers=other)
        assert r.status_code == 404 and r.json()["error"]["code"] == "ALERT_NOT_FOUND"
    decision = {"decision": "dismiss", "reason": "节日集中助浴活动，已核实"}
    r = await c.post(f"/v1/alerts/{aid}/decision", json=decision, headers=other)
    assert r.status_code == 404 and r.json()["error"]["code"] == "ALERT_NOT_FOUND"
    for role in ("finance", "auditor", "provider_admin"):
        r = await c.post(
            f"/v1/alerts/{aid}/decision",
            json=decision,
            headers=tokens.headers(role, region="450100", provider_id=pid),
        )
        assert r.status_code == 403 and r.json()["error"]["code"] == "ROLE_NOT_ALLOWED"
    r = await c.post(
        f"/v1/alerts/{aid}/decision", json={"decision": "maybe", "reason": "x"}, headers=officer
    )
    assert r.status_code == 422
    assert (await alerts(world))[0]["status"] == "open"

    r = await c.post(f"/v1/alerts/{aid}/decision", json=decision, headers=officer)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "dismissed" and r.json()["decision_reason"] == decision["reason"]
    assert r.json()["credit_state"] == "none" and r.json()["recoveries"] == []
    # The same again: unchanged; the other decision: refused.
    r = await c.post(f"/v1/alerts/{aid}/decision", json=decision, headers=officer)
    assert r.status_code == 200 and r.json()["status"] == "dismissed"
    r = await c.post(
        f"/v1/alerts/{aid}/decision", json={"decision": "confirm", "reason": "x"}, headers=officer
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "ALERT_ALREADY_DECIDED"
    assert await world.conn.fetchval("SELECT count(*) FROM recovery") == 0


@pytest.fixture
async def linked(make_db):
    """A voucher app whose directory and credit events reach the real provider app."""
    pdb = await make_db("provider")
    vdb = await make_db("voucher")
    provider_app = create_provider_app(ProviderSettings(database_url=pdb.app_url))
    async with running(provider_app) as pclient:
        app = create_app(
            settings_for(vdb.app_url, directory_poll_interval_s=0.2),
            directory_transport=httpx.ASGITransport(app=provider_app),
        )
        conn = await asyncpg.connect(vdb.owner_url)
        try:
            async with running(app) as client:
                yield World(app, client, vdb.owner_url, conn), pclient
        finally:
            await conn.close()


async def _approved_provider(pclient, tokens) -> tuple[str, str]:
    officer = tokens.headers("civil_affairs", region="450100")
    pid = (await pclient.post("/v1/providers", json=application(), headers=officer)).json()["id"]
    r = await pclient.post(f"/v1/providers/{pid}/approve", json={"reason": "ok"}, headers=officer)
    assert r.status_code == 200
    admin = tokens.headers("provider_admin", provider_id=pid)
    t = await pclient.post(f"/v1/providers/{pid}/terminals", json={"name": "前台"}, headers=admin)
    return pid, t.json()["terminal_id"]


async def _in_directory(world: World, pid: str, tid: str) -> None:
    deadline = time.monotonic() + 20
    while world.app.state.directory.provider(pid) is None:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)


async def test_confirm_records_credit_and_recovers_once(linked, tokens):
    world, pclient = linked
    pid, tid = await _approved_provider(pclient, tokens)
    await _in_directory(world, pid, tid)
    officer = tokens.headers("civil_affairs", region="450100")
    ids = await _burst(world, pid, tid)
    [alert] = await alerts(world)
    aid = str(alert["id"])
    confirm = {"decision": "confirm", "reason": "终端代刷，已约谈机构"}
    r = await world.client.post(f"/v1/alerts/{aid}/decision", json=confirm, headers=officer)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "confirmed" and body["credit_state"] == "recorded"
    assert {x["redemption_id"] for x in body["recoveries"]} == {str(i) for i in ids}
    assert {x["mode"] for x in body["recoveries"]} == {"payable"}
    assert {x["destination"] for x in body["recoveries"]} == {"voucher"}
    # Balances restored (living people, not at fault, vouchers open); one event each.
    balances = await world.conn.fetch(
        "SELECT v.balance_fen FROM voucher v JOIN redemption r ON r.voucher_id = v.id "
        "WHERE r.id = ANY($1::uuid[])",
        ids,
    )
    assert {b["balance_fen"] for b in balances} == {50_000}
    events = await world.conn.fetch(
        "SELECT payload->>'redemption_id' AS rid, payload->>'mode' AS mode FROM outbox "
        "WHERE type = 'redemption.recovered'"
    )
    assert sorted(e["rid"] for e in events) == sorted(str(i) for i in ids)
    credit = (await pclient.get(f"/v1/providers/{pid}/credit", headers=officer)).json()
    assert credit["credit_points"] == 6 and credit["status"] == "approved"
    assert aid in credit["events"][0]["reason"]

    # The same decision again: nothing more (no second credit event, no second recovery).
    r = await world.client.post(f"/v1/alerts/{aid}/decision", json=confirm, headers=officer)
    assert r.status_code == 200 and r.json()["status"] == "confirmed"
    assert await world.conn.fetchval("SELECT count(*) FROM recovery") == len(ids)
    assert (
        await world.conn.fetchval("SELECT count(*) FROM outbox WHERE type = 'redemption.recovered'")
    ) == len(ids)
    assert (await pclient.get(f"/v1/providers/{pid}/credit", headers=officer)).json()[
        "credit_points"
    ] == 6
    # The provider service recorded the event but its answer was lost (the alert's credit still
    # pending): confirming again completes the alert without a second violation.
    await world.conn.execute("UPDATE alert SET credit_state = 'pending' WHERE id = $1::uuid", aid)
    r = await world.client.post(f"/v1/alerts/{aid}/decision", json=confirm, headers=officer)
    assert r.status_code == 200 and r.json()["credit_state"] == "recorded"
    credit = (await pclient.get(f"/v1/providers/{pid}/credit", headers=officer)).json()
    assert credit["credit_points"] == 6 and len(credit["events"]) == 1
    # The provider's recoveries: its admin, an officer or auditor of its region; others not.
    r = await world.client.get(
        "/v1/recoveries",
        params={"provider_id": pid},
        headers=tokens.headers("provider_admin", provider_id=pid),
    )
    assert r.status_code == 200 and len(r.json()) == len(ids)
    assert {x["alert_id"] for x in r.json()} == {aid}
    r = await world.client.get(
        "/v1/recoveries",
        params={"provider_id": pid},
        headers=tokens.headers("provider_admin", provider_id=str(uuid.uuid4())),
    )
    assert r.status_code == 403
    r = await world.client.get(
        "/v1/recoveries",
        params={"provider_id": pid},
        headers=tokens.headers("auditor", region="450200"),
    )
    assert r.status_code == 404
    r = await world.client.get(
        "/v1/recoveries",
        params={"provider_id": pid},
        headers=tokens.headers("finance", region="450100"),
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "ROLE_NOT_ALLOWED"
    # A recovered redemption can be neither voided nor claimed.
    r = await world.client.post(
        "/v1/internal/redemptions/claim",
        json={"claim_id": "c1", "redemption_ids": [str(ids[0])]},
        headers=tokens.headers("service"),
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "REDEMPTION_RECOVERED"
    with pytest.raises(asyncpg.RaiseError, match="REDEMPTION_RECOVERED"):
        await world.conn.execute(
            "UPDATE redemption SET status = 'voided', voided_at = now(), void_reason = 'x' "
            "WHERE id = $1",
            ids[0],
        )

    # A second confirmed finding reaches the provider service's threshold: suspended.
    global NOW
    NOW = NOW + timedelta(hours=1)
    await _burst(world, pid, tid)
    second = next(a for a in await alerts(world) if a["status"] == "open")
    r = await world.client.post(
        f"/v1/alerts/{second['id']}/decision",
        json={**confirm, "at_fault": True},
        headers=officer,
    )
    assert r.status_code == 200, r.text
    assert {x["destination"] for x in r.json()["recoveries"]} == {"budget"}
    credit = (await pclient.get(f"/v1/providers/{pid}/credit", headers=officer)).json()
    assert credit["credit_points"] == 12 and credit["status"] == "suspended"
