"""Program configuration: the one pydantic model every program rule is written in.

A program's configuration is stored as JSONB (`program.config`, history in
`program_version`); this model is its schema. See CONTRIBUTING.md "How to add a program rule".
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.common.types import PERIOD_PATTERN

CareSetting = Literal["home", "community", "institution"]
ProviderKind = Literal[
    "meal_point", "community_embedded", "rural_station", "institution", "home_care"
]
ServiceCategory = Literal[
    "meal",
    "day_care",
    "rehab_nursing",
    "bathing",
    "cleaning",
    "escort",
    "emergency_call",
    "medical_escort",
    "home_care_hours",
    "institution_stay",
    "respite_stay",
    "home_adaptation",
]
SpendScope = Literal["province", "city", "county"]
# Digits of a GB/T 2260 code that name an area of each level.
SPEND_SCOPE_DIGITS: dict[str, int] = {"province": 2, "city": 4, "county": 6}
CARE_SETTINGS: tuple[CareSetting, ...] = ("home", "community", "institution")
PROVIDER_KINDS: tuple[ProviderKind, ...] = (
    "meal_point",
    "community_embedded",
    "rural_station",
    "institution",
    "home_care",
)


RuleAttr = Literal[
    "age", "grade", "dibao", "tekun", "region", "care_setting", "hukou", "hukou_region"
]
RuleOp = Literal["==", "!=", "<", "<=", ">", ">=", "in", "not_in", "within"]
_ORDERED = {"==", "!=", "<", "<=", ">", ">="}
HUKOU_VALUES = ("local", "non_local")
# Which operators each attribute takes, and the type of its value.
RULE_OPS: dict[str, set[str]] = {
    "age": _ORDERED,
    "grade": _ORDERED | {"in", "not_in"},
    "dibao": {"==", "!="},
    "tekun": {"==", "!="},
    "region": {"within", "in", "not_in"},
    "hukou": {"==", "!="},
    "hukou_region": {"within", "in", "not_in"},
    "care_setting": {"==", "!=", "in", "not_in"},
}
RULE_MAX_NODES = 64
RULE_MAX_DEPTH = 8


class Compare(BaseModel):
    """One comparison of a person's attribute with a value, e.g. `{"attr": "age", "op": ">=",
    "value": 80}`. Attributes: `age` (whole years on the period's first day), `grade` (0-4;
    a person without an assessment matches no comparison), `dibao` (低保), `tekun` (特困),
    `region` (`within` a GB/T 2260 code, or `in` / `not_in` a list of them: within any),
    `care_setting`, `hukou` (户籍: `local` when the household registration lies in the city
    the person lives in, else `non_local`) and `hukou_region` (the registration's region, as
    `region`); a person whose household registration is not recorded matches no hukou
    comparison."""

    model_config = ConfigDict(extra="forbid")

    attr: RuleAttr
    op: RuleOp
    value: bool | int | str | list[int] | list[str]

    @model_validator(mode="after")
    def _check(self) -> Compare:
        if self.op not in RULE_OPS[self.attr]:
            raise ValueError(f"{self.attr} does not take {self.op}")
        listed = self.op in ("in", "not_in")
        v = self.value
        if listed != isinstance(v, list) or (isinstance(v, list) and not v):
            raise ValueError(f"{self.op} takes {'a non-empty list' if listed else 'one value'}")
        items = v if isinstance(v, list) else [v]
        if self.attr in ("age", "grade"):
            top = 150 if self.attr == "age" else 4
            if any(
                isinstance(i, bool) or not isinstance(i, int) or not 0 <= i <= top for i in items
            ):
                raise ValueError(f"{self.attr} is a whole number 0..{top}")
        elif self.attr in ("dibao", "tekun"):
            if not isinstance(v, bool):
                raise ValueError(f"{self.attr} is true or false")
        elif self.attr == "hukou":
            if v not in HUKOU_VALUES:
                raise ValueError("hukou is local or non_local")
        elif self.attr in ("region", "hukou_region"):
            if any(
                not isinstance(i, str) or not re.fullmatch(r"\d{6}(\d{3}){0,2}", i) for i in items
            ):
                raise ValueError("region is a GB/T 2260 code")
        elif any(i not in CARE_SETTINGS for i in items):
            raise ValueError(f"care_setting is one of {', '.join(CARE_SETTINGS)}")
        return self


class AllOf(BaseModel):
    """Every rule holds."""

    model_config = ConfigDict(extra="forbid")
    all: list[Rule] = Field(min_length=1)


class AnyOf(BaseModel):
    """At least one rule holds."""

    model_config = ConfigDict(extra="forbid")
    any: list[Rule] = Field(min_length=1)


class NotOf(BaseModel):
    """The rule does not hold."""

    model_config = ConfigDict(
        extra="forbid", validate_by_name=True, validate_by_alias=True, serialize_by_alias=True
    )
    not_: Rule = Field(alias="not")


Rule = AllOf | AnyOf | NotOf | Compare


def rule_size(rule: Rule, depth: int = 1) -> tuple[int, int]:
    """(nodes, depth) of a rule."""
    if isinstance(rule, Compare):
        return 1, depth
    children = (
        rule.all
        if isinstance(rule, AllOf)
        else rule.any
        if isinstance(rule, AnyOf)
        else [rule.not_]
    )
    sizes = [rule_size(c, depth + 1) for c in children]
    return 1 + sum(n for n, _ in sizes), max(d for _, d in sizes)


class Eligibility(BaseModel):
    """Who may receive the program. Age is counted on the first day of the period."""

    model_config = ConfigDict(extra="forbid")

    min_age: int = Field(60, ge=0, le=150)
    # GB/T 42195-2022 grades that qualify (the assessment must be valid on the period's first day).
    grades: list[int] = Field(default_factory=lambda: [2, 3, 4])
    dibao_required: bool = False
    care_settings: list[CareSetting] = Field(default_factory=lambda: list(CARE_SETTINGS))
    # Region prefixes (GB/T 2260 codes) the program runs in; empty = everywhere.
    regions: list[str] = Field(default_factory=list)
    # A further rule over the person's attributes, as data (all / any / not of comparisons),
    # evaluated by service/eligibility.py `evaluate` and compiled to SQL for issuance; never
    # run as code. At most 64 nodes, 8 deep.
    rule: Rule | None = None

    @model_validator(mode="after")
    def _check(self) -> Eligibility:
        if self.rule is not None:
            nodes, depth = rule_size(self.rule)
            if nodes > RULE_MAX_NODES or depth > RULE_MAX_DEPTH:
                raise ValueError(f"rule: at most {RULE_MAX_NODES} parts, {RULE_MAX_DEPTH} deep")
        if not self.grades or any(g not in range(5) for g in self.grades):
            raise ValueError("grades must be a non-empty list of 0..4")
        if not self.care_settings:
            raise ValueError("care_settings may not be empty")
        return self


class SettingRule(BaseModel):
    """What one care setting gets: face value per period, share of a bill, where to spend it."""

    model_config = ConfigDict(extra="forbid")

    face_fen: int = Field(gt=0, le=100_000_000)
    # Voucher programs: the share of each bill the voucher may cover (basis points).
    ratio_bp: int | None = Field(None, ge=0, le=10_000)
    categories: list[ServiceCategory] = Field(default_factory=list)


class AgeBand(BaseModel):
    """A cash allowance's amount from an age on (e.g. 高龄津贴 `{min_age: 90, face_fen: 20000}`)."""

    model_config = ConfigDict(extra="forbid")

    min_age: int = Field(ge=0, le=150)
    face_fen: int = Field(gt=0, le=100_000_000)


class IssueSchedule(BaseModel):
    """When the scheduler issues the program's period by itself (`yiyang scheduler`): on
    `day` of the month at `hour` o'clock, Asia/Shanghai. `auto: false` leaves it to officers."""

    model_config = ConfigDict(extra="forbid")

    auto: bool = True
    day: int = Field(1, ge=1, le=28)
    hour: int = Field(1, ge=0, le=23)


class ProgramConfig(BaseModel):
    """Everything a program says. Every number is configurable; money in fen, shares in bp.

    kind:
      - voucher: a balance per period, each bill covered up to `ratio_bp` of it;
      - per_use: a fixed `per_use_fen` per use (only when the bill exceeds it), at most
        `day_limit_count` uses a day, from a monthly balance of `face_fen`;
      - cash_benefit: `face_fen` paid to the person each period, never redeemed;
      - one_off: a voucher like `voucher` but at most once per person, in whichever period of
        the window [`window_from`, `window_until`] (YYYY-MM) they first qualify, valid for
        `valid_months` (e.g. 适老化改造, home adaptation);
      - service_package: a monthly voucher like `voucher` counted in home visits: it grants
        `visits_per_period` visits, each bill naming a home visit (POST /v1/visits) uses one
        and is paid up to `ratio_bp` of it (and `per_txn_cap_fen`), only such bills are paid
        from it, and when they are used up it refuses VISITS_USED_UP (e.g. 家庭养老床位).
        It lapses at the period's end like a voucher.
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    kind: Literal["voucher", "per_use", "cash_benefit", "one_off", "service_package"]
    eligibility: Eligibility = Field(default_factory=Eligibility)
    # The rule per care setting; a setting that is absent gets nothing.
    settings: dict[CareSetting, SettingRule]
    per_use_fen: int | None = Field(None, gt=0)
    per_txn_cap_fen: int | None = Field(None, gt=0)
    day_cap_fen: int | None = Field(None, gt=0)
    day_limit_count: int | None = Field(None, gt=0)
    allowed_kinds: list[ProviderKind] = Field(default_factory=lambda: list(PROVIDER_KINDS))
    # Where a voucher may be spent: at providers in the person's province, city or county
    # (the person's region at issuance, cut to that level, is copied onto the voucher).
    spend_scope: SpendScope = "city"
    # When several vouchers could pay a bill, the lowest number pays first.
    priority: int = Field(100, ge=0, le=32_767)
    # Validity: one calendar month (Asia/Shanghai), no carry-over.
    period: Literal["month"] = "month"
    # At the end of the window the unused balance goes back to the budget.
    unused_balance: Literal["release"] = "release"
    # Funding shares by source, basis points summing to 10,000.
    funding_shares: dict[str, int] = Field(
        default_factory=lambda: {"central": 9500, "regional": 500}
    )
    # When the period is issued without an officer (the first at 01:00 by default).
    schedule: IssueSchedule = Field(default_factory=IssueSchedule)
    # one_off: the periods in which it is issued (inclusive; absent = open) and how many months
    # a voucher stays valid from the start of the period it was issued in.
    window_from: str | None = Field(None, pattern=PERIOD_PATTERN)
    window_until: str | None = Field(None, pattern=PERIOD_PATTERN)
    valid_months: int = Field(1, ge=1, le=36)
    # service_package: home visits granted each period.
    visits_per_period: int | None = Field(None, ge=1, le=200)
    # cash_benefit: the amount by age on the period's first day (e.g. 高龄津贴: 80-89, 90-99,
    # 100+), the band with the highest `min_age` not above the person's age; a person below
    # every band gets the setting's `face_fen`.
    age_bands: list[AgeBand] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> ProgramConfig:
        if not self.settings:
            raise ValueError("settings: at least one care setting must be configured")
        if (
            not self.funding_shares
            or any(v < 0 for v in self.funding_shares.values())
            or sum(self.funding_shares.values()) != 10_000
        ):
            raise ValueError("funding_shares must be non-negative basis points summing to 10000")
        if any(not re.fullmatch(r"[a-z][a-z0-9_]{0,31}", k) for k in self.funding_shares):
            raise ValueError("funding source names must be lower-case identifiers")
        if self.kind != "one_off" and (
            self.window_from or self.window_until or self.valid_months != 1
        ):
            raise ValueError("window_from, window_until and valid_months are for one_off programs")
        if self.window_from and self.window_until and self.window_from > self.window_until:
            raise ValueError("window_from must not be after window_until")
        if (self.kind == "service_package") != (self.visits_per_period is not None):
            raise ValueError("visits_per_period is required for, and only for, a service_package")
        if self.age_bands and self.kind != "cash_benefit":
            raise ValueError("age_bands are for cash_benefit programs")
        ages = [b.min_age for b in self.age_bands]
        if ages != sorted(set(ages)):
            raise ValueError("age_bands must be in increasing min_age, each once")
        if self.kind in ("voucher", "one_off", "service_package"):
            for name, rule in self.settings.items():
                if rule.ratio_bp is None:
                    raise ValueError(f"settings.{name}.ratio_bp is required for a voucher")
                if not rule.categories:
                    raise ValueError(f"settings.{name}.categories may not be empty")
        if self.kind == "per_use":
            if self.per_use_fen is None:
                raise ValueError("per_use_fen is required for a per_use program")
            for name, rule in self.settings.items():
                if not rule.categories:
                    raise ValueError(f"settings.{name}.categories may not be empty")
        if self.kind != "cash_benefit" and not self.allowed_kinds:
            raise ValueError("allowed_kinds may not be empty")
        return self


class ProgramUpdate(BaseModel):
    """A new configuration for a program, with why; `expected_version` guards lost updates."""

    model_config = ConfigDict(extra="forbid")

    config: ProgramConfig
    reason: str = Field(min_length=1, max_length=2000)
    expected_version: int | None = Field(None, ge=1)
    # The first period the version governs (YYYY-MM, this one or later); absent = at once.
    effective_from: str | None = Field(None, max_length=7)


class ProgramCreate(BaseModel):
    """A new program of a region: the province's applies in every city of it, a city's or
    county's only there (its eligibility regions default to, and must lie within, it)."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=r"^[a-z][a-z0-9_]{2,39}$")
    region_code: str = Field(max_length=12)
    config: ProgramConfig
    reason: str = Field(min_length=1, max_length=2000)


class ProgramCreated(BaseModel):
    code: str
    version: int


class ProgramPreviewRequest(BaseModel):
    """Who a configuration would cover, before it is published."""

    model_config = ConfigDict(extra="forbid")

    config: ProgramConfig
    region_code: str = Field(max_length=12)
    period: str | None = Field(None, max_length=7, description="YYYY-MM; default: this month")


class ProgramPreview(BaseModel):
    region_code: str
    period: str
    people: int
    by_care_setting: dict[str, int]
    # People x the face value of their care setting: the most the period can cost.
    monthly_cost_fen: int


class ProgramRead(BaseModel):
    code: str
    name: str
    kind: str
    version: int
    region_code: str | None
    config: ProgramConfig
    updated_at: datetime
    updated_by: str


class ProgramVersionRead(BaseModel):
    version: int
    config: ProgramConfig
    changed_by: str
    changed_at: datetime
    reason: str
    effective_from: str | None = None
