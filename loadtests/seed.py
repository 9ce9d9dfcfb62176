"""Seeding a run: N beneficiaries with vouchers, M providers with terminals.

Beneficiaries and their vouchers go in by the fast bulk path: binary COPY straight into the
voucher database (national IDs valid under GB 11643, encrypted and hashed exactly as the
service stores personal data). Providers, their price lists and terminals go through the
provider service's real API (apply, approve, issue terminals), because the voucher service
learns them from the provider directory. The result is a manifest (JSON) that the Locust
users and the benchmark read: beneficiary ids and, per terminal, its secret, provider kind
and services.

Run alone: `python -m loadtests.seed --voucher-db URL --provider-url URL --out manifest.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx

from services.common import dev_keys
from services.common.auth import Role, issue_token
from services.common.crypto import PiiCipher
from services.common.db import asyncpg_connect_kwargs
from services.common.ids import new_uuid
from services.common.settings import get_common_settings

TZ = ZoneInfo("Asia/Shanghai")

# GB 11643: weights of the first 17 digits, and the check character for (sum mod 11).
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
# GB 32100: the 31 characters of a unified social credit code, and the weights of 17 places.
_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)

PROVIDER_KINDS = ("meal_point", "community_embedded", "rural_station", "institution", "home_care")
MEAL_SERVICES: list[dict[str, Any]] = [
    {"code": "MEAL_BREAKFAST", "name": "早餐", "category": "meal", "unit": "次", "price_fen": 600},
    {"code": "MEAL_LUNCH", "name": "午餐", "category": "meal", "unit": "次", "price_fen": 1500},
    {"code": "MEAL_DINNER", "name": "晚餐", "category": "meal", "unit": "次", "price_fen": 1200},
]
# Categories both the provider service's list and the programs' defaults know.
CARE_SERVICES: list[dict[str, Any]] = [
    {"code": "CARE_BATH", "name": "助浴", "category": "bathing", "unit": "次", "price_fen": 5000},
    {
        "code": "CARE_CLEAN",
        "name": "助洁",
        "category": "cleaning",
        "unit": "小时",
        "price_fen": 3000,
        "max_per_visit": 2,
    },
    {
        "code": "CARE_HOME_HOURS",
        "name": "居家照护",
        "category": "home_care_hours",
        "unit": "小时",
        "price_fen": 4000,
        "max_per_visit": 2,
    },
    {
        "code": "CARE_DAY",
        "name": "日间照料",
        "category": "day_care",
        "unit": "天",
        "price_fen": 6000,
    },
]
CARE_CATEGORIES = sorted(
    {s["category"] for s in CARE_SERVICES} | {"medical_escort", "emergency_call"}
)
CARE_KINDS = ["community_embedded", "rural_station", "institution", "home_care"]
# As the meal-assistance program's defaults: meals at meal points only.
MEAL_KINDS = ["meal_point"]


def national_id(region_code: str, birth: date, serial: int) -> str:
    body = f"{region_code[:6]}{birth:%Y%m%d}{serial % 1000:03d}"
    return body + _ID_CHECK[sum(int(c) * w for c, w in zip(body, _ID_WEIGHTS)) % 11]


def uscc(serial: int, region_code: str = "450103") -> str:
    """A unified social credit code with a valid check character (registered: 5, kind 2)."""
    org = f"{serial:09d}"
    body = f"52{region_code[:6]}{org}"
    total = sum(_USCC_CHARS.index(c) * w for c, w in zip(body, _USCC_WEIGHTS))
    return body + _USCC_CHARS[(31 - total % 31) % 31]


def current_period(now: datetime | None = None) -> str:
    return (now or datetime.now(TZ)).strftime("%Y-%m")


def period_window(period: str) -> tuple[datetime, datetime]:
    year, month = map(int, period.split("-"))
    start = datetime(year, month, 1, tzinfo=TZ)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=TZ)
    return start, end


@dataclass(frozen=True)
class VoucherPlan:
    """The rules snapshot written on each seeded voucher (as issuance would copy them)."""

    program_code: str
    face_fen: int
    ratio_bp: int | None
    per_use_fen: int | None
    per_txn_cap_fen: int | None
    day_cap_fen: int | None
    day_limit_count: int | None
    allowed_kinds: list[str]
    allowed_categories: list[str]
    priority: int


def default_plans(*, generous: bool = False) -> list[VoucherPlan]:
    """Two vouchers per person: meals at meal points, and care services.

    `generous` (the benchmark) lifts the daily limits and raises balances, so that almost
    every redemption is accepted and the measured work is the accepting path.
    """
    return [
        VoucherPlan(
            "meal_assistance",
            10_000_000 if generous else 31_000,
            None,
            500,
            None,
            None,
            None if generous else 2,
            MEAL_KINDS,
            ["meal"],
            10,
        ),
        VoucherPlan(
            "disability_subsidy",
            100_000_000 if generous else 50_000,
            5000,
            None,
            None,
            None,
            None,
            CARE_KINDS,
            CARE_CATEGORIES,
            100,
        ),
    ]


FUNDING = {"central": 9500, "regional": 500}


def _pii_cipher() -> PiiCipher:
    """The voucher service's personal-data keys (its settings if it has them, else dev keys)."""
    try:
        from services.voucher.config import get_settings

        s = get_settings()
        enc = getattr(s, "pii_encryption_key", None) or dev_keys.DEV_PII_ENCRYPTION_KEY
        hsh = getattr(s, "pii_hash_key", None) or dev_keys.DEV_PII_HASH_KEY
    except Exception:
        enc, hsh = dev_keys.DEV_PII_ENCRYPTION_KEY, dev_keys.DEV_PII_HASH_KEY
    return PiiCipher(enc, hsh)


async def seed_beneficiaries(
    voucher_db_url: str,
    count: int,
    *,
    region_code: str = "450103",
    period: str | None = None,
    plans: list[VoucherPlan] | None = None,
    batch: int = 5_000,
    rng_seed: int = 7,
    progress: Callable[[int, int], None] | None = None,
    budget_regions: Sequence[str] | None = None,
) -> list[str]:
    """COPY `count` beneficiaries and their vouchers into the voucher database; return ids.

    `budget_regions`: the vouchers' budget regions in turn (person i's from
    `budget_regions[i % n]`; default the person's own region). The ledger's book of an event
    is its budget region's city, so several cities here spread the postings over several
    books while everyone still lives and redeems in `region_code`."""
    period = period or current_period()
    plans = default_plans() if plans is None else plans
    valid_from, valid_until = period_window(period)
    rng = random.Random(rng_seed)
    cipher = _pii_cipher()
    run_tag = uuid.uuid4().int % 900 + 100  # keeps national IDs of two seedings apart
    conn = await asyncpg.connect(**asyncpg_connect_kwargs(voucher_db_url))
    ids: list[str] = []
    try:
        # Newer schemas keep the assessment's validity on the person (issuance needs it).
        has_validity = bool(
            await conn.fetchval(
                "SELECT 1 FROM information_schema.columns WHERE table_name = 'beneficiary' "
                "AND column_name = 'grade_valid_until'"
            )
        )
        valid_until_on = valid_until.date() + timedelta(days=365)
        done = 0
        while done < count:
            n = min(batch, count - done)
            people, vouchers = [], []
            for i in range(done, done + n):
                bid = new_uuid()
                # Birth date and serial from i: unique IDs for up to 9 million people.
                birth = date(1930, 1, 1) + timedelta(days=i % 9000)
                nid = national_id(region_code, birth, (i // 9000 + run_tag) % 1000)
                phone = f"13{rng.randrange(10**9):09d}"
                care = rng.choice(("home", "community", "institution"))
                people.append(
                    (
                        bid,
                        cipher.encrypt(nid, context=b"national_id"),
                        cipher.lookup_hash(nid),
                        cipher.encrypt(phone, context=b"phone"),
                        cipher.lookup_hash(phone),
                        f"测试老人{i}",
                        birth,
                        "M" if int(nid[16]) % 2 else "F",
                        region_code,
                        "南宁市兴宁区测试路1号",
                        22.8 + rng.random() / 50,
                        108.3 + rng.random() / 50,
                        care,
                        False,
                        rng.choice((2, 3, 4)),
                        "active",
                        "loadtest-seed",
                        *((valid_until_on,) if has_validity else ()),
                    )
                )
                budget_region = (
                    budget_regions[i % len(budget_regions)] if budget_regions else region_code
                )
                for plan in plans:
                    vouchers.append(
                        (
                            new_uuid(),
                            bid,
                            plan.program_code,
                            1,
                            period,
                            plan.face_fen,
                            plan.face_fen,
                            valid_from,
                            valid_until,
                            "active",
                            region_code,
                            budget_region,
                            care,
                            plan.ratio_bp,
                            plan.per_use_fen,
                            plan.per_txn_cap_fen,
                            plan.day_cap_fen,
                            plan.day_limit_count,
                            json.dumps(FUNDING),
                            plan.allowed_kinds,
                            plan.allowed_categories,
                            plan.priority,
                            region_code[:4],
                        )
                    )
                ids.append(str(bid))
            async with conn.transaction():
                await conn.copy_records_to_table(
                    "beneficiary",
                    records=people,
                    columns=[
                        "id",
                        "national_id_enc",
                        "national_id_hash",
                        "phone_enc",
                        "phone_hash",
                        "name",
                        "birth_on",
                        "sex",
                        "region_code",
                        "address",
                        "lat",
                        "lon",
                        "care_setting",
                        "dibao",
                        "grade",
                        "status",
                        "created_by",
                        *(["grade_valid_until"] if has_validity else []),
                    ],
                )
                if vouchers:
                    await conn.copy_records_to_table(
                        "voucher",
                        records=vouchers,
                        columns=[
                            "id",
                            "beneficiary_id",
                            "program_code",
                            "program_version",
                            "period",
                            "face_fen",
                            "balance_fen",
                            "valid_from",
                            "valid_until",
                            "status",
                            "region_code",
                            "budget_region_code",
                            "care_setting",
                            "ratio_bp",
                            "per_use_fen",
                            "per_txn_cap_fen",
                            "day_cap_fen",
                            "day_limit_count",
                            "funding_shares",
                            "allowed_kinds",
                            "allowed_categories",
                            "priority",
                            "spend_region_prefix",
                        ],
                    )
            done += n
            if progress:
                progress(done, count)
    finally:
        await conn.close()
    return ids


class ProviderApiMissing(RuntimeError):
    """The provider service of this build does not have the calls seeding needs yet."""


def seed_providers(
    provider_url: str,
    count: int,
    terminals_per_provider: int,
    *,
    region_code: str = "450103",
    progress: Callable[[int, int], None] | None = None,
) -> list[dict[str, Any]]:
    """Apply, approve and issue terminals for `count` providers through the provider API."""

    async def run() -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=provider_url, timeout=30) as http:
            return await seed_providers_via(
                http, count, terminals_per_provider, region_code=region_code, progress=progress
            )

    return asyncio.run(run())


async def seed_providers_via(
    http: httpx.AsyncClient,
    count: int,
    terminals_per_provider: int,
    *,
    region_code: str = "450103",
    progress: Callable[[int, int], None] | None = None,
) -> list[dict[str, Any]]:
    """The same through a given client (a running service, or an app in-process).

    Kinds rotate so that a third are meal points (the busiest places in real life).
    Returns one dict per terminal: terminal_id, secret, provider_id, kind, services.
    """
    key = get_common_settings().auth_private_key
    officer = {
        "Authorization": "Bearer "
        + issue_token(
            key, role=Role.civil_affairs, region=region_code[:2] + "0000", name="loadtest"
        )
    }
    terminals: list[dict[str, Any]] = []
    for i in range(count):
        kind, services = _provider_plan(i)
        body = {
            "name": f"压测服务机构{i:04d}",
            "kind": kind,
            "uscc": uscc(i + 1, region_code),
            "region_code": region_code,
            "address": f"南宁市兴宁区压测路{i}号",
            "lat": 22.81 + i / 10_000,
            "lon": 108.32 + i / 10_000,
            "services": services,
            "contact": {"name": "压测联系人", "phone": f"139{i:08d}"},
            "bank_account": {
                "bank_name": "广西北部湾银行",
                "account_name": f"压测机构{i}",
                "account_number": f"62{i:014d}",
            },
        }
        r = await http.post("/v1/providers", json=body, headers=officer)
        if r.status_code in (404, 405):
            raise ProviderApiMissing("POST /v1/providers is not there in this build")
        if r.status_code != 201:
            raise RuntimeError(f"POST /v1/providers: {r.status_code} {r.text[:500]}")
        provider_id = r.json()["id"]
        a = await http.post(
            f"/v1/providers/{provider_id}/approve", json={"reason": "loadtest"}, headers=officer
        )
        if a.status_code != 200:
            raise RuntimeError(f"approve: {a.status_code} {a.text[:500]}")
        admin = {
            "Authorization": "Bearer "
            + issue_token(
                key,
                role=Role.provider_admin,
                provider_id=provider_id,
                region=region_code,
                name="loadtest",
            )
        }
        for t in range(terminals_per_provider):
            tr = await http.post(
                f"/v1/providers/{provider_id}/terminals",
                json={"name": f"收银台{t + 1}"},
                headers=admin,
            )
            if tr.status_code != 201:
                raise RuntimeError(f"terminal: {tr.status_code} {tr.text[:500]}")
            terminals.append(
                {
                    "terminal_id": tr.json()["terminal_id"],
                    "secret": tr.json()["secret"],
                    "provider_id": provider_id,
                    "kind": kind,
                    "services": services,
                }
            )
        if progress:
            progress(i + 1, count)
    return terminals


def _provider_plan(i: int) -> tuple[str, list[dict[str, Any]]]:
    kinds = [
        "meal_point",
        "meal_point",
        "community_embedded",
        "rural_station",
        "institution",
        "home_care",
    ]
    kind = kinds[i % len(kinds)]
    return kind, (MEAL_SERVICES if kind == "meal_point" else CARE_SERVICES)


def funding_requests(
    *, region_code: str, period: str, count: int, plans: list[VoucherPlan]
) -> list[tuple[str, str, dict[str, Any]]]:
    """(path, role, body) of the ledger calls that appropriate and commit what `count`
    vouchers of each plan are worth: what issuance would have done before creating them."""
    from services.common.money import allocate

    sources = sorted(FUNDING)
    calls: list[tuple[str, str, dict[str, Any]]] = []
    for plan in plans:
        total = plan.face_fen * count
        parts = allocate(total, [FUNDING[s] for s in sources])
        tag = f"loadtest:{plan.program_code}:{region_code}:{period}:{uuid.uuid4()}"
        calls.append(
            (
                "/v1/appropriations",
                "finance",
                {
                    "idempotency_key": f"{tag}:appropriation",
                    "program_code": plan.program_code,
                    "region_code": region_code,
                    "by_source": dict(zip(sources, parts)),
                    "memo": "load test",
                },
            )
        )
        calls.append(
            (
                "/v1/commitments",
                "service",
                {
                    "idempotency_key": f"{tag}:commitment",
                    "purpose": "voucher",
                    "program_code": plan.program_code,
                    "region_code": region_code,
                    "period": period,
                    "amount_fen": total,
                    "count": count,
                    "funding_shares": FUNDING,
                },
            )
        )
    return calls


def fund_ledger(
    ledger_url: str, *, region_code: str, period: str, count: int, plans: list[VoucherPlan]
) -> list[str]:
    """Appropriate and commit in the ledger what the bulk-seeded vouchers are worth.

    Keeps the ledger's accounts true to the seeded vouchers, so that redemption events post
    instead of being refused for an overdrawn account. Returns problems (empty when fine).
    """
    from services.common.auth import service_token

    key = get_common_settings().auth_private_key
    headers = {
        "finance": {
            "Authorization": "Bearer "
            + issue_token(key, role=Role.finance, region=region_code[:2] + "0000", name="loadtest")
        },
        "service": {"Authorization": "Bearer " + service_token(key, "loadtest-seed")},
    }
    problems = []
    with httpx.Client(base_url=ledger_url, timeout=60) as http:
        for path, role, body in funding_requests(
            region_code=region_code, period=period, count=count, plans=plans
        ):
            r = http.post(path, headers=headers[role], json=body)
            if r.status_code >= 300:
                problems.append(f"{path} {body['program_code']}: {r.status_code} {r.text[:200]}")
    return problems


def write_manifest(
    path: Path, *, period: str, beneficiaries: list[str], terminals: list[dict[str, Any]]
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "period": period,
                "created_at": time.time(),
                "beneficiaries": beneficiaries,
                "terminals": terminals,
            }
        )
    )


def read_manifest(path: Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def _bar(label: str) -> Callable[[int, int], None]:
    started = time.monotonic()

    def show(done: int, total: int) -> None:
        rate = done / max(time.monotonic() - started, 1e-6)
        print(
            f"\r  {label}: {done:>8}/{total} ({rate:,.0f}/s)",
            end="" if done < total else "\n",
            flush=True,
        )

    return show


def seed_all(
    voucher_db_url: str,
    provider_url: str | None,
    *,
    beneficiaries: int,
    providers: int,
    terminals_per_provider: int,
    manifest: Path,
    region_code: str = "450103",
    period: str | None = None,
    generous: bool = False,
    ledger_url: str | None = None,
    budget_regions: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Seed everything: people and vouchers in bulk, providers and terminals through the
    provider service's API; with `ledger_url`, the vouchers' worth is appropriated and
    committed in the ledger (in each of `budget_regions`, for its share of the people:
    `seed_beneficiaries`)."""
    period = period or current_period()
    plans = default_plans(generous=generous)
    ids = asyncio.run(
        seed_beneficiaries(
            voucher_db_url,
            beneficiaries,
            region_code=region_code,
            period=period,
            plans=plans,
            progress=_bar("beneficiaries + vouchers"),
            budget_regions=budget_regions,
        )
    )
    if ledger_url:
        regions = list(budget_regions or [region_code])
        for k, budget_region in enumerate(regions):
            share = len(range(k, beneficiaries, len(regions)))
            problems = fund_ledger(
                ledger_url, region_code=budget_region, period=period, count=share, plans=plans
            )
            for problem in problems:
                print(f"  ledger funding: {problem}", flush=True)
    terminals: list[dict[str, Any]] = []
    if provider_url and providers:
        terminals = seed_providers(
            provider_url,
            providers,
            terminals_per_provider,
            region_code=region_code,
            progress=_bar("providers"),
        )
    write_manifest(manifest, period=period, beneficiaries=ids, terminals=terminals)
    return {"period": period, "beneficiaries": ids, "terminals": terminals}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m loadtests.seed",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--voucher-db", required=True, help="voucher database URL (owner or app)")
    p.add_argument("--provider-url", help="provider service base URL (omit: no providers)")
    p.add_argument("--beneficiaries", type=int, default=1000)
    p.add_argument("--providers", type=int, default=10)
    p.add_argument("--terminals", type=int, default=2)
    p.add_argument("--region", default="450103")
    p.add_argument("--out", type=Path, default=Path("reports/seed-manifest.json"))
    args = p.parse_args(argv)
    seed_all(
        args.voucher_db,
        args.provider_url,
        beneficiaries=args.beneficiaries,
        providers=args.providers,
        terminals_per_provider=args.terminals,
        manifest=args.out,
        region_code=args.region,
    )
    print(f"manifest written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
