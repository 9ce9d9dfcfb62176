"""Operations: metrics and readiness show event delivery; migrations are reversible."""

import asyncio

from services.common.migrate import downgrade, upgrade
from tests.ledger.conftest import redemption


async def test_metrics_and_readiness_show_event_delivery(ledger):
    await ledger.appropriate({"central": 950_000, "regional": 50_000})
    await ledger.commit(10_000)
    good = redemption(100)
    await ledger.events([good, redemption(999_999), good])
    m = (await ledger.c.get("/v1/metrics", headers=ledger.service)).json()
    counts = {(e["type"], e["status"]): e["count"] for e in m["events"]}
    assert counts == {("redemption.created", "applied"): 1, ("redemption.created", "rejected"): 1}
    assert m["entries"] == 4 and m["recent_delivery_lag_s"] is not None
    ready = await ledger.c.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert "recent_delivery_lag_s" in ready.json()["checks"]["event_delivery"]


async def test_migrations_go_down_and_up_again(make_db):
    sdb = await make_db("ledger")
    await asyncio.to_thread(downgrade, "ledger", sdb.owner_url, "base")
    await asyncio.to_thread(upgrade, "ledger", sdb.owner_url)
