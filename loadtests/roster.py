"""How fast the officer's roster answers for a district of 100,000 people (issue 15).

Seeds a fresh voucher database with N people of one district and their vouchers (the bulk
path of loadtests/seed.py: national IDs and phones encrypted and hashed as the service does),
fills the roster's search keys as the service does at start, ANALYZEs, then runs the voucher
app in process and times `GET /v1/beneficiaries` for the searches an officer makes, each
repeated, and reports the median and the slowest (ms, wall time of the whole request: route,
authorisation, SQL, decryption and masking of the page, JSON). docs/performance.md
("Roster") has the numbers of a run.

Run: `python -m loadtests.roster --admin-url postgresql://postgres@127.0.0.1:5432/postgres
[--people 100000] [--repeat 20]`. It creates and then drops the database `yiyang_roster_bench`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

import asyncpg
import httpx

from loadtests.seed import seed_beneficiaries
from services.common.auth import Role, issue_token
from services.common.db import asyncpg_connect_kwargs
from services.common.migrate import drop_database, prepare_service_database
from services.common.settings import get_common_settings
from services.voucher.config import VoucherSettings
from services.voucher.main import create_app
from services.voucher.service.roster import fill_search_keys

DISTRICT = "450103"
SEARCHES: list[tuple[str, dict[str, Any]]] = [
    ("first page, by name", {}),
    ("first page, newest", {"sort": "created_at"}),
    ("name part", {"q": "老人4711"}),
    ("last 4 of ID or phone", {"q": "1234"}),
    ("grade 3, home care", {"grade": 3, "care_setting": "home"}),
    ("status hospitalised", {"status": "hospitalised"}),
    ("reassessment due", {"reassessment_due": "true"}),
    ("programme this month", {"program_code": "disability_subsidy"}),
    ("district explicitly", {"region_code": DISTRICT}),
]


async def measure(admin_url: str, people: int, repeat: int) -> list[tuple[str, float, float]]:
    name = "yiyang_roster_bench"
    await drop_database(admin_url, name)
    owner_url, app_url = await prepare_service_database(admin_url, "voucher", name)
    try:
        started = time.monotonic()
        await seed_beneficiaries(owner_url, people, region_code=DISTRICT)
        app = create_app(VoucherSettings(database_url=app_url, expiry_interval_s=0))
        conn = await asyncpg.connect(**asyncpg_connect_kwargs(owner_url))
        try:
            await conn.execute("ANALYZE")
        finally:
            await conn.close()
        print(f"seeded {people} people in {time.monotonic() - started:.0f} s")
        headers = {
            "Authorization": "Bearer "
            + issue_token(
                get_common_settings().auth_private_key,
                role=Role.civil_affairs,
                sub="officer:bench",
                region="450100",
            )
        }
        results = []
        async with app.router.lifespan_context(app):
            filled = await fill_search_keys(app.state.db, app.state.pii_cipher)
            print(f"search keys filled for {filled} people")
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as c:
                for label, params in SEARCHES:
                    times = []
                    for _ in range(repeat + 1):
                        t0 = time.perf_counter()
                        r = await c.get("/v1/beneficiaries", params=params, headers=headers)
                        times.append((time.perf_counter() - t0) * 1000)
                        assert r.status_code == 200, r.text
                    times = times[1:]  # the first warms the caches
                    results.append((label, statistics.median(times), max(times)))
                t0 = time.perf_counter()
                r = await c.get("/v1/beneficiaries", params={"format": "csv"}, headers=headers)
                assert r.status_code == 200
                results.append(("CSV export, everyone", (time.perf_counter() - t0) * 1000, 0.0))
        return results
    finally:
        await drop_database(admin_url, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    results = asyncio.run(measure(args.admin_url, args.people, args.repeat))
    print(f"{'search':32} {'median ms':>10} {'max ms':>8}")
    for label, median, worst in results:
        print(f"{label:32} {median:10.1f} {worst:8.1f}")


if __name__ == "__main__":
    main()
