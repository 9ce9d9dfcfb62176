"""Correctness after the load: what must hold however the requests raced.

Reads the voucher and ledger databases directly (and the ledger's chain verify call):

- no voucher balance outside 0..face;
- Σ subsidies of live redemptions = Σ face − Σ balances (from the redemption table when it
  exists, and from the outbox events, which the contract fixes);
- every redemption has exactly one `redemption.created` event, and no token was accepted
  twice (in the redemption table when it records the token's nonce, and in what the load
  generator saw: each token that got a 201 got it once, each 201 is durable);
- the relay has drained the outbox (nothing undelivered, nothing rejected);
- every delivered event is in the ledger exactly once (the ledger's table keyed by
  `event_id`), and `GET /v1/chain/verify` says ok.

A check whose inputs do not exist in this build (no ledger URL, no redemption table) is
reported as skipped, never as passed.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

import asyncpg
import httpx

from services.common.auth import Role, issue_token
from services.common.db import asyncpg_connect_kwargs
from services.common.settings import get_common_settings


@dataclass
class Check:
    name: str
    ok: bool | None  # None: skipped
    detail: str = ""


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)

    def add(self, name: str, ok: bool | None, detail: str = "") -> None:
        self.checks.append(Check(name, ok, detail))

    @property
    def ok(self) -> bool:
        return all(c.ok is not False for c in self.checks)

    def failed(self) -> list[str]:
        return [c.name for c in self.checks if c.ok is False]

    def render(self) -> str:
        mark = {True: "PASS", False: "FAIL", None: "SKIP"}
        lines = [f"  {mark[c.ok]}  {c.name}: {c.detail}" for c in self.checks]
        lines.append(
            f"  => {'all checks passed' if self.ok else 'FAILED: ' + ', '.join(self.failed())}"
        )
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": [c.__dict__ for c in self.checks]}


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:32]


async def _connect(url: str) -> asyncpg.Connection:
    return await asyncpg.connect(**asyncpg_connect_kwargs(url))


async def _columns(conn: asyncpg.Connection, table: str) -> set[str]:
    rows = await conn.fetch(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = 'public' AND table_name = $1",
        table,
    )
    return {r["column_name"] for r in rows}


async def outbox_lag(voucher_db_url: str) -> tuple[int, int]:
    """(undelivered, rejected) events in the outbox."""
    conn = await _connect(voucher_db_url)
    try:
        # (by the outbox's partial indexes: polled every half second during a drain, a scan of
        # every event would be counted as the posting's cost)
        row = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM outbox WHERE delivered_at IS NULL) AS pending, "
            "(SELECT count(*) FROM outbox WHERE rejected) AS rejected"
        )
        return row["pending"], row["rejected"]
    finally:
        await conn.close()


class Drain(TypedDict):
    initial: int
    remaining: int
    seconds: float
    events_per_s: float
    first_delivery_s: float | None
    steady_events_per_s: float


def wait_for_drain(
    voucher_db_url: str,
    *,
    timeout_s: float = 120,
    stall_s: float = 20,
    progress: Callable[[str], None] | None = None,
    initial: int | None = None,
) -> Drain:
    """Wait until the relay has delivered the whole outbox; return how fast it drained.

    `events_per_s` counts from the call (a relay just started includes its start-up);
    `steady_events_per_s` from the first delivery seen to the end, the posting rate itself.
    `initial`: the backlog at the call, when counted before it (relays that start delivering
    at the call may settle a batch before a first count here). Gives up after `timeout_s`,
    or earlier when nothing moved for `stall_s` (no relay).
    """
    started = time.monotonic()
    first = initial if initial is not None else asyncio.run(outbox_lag(voucher_db_url))[0]
    last_change, last = started, first
    pending = first
    moved_at: float | None = None
    moved_from = first
    while pending > 0 and time.monotonic() - started < timeout_s:
        time.sleep(0.5)
        pending, _ = asyncio.run(outbox_lag(voucher_db_url))
        if pending != last:
            if moved_at is None:
                moved_at, moved_from = time.monotonic(), pending
            last, last_change = pending, time.monotonic()
        elif time.monotonic() - last_change > stall_s:
            break
        if progress:
            progress(f"outbox undelivered: {pending}")
    ended = time.monotonic()
    elapsed = ended - started
    drained = first - pending
    steady = (moved_from - pending) / (ended - moved_at) if moved_at and ended > moved_at else 0.0
    return {
        "initial": first,
        "remaining": pending,
        "seconds": round(elapsed, 2),
        "events_per_s": round(drained / elapsed, 1) if elapsed > 0 and drained else 0.0,
        "first_delivery_s": round(moved_at - started, 2) if moved_at else None,
        "steady_events_per_s": round(steady, 1),
    }


def read_outcomes(path: Path | None) -> list[dict[str, Any]]:
    if path is None or not Path(path).exists():
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


async def check_voucher_side(
    voucher_db_url: str, report: Report, outcomes: list[dict[str, Any]]
) -> list[str]:
    """The voucher database's checks; returns the event ids of delivered events."""
    conn = await _connect(voucher_db_url)
    try:
        bad = await conn.fetchval(
            "SELECT count(*) FROM voucher WHERE balance_fen < 0 OR balance_fen > face_fen"
        )
        report.add("no negative balance", bad == 0, f"{bad} vouchers outside 0..face")

        spent = await conn.fetchval("SELECT coalesce(sum(face_fen - balance_fen), 0) FROM voucher")
        ev = await conn.fetchrow(
            "SELECT coalesce(sum((payload->>'subsidy_fen')::bigint) FILTER "
            "  (WHERE type = 'redemption.created'), 0) AS created, "
            "coalesce(sum((payload->>'subsidy_fen')::bigint) FILTER "
            "  (WHERE type = 'redemption.voided'), 0) AS voided, "
            "count(*) FILTER (WHERE type = 'redemption.created') AS n_created, "
            "count(DISTINCT payload->>'redemption_id') FILTER "
            "  (WHERE type = 'redemption.created') AS n_distinct "
            "FROM outbox"
        )
        events_net = ev["created"] - ev["voided"]
        report.add(
            "Σ subsidies (outbox events) = Σ face − Σ balances",
            events_net == spent,
            f"events {events_net} fen, vouchers {spent} fen",
        )
        report.add(
            "one redemption.created event per redemption",
            ev["n_created"] == ev["n_distinct"],
            f"{ev['n_created']} events for {ev['n_distinct']} redemptions",
        )

        cols = await _columns(conn, "redemption")
        if {"subsidy_fen", "id"} <= cols:
            live = (
                "voided_at IS NULL"
                if "voided_at" in cols
                else "status <> 'voided'"
                if "status" in cols
                else "true"
            )
            table_sum = await conn.fetchval(
                f"SELECT coalesce(sum(subsidy_fen), 0) FROM redemption WHERE {live}"
            )
            report.add(
                "Σ subsidies (redemption table) = Σ face − Σ balances",
                table_sum == spent,
                f"redemptions {table_sum} fen, vouchers {spent} fen",
            )
            n_red = await conn.fetchval("SELECT count(*) FROM redemption")
            missing = await conn.fetchval(
                "SELECT count(*) FROM redemption r WHERE NOT EXISTS (SELECT 1 FROM outbox o "
                "WHERE o.type = 'redemption.created' AND o.payload->>'redemption_id' = r.id::text)"
            )
            report.add(
                "every redemption has its outbox event",
                missing == 0,
                f"{missing} of {n_red} without an event",
            )
            nonce_col = next(
                (
                    c
                    for c in ("token_nonce", "nonce", "token_jti", "jti", "token_hash")
                    if c in cols
                ),
                None,
            )
            if nonce_col:
                dup = await conn.fetchval(
                    f"SELECT count(*) FROM (SELECT {nonce_col} FROM redemption "
                    f"GROUP BY {nonce_col} HAVING count(*) > 1) d"
                )
                report.add(
                    "each token used once (database)",
                    dup == 0,
                    f"{dup} tokens with more than one redemption (by {nonce_col})",
                )
            else:
                report.add(
                    "each token used once (database)",
                    None,
                    "the redemption table records no token nonce",
                )
        else:
            report.add(
                "Σ subsidies (redemption table) = Σ face − Σ balances",
                None,
                "no redemption table in this build",
            )

        accepted = [o for o in outcomes if o.get("status") == 201 and o.get("token")]
        if outcomes:
            # Idempotent retries are the same redemption: count distinct redemption ids.
            ids_per_token: dict[str, set[str]] = {}
            for o in accepted:
                ids_per_token.setdefault(o["token"], set()).add(str(o.get("redemption_id")))
            twice = sum(1 for ids in ids_per_token.values() if len(ids) > 1)
            report.add(
                "each token accepted once (as the terminals saw it)",
                twice == 0,
                f"{len(ids_per_token)} tokens accepted, {twice} more than once",
            )
            wrong = [
                o
                for o in outcomes
                if o.get("kind") in ("replay", "invalid") and o.get("status", 0) < 400
            ]
            report.add(
                "replayed and invalid codes refused",
                not wrong,
                f"{len(wrong)} accepted of "
                f"{sum(1 for o in outcomes if o.get('kind') in ('replay', 'invalid'))}",
            )
            seen_ids = {o["redemption_id"] for o in accepted if o.get("redemption_id")}
            durable = {
                r["rid"]
                for r in await conn.fetch(
                    "SELECT payload->>'redemption_id' AS rid FROM outbox "
                    "WHERE type = 'redemption.created' AND payload->>'redemption_id' = ANY($1)",
                    list(seen_ids),
                )
            }
            report.add(
                "every 201 is durable",
                durable == seen_ids,
                f"{len(seen_ids - durable)} of {len(seen_ids)} answered 201 but missing",
            )
        else:
            report.add(
                "each token accepted once (as the terminals saw it)", None, "no outcomes recorded"
            )

        pending, rejected = await conn.fetchrow(
            "SELECT count(*) FILTER (WHERE delivered_at IS NULL AND NOT rejected), "
            "count(*) FILTER (WHERE rejected) FROM outbox"
        )
        report.add(
            "relay drained the outbox",
            pending == 0 and rejected == 0,
            f"{pending} undelivered, {rejected} rejected",
        )
        return [
            str(r["event_id"])
            for r in await conn.fetch("SELECT event_id FROM outbox WHERE delivered_at IS NOT NULL")
        ]
    finally:
        await conn.close()


async def check_ledger_side(ledger_db_url: str, delivered: list[str], report: Report) -> None:
    """Every delivered event applied exactly once, in the ledger's table keyed by event_id."""
    conn = await _connect(ledger_db_url)
    try:
        tables = [
            r["table_name"]
            for r in await conn.fetch(
                "SELECT table_name FROM information_schema.columns WHERE table_schema = 'public' "
                "AND column_name = 'event_id' ORDER BY table_name"
            )
        ]
        if not tables:
            report.add(
                "every event posted to the ledger once",
                None,
                "the ledger has no table keyed by event_id in this build",
            )
            return
        results = []
        for table in tables:
            rows = await conn.fetch(
                f'SELECT event_id::text AS e, count(*) AS n FROM "{table}" '
                f"WHERE event_id::text = ANY($1) GROUP BY event_id",
                delivered,
            )
            counts = {r["e"]: r["n"] for r in rows}
            missing = sum(1 for e in delivered if e not in counts)
            dup = sum(1 for n in counts.values() if n > 1)
            results.append((missing + dup, table, missing, dup))
        _, table, missing, dup = min(results)
        report.add(
            "every event posted to the ledger once",
            missing == 0 and dup == 0,
            f"{len(delivered)} delivered; in {table}: {missing} missing, {dup} more than once",
        )
    finally:
        await conn.close()


def check_chain(ledger_url: str, report: Report) -> None:
    token = issue_token(
        get_common_settings().auth_private_key,
        role=Role.auditor,
        region="450000",
        name="loadtest-check",
    )
    try:
        # A 503 (the ledger's database connection lost, e.g. after a failover) is retried.
        for attempt in range(5):
            r = httpx.get(
                f"{ledger_url}/v1/chain/verify",
                timeout=120,
                headers={"Authorization": f"Bearer {token}"},
            )
            if r.status_code != 503:
                break
            time.sleep(1 + attempt)
    except httpx.HTTPError as exc:
        report.add("ledger chain verifies", False, f"call failed: {exc}")
        return
    if r.status_code == 404:
        report.add("ledger chain verifies", None, "GET /v1/chain/verify not in this build")
        return
    body = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
    report.add(
        "ledger chain verifies",
        r.status_code == 200 and body.get("ok") is True,
        f"{r.status_code} {json.dumps(body, ensure_ascii=False)[:200]}",
    )


def run_checks(
    voucher_db_url: str,
    *,
    ledger_db_url: str | None = None,
    ledger_url: str | None = None,
    outcomes_path: Path | None = None,
) -> Report:
    report = Report()
    outcomes = read_outcomes(outcomes_path)
    delivered = asyncio.run(check_voucher_side(voucher_db_url, report, outcomes))
    if ledger_db_url:
        asyncio.run(check_ledger_side(ledger_db_url, delivered, report))
    else:
        report.add("every event posted to the ledger once", None, "no ledger database given")
    if ledger_url:
        check_chain(ledger_url, report)
    else:
        report.add("ledger chain verifies", None, "no ledger URL given")
    return report
