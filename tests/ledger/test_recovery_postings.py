"""`redemption.recovered`: what a recovery posts (docs/ledger.md, "Recoveries"), applied once
by its event id, refused for a voided or unknown redemption; the books stay balanced."""

from __future__ import annotations

import uuid

from tests.ledger.conftest import event, redemption, void
from tests.ledger.test_postings import _accounts


def recovered(red: dict, *, mode: str = "payable", destination: str = "voucher") -> dict:
    p = red["payload"]
    return event(
        "redemption.recovered",
        p["budget_region_code"],
        recovery_id=str(uuid.uuid4()),
        redemption_id=p["redemption_id"],
        voucher_id=p["voucher_id"],
        beneficiary_id=p["beneficiary_id"],
        provider_id=p["provider_id"],
        subsidy_fen=p["subsidy_fen"],
        mode=mode,
        destination=destination,
        alert_id=str(uuid.uuid4()),
        reason="终端代刷",
    )


async def _funded(ledger):
    await ledger.appropriate({"central": 950_000, "regional": 50_000})
    assert (await ledger.commit(100_000)).status_code == 201


async def test_recovery_to_the_voucher_mirrors_the_redemption(ledger):
    await _funded(ledger)
    red = redemption(1001, provider="prov-r")
    before = await _accounts(ledger)
    assert (await ledger.events([red]))[0]["status"] == "applied"
    rec = recovered(red)
    [res] = await ledger.events([rec])
    assert res["status"] == "applied", res
    after = await _accounts(ledger)
    # Payable, expense and vouchers outstanding are back where they were.
    assert after[("2201", "central", "prov-r")] == 0
    assert after[("2201", "regional", "prov-r")] == 0
    assert after[("2101", None, None)] == before[("2101", None, None)]
    assert after[("5001", "central", None)] == 0
    # Delivered again (the relay's retry): the same entry, nothing more.
    [again] = await ledger.events([rec])
    assert again["status"] == "duplicate" and again["entry_id"] == res["entry_id"]
    assert await _accounts(ledger) == after
    entry = (await ledger.c.get(f"/v1/entries/{res['entry_id']}", headers=ledger.auditor)).json()
    assert entry["kind"] == "redemption_recovery"
    assert entry["memo"].startswith(f"recovery:{rec['payload']['recovery_id']} alert:")
    assert (await ledger.verify())["ok"]


async def test_recovery_to_the_budget_and_as_receivable(ledger):
    await _funded(ledger)
    available = (await ledger.budget())["available_fen"]
    red = redemption(2000, provider="prov-s")
    await ledger.events([red])
    [res] = await ledger.events([recovered(red, mode="receivable", destination="budget")])
    assert res["status"] == "applied", res
    bal = await _accounts(ledger)
    assert bal[("2201", "central", "prov-s")] == 0
    assert bal[("5001", "central", None)] == 0
    # Vouchers outstanding keep what the redemption took; the budget gets it back.
    assert (await ledger.budget())["available_fen"] == available + 2000
    entry = (await ledger.c.get(f"/v1/entries/{res['entry_id']}", headers=ledger.auditor)).json()
    assert entry["kind"] == "recovery_receivable"
    tb = (await ledger.c.get("/v1/trial-balance", headers=ledger.auditor)).json()
    assert tb["balanced"] and sum(a["balance_fen"] for a in tb["accounts"]) == 0


async def test_recovery_of_voided_or_unknown_redemption_refused(ledger):
    await _funded(ledger)
    red = redemption(500)
    await ledger.events([red, void(red)])
    [res] = await ledger.events([recovered(red)])
    assert res["status"] == "rejected" and res["error"]["code"] == "ALREADY_VOIDED"
    [res] = await ledger.events([recovered(redemption(500))])
    assert res["status"] == "rejected" and res["error"]["code"] == "UNKNOWN_REDEMPTION"
    other = redemption(700)
    bad = recovered(other)
    bad["payload"]["subsidy_fen"] = 600
    [_, res] = await ledger.events([other, bad])
    assert res["status"] == "rejected" and res["error"]["code"] == "AMOUNT_MISMATCH"
