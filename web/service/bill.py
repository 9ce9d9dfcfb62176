"""The cashier's bill: what was sold, read from the redeem form against the price list (pure).

The form lists the provider's price list; the cashier gives each item sold a quantity, and a
price only for a variable-price item (a repair, an assistive device: never above its
`max_price_fen`). There is no free amount for a fixed-price item: its price is the list's.
The page shows the total; the voucher service prices the bill again itself and refuses one
that differs (BILL_MISMATCH), so the page's arithmetic is a convenience, never the authority.
Between the confirm page and the redemption the bill travels as one hidden field,
`CODE*QUANTITY[@UNIT_PRICE_FEN];...` (`encode` / `decode`), with the total the person was
shown: if the price list changed in between, the voucher service refuses the bill rather than
charge what nobody agreed to.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_YUAN = re.compile(r"^\d{1,7}(\.\d{1,2})?$")
_QUANTITY = re.compile(r"^\d{1,2}$")
_LINE = re.compile(r"^([A-Z][A-Z0-9_]{1,39})\*([1-9][0-9]?)(?:@([1-9][0-9]{0,9}))?$")
MAX_LINES = 20


def parse_yuan(text: str) -> int | None:
    """'12.5' -> 1250 fen, exactly (no floats); None when it is not an amount."""
    text = text.strip()
    if not _YUAN.match(text):
        return None
    whole, _, frac = text.partition(".")
    return int(whole) * 100 + int((frac + "00")[:2])


def yuan_field(fen: int) -> str:
    """1250 fen -> '12.50': an amount as a price field takes it back (`parse_yuan`)."""
    return f"{fen // 100}.{fen % 100:02d}"


@dataclass(frozen=True)
class Line:
    code: str
    name: str
    unit: str
    quantity: int
    unit_price_fen: int
    variable: bool

    @property
    def amount_fen(self) -> int:
        return self.unit_price_fen * self.quantity


@dataclass(frozen=True)
class Bill:
    lines: tuple[Line, ...]

    @property
    def total_fen(self) -> int:
        return sum(line.amount_fen for line in self.lines)

    def items(self) -> list[dict[str, Any]]:
        """The bill as `POST /v1/redemptions` takes it."""
        return [
            {"service_code": line.code, "quantity": line.quantity}
            | ({"amount_fen": line.unit_price_fen} if line.variable else {})
            for line in self.lines
        ]

    def encode(self) -> str:
        return ";".join(
            f"{line.code}*{line.quantity}" + (f"@{line.unit_price_fen}" if line.variable else "")
            for line in self.lines
        )


def read_form(
    form: Mapping[str, str], services: Sequence[Mapping[str, Any]]
) -> tuple[Bill, dict[str, str]]:
    """The bill the cashier entered (`qty_<CODE>`, and `price_<CODE>` in yuan for a
    variable-price item) and the problems to show beside the fields (empty: none)."""
    problems: dict[str, str] = {}
    lines: list[Line] = []
    for item in services:
        code = str(item.get("code", ""))
        raw = (form.get(f"qty_{code}") or "").strip()
        if raw in ("", "0"):
            continue
        most = int(item.get("max_per_visit") or 1)
        if not _QUANTITY.match(raw) or not 1 <= int(raw) <= most:
            unit = str(item.get("unit") or "次")
            problems[f"qty_{code}"] = (
                f"{item.get('name') or '这一项'}每次只能收 1{unit}。"
                if most == 1
                else f"数量请填 1 到 {most} 之间的整数。"
            )
            continue
        variable = bool(item.get("variable_price"))
        if variable:
            price = parse_yuan(form.get(f"price_{code}") or "")
            ceiling = int(item.get("max_price_fen") or 0)
            if price is None or price <= 0:
                problems[f"price_{code}"] = "请输入正确的金额，例如 15 或 15.50。"
                continue
            if price > ceiling:
                problems[f"price_{code}"] = f"单价不能超过价目表的最高价 {yuan_field(ceiling)} 元。"
                continue
        else:
            price = int(item.get("price_fen") or 0)
        lines.append(
            Line(
                code,
                str(item.get("name", code)),
                str(item.get("unit", "")),
                int(raw),
                price,
                variable,
            )
        )
    if not lines and not problems:
        problems["items"] = "请选择服务项目，并填写数量。"
    return Bill(tuple(lines)), problems


def priced(text: str, services: Sequence[Mapping[str, Any]]) -> Bill | None:
    """The hidden field back into the bill's lines, named and priced from the price list as
    it stands (a variable price as encoded); None when it is malformed or names an item the
    list no longer has."""
    items = decode(text)
    listed = {str(s.get("code", "")): s for s in services}
    if items is None or any(i["service_code"] not in listed for i in items):
        return None
    lines = []
    for i in items:
        item = listed[i["service_code"]]
        variable = bool(item.get("variable_price"))
        if variable != ("amount_fen" in i):
            return None  # a price for a fixed-price item, or none for a variable one
        price = int(i["amount_fen"]) if variable else int(item.get("price_fen") or 0)
        name, unit = str(item.get("name", i["service_code"])), str(item.get("unit", ""))
        lines.append(Line(i["service_code"], name, unit, int(i["quantity"]), price, variable))
    return Bill(tuple(lines))


def decode(text: str) -> list[dict[str, Any]] | None:
    """The hidden field back into the items of `POST /v1/redemptions`; None when it is
    malformed. (The voucher service checks each against the price list again.)"""
    parts = text.split(";") if text else []
    if not parts or len(parts) > MAX_LINES:
        return None
    items: list[dict[str, Any]] = []
    for part in parts:
        match = _LINE.match(part)
        if match is None:
            return None
        item: dict[str, Any] = {"service_code": match.group(1), "quantity": int(match.group(2))}
        if match.group(3) is not None:
            item["amount_fen"] = int(match.group(3))
        items.append(item)
    return items
