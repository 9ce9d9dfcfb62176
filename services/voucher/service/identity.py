"""Who a person is (pure: no I/O): the national ID (GB 11643-1999), phone numbers, the region
code of this province. The values are checked here, then only ever stored encrypted with a
keyed lookup hash (service/beneficiaries.py); no error message quotes them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from services.common.regions import is_known_within
from services.common.shards import province_code
from services.voucher.errors import (
    InvalidNationalId,
    InvalidPhone,
    InvalidRegion,
    NationalIdAsNumber,
)

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK_MAP = "10X98765432"
_ID_SHAPE = re.compile(r"^[1-9][0-9]{16}[0-9X]$")


@dataclass(frozen=True)
class NationalId:
    value: str
    birth_on: date
    sex: str  # 'M' or 'F'


def check_digit(first17: str) -> str:
    """GB 11643: Σ digit × weight mod 11, mapped through '10X98765432'."""
    return _ID_CHECK_MAP[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS)) % 11]


_AS_NUMBER = re.compile(r"^\d(\.\d+)?E\+?\d+$")


def parse_national_id(raw: str, today: date) -> NationalId:
    """Validate an 18-character resident ID and derive birth date and sex from it.

    Digits 7-14 are the birth date (YYYYMMDD), digit 17 is odd for men and even for women,
    the 18th is the check character. A lower-case x is accepted as X.
    """
    value = (raw or "").strip().upper()
    if not _ID_SHAPE.match(value):
        if _AS_NUMBER.match(value):  # 4.501032E+17: a spreadsheet's number, digits lost
            raise NationalIdAsNumber(field="national_id")
        raise InvalidNationalId(field="national_id")
    if check_digit(value[:17]) != value[17]:
        raise InvalidNationalId(
            "The national ID's check character does not match.", field="national_id"
        )
    try:
        birth_on = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError as exc:
        raise InvalidNationalId(
            "The national ID holds no valid birth date.", field="national_id"
        ) from exc
    if birth_on > today or birth_on.year < 1880:
        raise InvalidNationalId(
            "The national ID holds no plausible birth date.", field="national_id"
        )
    sex = "M" if int(value[16]) % 2 == 1 else "F"
    return NationalId(value, birth_on, sex)


_MOBILE = re.compile(r"^1[3-9][0-9]{9}$")
_LANDLINE = re.compile(r"^0[0-9]{9,11}$")


def normalise_phone(raw: str | None, field: str = "phone") -> str | None:
    """A mainland mobile or landline number without spaces, dashes or +86; None if empty."""
    if raw is None or not raw.strip():
        return None
    value = re.sub(r"[\s\-()]", "", raw)
    value = value.removeprefix("+86")
    if not (_MOBILE.match(value) or _LANDLINE.match(value)):
        raise InvalidPhone(field=field)
    return value


def check_region(code: str) -> str:
    """A known GB/T 2260 code (or a township under a known county) inside this province."""
    code = (code or "").strip()
    if not is_known_within(province_code(), code):
        raise InvalidRegion(field="region_code")
    return code


def check_hukou(code: str | None) -> str | None:
    """A household registration's GB/T 2260 code (any province: a non-local 户籍 may lie
    outside this one); blank = not recorded."""
    code = (code or "").strip()
    if not code:
        return None
    if not re.fullmatch(r"\d{6}(\d{3}){0,2}", code):
        raise InvalidRegion(field="hukou_region_code")
    return code


def mask_account_number(number: str) -> str:
    """6222021234567890123 -> ***************0123: the last four only."""
    return "*" * max(len(number) - 4, 0) + number[-4:]
