"""Shapes of the voucher service's part of the civil-affairs dashboard."""

from __future__ import annotations

from pydantic import BaseModel


class Enrolled(BaseModel):
    total: int  # active people in the region
    by_grade: dict[str, int]  # "0".."4", "none" (no assessment)
    by_care_setting: dict[str, int]


class ProgramUse(BaseModel):
    program_code: str
    vouchers: int
    face_fen: int
    redemptions: int  # not voided
    redeemed_fen: int  # subsidy paid by those redemptions
    used_bp: int  # redeemed / face, basis points (0 with no vouchers)


class TrendPoint(BaseModel):
    period: str
    vouchers: int
    face_fen: int
    redeemed_fen: int


class SubRegion(BaseModel):
    region_code: str
    enrolled: int
    vouchers: int
    face_fen: int
    redeemed_fen: int
    # the care circle there: covered among the exactly located, basis points
    circle_exact: int = 0
    circle_covered: int = 0
    circle_covered_bp: int = 0


class BudgetLine(BaseModel):
    """One programme's budget from one funding source over the region's budget regions (the
    ledger's figures, fen)."""

    program_code: str
    funding_source: str
    appropriated_fen: int
    committed_fen: int
    spent_fen: int
    released_fen: int
    available_fen: int


class ProviderCount(BaseModel):
    kind: str
    status: str
    providers: int


class Community(BaseModel):
    """A community (the people's own region code) with people outside the care circle."""

    region_code: str
    exact: int  # people located exactly
    uncovered: int
    approximate: int  # counted apart


class CareCircle(BaseModel):
    """The 15-minute care circle of the region's active people: an approved meal point within
    `meal_radius_m` and a care provider within `care_radius_m` of an exact location. People
    located approximately (a community's centre) or not at all are counted apart."""

    meal_radius_m: int
    care_radius_m: int
    active: int
    exact: int
    covered: int
    uncovered: int
    covered_bp: int  # covered / exact
    meal_covered: int
    care_covered: int
    approximate: int
    unlocated: int
    communities: list[Community]  # the most uncovered people first


class DashboardRead(BaseModel):
    """The civil-affairs dashboard for a region subtree and period: enrolment, issuance
    against redemption, twelve months of trend, the sub-regions one level down; the
    budget's execution (the ledger's), providers by kind and status (the provider
    directory), the 15-minute care circle."""

    region_code: str
    period: str
    enrolled: Enrolled
    programs: list[ProgramUse]
    trend: list[TrendPoint]
    subregions: list[SubRegion]
    # the ledger's budget execution by programme and funding source; None when the ledger
    # could not be read just now (the rest still answers)
    budget: list[BudgetLine] | None = None
    providers: list[ProviderCount] = []
    care_circle: CareCircle | None = None
