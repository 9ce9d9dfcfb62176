"""Provider statements and aging of approved-but-unpaid claims.

Statement rule: closing = opening + redemptions - voids + co-payments received - co-payments
refunded - payments (+ other corrections, e.g. a manual reversal), all from the
provider-payable (2201) postings of the ledger, so for the current period the closing equals
the accounts' balance. Of the payments, `copay_paid` is the co-payment part; of the closing,
`copay_closing` is online co-payments still owed (cash ones are never in the ledger).
Aging rule: each approved (or batched) unpaid claim is counted in the bucket of the days it
has waited since approval: 0-30, 31-60, 61-90, over 90; `copay_fen` is the co-payment part
of what waits.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from services.common.auth import Principal
from services.ledger.settlement import report_repository as repo

BUCKETS = (("0_30", 30), ("31_60", 60), ("61_90", 90), ("over_90", None))


def bucket_of(days: int) -> str:
    for name, upper in BUCKETS:
        if upper is None or days <= upper:
            return name
    raise AssertionError("unreachable")


async def statement(
    pool: asyncpg.Pool, provider_id: str, period: str, who: Principal
) -> dict[str, Any]:
    async with pool.acquire() as conn:
        m = await repo.payable_movements(conn, provider_id, period)
    regions = [r for r in (m["regions"] or []) if r]
    if who.role.value in ("finance", "auditor"):
        for r in regions:  # a provider with no postings yet shows zeros to anyone asking
            who.ensure_region(r)
    out = {
        k: int(m[k])
        for k in (
            "opening",
            "redemptions",
            "voids",
            "copay_received",
            "copay_refunded",
            "payments",
            "copay_paid",
            "other",
            "closing",
            "copay_closing",
        )
    }
    assert out["closing"] == (
        out["opening"]
        + out["redemptions"]
        - out["voids"]
        + out["copay_received"]
        - out["copay_refunded"]
        - out["payments"]
        + out["other"]
    )
    return {"provider_id": provider_id, "period": period, **{f"{k}_fen": v for k, v in out.items()}}


async def aging(pool: asyncpg.Pool, region_prefix_of: Any) -> dict[str, Any]:
    """`region_prefix_of(regions)` says whether the caller covers a claim's regions."""
    async with pool.acquire() as conn:
        rows = await repo.unpaid_approved(conn)
    providers: dict[str, dict[str, Any]] = {}
    totals = {name: 0 for name, _ in BUCKETS}
    for r in rows:
        if not region_prefix_of(list(r["region_codes"])):
            continue
        p = providers.setdefault(
            r["provider_id"],
            {
                "provider_id": r["provider_id"],
                "oldest_days": 0,
                "total_fen": 0,
                "copay_fen": 0,
                **{f"{name}_fen": 0 for name, _ in BUCKETS},
            },
        )
        b = bucket_of(r["days"])
        p[f"{b}_fen"] += int(r["total_fen"])
        p["total_fen"] += int(r["total_fen"])
        p["copay_fen"] += int(r["copay_fen"])
        p["oldest_days"] = max(p["oldest_days"], r["days"])
        totals[b] += int(r["total_fen"])
    return {
        "providers": sorted(providers.values(), key=lambda p: -p["oldest_days"]),
        "totals": {f"{k}_fen": v for k, v in totals.items()},
    }
