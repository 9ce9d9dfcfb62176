"""Who a program is for (pure: no I/O). The same rule in SQL, for a whole region at once, is
the eligibility query of repository/issuance.py."""

from __future__ import annotations

from datetime import date

from services.common.regions import region_covers
from services.voucher.schemas.programs import ProgramConfig


def age_on(birth_on: date, day: date) -> int:
    return day.year - birth_on.year - ((day.month, day.day) < (birth_on.month, birth_on.day))


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
    return not (rule.regions and not any(region_covers(r, region_code) for r in rule.regions))
