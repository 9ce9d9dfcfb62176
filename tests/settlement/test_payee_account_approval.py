"""A provider's new bank account reaches the payment file only once an officer approved it:
until then batches keep paying the last approved account."""

from __future__ import annotations

import csv
import io

from services.common.auth import Role
from tests.settlement.test_batches import _approved_claim

OLD, NEW = "6222021234567890123", "6228480402564890018"


async def _batch_numbers(s, key: str) -> set[str]:
    r = await s.lc.post(
        "/v1/payment-batches",
        headers=s.finance("finance:c"),
        json={"region_code": "450100", "idempotency_key": key},
    )
    assert r.status_code == 201, r.text
    f = await s.lc.get(f"/v1/payment-batches/{r.json()['id']}/file", headers=s.finance())
    return {row["account_number"] for row in csv.DictReader(io.StringIO(f.content.decode()))}


async def test_batches_use_the_approved_account_only(paying):
    s = paying
    pid, term = await s.provider()
    officer = s.tokens.headers(Role.civil_affairs, region="450100", sub="officer:nn")
    r = await s.provider_client.post(
        f"/v1/providers/{pid}/approve", headers=officer, json={"reason": "资质审核通过"}
    )
    assert r.status_code == 200, r.text
    r = await s.provider_client.patch(
        f"/v1/providers/{pid}",
        headers=s.admin(pid),
        json={
            "bank_account": {
                "bank_name": "桂林银行",
                "account_name": "新户名",
                "account_number": NEW,
            }
        },
    )
    assert r.status_code == 200, r.text
    change = r.json()["bank_account_change_pending"]

    await _approved_claim(s, pid, term, (10_000,))
    assert await _batch_numbers(s, "batch-acct-0001") == {OLD}

    r = await s.provider_client.post(
        f"/v1/providers/{pid}/bank-account-changes/{change['id']}/approve", headers=officer, json={}
    )
    assert r.status_code == 200, r.text
    await _approved_claim(s, pid, term, (6_000,))
    assert await _batch_numbers(s, "batch-acct-0002") == {NEW}
