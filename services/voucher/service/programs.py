"""Programs: versioned configuration, loaded from the defaults below when absent.

The defaults follow the published policy (Guangxi 2025-2027 "暖心民政"); every number can be
changed by an officer, which writes a new version (who, when, why) and leaves the old one in
`program_version`, whose rows the service's database role cannot update or delete.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.regions import significant_prefix
from services.voucher.errors import (
    InvalidProgramConfig,
    ProgramExists,
    ProgramNotFound,
    ProgramRegionMismatch,
    ProgramVersionConflict,
)
from services.voucher.models import Beneficiary, Program, ProgramVersion
from services.voucher.repository import programs as repo
from services.voucher.schemas.programs import ProgramConfig, SettingRule
from services.voucher.service.assessment import GradeState, in_force
from services.voucher.service.eligibility import amount_fen, is_eligible
from services.voucher.service.identity import check_region

DISABILITY = "disability_subsidy"
MEAL = "meal_assistance"
NURSING = "nursing_subsidy"

_HOME_CARE = [
    "home_care_hours",
    "bathing",
    "cleaning",
    "escort",
    "medical_escort",
    "emergency_call",
    "rehab_nursing",
]
_COMMUNITY_CARE = [
    "day_care",
    "rehab_nursing",
    "bathing",
    "escort",
    "medical_escort",
    "emergency_call",
    "respite_stay",
]
_INSTITUTION_CARE = ["institution_stay", "respite_stay", "rehab_nursing", "medical_escort"]
MEAL_PER_USE_FEN = 500
MEAL_DAY_LIMIT = 2

DEFAULT_PROGRAMS: dict[str, ProgramConfig] = {
    # 失能老年人养老服务消费补贴: 60+, grade 2-4, monthly, 800 yuan at 40% in an institution,
    # 500 yuan at 50% at home or in the community; funded 95% central / 5% regional.
    DISABILITY: ProgramConfig(
        name="失能老年人养老服务消费补贴",
        kind="voucher",
        eligibility={"min_age": 60, "grades": [2, 3, 4]},
        settings={
            "institution": SettingRule(
                face_fen=80_000, ratio_bp=4_000, categories=_INSTITUTION_CARE
            ),
            "home": SettingRule(face_fen=50_000, ratio_bp=5_000, categories=_HOME_CARE),
            "community": SettingRule(face_fen=50_000, ratio_bp=5_000, categories=_COMMUNITY_CARE),
        },
        priority=100,
    ),
    # 老年助餐: 5 yuan a meal at meal points, 2 meals a day, only when the bill exceeds it; the
    # monthly face covers 2 meals on each of 31 days. Used before the disability voucher.
    MEAL: ProgramConfig(
        name="老年助餐",
        kind="per_use",
        eligibility={"min_age": 60, "grades": [2, 3, 4]},
        settings={
            s: SettingRule(face_fen=MEAL_PER_USE_FEN * MEAL_DAY_LIMIT * 31, categories=["meal"])
            for s in ("home", "community", "institution")
        },
        per_use_fen=MEAL_PER_USE_FEN,
        day_limit_count=MEAL_DAY_LIMIT,
        allowed_kinds=["meal_point"],
        priority=10,
    ),
    # 护理补贴: 200 yuan a month paid to 低保 beneficiaries aged 70+ with grade 2-4.
    NURSING: ProgramConfig(
        name="护理补贴",
        kind="cash_benefit",
        eligibility={"min_age": 70, "grades": [2, 3, 4], "dibao_required": True},
        settings={s: SettingRule(face_fen=20_000) for s in ("home", "community", "institution")},
        allowed_kinds=[],
        priority=100,
    ),
}


@dataclass(frozen=True)
class LoadedProgram:
    code: str
    version: int
    config: ProgramConfig


async def ensure_defaults(session: AsyncSession, who: str = "system:defaults") -> list[str]:
    """Store every default program that is not stored yet; returns the codes created."""
    created = []
    for code, config in DEFAULT_PROGRAMS.items():
        if await repo.insert_if_absent(
            session,
            code,
            config.name,
            config.kind,
            config.model_dump(mode="json"),
            who,
            "initial defaults",
        ):
            created.append(code)
    return created


def _loaded(row: Program) -> LoadedProgram:
    return LoadedProgram(row.code, row.version, ProgramConfig.model_validate(row.config))


async def get(session: AsyncSession, code: str) -> LoadedProgram:
    return _loaded(await get_row(session, code))


async def for_period(session: AsyncSession, code: str, period: str) -> LoadedProgram:
    """The programme as it is in force in a period: the newest version whose
    `effective_from` is not after it (a version published for a future period waits)."""
    row = await get_row(session, code)
    version = await repo.version_for_period(session, code, period)
    if version is None or version.version == row.version:
        return _loaded(row)
    return LoadedProgram(code, version.version, ProgramConfig.model_validate(version.config))


async def get_row(session: AsyncSession, code: str) -> Program:
    row = await repo.get_program(session, code)
    if row is None:
        raise ProgramNotFound(field="program_code")
    return row


async def list_rows(session: AsyncSession) -> list[Program]:
    return await repo.list_programs(session)


async def all_programs(session: AsyncSession) -> list[LoadedProgram]:
    return [_loaded(r) for r in await repo.list_programs(session)]


async def history(session: AsyncSession, code: str) -> list[ProgramVersion]:
    await get_row(session, code)
    return await repo.list_versions(session, code)


async def update(
    session: AsyncSession,
    code: str,
    config: ProgramConfig,
    reason: str,
    who: str,
    expected_version: int | None = None,
    effective_from: str | None = None,
) -> Program:
    """Write a new version of a program (the row lock orders concurrent editors), in force
    from `effective_from` (a period not before this one) or at once."""
    row = await repo.get_program(session, code, lock=True)
    if row is None:
        raise ProgramNotFound(field="program_code")
    if expected_version is not None and expected_version != row.version:
        raise ProgramVersionConflict(
            field="expected_version", details={"current_version": row.version}
        )
    try:
        config = ProgramConfig.model_validate(config.model_dump())
    except ValidationError as exc:  # pragma: no cover - the request model already checked
        raise InvalidProgramConfig(field="config") from exc
    if row.region_code is not None:
        config = regional_config(config, row.region_code, "")
    await repo.save_new_version(
        session,
        code,
        row.version + 1,
        config.name,
        config.kind,
        config.model_dump(mode="json"),
        who,
        reason,
        effective_from,
    )
    return await get_row(session, code)


def _within(scope: str, code: str) -> bool:
    return significant_prefix(code).startswith(significant_prefix(scope))


def regional_config(config: ProgramConfig, region_code: str, province_code: str) -> ProgramConfig:
    """A region's programme applies only in it: its eligibility regions default to the region
    and must each lie within it (PROGRAM_REGION_MISMATCH). The province's may name any."""
    rule = config.eligibility
    for code in rule.regions:
        check_region(code)
        if not _within(region_code, code):
            raise ProgramRegionMismatch(field="config.eligibility.regions")
    if region_code != province_code and not rule.regions:
        rule = rule.model_copy(update={"regions": [region_code]})
        config = config.model_copy(update={"eligibility": rule})
    return ProgramConfig.model_validate(config.model_dump())


async def create(
    session: AsyncSession,
    code: str,
    region_code: str,
    config: ProgramConfig,
    reason: str,
    who: str,
    province_code: str,
) -> Program:
    """Publish a new programme at version 1 (PROGRAM_EXISTS if the code is taken)."""
    config = regional_config(config, region_code, province_code)
    created = await repo.insert_if_absent(
        session,
        code,
        config.name,
        config.kind,
        config.model_dump(mode="json"),
        who,
        reason,
        region_code=None if region_code == province_code else region_code,
    )
    if not created:
        raise ProgramExists(field="code")
    return await get_row(session, code)


def concerns(row: Program, region: str) -> bool:
    """A programme concerns an officer of `region` if it is the province's, or its region
    and theirs nest (a city's programme: the city's and its counties' officers, the
    province's)."""
    if row.region_code is None:
        return True
    return _within(row.region_code, region) or _within(region, row.region_code)


async def preview(
    session: AsyncSession, config: ProgramConfig, region_code: str, period: str
) -> tuple[int, dict[str, int], int]:
    """(people, people by care setting, monthly cost in fen) a configuration would cover in a
    region for a period, from the same eligibility query issuance runs."""
    from services.voucher.repository import issuance as issuance_repo
    from services.voucher.service.issuance import eligibility_scope

    scope = eligibility_scope(config, "", period, region_code, None)
    by_setting = await issuance_repo.count_by_setting(session, scope)
    cost = sum(
        n * config.settings[s].face_fen for s, n in by_setting.items() if s in config.settings
    )
    if config.age_bands:  # paid by age band: the cost by each person's age
        cost = sum(
            n * amount_fen(config, s, age)
            for s, age, n in await issuance_repo.count_by_setting_age(session, scope)
            if s in config.settings
        )
    return sum(by_setting.values()), by_setting, cost


def grade_state(person: Beneficiary) -> GradeState:
    return GradeState(
        grade=person.grade,
        valid_until=person.grade_valid_until,
        grade_from=person.grade_from,
        prior_grade=person.prior_grade,
        prior_valid_until=person.prior_grade_valid_until,
    )


async def eligible_codes(session: AsyncSession, person: Beneficiary, on: date) -> list[str]:
    """The programs a stored beneficiary is eligible for on a day (with the grade in force
    then: a reassessment counts from the next period, service/assessment.py `in_force`)."""
    grade, valid_until = in_force(grade_state(person), on)
    return [
        p.code
        for p in await all_programs(session)
        if is_eligible(
            p.config,
            birth_on=person.birth_on,
            grade=grade,
            grade_valid_until=valid_until,
            dibao=person.dibao,
            care_setting=person.care_setting,
            region_code=person.region_code,
            status=person.status,
            on=on,
            tekun=person.tekun,
            hukou_region_code=person.hukou_region_code,
        )
    ]


async def names_of(session: AsyncSession, codes: list[str]) -> dict[str, str]:
    """Each programme's current name by code (what a person reads beside a voucher)."""
    return await repo.names_of(session, codes)
