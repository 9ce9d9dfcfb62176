"""The provider directory against the real provider app (in process): approvals, suspensions
and terminal revocations reach redemption within a few polls."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import httpx
import pytest

from services.provider.config import ProviderSettings
from services.provider.main import create_app as create_provider_app
from services.voucher.main import create_app
from tests.conftest import running
from tests.provider.conftest import application
from tests.voucher.redeem.conftest import World, key, qr, settings_for


@pytest.fixture
async def linked(make_db, tokens):
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


async def eventually(fn, predicate, timeout_s=20.0):
    """Poll until `predicate(result)` holds (the directory is polled every 0.2 s)."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = await fn()
        if predicate(result):
            return result
        assert time.monotonic() < deadline, f"still {result.status_code}: {result.text}"
        await asyncio.sleep(0.1)


async def test_suspension_and_revocation_reach_redemption(linked, tokens):
    world, pclient = linked
    officer = tokens.headers("civil_affairs", region="450100")
    r = await pclient.post("/v1/providers", json=application(), headers=officer)
    pid = r.json()["id"]
    assert (
        await pclient.post(f"/v1/providers/{pid}/approve", json={"reason": "ok"}, headers=officer)
    ).status_code == 200
    admin = tokens.headers("provider_admin", provider_id=pid)
    t1 = (
        await pclient.post(f"/v1/providers/{pid}/terminals", json={"name": "前台"}, headers=admin)
    ).json()
    t2 = (
        await pclient.post(f"/v1/providers/{pid}/terminals", json={"name": "后厨"}, headers=admin)
    ).json()
    ben = await world.add_beneficiary()
    vid = await world.add_voucher(
        ben,
        per_use_fen=500,
        ratio_bp=None,
        kinds=("meal_point",),
        categories=("meal",),
        face_fen=15_500,
    )

    def redeem(terminal):
        return lambda: world.client.post(
            "/v1/redemptions",
            headers={"Authorization": f"Bearer {terminal['secret']}"},
            json={
                "token": qr(ben),
                "service_code": "MEAL_LUNCH",
                "gross_fen": 1500,
                "idempotency_key": key(),
            },
        )

    first = await eventually(redeem(t1), lambda r: r.status_code == 201)
    assert first.json()["subsidy_fen"] == 500 and await world.balance(vid) == 15_000

    # Revoke one terminal: it gets 401 while the other still works.
    r = await pclient.post(
        f"/v1/providers/{pid}/terminals/{t2['terminal_id']}/revoke", headers=admin
    )
    assert r.status_code == 200, r.text
    gone = await eventually(redeem(t2), lambda r: r.status_code == 401)
    assert gone.json()["error"]["code"] == "INVALID_TERMINAL"

    # Suspend the provider: its terminals get PROVIDER_NOT_APPROVED.
    assert (
        await pclient.post(f"/v1/providers/{pid}/suspend", json={"reason": "检查"}, headers=officer)
    ).status_code == 200
    refused = await eventually(redeem(t1), lambda r: r.status_code == 403)
    assert refused.json()["error"]["code"] == "PROVIDER_NOT_APPROVED"
    # (Polls before the change arrived may have been served; from now on nothing moves.)
    balance = await world.balance(vid)
    again = await redeem(t1)()
    assert again.json()["error"]["code"] == "PROVIDER_NOT_APPROVED"
    assert await world.balance(vid) == balance
    assert (await redeem(t2)()).status_code == 401
    ready = (await world.client.get("/readyz")).json()["checks"]["directory"]
    assert ready["loaded"] is True and ready["version"] > 0
