"""Shapes of redemptions, voids and claims."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

Fen = Annotated[int, Field(strict=True, gt=0, le=100_000_000)]
Code = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
Key = Annotated[str, StringConstraints(min_length=8, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")]


Quantity = Annotated[int, Field(strict=True, ge=1, le=99)]
MAX_BILL_ITEMS = 20


class BillItem(BaseModel):
    """One line of a bill: an item of the provider's price list and how many units."""

    model_config = ConfigDict(extra="forbid")

    service_code: Code
    quantity: Quantity = 1
    # Only for a variable-price item: its price per unit this time (<= its max_price_fen).
    # For a fixed-price item it may be sent and must then be the list price.
    amount_fen: Fen | None = None


def _distinct_items(items: list[BillItem]) -> list[BillItem]:
    seen: set[str] = set()
    for item in items:
        if item.service_code in seen:
            raise ValueError("each service code once (use its quantity)")
        seen.add(item.service_code)
    return items


BillItems = Annotated[
    list[BillItem],
    Field(min_length=1, max_length=MAX_BILL_ITEMS),
    AfterValidator(_distinct_items),
]


class _Bill(BaseModel):
    """What was sold: `items`, or the single-item form `service_code` (+ `quantity`, 1 by
    default). The service prices it from the provider's price list; `gross_fen` is optional
    and, when sent, must equal the priced bill (BILL_MISMATCH)."""

    model_config = ConfigDict(extra="forbid")

    token: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    items: BillItems | None = None
    service_code: Code | None = None
    quantity: Quantity | None = None
    gross_fen: Fen | None = None
    pin: Annotated[str, StringConstraints(pattern=r"^[0-9]{6}$")] | None = None
    # The completed home visit (POST /v1/visits) a home-visit item was delivered in.
    visit_id: uuid.UUID | None = None

    @field_validator("items", "service_code", "quantity", "gross_fen", "visit_id", mode="before")
    @classmethod
    def _absent_not_null(cls, value: Any) -> Any:
        # These may be left out; a JSON null is a client's mistake, refused like a wrong type.
        if value is None:
            raise ValueError("Leave the field out instead of sending null")
        return value

    def form_errors(self) -> list[dict[str, Any]]:
        """Problems of the bill's form, as request-validation errors (empty: none): exactly
        one of `items` and `service_code`, and `quantity` only beside `service_code`."""
        if self.items is None and self.service_code is None:
            return [{"type": "missing", "loc": ("body", "service_code"), "msg": "Field required"}]
        if self.items is not None and self.service_code is not None:
            return [
                {
                    "type": "value_error",
                    "loc": ("body", "service_code"),
                    "msg": "Send items or service_code, not both",
                }
            ]
        if self.items is not None and self.quantity is not None:
            return [
                {
                    "type": "value_error",
                    "loc": ("body", "quantity"),
                    "msg": "With items, each item carries its quantity",
                }
            ]
        return []


class RedemptionCreate(_Bill):
    idempotency_key: Key
    # The staff member signed in at the terminal (the web's provider page sends its user's
    # id): recorded on the redemption and carried to the ledger's entry (who and why).
    staff_id: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None


class RedemptionPreviewCreate(_Bill):
    """The redemption's body without the idempotency key: what would this bill get?"""


class BillLineRead(BaseModel):
    service_code: str
    name: str
    unit: str
    category: str
    quantity: int
    unit_price_fen: int
    amount_fen: int


class RedemptionPreviewRead(BaseModel):
    subsidy_fen: int
    copay_fen: int
    balance_fen: int
    voucher_id: str
    program_code: str
    # The bill as priced from the price list.
    gross_fen: int
    items: list[BillLineRead]
    price_list_version: int
    # When the code expires (null for a card): typed short digits expire with their token.
    code_expires_at: datetime | None = None
    # Whose code it is, masked (张**), for the cashier to check with the person.
    beneficiary_name_masked: str = ""


class RedemptionCreated(BaseModel):
    id: str
    subsidy_fen: int
    copay_fen: int
    balance_fen: int
    voucher_id: str
    # The bill as priced from the price list (subsidy + co-payment).
    gross_fen: int


class VoidCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class VoidRead(BaseModel):
    id: str
    status: str
    voucher_id: str
    balance_fen: int
    voided_at: datetime
    already_voided: bool


class ClaimCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    claim_id: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    redemption_ids: Annotated[list[uuid.UUID], Field(min_length=1, max_length=10_000)]


class ClaimRead(BaseModel):
    claim_id: str
    claimed: list[str]


class BillItemRead(BaseModel):
    service_code: str
    quantity: int


class RedemptionRead(BaseModel):
    id: str
    voucher_id: str
    beneficiary_id: str
    provider_id: str
    terminal_id: str | None
    service_code: str
    category: str
    gross_fen: int
    subsidy_fen: int
    copay_fen: int
    day_on: date
    created_at: datetime
    status: str
    voided_at: datetime | None
    void_reason: str | None
    claimed: bool
    # In the provider's day list only: how the co-payment is being taken, once chosen
    # (cash / stripe, and the co-payment's status); null before.
    copayment_id: str | None = None
    copay_method: str | None = None
    copay_status: str | None = None
    # In the person's history only: open (may still be confirmed or disputed), confirmed,
    # disputed, or closed (voided, or the review window passed).
    review_state: str | None = None
    # The bill's lines in its order (`service_code` is the first's): what was sold, so a
    # bill of breakfast and lunch is not read as "breakfast, 14.50".
    items: list[BillItemRead] = []
    # The voucher that paid: its programme, and its balance right after this redemption.
    program_code: str | None = None
    balance_after_fen: int | None = None


class OutboxLag(BaseModel):
    undelivered: int
    rejected: int
    oldest_undelivered_at: datetime | None
    oldest_age_s: float
