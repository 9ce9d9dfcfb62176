"""Who a program is for (pure: no I/O). The same rule in SQL, for a whole region at once, is
the eligibility query of repository/issuance.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from services.common.regions import region_covers
from services.voucher.schemas.programs import AllOf, AnyOf, Compare, NotOf, ProgramConfig, Rule


def age_on(birth_on: date, day: date) -> int:
    return day.year - birth_on.year - ((day.month, day.day) < (birth_on.month, birth_on.day))


@dataclass(frozen=True)
class Subject:
    """What a rule may look at: a person's attributes on the period's first day."""

    age: int
    grade: int | None
    dibao: bool
    region_code: str
    care_setting: str
    tekun: bool = False
    # 户籍: the household registration's GB/T 2260 code (None: not recorded)
    hukou_region_code: str | None = None


def hukou_local(hukou_region_code: str, region_code: str) -> bool:
    """户籍 is local when the registration lies in the city the person lives in (the first
    four digits of the two GB/T 2260 codes agree)."""
    return hukou_region_code[:4] == region_code[:4]


def _compare(c: Compare, who: Subject) -> bool:
    if c.attr in ("region", "hukou_region"):
        place = who.region_code if c.attr == "region" else who.hukou_region_code
        if place is None:  # no household registration recorded: no comparison holds
            return False
        codes = c.value if isinstance(c.value, list) else [c.value]
        inside = any(region_covers(str(code), place) for code in codes)
        return not inside if c.op == "not_in" else inside
    have: int | bool | str | None = {
        "age": who.age,
        "grade": who.grade,
        "dibao": who.dibao,
        "tekun": who.tekun,
        "care_setting": who.care_setting,
        "hukou": None
        if who.hukou_region_code is None
        else ("local" if hukou_local(who.hukou_region_code, who.region_code) else "non_local"),
    }[c.attr]
    if have is None:  # no assessment (or no hukou): no comparison holds (SQL: coalesce(..., false))
        return False
    v = c.value
    if c.op == "in" or c.op == "not_in":
        assert isinstance(v, list)
        return (have in v) == (c.op == "in")
    if c.op == "==":
        return have == v
    if c.op == "!=":
        return have != v
    assert isinstance(have, int) and isinstance(v, int)
    return {"<": have < v, "<=": have <= v, ">": have > v, ">=": have >= v}[c.op]


def evaluate(rule: Rule, who: Subject) -> bool:
    """A programme's eligibility rule (data: all / any / not of comparisons) for one person.
    Interpreted here, never executed; repository/issuance.py compiles the same rule to SQL."""
    if isinstance(rule, AllOf):
        return all(evaluate(r, who) for r in rule.all)
    if isinstance(rule, AnyOf):
        return any(evaluate(r, who) for r in rule.any)
    if isinstance(rule, NotOf):
        return not evaluate(rule.not_, who)
    return _compare(rule, who)


def amount_fen(config: ProgramConfig, care_setting: str, age: int) -> int:
    """What one person gets a period: the age band with the highest `min_age` not above the
    person's age (高龄津贴 by age band), else the care setting's `face_fen`."""
    for band in reversed(config.age_bands):
        if age >= band.min_age:
            return band.face_fen
    return {str(k): v.face_fen for k, v in config.settings.items()}[care_setting]


def is_eligible(
    config: ProgramConfig,
    *,
    birth_on: date,
    grade: int | None,
    grade_valid_until: date | None,
    dibao: bool,
    care_setting: str,
    region_code: str,
    status: str,
    on: date,
    tekun: bool = False,
    hukou_region_code: str | None = None,
) -> bool:
    """The program's eligibility rule for one person on one day (the period's first day):
    active, a grade in the program's grades whose assessment is still valid, old enough,
    on 低保 if required, a care setting the program covers, living where it runs."""
    rule = config.eligibility
    if status != "active" or grade is None or grade_valid_until is None:
        return False
    if grade_valid_until < on or grade not in rule.grades:
        return False
    if age_on(birth_on, on) < rule.min_age:
        return False
    if rule.dibao_required and not dibao:
        return False
    if care_setting not in rule.care_settings or care_setting not in config.settings:
        return False
    if rule.regions and not any(region_covers(r, region_code) for r in rule.regions):
        return False
    if rule.rule is None:
        return True
    who = Subject(
        age_on(birth_on, on), grade, dibao, region_code, care_setting, tekun, hukou_region_code
    )
    return evaluate(rule.rule, who)
