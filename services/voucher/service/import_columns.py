"""The columns of the officers' import files (pure): each by the name the API documents and
the Chinese heading an officer's spreadsheet carries. A file may use either, in any order;
the templates (GET /v1/imports/templates/{kind}) are written with the Chinese headings, and
a refused row names its column by its heading.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.common.errors import AppError
from services.voucher.schemas.beneficiaries import ImportRowError


@dataclass(frozen=True, slots=True)
class Column:
    name: str  # as the API and the row's `field` name it
    heading: str  # as the template and an officer's sheet name it
    required: bool
    meaning: str  # what to write, with an example (shown beside the upload)
    also: tuple[str, ...] = ()  # other headings a sheet may already use


_YES_NO = "是 / 否（空 = 否）"

BENEFICIARY_COLUMNS: tuple[Column, ...] = (
    Column("national_id", "身份证号", True, "18 位身份证号码", ("身份证号码", "公民身份号码")),
    Column("name", "姓名", True, "如 张秀英"),
    Column("phone", "联系电话", False, "手机或座机，如 13812345678", ("电话", "手机号")),
    Column("region_code", "行政区划代码", True, "居住地的区县或乡镇代码，如 450103", ("区划代码",)),
    Column("address", "居住地址", True, "如 南宁市青秀区民族大道100号", ("地址", "住址")),
    Column("lat", "纬度", False, "居住地的纬度，如 22.817；不填则按地址所在社区"),
    Column("lon", "经度", False, "居住地的经度，如 108.366"),
    Column("care_setting", "照护方式", True, "居家 / 社区 / 机构"),
    Column("dibao", "低保", False, _YES_NO),
    Column("tekun", "特困", False, _YES_NO),
    Column("hukou_region_code", "户籍区划代码", False, "户籍所在地代码，如 450103"),
    Column("self_care", "自理能力", True, "GB/T 42195 评估得分，0 到 32"),
    Column("motor", "基础运动能力", True, "评估得分，0 到 15"),
    Column("mental", "精神状态", True, "评估得分，0 到 28"),
    Column("perception_social", "感知觉与社会参与", True, "评估得分，0 到 15"),
    Column("coma", "昏迷", False, _YES_NO),
    Column("dementia", "痴呆", False, _YES_NO),
    Column("mental_disorder", "精神障碍", False, _YES_NO),
    Column("care_risk_events", "照护风险事件", False, "近 30 天跌倒、走失等次数，空 = 0"),
    Column("assessed_on", "评估日期", True, "如 2026-12-01"),
    Column("assessor", "评估员", True, "评估员姓名或编号"),
)

STATUS_COLUMNS: tuple[Column, ...] = (
    Column("national_id", "身份证号", True, "18 位身份证号码", ("身份证号码", "公民身份号码")),
    Column("event", "事件", True, "死亡 / 住院 / 出院", ("类型",)),
    Column("date", "日期", True, "死亡、入院或出院的日期，如 2026-12-01"),
    Column("until", "出院日期", False, "住院的最后一天（知道的话）", ("住院截止日期",)),
    Column("reason", "原因", False, "说明，不填则写“死亡信息比对”等"),
    Column("evidence_ref", "凭证编号", False, "死亡证明、住院记录等的编号", ("证明编号",)),
)

KINDS: dict[str, tuple[Column, ...]] = {
    "beneficiaries": BENEFICIARY_COLUMNS,
    "status": STATUS_COLUMNS,
}

# Every heading a file may use, by the column it stands for (the API's names included).
_BY_HEADING: dict[str, str] = {
    label: c.name
    for columns in KINDS.values()
    for c in columns
    for label in (c.name, c.heading, *c.also)
}

# A refused row's column as the officer's sheet names it.
HEADING_OF: dict[str, str] = {c.name: c.heading for cs in KINDS.values() for c in cs}

CARE_SETTINGS = {"居家": "home", "社区": "community", "机构": "institution"}


def column_of(heading: str) -> str:
    """The column a file's heading stands for (as written when it is none of ours: the
    missing-columns check then names what is missing)."""
    text = heading.strip().lstrip("\ufeff").strip()
    return _BY_HEADING.get(text, _BY_HEADING.get(text.lower(), text.lower()))


def row_error(exc: AppError) -> ImportRowError:
    """A refused row's error, its column named as the sheet names it (`column`)."""
    column = HEADING_OF.get(exc.field or "")
    return ImportRowError(code=exc.code, field=exc.field, column=column, message=exc.message)


# Columns a template formats as text, so what is typed in stays as typed.
TEXT_COLUMNS = frozenset({"national_id", "phone", "region_code", "hukou_region_code"})


def text_columns(columns: tuple[Column, ...]) -> list[int]:
    """The positions of `columns` a template formats as text."""
    return [i for i, c in enumerate(columns) if c.name in TEXT_COLUMNS]
