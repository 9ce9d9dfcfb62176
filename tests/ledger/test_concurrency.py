"""Real connections racing: several app instances (each its own pool) on one database,
requests fired together with asyncio.gather."""

import asyncio
import contextlib
import random

from services.ledger.config import LedgerSettings
from tests.conftest import running
from tests.fixtures.voucher_programs import ledger_app
from tests.ledger.conftest import redemption, void


@contextlib.asynccontextmanager
async def instances(ledger, n=3):
    async with contextlib.AsyncExitStack() as stack:
        clients = []
        for _ in range(n):
            app = ledger_app(LedgerSettings(database_url=ledger.sdb.app_url, pool_size=6))
            clients.append(await stack.enter_async_context(running(app)))
        yield clients


async def test_racing_commitments_never_overdraw_the_budget(ledger):
    await ledger.appropriate({"central": 95_000, "regional": 5_000})
    async with instances(ledger) as clients:
        results = await asyncio.gather(
            *(ledger.commit(10_000, client=clients[i % len(clients)]) for i in range(30))
        )
    codes = sorted(r.status_code for r in results)
    assert codes.count(201) == 10 and codes.count(409) == 20
    assert {r.json()["error"]["code"] for r in results if r.status_code == 409} == {
        "BUDGET_EXCEEDED"
    }
    assert (await ledger.budget())["available_fen"] == 0
    assert (await ledger.verify())["ok"]


async def test_racing_retries_of_one_key_post_once(ledger):
    await ledger.appropriate({"central": 95_000, "regional": 5_000})
    async with instances(ledger) as clients:
        results = await asyncio.gather(
            *(ledger.commit(1_000, key="issuance:same:0", client=clients[i % 3]) for i in range(12))
        )
    assert {r.status_code for r in results} == {201}
    assert len({r.json()["entry_id"] for r in results}) == 1
    assert (await ledger.budget())["available_fen"] == 99_000


async def test_storm_of_posts_and_reversals(ledger):
    """Appropriations, commitments, redemption batches, voids (some twice, some re-sent) and
    reversals of appropriations, all at once from many connections. Afterwards: every
    balance sums to zero, budgets are never negative, the chain verifies, and each event
    was applied once."""
    rng = random.Random(7)
    approps = [await ledger.appropriate({"central": 950_000, "regional": 50_000}) for _ in range(3)]
    await ledger.commit(600_000)
    reds = [redemption(rng.randint(1, 5_000), provider=f"p{i % 4}") for i in range(120)]
    voids = [void(r) for r in reds[::3]]
    async with instances(ledger, 4) as clients:

        def client():
            return rng.choice(clients)

        async def send(events):
            r = await client().post("/v1/events", headers=ledger.service, json={"events": events})
            assert r.status_code == 200, r.text
            return r.json()["results"]

        jobs = []
        for i in range(0, len(reds), 10):
            jobs.append(send(reds[i : i + 10]))
            jobs.append(send(reds[i : i + 10]))  # a relay re-sending the same batch
        jobs += [send([v]) for v in voids]  # may arrive before their redemption: rejected
        jobs += [ledger.commit(20_000, client=client()) for _ in range(20)]
        jobs += [
            client().post(
                f"/v1/entries/{a.json()['entry_id']}/reverse",
                headers=ledger.checker,
                json={"idempotency_key": f"rev-{n}", "reason": "storm"},
            )
            for n, a in enumerate(approps)
            for _ in range(2)
        ]
        rng.shuffle(jobs)
        await asyncio.gather(*jobs)
        # settle: whatever voids were refused for arriving early stay refused; re-send all
        await send(reds)
        await send(voids)

    conn = await ledger.owner()
    try:
        assert await conn.fetchval("SELECT coalesce(sum(amount_fen), 0) FROM posting") == 0
        assert await conn.fetchval("SELECT coalesce(sum(balance_fen), 0) FROM account") == 0
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM account WHERE no_overdraft AND balance_fen * normal_sign < 0"
            )
            == 0
        )
        assert await conn.fetchval("SELECT count(*) FROM entry WHERE kind = 'redemption'") == len(
            reds
        )
        assert await conn.fetchval("SELECT count(*) FROM ledger_event") == len(reds) + len(voids)
        reversed_ = await conn.fetchval("SELECT count(*) FROM entry WHERE kind = 'reversal'")
        assert reversed_ <= len(approps)
        bad = await conn.fetchval(
            "SELECT count(*) FROM (SELECT entry_id FROM posting GROUP BY entry_id "
            "HAVING sum(amount_fen) <> 0) x"
        )
        assert bad == 0
        # the expense recognised is what the providers are owed, net of voids; and each
        # transaction's expense entry is exactly what its own redemptions credited providers
        by_code = dict(
            await conn.fetch(
                "SELECT a.code, sum(p.amount_fen) FROM posting p JOIN account a "
                "ON a.id = p.account_id WHERE a.code IN ('2201', '5001') GROUP BY a.code"
            )
        )
        assert by_code["5001"] == -by_code["2201"] > 0
        unmatched = await conn.fetchval(
            "SELECT count(*) FROM (SELECT e.txid FROM entry e "
            "JOIN posting p ON p.entry_id = e.id JOIN account a ON a.id = p.account_id "
            "WHERE e.kind IN ('redemption', 'expense_recognition') GROUP BY e.txid "
            "HAVING coalesce(sum(p.amount_fen) FILTER (WHERE a.code = '5001'), 0) "
            "<> -coalesce(sum(p.amount_fen) FILTER (WHERE a.code = '2201'), 0)) x"
        )
        assert unmatched == 0
    finally:
        await conn.close()
    assert (await ledger.verify())["ok"]


def _in_city(event: dict, city: str) -> dict:
    return dict(event, payload=dict(event["payload"], budget_region_code=city))


async def test_a_batch_delivered_twice_and_raced_by_two_workers_posts_each_event_once(ledger):
    """What a relay worker does when its answer is lost (the same batch again, later) and when
    two workers hold the same batch (a lease that moved while the first was still posting):
    each batch arrives from two app instances at once, in two books, then once more. Every
    event is applied exactly once — by whichever request took its book's head first — and the
    other answers `duplicate` with the same entry; the journal and balances count each once."""
    await ledger.appropriate({"central": 950_000, "regional": 50_000})
    await ledger.appropriate({"central": 950_000, "regional": 50_000}, region="450200")
    await ledger.commit(500_000)
    await ledger.commit(500_000, region="450203")
    batches = [
        [redemption(100 + i, provider=f"p{i % 3}") for i in range(40)],
        [_in_city(redemption(200 + i, provider=f"q{i % 3}"), "450200") for i in range(40)],
    ]
    async with instances(ledger, 2) as clients:

        async def send(client, events):
            r = await client.post("/v1/events", headers=ledger.service, json={"events": events})
            assert r.status_code == 200, r.text
            return r.json()["results"]

        raced = await asyncio.gather(*(send(c, b) for b in batches for c in clients))
        again = [await send(clients[1], b) for b in batches]

    for n, batch in enumerate(batches):
        first, second = raced[2 * n], raced[2 * n + 1]
        for i, ev in enumerate(batch):
            pair = sorted([first[i]["status"], second[i]["status"]])
            assert pair == ["applied", "duplicate"], (ev["event_id"], pair)
            assert first[i]["entry_id"] == second[i]["entry_id"] == again[n][i]["entry_id"]
        assert {r["status"] for r in again[n]} == {"duplicate"}
    events = [e for b in batches for e in b]
    assert await ledger.fetchval("SELECT count(*) FROM entry WHERE kind = 'redemption'") == 80
    assert await ledger.fetchval(
        "SELECT count(DISTINCT event_id) FROM entry WHERE kind = 'redemption'"
    ) == len(events)
    assert await ledger.fetchval("SELECT count(*) FROM ledger_event") == 80
    # each city's vouchers outstanding went down by its redemptions once
    for city, batch in (("450100", batches[0]), ("450200", batches[1])):
        spent = sum(e["payload"]["subsidy_fen"] for e in batch)
        outstanding = await ledger.fetchval(
            "SELECT -sum(balance_fen) FROM account WHERE code = '2101' AND region_code = $1", city
        )
        assert outstanding == 500_000 - spent
    assert (await ledger.verify())["ok"]
