"""The bill, priced from the provider's price list (pure: no SQL, no FastAPI).

A terminal names what was sold -- items from the provider's price list with quantities -- and
the voucher service prices the bill itself from the list the directory feed delivered
(service/directory.py), so a bill can never exceed the published 普惠 prices. The rule:

    each item    is on the provider's list                       else SERVICE_NOT_OFFERED
                 1 <= quantity <= the item's max_per_visit         else QUANTITY_NOT_ALLOWED
    unit price   = the list price                                  (a fixed-price item)
                 = the `amount_fen` sent, <= max_price_fen         (a variable-price item;
                   absent: AMOUNT_REQUIRED, above: PRICE_ABOVE_MAXIMUM)
                 an `amount_fen` sent for a fixed-price item must be its list price
    line amount  = unit price x quantity
    gross        = the sum of the line amounts; a `gross_fen` sent must equal it, else
                   BILL_MISMATCH (and nothing changes)
    visit        = the bill holds a home-visit item: it must reference a completed visit of
                   at least sum(min_minutes x quantity) over those items (VISIT_REQUIRED)

The single-item form (`service_code` with an optional `quantity` and `gross_fen`) is the
same rule on one item; there, a variable-price item bought once takes `gross_fen` as its
price. Caps and the subsidy apply to the whole bill (service/redemption.py, `compute_split`).
Documented in docs/voucher-redemption.md, "Bills priced from the price list".
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from services.voucher.errors import (
    AmountRequired,
    BillMismatch,
    PriceAboveMaximum,
    QuantityNotAllowed,
    ServiceNotOffered,
)
from services.voucher.service.directory import ServiceItem


@dataclass(frozen=True)
class ItemAsked:
    """One line of a bill as the terminal sent it."""

    service_code: str
    quantity: int = 1
    # A variable-price item's price per unit this time (for a fixed-price item: its list
    # price, if sent at all).
    amount_fen: int | None = None


@dataclass(frozen=True)
class BillLine:
    service_code: str
    name: str
    unit: str
    category: str
    quantity: int
    unit_price_fen: int
    amount_fen: int
    home_visit: bool
    min_minutes: int


@dataclass(frozen=True)
class Bill:
    lines: tuple[BillLine, ...]
    gross_fen: int
    price_list_version: int

    @property
    def service_code(self) -> str:
        """The first line's code: the redemption row's `service_code` (and the ledger
        event's), as before bills had several lines."""
        return self.lines[0].service_code

    @property
    def categories(self) -> list[str]:
        """One per line, in line order (every one must be covered by the voucher)."""
        return [line.category for line in self.lines]

    @property
    def needs_visit(self) -> bool:
        return any(line.home_visit for line in self.lines)

    @property
    def visit_minutes(self) -> int:
        """How long the referenced visit must have lasted, at least."""
        return sum(line.min_minutes * line.quantity for line in self.lines if line.home_visit)


def _field(single: bool, index: int, name: str) -> str:
    if single:
        return {"amount_fen": "gross_fen"}.get(name, name)
    return f"items.{index}.{name}"


def price_bill(
    services: Mapping[str, ServiceItem],
    items: Sequence[ItemAsked],
    *,
    gross_fen: int | None,
    price_list_version: int,
    single: bool = False,
) -> Bill:
    """Price `items` from the price list `services` (see the module's rule); `single` when
    the terminal used the single-item form (errors then name its fields, and `gross_fen`
    prices a variable-price item bought once)."""
    lines: list[BillLine] = []
    for index, asked in enumerate(items):
        item = services.get(asked.service_code)
        if item is None or item.price_fen is None:
            raise ServiceNotOffered(field=_field(single, index, "service_code"))
        if asked.quantity > item.max_per_visit:
            raise QuantityNotAllowed(
                field=_field(single, index, "quantity"),
                details={"max_per_visit": item.max_per_visit},
            )
        amount = asked.amount_fen
        if item.variable_price:
            if amount is None and single and gross_fen is not None and asked.quantity == 1:
                amount = gross_fen
            if amount is None:
                raise AmountRequired(field=_field(single, index, "amount_fen"))
            if item.max_price_fen is not None and amount > item.max_price_fen:
                raise PriceAboveMaximum(
                    field=_field(single, index, "amount_fen"),
                    details={"max_price_fen": item.max_price_fen},
                )
            unit_price = amount
        else:
            unit_price = item.price_fen
            if amount is not None and amount != unit_price:
                raise BillMismatch(
                    field=_field(single, index, "amount_fen"),
                    details={"unit_price_fen": unit_price},
                )
        lines.append(
            BillLine(
                service_code=item.code,
                name=item.name,
                unit=item.unit,
                category=item.category,
                quantity=asked.quantity,
                unit_price_fen=unit_price,
                amount_fen=unit_price * asked.quantity,
                home_visit=item.home_visit,
                min_minutes=item.min_minutes or 0,
            )
        )
    gross = sum(line.amount_fen for line in lines)
    if gross_fen is not None and gross_fen != gross:
        raise BillMismatch(field="gross_fen", details={"priced_fen": gross})
    return Bill(tuple(lines), gross, price_list_version)


def request_hash(
    token: str,
    items: Sequence[ItemAsked],
    gross_fen: int | None,
    *,
    single: bool,
    visit_id: object | None = None,
) -> bytes:
    """What makes two requests under one idempotency key "the same": the code and the bill
    as sent (not as priced, so a retry is recognised whatever the price list did since).
    A single item bought once with its `gross_fen` hashes as it did before bills had items.
    The PIN is left out: it must never be stored, not even hashed quickly. A home visit
    named by the bill is part of it (a request without one hashes as before visits)."""
    code = token.strip().upper()
    if visit_id is not None:
        plain = request_hash(token, items, gross_fen, single=single)
        return hashlib.sha256(plain + f"\x1fvisit\x1f{visit_id}".encode()).digest()
    if single and gross_fen is not None and len(items) == 1:
        only = items[0]
        if only.quantity == 1 and only.amount_fen is None:
            return hashlib.sha256(f"{code}\x1f{only.service_code}\x1f{gross_fen}".encode()).digest()
    lines = "\x1e".join(
        f"{i.service_code}*{i.quantity}@{'' if i.amount_fen is None else i.amount_fen}"
        for i in items
    )
    gross = "" if gross_fen is None else str(gross_fen)
    return hashlib.sha256(f"{code}\x1fitems\x1f{lines}\x1f{gross}".encode()).digest()
