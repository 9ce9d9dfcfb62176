"""Demo data for a running system (`yiyang up --demo`, or `yiyang demo` against one already up).

Everything goes through the services' public APIs, as an officer, a finance officer and each
provider's admin would do it:

0. three programmes published through `POST /v1/programs` besides the three defaults:
   高龄津贴 (age allowance, the province's: cash for everyone 80 or over, by an eligibility
   rule), 适老化改造 (home adaptation, the province's: a one-off voucher) and 家庭养老床位
   (family care bed, Nanning's own: a monthly home-care voucher for grades 3-4 at home);
1. budgets appropriated for every program in every prefecture-level city of Guangxi and in
   each district listed in the region table, for the current year, split by the program's
   configured funding shares;
2. approved providers of every kind in every city, with price lists and a terminal each;
   and two applications in Nanning left waiting for approval;
3. beneficiaries of each grade and care setting (their current month's vouchers are issued at
   enrolment), a proxy for two of them;
4. a sign-in to the web app for every role, in the web's database, a national reader
   (`quanguo`, docs/shards.md) and an account administrator. The officer, finance, auditor and administrator accounts sign in with a
   second factor: the demo enrols them with a TOTP secret it prints (add it to an
   authenticator app), or `yiyang web totp USERNAME` prints the current code.

Loading twice changes nothing: every write carries a fixed idempotency key, and the providers
and beneficiaries already loaded are recognised.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path
from typing import Any

import httpx

from services.common.auth import Role, issue_token
from services.common.files import write_private
from services.common.regions import regions
from services.common.settings import get_common_settings

PASSWORD = "yiyang2026"
PROVINCE = "450000"
CITY_BUDGET_FEN = 2_000_000_00  # 2,000,000 yuan per program and city
DISTRICT_BUDGET_FEN = 500_000_00  # 500,000 yuan per program and district

# (name, national id body without check digit, sex by digit 17, region, care setting, grade
# scores (self_care, motor, mental, perception_social), flags, dibao)
PEOPLE = [
    ("李桂兰", "45010319440312002", "450103", "home", (10, 5, 8, 4), {}, True),
    ("黄德明", "45010719460705003", "450107", "community", (14, 7, 12, 6), {}, False),
    (
        "韦秀英",
        "45010319410923004",
        "450103",
        "institution",
        (4, 2, 6, 3),
        {"dementia": True},
        True,
    ),
    ("覃志强", "45020219500118005", "450202", "home", (18, 8, 14, 8), {}, False),
    ("陆美玲", "45030419480430006", "450304", "community", (8, 4, 9, 5), {}, True),
    ("蒙建国", "45010519520611007", "450105", "institution", (2, 1, 3, 2), {"coma": True}, False),
    (
        "梁淑芬",
        "45050219430227008",
        "450502",
        "home",
        (22, 10, 16, 9),
        {"care_risk_events": 2},
        False,
    ),
    ("莫家宝", "45010819551008009", "450108", "community", (16, 6, 13, 7), {}, False),
]


def _check_digit(body17: str) -> str:
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return "10X98765432"[sum(int(d) * w for d, w in zip(body17, weights)) % 11]


def national_id(body17: str) -> str:
    return body17 + _check_digit(body17)


class Loader:
    def __init__(self, *, voucher_url: str, provider_url: str, ledger_url: str) -> None:
        self.settings = get_common_settings()
        self.http = httpx.Client(timeout=60)
        self.urls = {"voucher": voucher_url, "provider": provider_url, "ledger": ledger_url}

    def token(self, role: Role, **scope: Any) -> dict[str, str]:
        tok = issue_token(
            self.settings.auth_private_key,
            role=role,
            sub=scope.pop("sub", f"demo:{role.value}"),
            **scope,
        )
        return {"Authorization": f"Bearer {tok}"}

    def call(
        self,
        method: str,
        service: str,
        path: str,
        headers: dict[str, str],
        ok: tuple[int, ...] = (200, 201),
        **kwargs: Any,
    ) -> httpx.Response:
        r = self.http.request(method, self.urls[service] + path, headers=headers, **kwargs)
        if r.status_code not in ok:
            raise RuntimeError(f"{method} {service}{path} -> {r.status_code}: {r.text[:300]}")
        return r

    # --- 0. programmes -------------------------------------------------------------------
    def programs(self) -> int:
        """Publish the demo's own programmes (409 PROGRAM_EXISTS: loaded before)."""
        created = 0
        for code, region, config in DEMO_PROGRAMS:
            officer = self.token(Role.civil_affairs, region=region)
            r = self.call(
                "POST",
                "voucher",
                "/v1/programs",
                officer,
                ok=(201, 409),
                json={"code": code, "region_code": region, "config": config, "reason": "演示"},
            )
            created += r.status_code == 201
        _progress(f"programmes: {created} published")
        return created

    # --- 1. budgets ----------------------------------------------------------------------
    def budgets(self) -> int:
        officer = self.token(Role.civil_affairs, region=PROVINCE)
        finance = self.token(Role.finance, region=PROVINCE)
        programs = self.call("GET", "voucher", "/v1/programs", officer).json()
        year = date.today().year
        targets = [r for r in regions().values() if r.level in ("city", "county")]
        count = 0
        for program in programs:
            shares: dict[str, int] = program["config"]["funding_shares"]
            own = program.get("region_code")  # a city's own programme: its budget there only
            for region in targets:
                if own and not region.code.startswith(own[:4]):
                    continue
                amount = CITY_BUDGET_FEN if region.level == "city" else DISTRICT_BUDGET_FEN
                total_bp = sum(shares.values())
                by_source = {s: amount * bp // total_bp for s, bp in shares.items()}
                self.call(
                    "POST",
                    "ledger",
                    "/v1/appropriations",
                    finance,
                    json={
                        "idempotency_key": f"demo:appropriation:{program['code']}:{region.code}:{year}",
                        "program_code": program["code"],
                        "region_code": region.code,
                        "by_source": {s: v for s, v in by_source.items() if v > 0},
                        "memo": f"{year} 年度演示预算",
                    },
                )
                count += 1
            _progress(f"budgets: {program['code']} appropriated in {len(targets)} regions")
        return count

    # --- 2. providers ----------------------------------------------------------------------
    def providers(self) -> list[dict[str, Any]]:
        from services.demo_providers import demo_providers, waiting_providers

        officer = self.token(Role.civil_affairs, region=PROVINCE)
        existing = {
            p["uscc"]: p
            for p in self.call(
                "GET", "provider", "/v1/providers", officer, params={"limit": 500}
            ).json()["items"]
        }
        out = []
        apps = demo_providers()
        for i, app in enumerate(apps, 1):
            found = existing.get(app["uscc"])
            if found is None:
                created = self.call("POST", "provider", "/v1/providers", officer, json=app).json()
                pid = created["id"]
                self.call(
                    "POST",
                    "provider",
                    f"/v1/providers/{pid}/approve",
                    officer,
                    json={"reason": "演示数据：资质审核通过"},
                )
            else:
                pid = found["id"]
            admin = self.token(Role.provider_admin, provider_id=pid)
            terminal = None
            if found is None:
                terminal = self.call(
                    "POST",
                    "provider",
                    f"/v1/providers/{pid}/terminals",
                    admin,
                    json={"name": "前台收银终端"},
                ).json()
            out.append(
                {
                    "id": pid,
                    "name": app["name"],
                    "kind": app["kind"],
                    "region_code": app["region_code"],
                    "secret": terminal["secret"] if terminal else None,
                }
            )
            if i % 10 == 0 or i == len(apps):
                _progress(f"providers: {i}/{len(apps)} approved with a terminal")
        # Applications left waiting, for the officer's approval page.
        for app in waiting_providers():
            if app["uscc"] not in existing:
                self.call("POST", "provider", "/v1/providers", officer, json=app)
        _progress("providers: 2 applications in Nanning waiting for approval")
        return out

    # --- 3. beneficiaries ------------------------------------------------------------------
    def beneficiaries(self) -> list[dict[str, Any]]:
        out = []
        today = date.today()
        for name, body, region, setting, scores, flags, dibao in PEOPLE:
            officer = self.token(Role.civil_affairs, region=region)
            nid = national_id(body)
            r = self.call(
                "POST",
                "voucher",
                "/v1/beneficiaries",
                officer,
                ok=(201, 409),
                json={
                    "national_id": nid,
                    "name": name,
                    "phone": "1387710" + body[-4:],
                    "region_code": region,
                    "address": f"{regions()[region].name}民主路{body[-3:]}号",
                    "lat": regions()[region].lat,
                    "lon": regions()[region].lon,
                    "care_setting": setting,
                    "dibao": dibao,
                    "assessment": {
                        "scores": dict(
                            zip(("self_care", "motor", "mental", "perception_social"), scores)
                        ),
                        "flags": flags,
                        "assessed_on": today.replace(day=1).isoformat(),
                        "assessor": "南宁市老年人能力评估中心",
                    },
                },
            )
            if r.status_code == 409:
                found = self.call(
                    "POST",
                    "voucher",
                    "/v1/beneficiaries/lookup",
                    officer,
                    json={"national_id": nid},
                ).json()
                out.append({"id": found["id"], "name": name, "grade": found.get("grade")})
            else:
                body_json = r.json()
                out.append({"id": body_json["id"], "name": name, "grade": body_json["grade"]})
        _progress(f"beneficiaries: {len(out)} enrolled with this month's vouchers")
        # The family member acts for two people (her mother and her uncle), so the pages'
        # switcher and "whose vouchers" line can be tried.
        for person, (_, _, region, *_rest), relation in (
            (out[0], PEOPLE[0], "女儿"),
            (out[1], PEOPLE[1], "外甥女"),
        ):
            officer = self.token(Role.civil_affairs, region=region)
            proxies = self.call(
                "GET", "voucher", f"/v1/beneficiaries/{person['id']}/proxies", officer
            ).json()
            if not any(p["proxy_sub"] == "web:jiashu" for p in proxies):
                self.call(
                    "POST",
                    "voucher",
                    f"/v1/beneficiaries/{person['id']}/proxies",
                    officer,
                    json={"proxy_sub": "web:jiashu", "name": "李小红", "relation": relation},
                )
        return out

    # --- 4. sign-ins -------------------------------------------------------------------------
    def accounts(
        self,
        providers: list[dict[str, Any]],
        people: list[dict[str, Any]],
        web_database_url: str | None = None,
    ) -> list[Any]:
        """The demo's web accounts (added once; a second load leaves them as they are)."""
        import asyncio

        from web.manage import NewAccount, add_accounts

        meal = next(
            p
            for p in providers
            if p["kind"] == "meal_point" and p["region_code"].startswith("4501")
        )
        first = people[0]
        first_region = PEOPLE[0][2]
        rows = [
            NewAccount(
                "laoren",
                "beneficiary",
                first["name"],
                first_region,
                beneficiary_ids=(first["id"],),
            ),
            NewAccount(
                "jiashu",
                "proxy",
                "李小红",
                first_region,
                beneficiary_ids=(first["id"], people[1]["id"]),
            ),
            NewAccount(
                "shouyin",
                "provider_staff",
                "张丽（收银）",
                meal["region_code"],
                provider_id=meal["id"],
                terminal_secret=meal["secret"],
            ),
            NewAccount(
                "jigou",
                "provider_admin",
                "孙建国（机构负责人）",
                meal["region_code"],
                provider_id=meal["id"],
            ),
            NewAccount("minzheng", "civil_affairs", "陈志明（南宁市民政局）", "450100"),
            NewAccount("caiwu", "finance", "刘芳（制单）", "450100"),
            NewAccount("caiwu2", "finance", "黄敏（复核）", "450100"),
            NewAccount("shenji", "auditor", "周卫东（自治区审计厅）", PROVINCE),
            # the national reader (region 000000): its one page, 全国统计看板, adds up the
            # provinces of a sharded deployment; on one province's it says there are none
            NewAccount("quanguo", "auditor", "吴国平（全国统计）", "000000"),
            NewAccount("admin", "admin", "莫晓东（自治区民政厅）", PROVINCE),
        ]
        return asyncio.run(
            add_accounts(rows, PASSWORD, database_url=web_database_url, enrol_totp=True)
        )


_ALL_SETTINGS = ("home", "community", "institution")
DEMO_PROGRAMS: list[tuple[str, str, dict[str, Any]]] = [
    (
        "age_allowance",
        PROVINCE,
        {
            "name": "高龄津贴",
            "kind": "cash_benefit",
            "eligibility": {
                "min_age": 60,
                "grades": [0, 1, 2, 3, 4],
                "rule": {"attr": "age", "op": ">=", "value": 80},
            },
            "settings": {s: {"face_fen": 10_000} for s in _ALL_SETTINGS},
            # by age band: 100 yuan a month from 80, 200 from 90, 500 from 100
            "age_bands": [
                {"min_age": 80, "face_fen": 10_000},
                {"min_age": 90, "face_fen": 20_000},
                {"min_age": 100, "face_fen": 50_000},
            ],
            "allowed_kinds": [],
            "funding_shares": {"regional": 10_000},
        },
    ),
    (
        "home_adaptation",
        PROVINCE,
        {
            "name": "适老化改造",
            "kind": "one_off",
            "eligibility": {"min_age": 60, "grades": [2, 3, 4], "care_settings": ["home"]},
            "settings": {
                # spendable only on the home-adaptation items of a price list
                "home": {"face_fen": 300_000, "ratio_bp": 9_000, "categories": ["home_adaptation"]}
            },
            "allowed_kinds": ["home_care"],
            "valid_months": 12,
            "funding_shares": {"central": 5_000, "regional": 5_000},
        },
    ),
    (
        "family_care_bed",
        "450100",
        {
            "name": "家庭养老床位",
            # eight home visits a month, each paid up to 80 % of its bill and 75 yuan
            "kind": "service_package",
            "visits_per_period": 8,
            "per_txn_cap_fen": 7_500,
            "eligibility": {"min_age": 60, "grades": [3, 4], "care_settings": ["home"]},
            "settings": {
                "home": {
                    "face_fen": 60_000,
                    "ratio_bp": 8_000,
                    "categories": ["home_care_hours", "rehab_nursing", "bathing"],
                }
            },
            "allowed_kinds": ["home_care", "community_embedded"],
            "funding_shares": {"city": 10_000},
        },
    ),
]


def _progress(text: str) -> None:
    print(f"[demo] {text}", flush=True)


def remember_providers(marker: Path, providers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Terminal secrets are shown once: keep the ones of the first load in `marker` (a file
    only its owner can read, since it holds them) and use those on every later load."""
    if marker.exists():
        saved: list[dict[str, Any]] = json.loads(marker.read_text(encoding="utf-8"))["providers"]
        return saved
    write_private(marker, json.dumps({"providers": providers}, ensure_ascii=False))
    return providers


def main(argv: list[str] | None = None) -> int:
    common = get_common_settings()
    parser = argparse.ArgumentParser(
        prog="yiyang demo",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--voucher-url", default=common.voucher_url)
    parser.add_argument("--provider-url", default=common.provider_url)
    parser.add_argument("--ledger-url", default=common.ledger_url)
    parser.add_argument(
        "--web-database-url",
        default=None,
        help="the web's database (default: as the web is configured, else the embedded one)",
    )
    args = parser.parse_args(argv or [])
    loader = Loader(
        voucher_url=args.voucher_url, provider_url=args.provider_url, ledger_url=args.ledger_url
    )
    marker = common.data_dir / "demo-loaded.json"
    loader.programs()
    loader.budgets()
    providers = loader.providers()
    people = loader.beneficiaries()
    providers = remember_providers(marker, providers)
    accounts = loader.accounts(providers, people, args.web_database_url)
    print(f"\nSign in to the web app (password for all: {PASSWORD}):")
    for added in accounts:
        key = (
            " ".join(added.totp_secret[i : i + 4] for i in range(0, 32, 4))
            if added.totp_secret
            else ""
        )
        print(f"  {added.username:<9} {added.role:<15} {key}")
    print(
        "Officers, finance, auditors and the administrator give a 6-digit code after the\n"
        "password: add the key shown beside them to an authenticator app (as a time-based\n"
        "key), or run `python3 dev.py web totp USERNAME` for the current code."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
