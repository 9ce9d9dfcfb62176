"""The national dashboard of a sharded voucher service (docs/shards.md).

`GET /v1/national/dashboard?period=YYYY-MM` asks every province's app for its province-level
dashboard (`GET /v1/dashboard?region_code=PP0000`, with a service token, in process) and adds
them up: every count and amount is the sum of the provinces' (shares recomputed from the
sums, rounded down as each province rounds them), the sub-regions are the provinces. A
national officer (a token of role civil_affairs, finance or auditor whose region is
`000000`, the country) or a service may ask; a province's officer is OUT_OF_SCOPE here
(their province's dashboard is `GET /v1/dashboard`).
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from services.common.auth import Role, service_token, verify_token
from services.common.errors import AppError, OutOfScope, RoleNotAllowed, Unauthenticated
from services.common.settings import get_common_settings
from services.voucher.service.care_circle import Tally
from services.voucher.service.dashboard import used_bp
from services.voucher.service.periods import current_period, parse_period

if TYPE_CHECKING:
    from services.common.shards import ProvinceRouter

NATIONAL_REGION = "000000"
NATIONAL_ROLES = (Role.civil_affairs, Role.finance, Role.auditor)


def _check_caller(request: Request) -> None:
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise Unauthenticated()
    principal = verify_token(get_common_settings().auth_public_key, credential.strip())
    if principal.role == Role.service:
        return
    if principal.role not in NATIONAL_ROLES:
        raise RoleNotAllowed(f"Role '{principal.role.value}' may not do this.")
    if principal.region != NATIONAL_REGION:
        raise OutOfScope("The national dashboard is for national officers.", field="region_code")


async def national_dashboard(router: ProvinceRouter, request: Request) -> Response:
    try:
        _check_caller(request)
        period = request.query_params.get("period") or current_period()
        parse_period(period)
    except AppError as err:
        return JSONResponse(err.body(), status_code=err.status_code)
    token = service_token(get_common_settings().auth_private_key, "voucher-national", ttl_s=60)
    parts: dict[str, dict[str, Any]] = {}
    for province in router.apps:
        r = await router.call(
            province,
            "GET",
            "/v1/dashboard",
            params={"region_code": f"{province}0000", "period": period},
            headers={"Authorization": f"Bearer {token}"},
        )
        if r.status_code != 200:  # a province that cannot answer: its refusal, as it is
            return Response(r.content, status_code=r.status_code, media_type="application/json")
        parts[province] = r.json()
    return JSONResponse(sum_dashboards(parts, period))


def _counts(rows: list[dict[str, Any]], key: tuple[str, ...], fields: tuple[str, ...]) -> Any:
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        k = tuple(row[f] for f in key)
        into = out.setdefault(k, {**{f: row[f] for f in key}, **dict.fromkeys(fields, 0)})
        for f in fields:
            into[f] += row[f]
    return [out[k] for k in sorted(out)]


def sum_dashboards(parts: dict[str, dict[str, Any]], period: str) -> dict[str, Any]:
    """The dashboards of the provinces (province -> its `DashboardRead` as JSON), added."""
    boards = list(parts.values())
    by_grade: Counter[str] = Counter()
    by_setting: Counter[str] = Counter()
    for b in boards:
        by_grade.update(b["enrolled"]["by_grade"])
        by_setting.update(b["enrolled"]["by_care_setting"])
    programs = _counts(
        [p for b in boards for p in b["programs"]],
        ("program_code",),
        ("vouchers", "face_fen", "redemptions", "redeemed_fen"),
    )
    for p in programs:
        p["used_bp"] = used_bp(p["redeemed_fen"], p["face_fen"])
    subregions = []
    for province, b in parts.items():
        row = _counts(
            [{**s, "k": 0} for s in b["subregions"]],
            ("k",),
            ("vouchers", "face_fen", "redeemed_fen", "circle_exact", "circle_covered"),
        )
        sums = row[0] if row else {}
        exact, covered = sums.get("circle_exact", 0), sums.get("circle_covered", 0)
        subregions.append(
            {
                "region_code": f"{province}0000",
                "enrolled": b["enrolled"]["total"],
                "vouchers": sums.get("vouchers", 0),
                "face_fen": sums.get("face_fen", 0),
                "redeemed_fen": sums.get("redeemed_fen", 0),
                "circle_exact": exact,
                "circle_covered": covered,
                "circle_covered_bp": covered * 10_000 // exact if exact else 0,
            }
        )
    budgets = [b["budget"] for b in boards]
    return {
        "region_code": "000000",
        "period": period,
        "enrolled": {
            "total": sum(b["enrolled"]["total"] for b in boards),
            "by_grade": dict(sorted(by_grade.items())),
            "by_care_setting": dict(sorted(by_setting.items())),
        },
        "programs": programs,
        "trend": _counts(
            [t for b in boards for t in b["trend"]],
            ("period",),
            ("vouchers", "face_fen", "redeemed_fen"),
        ),
        "subregions": subregions,
        "budget": None
        if any(b is None for b in budgets)
        else _counts(
            [line for b in budgets for line in b],
            ("program_code", "funding_source"),
            (
                "appropriated_fen",
                "committed_fen",
                "spent_fen",
                "released_fen",
                "available_fen",
            ),
        ),
        "providers": _counts(
            [p for b in boards for p in b["providers"]], ("kind", "status"), ("providers",)
        ),
        "care_circle": _circles([b.get("care_circle") for b in boards]),
    }


_CIRCLE_COUNTS = (
    "active",
    "exact",
    "covered",
    "uncovered",
    "meal_covered",
    "care_covered",
    "approximate",
    "unlocated",
)


def _circles(circles: list[dict[str, Any] | None]) -> dict[str, Any] | None:
    present = [c for c in circles if c is not None]
    if not present:
        return None
    out: dict[str, Any] = {
        "meal_radius_m": present[0]["meal_radius_m"],
        "care_radius_m": present[0]["care_radius_m"],
        **{f: sum(c[f] for c in present) for f in _CIRCLE_COUNTS},
    }
    out["covered_bp"] = Tally(exact=out["exact"], covered=out["covered"]).covered_bp
    top = max(len(c["communities"]) for c in present)
    communities = [m for c in present for m in c["communities"]]
    communities.sort(key=lambda m: (-m["uncovered"], m["region_code"]))
    out["communities"] = communities[:top]
    return out
