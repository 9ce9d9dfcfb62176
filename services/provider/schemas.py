"""Request and response bodies of the provider service (XCreate / XRead / XUpdate)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from services.provider.service.review_rules import DocumentKind
from services.provider.service.vocabulary import (
    CreditKind,
    ProviderKind,
    ProviderStatus,
    ServiceCategory,
    TerminalStatus,
)

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
ServiceCode = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9_]{1,39}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# A time of day, "HH:MM" (24-hour): compares as text in the order of the day.
ClockTime = Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]


class ServiceItemCreate(_Strict):
    code: ServiceCode
    name: Text
    category: ServiceCategory
    unit: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)] = (
        "次"
    )
    # 普惠 price in fen: a positive integer (never a float).
    price_fen: int = Field(gt=0, le=100_000_000, strict=True)
    # Units one bill may carry (a bill of more is refused by the voucher service).
    max_per_visit: int = Field(default=1, ge=1, le=99, strict=True)
    # A variable-price item: each bill names its own unit price, at most `max_price_fen`
    # (which is then required, and not below `price_fen`, the usual price shown).
    variable_price: bool = Field(default=False, strict=True)
    max_price_fen: int | None = Field(
        default=None, gt=0, le=100_000_000, strict=True, validate_default=True
    )
    # Delivered in the elder's home: billed only against a completed visit of at least
    # `min_minutes` (optional; only for such items).
    home_visit: bool = Field(default=False, strict=True)
    min_minutes: int | None = Field(default=None, ge=1, le=1440, strict=True, validate_default=True)
    # When it is served, Beijing time "HH:MM" (a meal's serving hours): both or neither,
    # from before until. Shown to the elder on the nearby page.
    serves_from: ClockTime | None = None
    serves_until: ClockTime | None = Field(default=None, validate_default=True)

    @field_validator("serves_until")
    @classmethod
    def _serving_hours(cls, value: str | None, info: ValidationInfo) -> str | None:
        start = info.data.get("serves_from")
        if (start is None) != (value is None):
            raise ValueError("serves_from and serves_until go together")
        if start is not None and value is not None and not start < value:
            raise ValueError("serves_from must be before serves_until")
        return value

    @field_validator("max_price_fen")
    @classmethod
    def _ceiling(cls, value: int | None, info: ValidationInfo) -> int | None:
        variable = info.data.get("variable_price", False)
        if variable and value is None:
            raise ValueError("a variable-price item needs max_price_fen")
        if not variable and value is not None:
            raise ValueError("max_price_fen is only for a variable-price item")
        price = info.data.get("price_fen")
        if value is not None and price is not None and value < price:
            raise ValueError("max_price_fen may not be below price_fen")
        return value

    @field_validator("min_minutes")
    @classmethod
    def _minutes(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is not None and not info.data.get("home_visit", False):
            raise ValueError("min_minutes is only for a home-visit item")
        return value


def _unique_codes(items: list[ServiceItemCreate]) -> list[ServiceItemCreate]:
    seen: set[str] = set()
    for item in items:
        if item.code in seen:
            raise ValueError(f"service code {item.code} appears twice")
        seen.add(item.code)
    return items


# A price list: 1 to 200 items, each service code once.
ServiceList = Annotated[
    list[ServiceItemCreate], Field(min_length=1, max_length=200), AfterValidator(_unique_codes)
]


class ServiceItemRead(BaseModel):
    code: str
    name: str
    category: str
    unit: str
    price_fen: int
    max_per_visit: int = 1
    variable_price: bool = False
    max_price_fen: int | None = None
    home_visit: bool = False
    min_minutes: int | None = None
    serves_from: str | None = None  # "HH:MM", Beijing time
    serves_until: str | None = None


class BankAccountCreate(_Strict):
    bank_name: Text
    account_name: Text
    account_number: Annotated[
        str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9]{8,30}$")
    ]


class BankAccountRead(BaseModel):
    bank_name: str
    account_name: str
    account_number_masked: str
    account_number: str | None = None  # only for services (the ledger's payment files)


class BankAccountChangeRead(BaseModel):
    id: str
    provider_id: str
    bank_name: str
    account_name: str
    account_number_masked: str
    status: str  # pending, approved, rejected, superseded
    requested_by: str
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    reason: str | None


class BankAccountChangePage(BaseModel):
    items: list[BankAccountChangeRead]


class CurrentBankAccount(BaseModel):
    bank_name: str | None
    account_name: str | None
    account_number_masked: str | None


class PendingBankAccountChangeRead(BankAccountChangeRead):
    provider_name: str
    region_code: str
    current: CurrentBankAccount  # the account the provider is paid to now


class PendingBankAccountChangePage(BaseModel):
    items: list[PendingBankAccountChangeRead]


class ChangeDecision(_Strict):
    """An officer's approval of a change (a bank account, a price list): a reason if any."""

    reason: LongText | None = None


class ChangeRejection(_Strict):
    """An officer's rejection of a change: the reason, which the provider's admin reads."""

    reason: LongText


class PriceListChangeRead(BaseModel):
    """A price list asked for that raises what public money pays: the whole list, the codes
    it raises, and its decision (pending, approved, rejected, superseded)."""

    id: str
    provider_id: str
    services: list[ServiceItemRead]
    raises: list[str]
    status: str
    requested_by: str
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    reason: str | None


class PriceListChangePage(BaseModel):
    items: list[PriceListChangeRead]


class PendingPriceListChangeRead(PriceListChangeRead):
    provider_name: str
    region_code: str
    current: list[ServiceItemRead]  # the list redemptions are priced by now


class PendingPriceListChangePage(BaseModel):
    items: list[PendingPriceListChangeRead]


class ContactCreate(_Strict):
    name: Text
    phone: Annotated[
        str,
        StringConstraints(
            strip_whitespace=True, pattern=r"^(1[3-9][0-9]{9}|0[0-9]{2,3}-?[0-9]{7,8})$"
        ),
    ]


class ContactRead(BaseModel):
    name: str
    phone_masked: str


class ProviderCreate(_Strict):
    name: Text
    kind: ProviderKind
    uscc: Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True)]
    region_code: str
    address: LongText
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False)
    contact: ContactCreate
    bank_account: BankAccountCreate
    services: ServiceList


class PriceListUpdate(_Strict):
    """The whole price list, replacing the current one."""

    services: ServiceList


class ProviderUpdate(_Strict):
    """Profile fields a provider's admin keeps up to date; absent fields stay as they are."""

    name: Text | None = None
    address: LongText | None = None
    lat: float | None = Field(default=None, ge=-90, le=90, allow_inf_nan=False)
    lon: float | None = Field(default=None, ge=-180, le=180, allow_inf_nan=False)
    contact: ContactCreate | None = None
    bank_account: BankAccountCreate | None = None

    @model_validator(mode="after")
    def _location_together(self) -> ProviderUpdate:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("lat and lon change together")
        return self


class ChangeRead(BaseModel):
    kind: str
    detail: dict[str, Any]
    actor: str
    changed_at: datetime


class ChangePage(BaseModel):
    items: list[ChangeRead]


class ProviderCreated(BaseModel):
    id: str
    status: ProviderStatus


class ProviderRead(BaseModel):
    id: str
    name: str
    kind: str
    uscc: str
    region_code: str
    address: str
    lat: float
    lon: float
    status: str
    credit_points: int
    # Only for the provider's own people, officers and finance of its region, auditors.
    contact: ContactRead | None
    bank_account: BankAccountRead | None  # the approved account: the one payments go to
    bank_account_change_pending: BankAccountChangeRead | None = None
    services: list[ServiceItemRead]
    created_at: datetime
    updated_at: datetime
    # For the provider's own people and officers of its region: the reason of its last
    # status change (an officer's request for changes, a refusal), and the review steps the
    # caller may take now (service/review_rules.py `allowed_actions`).
    status_reason: str | None = None
    actions: list[str] = []


class NearbyProvider(BaseModel):
    id: str
    name: str
    kind: str
    region_code: str
    address: str
    lat: float
    lon: float
    distance_m: int
    services: list[ServiceItemRead]


class NearbyPage(BaseModel):
    items: list[NearbyProvider]


class RegistryEntry(BaseModel):
    id: str
    name: str
    kind: str
    uscc: str
    region_code: str
    address: str
    lat: float
    lon: float
    status: str
    credit_points: int
    created_at: datetime
    updated_at: datetime
    # The reason of the last status change, and the review steps the caller may take now
    # (service/review_rules.py `allowed_actions`: an officer's page offers only these).
    status_reason: str | None = None
    actions: list[str] = []


class RegistryPage(BaseModel):
    items: list[RegistryEntry]
    next_cursor: str | None


class StatusChangeCreate(_Strict):
    reason: LongText


class ResubmitCreate(_Strict):
    # What was changed (optional): kept in the history beside the resubmission.
    reason: LongText | None = None


class StatusChanged(BaseModel):
    id: str
    status: str
    previous_status: str


class StatusChangeRead(BaseModel):
    from_status: str | None
    to_status: str
    reason: str
    actor: str
    automatic: bool
    changed_at: datetime


class HistoryPage(BaseModel):
    items: list[StatusChangeRead]


class CreditEventCreate(_Strict):
    kind: CreditKind
    points: int = Field(ge=0, le=100, strict=True)
    reason: LongText
    # What caused it (e.g. `alert:<id>`): the same source is recorded once per provider.
    source_ref: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None


class CreditEventRead(BaseModel):
    kind: str
    points: int
    reason: str
    actor: str
    recorded_at: datetime


class CreditRecord(BaseModel):
    provider_id: str
    status: str
    credit_points: int
    threshold: int
    events: list[CreditEventRead]


class TerminalCreate(_Strict):
    name: Text


class TerminalIssued(BaseModel):
    terminal_id: str
    name: str
    secret: str


class TerminalRead(BaseModel):
    id: str
    name: str
    status: TerminalStatus
    created_at: datetime
    revoked_at: datetime | None


class TerminalList(BaseModel):
    items: list[TerminalRead]


class DirectoryProvider(BaseModel):
    id: str
    name: str
    kind: str
    status: str
    region_code: str
    lat: float
    lon: float
    services: list[ServiceItemRead]
    # The directory version at which the price list last changed.
    price_list_version: int


class DirectoryTerminal(BaseModel):
    id: str
    provider_id: str
    name: str
    status: str
    secret_sha256: str


class DirectoryFeed(BaseModel):
    version: int
    providers: list[DirectoryProvider]
    terminals: list[DirectoryTerminal]


class DocumentRead(BaseModel):
    """A licence document's description (the file itself: GET .../documents/{id})."""

    id: str
    kind: DocumentKind
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    uploaded_by: str
    uploaded_at: datetime


class DocumentPage(BaseModel):
    items: list[DocumentRead]
