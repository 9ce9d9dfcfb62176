"""Shapes of beneficiaries, assessments, proxies and vouchers as the HTTP API shows them.

National ID and phone come in as plain text and go out only masked.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.voucher.schemas.alerts import RecoveryRead

CareSetting = Literal["home", "community", "institution"]


class Scores(BaseModel):
    """GB/T 42195-2022 dimension scores. Ranges are checked by the assessment rule, so a
    refusal names the dimension with code SCORE_OUT_OF_RANGE."""

    model_config = ConfigDict(extra="forbid")

    self_care: int
    motor: int
    mental: int
    perception_social: int


class Flags(BaseModel):
    model_config = ConfigDict(extra="forbid")

    coma: bool = False
    dementia: bool = False
    mental_disorder: bool = False
    care_risk_events: int = Field(0, ge=0, le=1000)


class AssessmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scores: Scores
    flags: Flags = Field(default_factory=Flags)
    assessed_on: date
    assessor: str = Field(min_length=1, max_length=200)


class PayoutAccountCreate(BaseModel):
    """The bank account a cash benefit (护理补贴) is paid to. Personal data: stored encrypted,
    shown masked; only the ledger (role service) reads the full number."""

    model_config = ConfigDict(extra="forbid")

    bank_name: str = Field(min_length=1, max_length=200)
    account_name: str = Field(min_length=1, max_length=100)
    account_number: str = Field(pattern=r"^[0-9]{8,30}$")

    @field_validator("bank_name", "account_name", "account_number", mode="before")
    @classmethod
    def _strip(cls, value: object) -> object:
        return value.strip() if isinstance(value, str) else value

    @field_validator("bank_name", "account_name")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value:
            raise ValueError("may not be blank")
        return value


class PayoutAccountRead(BaseModel):
    bank_name: str
    account_name_masked: str
    account_number_masked: str
    set_at: datetime | None = None


class PayoutAccountFull(BaseModel):
    """For the ledger's payment instruction file (role service only)."""

    beneficiary_id: str
    name: str
    region_code: str
    status: str
    bank_name: str | None = None
    account_name: str | None = None
    account_number: str | None = None


class PayoutAccountsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    beneficiary_ids: list[uuid.UUID] = Field(min_length=1, max_length=1000)


class PayoutAccountsRead(BaseModel):
    accounts: list[PayoutAccountFull]
    unknown: list[str]


class BeneficiaryCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    national_id: str = Field(max_length=40)
    name: str = Field(min_length=1, max_length=100)
    phone: str | None = Field(None, max_length=40)
    region_code: str = Field(max_length=12)
    address: str = Field(min_length=1, max_length=500)
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)
    # The location is a community's centre, not the home: home visits skip the radius check.
    location_approximate: bool = False
    care_setting: CareSetting
    dibao: bool = False
    tekun: bool = False  # 特困
    # 户籍: the household registration's GB/T 2260 code (absent: not recorded)
    hukou_region_code: str | None = Field(None, max_length=12)
    assessment: AssessmentCreate
    payout_account: PayoutAccountCreate | None = None

    @field_validator("name", "address")
    @classmethod
    def _strip(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("may not be blank")
        return value


class ContactCreate(BaseModel):
    """An emergency contact (紧急联系人): personal data, stored encrypted, shown masked."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    relation: str = Field(min_length=1, max_length=50)
    phone: str = Field(min_length=1, max_length=40)

    @field_validator("name", "relation", "phone")
    @classmethod
    def _strip(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("may not be blank")
        return value


class ContactRead(BaseModel):
    name_masked: str
    relation: str
    phone_masked: str


class BeneficiaryUpdate(BaseModel):
    """An officer's edit of a person's profile (PATCH): only the fields sent change; `null`
    clears the phone, the location or the contact. `lat` and `lon` go together;
    `location_approximate`: the location is a community's centre, not the home. `reason`
    is kept with the audit entry (no personal data in it, please)."""

    model_config = ConfigDict(extra="forbid")

    phone: str | None = Field(None, max_length=40)
    address: str | None = Field(None, min_length=1, max_length=500)
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)
    location_approximate: bool | None = None
    contact: ContactCreate | None = None
    care_setting: CareSetting | None = None
    reason: str | None = Field(None, max_length=1000)

    @field_validator("address")
    @classmethod
    def _strip_address(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if not value:
            raise ValueError("may not be blank")
        return value


class ProfileChangeRead(BaseModel):
    """One edit of a profile: which fields (names only, never their values), who, when, why."""

    id: str
    beneficiary_id: str
    fields: list[str]
    reason: str | None
    created_at: datetime
    created_by: str


class VoucherBrief(BaseModel):
    id: str
    program_code: str
    period: str
    face_fen: int
    balance_fen: int
    valid_until: datetime
    status: str


class BeneficiaryCreated(BaseModel):
    id: str
    grade: int
    eligible_programs: list[str]
    vouchers: list[VoucherBrief] = Field(default_factory=list)
    cash_benefits: list[str] = Field(default_factory=list)
    # Programs whose first month could not be issued at enrolment (e.g. budget exhausted); the
    # next issuance run for the month picks the person up.
    pending_programs: list[str] = Field(default_factory=list)


class AssessmentRead(BaseModel):
    """An assessment; `effective_from` is the first day of the period its grade governs
    (the next period after it was recorded; null: at once, as at enrolment)."""

    id: str
    scores: Scores
    flags: Flags
    total: int
    grade: int
    assessed_on: date
    valid_until: date
    assessor: str
    created_at: datetime | None = None
    created_by: str | None = None
    effective_from: date | None = None


class BeneficiaryRead(BaseModel):
    id: str
    national_id_masked: str
    name: str
    phone_masked: str | None
    birth_on: date
    sex: str
    region_code: str
    address: str
    lat: float | None
    lon: float | None
    location_approximate: bool = False
    care_setting: str
    dibao: bool
    tekun: bool = False
    hukou_region_code: str | None = None
    grade: int | None
    grade_valid_until: date | None
    # A reassessment counts from the next period: `grade` is in force from `grade_from`
    # (null: already), before that `prior_grade` (valid until `prior_grade_valid_until`).
    grade_from: date | None = None
    prior_grade: int | None = None
    prior_grade_valid_until: date | None = None
    contact: ContactRead | None = None
    status: str
    status_reason: str | None
    status_changed_at: datetime | None
    created_at: datetime
    payout_account: PayoutAccountRead | None = None
    # `status` on today's date: `hospitalised` while a stay covers it (docs/lifecycle.md).
    current_status: str = "active"
    paused_from: date | None = None
    paused_until: date | None = None


class StatusChange(BaseModel):
    """The older `POST /v1/beneficiaries/{id}/status` body: a change effective today
    (kept as an alias of `StatusChangeCreate`; a move here names no region: left the province)."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["active", "suspended", "deceased", "moved", "exited"]
    reason: str = Field(min_length=1, max_length=1000)


StatusKind = Literal["active", "suspended", "hospitalised", "moved", "deceased", "exited"]


class StatusChangeCreate(BaseModel):
    """A change of a person's status (docs/lifecycle.md). `effective_on` may be in the past
    (in the future only for a hospital stay); `until` is a stay's last day (inclusive, open
    when left out); `to_region_code` the region a person moves to (left out: left the
    province); `evidence_ref` names the document (death certificate number, hospital
    admission note, ...)."""

    model_config = ConfigDict(extra="forbid")

    status: StatusKind
    effective_on: date
    reason: str = Field(min_length=1, max_length=1000)
    evidence_ref: str | None = Field(default=None, max_length=200)
    to_region_code: str | None = Field(default=None, max_length=12)
    until: date | None = None


class StatusChangeRead(BaseModel):
    """One entry of a person's timeline: what changed, from when, who recorded it and why,
    and the money it released (vouchers ended, their unused balance back to the budget)."""

    id: str
    beneficiary_id: str
    status: StatusKind
    effective_on: date
    until: date | None
    reason: str
    evidence_ref: str | None
    from_status: str
    from_region_code: str
    to_region_code: str | None
    vouchers_ended: int
    released_fen: int
    source: str
    created_at: datetime
    created_by: str


class StatusChangeResult(StatusChangeRead):
    """The change recorded, the person's state after it, and (a death recorded with a past
    date) the redemptions made after the death with their recoveries (docs/lifecycle.md)."""

    current_status: str
    region_code: str
    recovery_redemption_ids: list[str] = []
    recoveries: list[RecoveryRead] = []


class ProxyCreate(BaseModel):
    """Authorise a family member or agent: `proxy_sub` is the subject of their sign-in."""

    model_config = ConfigDict(extra="forbid")

    proxy_sub: str = Field(min_length=1, max_length=200)
    name: str = Field(min_length=1, max_length=100)
    relation: str = Field(min_length=1, max_length=50)
    phone: str | None = Field(None, max_length=40)


class ProxyRead(BaseModel):
    id: str
    beneficiary_id: str
    proxy_sub: str
    name: str
    relation: str
    phone_masked: str | None
    status: str
    created_at: datetime
    revoked_at: datetime | None


class VoucherRead(BaseModel):
    id: str
    program_code: str
    program_name: str = ""  # the programme's current name, for people to read
    program_version: int
    period: str
    face_fen: int
    balance_fen: int
    valid_from: datetime
    valid_until: datetime
    status: str
    allowed_kinds: list[str]
    allowed_categories: list[str]
    ratio_bp: int | None
    per_use_fen: int | None
    day_limit_count: int | None
    released_fen: int | None
    visits_left: int | None = None  # a service package's home visits left this period
    # The person's hospital stay, copied onto the voucher: no redemption on these days
    # (Asia/Shanghai, inclusive; until None = open).
    paused_from: date | None = None
    paused_until: date | None = None


class CashBenefitRead(BaseModel):
    id: str
    program_code: str
    period: str
    amount_fen: int
    created_at: datetime


class ImportColumnRead(BaseModel):
    """A column of an import file: its name, its Chinese heading (either may head the
    column), whether a file must have it, and what to write in it."""

    name: str
    heading: str
    required: bool
    meaning: str


class ImportRowError(BaseModel):
    code: str
    field: str | None
    # the field's column by its Chinese heading (service/import_columns.py), when it is one
    column: str | None = None
    message: str


class ImportRowResult(BaseModel):
    row: int
    status: Literal["created", "duplicate", "error"]
    id: str | None = None
    grade: int | None = None
    error: ImportRowError | None = None


class ImportResult(BaseModel):
    total: int
    created: int
    duplicates: int
    errors: int
    rows: list[ImportRowResult]


class StatusImportRow(BaseModel):
    """One row of a status file: `applied` (the change was recorded: `change_id`),
    `unchanged` (this very change was recorded before: a file imported again) or `error`."""

    row: int
    status: Literal["applied", "unchanged", "error"]
    event: str | None = None
    beneficiary_id: str | None = None
    change_id: str | None = None
    error: ImportRowError | None = None


class StatusImportResult(BaseModel):
    total: int
    applied: int
    unchanged: int
    errors: int
    rows: list[StatusImportRow]


class BeneficiaryLookup(BaseModel):
    """Find a person by national ID (sent in the body, never in a URL that proxies log)."""

    model_config = ConfigDict(extra="forbid")

    national_id: str = Field(max_length=40)
