"""What the database itself holds about claims and payments, whoever writes; and a claim
interrupted by a voucher-service outage resumes."""

from __future__ import annotations

import asyncpg
import httpx
import pytest

from services.common.settings import get_common_settings
from services.ledger.settlement.clients import VoucherClient


async def _app_conn(s) -> asyncpg.Connection:
    return await asyncpg.connect(s.ldb.app_url)


async def test_database_refuses_what_would_break_a_claim(settle):
    s = settle
    pid, term = await s.provider()
    await s.redeem(term)
    await s.deliver()
    claim = (await s.claim(pid)).json()
    conn = await _app_conn(s)  # the service's own role
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("UPDATE claim_action SET actor = 'x'")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("DELETE FROM claim_action")
        with pytest.raises(asyncpg.RaiseError, match="CLAIM_TRANSITION_NOT_ALLOWED"):
            await conn.execute("UPDATE claim SET status = 'paid' WHERE id = $1::uuid", claim["id"])
        with pytest.raises(asyncpg.RaiseError, match="DERIVED_ROW"):
            await conn.execute("UPDATE claim SET total_fen = 1 WHERE id = $1::uuid", claim["id"])
        with pytest.raises(asyncpg.RaiseError, match="JOURNAL_IMMUTABLE"):
            await conn.execute("DELETE FROM claim WHERE id = $1::uuid", claim["id"])
        # a line that is not a redemption entry of the claim's provider
        other = await conn.fetchval("SELECT id FROM entry WHERE kind <> 'redemption' LIMIT 1")
        with pytest.raises(asyncpg.RaiseError, match="CLAIM_LINE_INVALID"):
            await conn.execute(
                "INSERT INTO claim_line (claim_id, redemption_id, entry_id, amount_fen) "
                "VALUES ($1::uuid, 'nope', $2, 5)",
                claim["id"],
                other,
            )
        # a total that is not the sum of the lines is refused at COMMIT
        with pytest.raises(asyncpg.RaiseError, match="CLAIM_TOTAL_MISMATCH"):
            async with conn.transaction():
                await conn.execute(
                    "UPDATE claim_line SET active = false WHERE claim_id = $1::uuid", claim["id"]
                )
    finally:
        await conn.close()
    r = await s.lc.get(f"/v1/claims/{claim['id']}", headers=s.admin(pid))
    assert r.json()["total_fen"] == claim["total_fen"] and r.json()["status"] == "submitted"


class _Down(httpx.AsyncBaseTransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("voucher service down", request=request)


async def test_a_claim_cut_off_by_an_outage_resumes(settle):
    s = settle
    pid, term = await s.provider()
    rid = await s.redeem(term)
    await s.deliver()
    app = s.lc._transport.app  # type: ignore[attr-defined]
    real = app.state.voucher_api if hasattr(app.state, "voucher_api") else None
    app.state.voucher_api = VoucherClient(
        httpx.AsyncClient(transport=_Down(), base_url="http://voucher"),
        get_common_settings().auth_private_key,
    )
    r = await s.claim(pid, idempotency_key="claim-outage-01")
    assert r.status_code == 503 and r.json()["error"]["code"] == "VOUCHER_SERVICE_UNAVAILABLE"
    assert await s.fetchval("SELECT status FROM claim") == "pending"
    # the line is held by the pending claim: the voucher side has not marked it
    assert (
        await s.w.conn.fetchval("SELECT claimed_at FROM redemption WHERE id = $1::uuid", rid)
        is None
    )
    app.state.voucher_api = real
    if real is None:
        del app.state.voucher_api
    r = await s.claim(pid, idempotency_key="claim-outage-01")
    assert r.status_code == 201 and r.json()["status"] == "submitted", r.text
    assert await s.fetchval("SELECT count(*) FROM claim") == 1
    assert (
        await s.w.conn.fetchval("SELECT claim_id FROM redemption WHERE id = $1::uuid", rid)
        == r.json()["id"]
    )
