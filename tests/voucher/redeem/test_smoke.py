from tests.voucher.redeem.conftest import key, qr


async def test_smoke(world):
    pid = world.add_provider()
    term = world.add_terminal(pid)
    ben = await world.add_beneficiary()
    vid = await world.add_voucher(ben)
    r = await world.client.post("/v1/redemptions", headers=term.headers, json={
        "token": qr(ben), "service_code": "CARE_BATH", "gross_fen": 8001,
        "idempotency_key": key()})
    assert r.status_code == 201, r.text
    print(r.json())
    assert await world.balance(vid) == 50_000 - 4000
    print(await world.counts())
    print(await world.conn.fetchval("SELECT payload::text FROM outbox"))
