from tests.ledger.conftest import redemption, void


async def test_smoke(ledger):
    r = await ledger.appropriate({"central": 950_000, "regional": 50_000})
    assert r.status_code == 201, r.text
    r = await ledger.commit(100_000)
    assert r.status_code == 201, r.text
    red = redemption(1001)
    res = await ledger.events([red, void(red)])
    assert [x["status"] for x in res] == ["applied", "applied"], res
    v = await ledger.verify()
    assert v["ok"], v
