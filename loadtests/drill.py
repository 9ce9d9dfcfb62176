"""`yiyang drill failover`: kill the primary PostgreSQL mid-load and prove nothing was lost.

    yiyang drill failover [--duration 40] [--kill-after 15] [--clients 8]
                          [--beneficiaries 400] [--max-outage 30] [--reports reports] [--keep]

On this machine's loopback it builds a Patroni cluster (loadtests/pgcluster.py: etcd, a
primary and a synchronous standby, PostgreSQL 16 from the pgserver wheel; etcd from Debian's
`etcd-server` and Patroni from PyPI, installed by scripts/ensure_tools.py when missing), creates
and migrates the voucher, provider and ledger databases on it (what `yiyang migrate` does),
and starts the three services and the outbox relay with libpq multi-host URLs
(`postgresql://role@pg1,pg2/db?target_session_attrs=read-write`): whichever node is the
primary, every new connection finds it. It seeds beneficiaries with vouchers, a meal point and
its terminals (the benchmark's seeding, loadtests/seed.py), then drives real redemptions over
HTTP with real QR codes from `--clients` concurrent terminals. A request that gets no answer or
a 5xx is retried with the same body and idempotency key, as a terminal would, until it is
answered. After `--kill-after` seconds the primary's postmaster gets SIGKILL; Patroni promotes
the synchronous standby (`primary_start_timeout: 0`: fail over rather than restart in place).

When the load stops, it waits for the relay to drain the outbox into the ledger and reports:

- acknowledged: redemptions answered 201 (or 200 for a retried request the service had already
  committed);
- lost: acknowledged but not in the new primary's redemption table (must be 0);
- duplicated: a QR code (its nonce) with more than one redemption, or a terminal's request
  answered with two different redemptions (must be 0);
- committed without an answer: redemptions in the database whose request the terminal gave up
  on (0 while every request is retried until answered);
- seconds without service: the longest time without any acknowledgement, around the kill;
  and when Patroni named the new leader;
- relay resumed: the outbox drained into the ledger after the failover, every event posted
  once (loadtests/check.py), and the ledger's hash chain verified (`GET /v1/chain/verify`).

Progress is printed as it goes; the result is written to reports/drill-*/drill.json. The exit
status is 0 only when nothing was lost or duplicated, every check passed, and the service came
back within `--max-outage` seconds. docs/operations.md ("Highly available PostgreSQL") has the
figures of a reference run.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
import httpx

from loadtests import check, seed
from loadtests.bench import wait_directory
from loadtests.harness import System, new_run_dir, say
from loadtests.pgcluster import Cluster, Node
from services.common.db import asyncpg_connect_kwargs, database_of
from services.common.migrate import SERVICES

ROOT = Path(__file__).resolve().parents[1]


def ensure_tools() -> None:
    """etcd (apt-get) and Patroni (pip), through the project's scripts/ensure_tools.py."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from scripts import ensure_tools

    say(f"etcd: {ensure_tools.ensure_etcd()}; Patroni: {ensure_tools.ensure_patroni()}")


def multi_host(url: str, hosts: str) -> str:
    """`url` pointed at every node of the cluster, connecting only to the writable one."""
    parts = urlsplit(url)
    userinfo, at, _ = parts.netloc.rpartition("@")
    query = dict(parse_qsl(parts.query))
    query["target_session_attrs"] = "read-write"
    return urlunsplit(parts._replace(netloc=f"{userinfo}{at}{hosts}", query=urlencode(query)))


@dataclass
class ClusterSystem(System):
    """The system on the Patroni cluster: databases created through the leader, every
    process given multi-host URLs."""

    cluster: Cluster | None = None

    async def prepare_databases(self) -> None:
        await super().prepare_databases()
        assert self.cluster is not None
        hosts = self.cluster.hosts()
        for service in SERVICES:
            self.owner_urls[service] = multi_host(self.owner_urls[service], hosts)
            self.app_urls[service] = multi_host(self.app_urls[service], hosts)
        self.progress(f"services' database URLs: {self.app_urls['voucher']} (and alike)")


# --- the terminals ------------------------------------------------------------------------


@dataclass
class Load:
    """What the terminals did: one outcome per request (its last answer)."""

    started: float = field(default_factory=time.monotonic)
    acks: list[float] = field(default_factory=list)  # when each acknowledgement arrived
    sent: list[float] = field(default_factory=list)  # when its request was first sent
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    keys_acked: set[str] = field(default_factory=set)
    keys_abandoned: set[str] = field(default_factory=set)
    retries: int = 0
    errors_seen: dict[str, int] = field(default_factory=dict)

    def seen(self, what: str) -> None:
        self.errors_seen[what] = self.errors_seen.get(what, 0) + 1


RETRYABLE_CODES = {"IDEMPOTENCY_KEY_IN_USE"}


async def terminal(
    n: int,
    http: httpx.AsyncClient,
    secret: str,
    beneficiaries: list[str],
    until: float,
    load: Load,
    *,
    give_up_s: float = 120,
) -> None:
    from services.voucher.config import get_settings
    from services.voucher.service.codes import issue_dynamic

    key = get_settings().qr_private_key
    auth = {"Authorization": f"Bearer {secret}"}
    i = n
    while time.monotonic() < until:
        bid = beneficiaries[i % len(beneficiaries)]
        i += 7
        token = issue_dynamic(key, uuid.UUID(bid), 900).text
        idem = f"drill-{uuid.uuid4()}"
        body: dict[str, Any] = {
            "token": token,
            "service_code": "MEAL_LUNCH",
            "gross_fen": 1500,
            "idempotency_key": idem,
        }
        first = time.monotonic()
        while True:
            status, answer = 0, {}
            try:
                r = await http.post("/v1/redemptions", json=body, headers=auth)
                status = r.status_code
                if r.headers.get("content-type", "").startswith("application/json"):
                    answer = r.json()
            except httpx.HTTPError as exc:
                load.seen(type(exc).__name__)
            code = (answer.get("error") or {}).get("code") if status >= 400 else None
            if status in (200, 201):
                load.acks.append(time.monotonic())
                load.sent.append(first)
                load.keys_acked.add(idem)
                load.outcomes.append(
                    {
                        "kind": "redeem",
                        "status": 201,
                        "http_status": status,
                        "token": check.token_digest(token),
                        "redemption_id": answer.get("id"),
                    }
                )
                break
            if 400 <= status < 500 and code not in RETRYABLE_CODES:
                load.outcomes.append(
                    {
                        "kind": "redeem",
                        "status": status,
                        "token": check.token_digest(token),
                        "code": code,
                    }
                )
                break
            if status:
                load.seen(f"{status} {code or ''}".strip())
            if time.monotonic() - first > give_up_s:
                load.keys_abandoned.add(idem)
                load.outcomes.append(
                    {"kind": "redeem", "status": status, "token": check.token_digest(token)}
                )
                break
            load.retries += 1
            await asyncio.sleep(0.2)


# --- the drill ----------------------------------------------------------------------------


async def _primary_facts(
    cluster: Cluster, node: Node, database: str, acked_ids: list[str]
) -> dict[str, Any]:
    """Read the new primary directly (not through the multi-host URL): is it writable, and
    which acknowledged redemptions does it have."""
    conn = await asyncpg.connect(
        **asyncpg_connect_kwargs(
            cluster.admin_url(node).rsplit("/", 1)[0] + f"/{database}",
        )
    )
    try:
        in_recovery = await conn.fetchval("SELECT pg_is_in_recovery()")
        found = await conn.fetchval(
            "SELECT count(*) FROM redemption WHERE id::text = ANY($1)", acked_ids
        )
        dup_nonces = await conn.fetchval(
            "SELECT count(*) FROM (SELECT nonce FROM redemption WHERE nonce IS NOT NULL "
            "GROUP BY nonce HAVING count(*) > 1) d"
        )
        drill_keys = {
            r["k"]
            for r in await conn.fetch(
                "SELECT idempotency_key AS k FROM redemption WHERE idempotency_key LIKE 'drill-%'"
            )
        }
        total = await conn.fetchval("SELECT count(*) FROM redemption")
        return {
            "in_recovery": in_recovery,
            "found": found,
            "duplicate_nonces": dup_nonces,
            "drill_keys": drill_keys,
            "total": total,
        }
    finally:
        await conn.close()


async def drive(
    system: System,
    cluster: Cluster,
    seeded: dict[str, Any],
    *,
    duration_s: float,
    kill_after_s: float,
    clients: int,
    timeline: dict[str, Any],
) -> Load:
    secret = next(t["secret"] for t in seeded["terminals"] if t["kind"] == "meal_point")
    ids = seeded["beneficiaries"]
    load = Load()
    until = load.started + duration_s
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(
        base_url=system.urls["voucher"], timeout=10, limits=limits
    ) as http:
        workers = [
            asyncio.create_task(terminal(n, http, secret, ids, until, load)) for n in range(clients)
        ]
        await control(system, cluster, load, kill_after_s, until, timeline)
        await asyncio.gather(*workers)
    return load


async def control(
    system: System,
    cluster: Cluster,
    load: Load,
    kill_after_s: float,
    until: float,
    timeline: dict[str, Any],
) -> None:
    """Print progress every 2 s, kill the primary at `kill_after_s`, watch the promotion,
    and keep the relay running (restarted if it dies, as systemd would)."""
    killed_at: float | None = None
    promoted = False
    last_print = 0.0
    last_acks = 0
    relay_restarts = 0
    last_outbox = 0.0
    mark: int | None = None
    old = cluster.leader()
    assert old is not None
    timeline["primary_before"] = old.name
    while time.monotonic() < until or (killed_at is not None and not promoted):
        now = time.monotonic()
        t = now - load.started
        if killed_at is None and t >= kill_after_s:
            pid = await asyncio.to_thread(cluster.kill_postmaster, old)
            killed_at = time.monotonic()
            timeline["killed_at_s"] = round(killed_at - load.started, 2)
            timeline["acks_before_kill"] = len(load.acks)
            say(f"t={t:5.1f}s SIGKILL to the postmaster of {old.name} (pid {pid}), the primary")
        if killed_at is not None and not promoted:
            leader = await asyncio.to_thread(cluster.leader)
            if leader is not None and leader is not old:
                promoted = True
                timeline["promoted_after_s"] = round(time.monotonic() - killed_at, 2)
                timeline["primary_after"] = leader.name
                say(
                    f"t={t:5.1f}s Patroni promoted {leader.name} "
                    f"{timeline['promoted_after_s']} s after the kill"
                )
            elif now - killed_at > 120:
                raise RuntimeError("no new leader 120 s after the kill")
        if (
            killed_at is not None
            and promoted
            and "relay_resumed_after_s" not in timeline
            and now - last_outbox >= 0.5
        ):
            last_outbox = now
            ids = await outbox_ids(system.owner_urls["voucher"])
            if ids is not None and mark is None:
                mark = ids[1]  # events up to here were written before (or at) the promotion
            elif ids is not None and mark is not None and ids[0] > mark:
                timeline["relay_resumed_after_s"] = round(time.monotonic() - killed_at, 2)
                say(
                    f"t={t:5.1f}s the relay delivers again: events written after the "
                    f"failover reached the ledger {timeline['relay_resumed_after_s']} s after "
                    "the kill"
                )
        relay = next((p for p in system.processes if p.name == "relay"), None)
        if relay is not None and not relay.alive():
            relay_restarts += 1
            say(f"t={t:5.1f}s the relay exited; restarting it (as systemd's Restart= would)")
            relay.stop()
            relay.start()
        if now - last_print >= 2:
            rate = (len(load.acks) - last_acks) / max(now - last_print, 1e-6) if last_print else 0
            last_print, last_acks = now, len(load.acks)
            say(
                f"t={t:5.1f}s acknowledged {len(load.acks)} ({rate:,.0f}/s), retries {load.retries}"
            )
        await asyncio.sleep(0.1)
    timeline["relay_restarts"] = relay_restarts


async def outbox_ids(voucher_url: str) -> tuple[int, int] | None:
    """(the newest delivered outbox id, the newest id); None while no primary answers."""
    try:
        conn = await asyncpg.connect(**asyncpg_connect_kwargs(voucher_url), timeout=3)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
        return None
    try:
        row = await conn.fetchrow(
            "SELECT max(id) FILTER (WHERE delivered_at IS NOT NULL) AS d, "
            "coalesce(max(id), 0) AS n FROM outbox"
        )
        return row["d"] or 0, row["n"]
    finally:
        await conn.close()


def outage(load: Load, killed_at_s: float | None) -> dict[str, Any]:
    """The longest time without any acknowledgement around the kill; and how long after the
    kill the first request sent after it was acknowledged (the service back for new work)."""
    if killed_at_s is None or not load.acks:
        return {"seconds_without_service": None}
    kill = load.started + killed_at_s
    acks = sorted(load.acks)
    gaps = [b - a for a, b in itertools.pairwise(acks) if b > kill - 5]
    fresh = [a for a, s in zip(load.acks, load.sent) if s > kill]
    return {
        "seconds_without_service": round(max(gaps, default=0.0), 2),
        "first_new_request_acknowledged_after_kill_s": (
            round(min(fresh) - kill, 2) if fresh else None
        ),
    }


def run(
    *,
    duration_s: float = 40,
    kill_after_s: float = 15,
    clients: int = 8,
    beneficiaries: int = 400,
    max_outage_s: float = 30,
    reports: Path = Path("reports"),
    keep: bool = False,
) -> dict[str, Any]:
    """Run the drill; return the result (also written to the run's drill.json)."""
    if kill_after_s >= duration_s:
        raise ValueError("--kill-after must be less than --duration")
    ensure_tools()
    run_dir = new_run_dir(reports, "drill").resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    say(f"failover drill in {run_dir}")
    result: dict[str, Any] = {
        "args": {
            "duration_s": duration_s,
            "kill_after_s": kill_after_s,
            "clients": clients,
            "beneficiaries": beneficiaries,
        }
    }
    timeline: dict[str, Any] = {}
    with Cluster(keep=keep) as cluster:
        leader = cluster.leader()
        assert leader is not None
        system = ClusterSystem(
            run_dir,
            admin_url=cluster.admin_url(leader),
            keep_databases=True,  # they go with the cluster
            cluster=cluster,
        )
        with system:
            seeded = seed.seed_all(
                system.owner_urls["voucher"],
                system.urls["provider"],
                beneficiaries=beneficiaries,
                providers=1,
                terminals_per_provider=1,
                manifest=run_dir / "seed-manifest.json",
                generous=True,
                ledger_url=system.urls["ledger"],
            )
            wait_directory(system.urls["voucher"])
            say(f"load: {clients} terminals for {duration_s:.0f} s; kill at {kill_after_s:.0f} s")
            load = asyncio.run(
                drive(
                    system,
                    cluster,
                    seeded,
                    duration_s=duration_s,
                    kill_after_s=kill_after_s,
                    clients=clients,
                    timeline=timeline,
                )
            )
            say(f"load over: {len(load.acks)} acknowledged, {load.retries} retries")
            outcomes = run_dir / "outcomes.jsonl"
            outcomes.write_text("".join(json.dumps(o) + "\n" for o in load.outcomes))

            say("waiting for the relay to drain the outbox into the ledger")
            drain = check.wait_for_drain(
                system.owner_urls["voucher"],
                timeout_s=180,
                stall_s=60,
                progress=_every(5, lambda m: say(f"relay: {m}")),
            )
            report = check.run_checks(
                system.owner_urls["voucher"],
                ledger_db_url=system.owner_urls["ledger"],
                ledger_url=system.urls["ledger"],
                outcomes_path=outcomes,
            )
            print(report.render(), flush=True)

            new_leader = cluster.leader()
            acked_ids = [str(o["redemption_id"]) for o in load.outcomes if o["status"] == 201]
            facts = asyncio.run(
                _primary_facts(
                    cluster,
                    new_leader or leader,
                    database_of(system.owner_urls["voucher"]),
                    acked_ids,
                )
            )
            per_token: dict[str, set[str]] = {}
            for o in load.outcomes:
                if o["status"] == 201:
                    per_token.setdefault(o["token"], set()).add(str(o["redemption_id"]))
            twice = sum(1 for v in per_token.values() if len(v) > 1)
            members = cluster.members()
            result.update(
                {
                    "cluster": {
                        "nodes": len(cluster.nodes),
                        "synchronous_mode": True,
                        "members_after": [
                            {k: m.get(k) for k in ("name", "role", "state", "timeline")}
                            for m in members
                        ],
                    },
                    "timeline": timeline,
                    "acknowledged": len(acked_ids),
                    "refused": sum(1 for o in load.outcomes if 400 <= o["status"] < 500),
                    "abandoned": len(load.keys_abandoned),
                    "retries": load.retries,
                    "errors_seen_by_terminals": load.errors_seen,
                    "lost": len(set(acked_ids)) - facts["found"],
                    "duplicated": facts["duplicate_nonces"] + twice,
                    "committed_without_answer": len(facts["drill_keys"] - load.keys_acked),
                    "new_primary_writable": facts["in_recovery"] is False,
                    **outage(load, timeline.get("killed_at_s")),
                    "relay": {
                        "resumed": drain["remaining"] == 0 and drain["initial"] >= 0,
                        **drain,
                        "restarts": timeline.get("relay_restarts", 0),
                    },
                    "checks": report.as_dict(),
                    "chain_verified": any(
                        c.name == "ledger chain verifies" and c.ok for c in report.checks
                    ),
                }
            )
    sws = result.get("seconds_without_service")
    result["ok"] = bool(
        result["lost"] == 0
        and result["duplicated"] == 0
        and result["committed_without_answer"] == 0
        and result["abandoned"] == 0
        and result["new_primary_writable"]
        and result["relay"]["resumed"]
        and result["chain_verified"]
        and report.ok
        and sws is not None
        and sws <= max_outage_s
    )
    (run_dir / "drill.json").write_text(json.dumps(result, indent=2, default=str))
    print(render(result), flush=True)
    say(f"result: {run_dir / 'drill.json'}")
    return result


def _every(seconds: float, fn: Any) -> Any:
    last = [0.0]

    def call(message: str) -> None:
        if time.monotonic() - last[0] >= seconds:
            last[0] = time.monotonic()
            fn(message)

    return call


def render(r: dict[str, Any]) -> str:
    t = r.get("timeline", {})
    relay = r.get("relay", {})
    rows = [
        ("cluster", f"{r['cluster']['nodes']} nodes, synchronous_mode on"),
        (
            "primary killed (SIGKILL to the postmaster)",
            f"{t.get('primary_before')} at t={t.get('killed_at_s')} s, "
            f"after {t.get('acks_before_kill')} acknowledged",
        ),
        (
            "new primary (Patroni)",
            f"{t.get('primary_after')}, {t.get('promoted_after_s')} s after the kill",
        ),
        ("redemptions acknowledged", r["acknowledged"]),
        ("lost (acknowledged, not in the new primary)", r["lost"]),
        ("duplicated", r["duplicated"]),
        ("committed without an answer", r["committed_without_answer"]),
        ("seconds without service", r.get("seconds_without_service")),
        (
            "first request sent after the kill acknowledged after, s",
            r.get("first_new_request_acknowledged_after_kill_s"),
        ),
        ("relay delivered post-failover events after, s", t.get("relay_resumed_after_s")),
        ("terminal retries (same idempotency key)", r["retries"]),
        (
            "relay resumed",
            f"{'yes' if relay.get('resumed') else 'NO'}: outbox drained "
            f"({relay.get('initial')} waiting at the end of the load, {relay.get('remaining')} "
            f"left), restarts {relay.get('restarts')}",
        ),
        ("ledger chain verified", "yes" if r.get("chain_verified") else "NO"),
        (
            "cluster after",
            ", ".join(
                f"{m['name']} {m['role']} ({m['state']})" for m in r["cluster"]["members_after"]
            ),
        ),
    ]
    lines = ["| measure | result |", "| --- | --- |"]
    lines += [f"| {a} | {b} |" for a, b in rows]
    lines.append("")
    lines.append("DRILL PASSED" if r.get("ok") else "DRILL FAILED")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="yiyang drill",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("drill", choices=["failover"])
    p.add_argument("--duration", type=float, default=40, help="seconds of load")
    p.add_argument("--kill-after", type=float, default=15, help="seconds into the load")
    p.add_argument("--clients", type=int, default=8, help="concurrent terminals")
    p.add_argument("--beneficiaries", type=int, default=400)
    p.add_argument("--max-outage", type=float, default=30, help="seconds, for the verdict")
    p.add_argument("--reports", type=Path, default=Path("reports"))
    p.add_argument("--keep", action="store_true", help="keep the cluster's folder")
    args = p.parse_args(argv)
    result = run(
        duration_s=args.duration,
        kill_after_s=args.kill_after,
        clients=args.clients,
        beneficiaries=args.beneficiaries,
        max_outage_s=args.max_outage,
        reports=args.reports,
        keep=args.keep,
    )
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
