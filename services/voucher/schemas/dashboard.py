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


class DashboardRead(BaseModel):
    """The voucher service's figures for a region subtree and period (enrolment, issuance
    against redemption, twelve months of trend, the sub-regions one level down)."""

    region_code: str
    period: str
    enrolled: Enrolled
    programs: list[ProgramUse]
    trend: list[TrendPoint]
    subregions: list[SubRegion]
