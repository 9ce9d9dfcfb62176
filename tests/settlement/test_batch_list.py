"""GET /v1/payment-batches: finance and auditors list the batches their region covers,
newest first, a page at a time, each with its state read from its lines."""

from __future__ import annotations

import re
from datetime import datetime

from services.common.auth import Role
from tests.settlement.test_batches import _approved_claim, _confirmation, _import


async def _batch(s, key: str) -> dict:
    pid, term = await s.provider()
    await _approved_claim(s, pid, term)
    r = await s.lc.post(
        "/v1/payment-batches",
        headers=s.finance("finance:c"),
        json={"region_code": "450100", "idempotency_key": key},
    )
    assert r.status_code == 201, r.text
    return r.json()


async def test_list_pages_newest_first_with_state(paying):
    s = paying
    first = await _batch(s, "list-key-0001")
    second = await _batch(s, "list-key-0002")
    r = await _import(s, first["id"], _confirmation(first, {}))
    assert r.status_code == 200, r.text
    page = await s.lc.get("/v1/payment-batches", params={"limit": 1}, headers=s.finance())
    assert page.status_code == 200, page.text
    body = page.json()
    assert [b["id"] for b in body["items"]] == [second["id"]]
    assert body["items"][0]["state"] == "pending" and body["items"][0]["lines_pending"] == 1
    nxt = await s.lc.get(
        "/v1/payment-batches",
        headers=s.finance(),
        params={"limit": 1, "cursor": body["next_cursor"]},
    )
    item = nxt.json()["items"][0]
    assert item["id"] == first["id"] and item["state"] == "paid"
    assert item["paid_fen"] == first["total_fen"] and item["lines_paid"] == 1
    assert nxt.json()["next_cursor"] is None
    auditor = s.tokens.headers(Role.auditor, region="450000")
    both = await s.lc.get("/v1/payment-batches", headers=auditor)
    assert [b["id"] for b in both.json()["items"]] == [second["id"], first["id"]]
    bad = await s.lc.get("/v1/payment-batches", params={"cursor": "nonsense"}, headers=s.finance())
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "cursor"


async def test_list_refuses_wrong_role_and_hides_other_regions(paying):
    s = paying
    batch = await _batch(s, "list-key-0003")
    for role, extra in (
        (Role.provider_admin, {"provider_id": "p1"}),
        (Role.civil_affairs, {"region": "450000"}),
        (Role.beneficiary, {"beneficiary_ids": ("b1",)}),
    ):
        r = await s.lc.get("/v1/payment-batches", headers=s.tokens.headers(role, **extra))
        assert r.status_code == 403 and r.json()["error"]["code"] == "ROLE_NOT_ALLOWED"
    other = s.finance("finance:lz", region="450200")
    r = await s.lc.get("/v1/payment-batches", headers=other)
    assert r.status_code == 200 and r.json()["items"] == []
    r = await s.lc.get("/v1/payment-batches", params={"region_code": "450100"}, headers=other)
    assert r.status_code == 403 and r.json()["error"]["code"] == "OUT_OF_SCOPE"
    mine = await s.lc.get(
        "/v1/payment-batches", params={"region_code": "450100"}, headers=s.finance()
    )
    assert batch["id"] in [b["id"] for b in mine.json()["items"]]


async def test_settlement_answers_its_instants_in_beijing_time_as_the_journal_does(paying):
    """A claim's submission, approval, history and lines, and a payment batch, are written
    as the journal writes its entries: Beijing time with its offset (+08:00), six decimals;
    the same instants as stored."""
    s = paying
    pid, term = await s.provider()
    claim = await _approved_claim(s, pid, term)
    batch = (
        await s.lc.post(
            "/v1/payment-batches",
            headers=s.finance("finance:c"),
            json={"region_code": "450100", "idempotency_key": "tz-key-0001"},
        )
    ).json()
    listed = (await s.lc.get("/v1/payment-batches", headers=s.finance())).json()["items"][0]
    claim = (await s.lc.get(f"/v1/claims/{claim['id']}", headers=s.finance())).json()
    line = claim["redemptions"][0]
    entry = await s.lc.get(f"/v1/entries/{line['entry_id']}", headers=s.finance())
    assert entry.status_code == 200, entry.text
    answered = [
        claim["submitted_at"],
        claim["approved_at"],
        *(h["at"] for h in claim["history"]),
        line["posted_at"],
        batch["created_at"],
        listed["created_at"],
    ]
    for text in answered:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+08:00", text), text
    assert line["posted_at"] == entry.json()["posted_at"]
    stored = await s.fetchval(
        "SELECT created_at FROM payment_batch WHERE id = $1::uuid", batch["id"]
    )
    assert datetime.fromisoformat(batch["created_at"]) == stored
