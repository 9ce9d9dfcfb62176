"""Demo providers: every kind in each of Guangxi's 14 prefecture-level cities.

`demo_providers()` returns application bodies shaped like
`services.provider.schemas.ProviderCreate` (JSON objects, ready for `POST /v1/providers`; the
demo loader, services/demo.py, posts them). It is deterministic: the same arguments give the same
providers, unified social credit codes included, so a demo loader can run twice and meet
USCC_ALREADY_REGISTERED instead of duplicates. Coordinates lie within about two kilometres of
the centre of a real district or county (GB/T 2260 codes from services.common.regions);
prices are 普惠 prices in fen.
"""

from __future__ import annotations

import random
from typing import Any

from services.common.regions import Region, regions
from services.provider.service.uscc import ALPHABET, check_character
from services.provider.service.vocabulary import ProviderKind

CITY_CODES = (
    "450100",
    "450200",
    "450300",
    "450400",
    "450500",
    "450600",
    "450700",
    "450800",
    "450900",
    "451000",
    "451100",
    "451200",
    "451300",
    "451400",
)

# Long-distance area codes of each city (for the contact landline).
AREA_CODES = {
    "450100": "0771",
    "450200": "0772",
    "450300": "0773",
    "450400": "0774",
    "450500": "0779",
    "450600": "0770",
    "450700": "0777",
    "450800": "0775",
    "450900": "0775",
    "451000": "0776",
    "451100": "0774",
    "451200": "0778",
    "451300": "0772",
    "451400": "0771",
}

# Streets that a resident of each city would recognise, and some every town has.
CITY_STREETS = {
    "450100": ["民族大道", "友爱路", "朝阳路", "星湖路", "大学东路"],
    "450200": ["龙城路", "文昌路", "潭中东路", "屏山大道", "柳石路"],
    "450300": ["中山中路", "漓江路", "穿山路", "七星路", "临桂大道"],
    "450400": ["新兴一路", "西江四路", "大学路", "龙圩大道"],
    "450500": ["北部湾中路", "四川路", "长青路", "西藏路"],
    "450600": ["兴港大道", "迎宾路", "港口大道"],
    "450700": ["永福西大街", "扬帆大道", "子材大街"],
    "450800": ["港北大道", "江北大道", "中山路"],
    "450900": ["人民中路", "教育中路", "江滨路"],
    "451000": ["向阳路", "中山二路", "城东大道"],
    "451100": ["建设中路", "灵峰路", "鞍山路"],
    "451200": ["金城中路", "新建路", "南新西路"],
    "451300": ["桂中大道", "城北路", "柳来路"],
    "451400": ["友谊大道", "石景林路", "新民路"],
}
COMMON_STREETS = ["人民路", "建设路", "新华街", "和平路", "解放路", "育才路", "长寿路"]
COMMUNITIES = ["幸福", "和谐", "阳光", "长青", "福寿", "安康", "民乐", "锦绣", "金桂", "凤凰"]
VILLAGES = ["那坡", "板桥", "六合", "大塘", "石门", "龙潭", "新圩", "古城", "平安", "岜山"]
HOMES = ["颐康", "福乐", "康宁", "松鹤", "寿星", "仁爱", "乐龄", "百福"]
SURNAMES = "黄韦李陆覃莫梁蒙农罗廖潘蓝卢甘"
GIVEN = ["秀英", "建华", "丽萍", "志强", "海燕", "国庆", "桂兰", "明", "春梅", "伟"]
BANKS = [
    "中国农业银行",
    "中国工商银行",
    "中国建设银行",
    "广西北部湾银行",
    "桂林银行",
    "广西农村信用社",
]

# How an item may be billed (the keys of `services.provider.schemas.ServiceItemCreate`); an
# item not named here is one unit a visit at its fixed price, not delivered at home.
BILLING: dict[str, dict[str, Any]] = {
    "RESPITE_DAY": {"max_per_visit": 14},
    "RESPITE_STAY": {"max_per_visit": 30},
    "CLEANING": {"max_per_visit": 3, "home_visit": True, "min_minutes": 45},
    "HOME_CARE_HOUR": {"max_per_visit": 4, "home_visit": True, "min_minutes": 50},
    "BATH_HOME": {"home_visit": True, "min_minutes": 30},
    "CLEAN_HOME": {"max_per_visit": 3, "home_visit": True, "min_minutes": 45},
    "WALK_ESCORT": {"max_per_visit": 4},
    # priced per bill (the device or repair differs each time), never above the ceiling
    "AID_FITTING": {"variable_price": True, "max_price_fen": 50000},
    "AID_RENTAL": {"variable_price": True, "max_price_fen": 30000},
    # 适老化改造 (home adaptation): priced per job, what the one-off grant is spent on
    "ADAPT_GRAB_BAR": {"variable_price": True, "max_price_fen": 100000},
    "ADAPT_FLOOR": {"variable_price": True, "max_price_fen": 300000},
}

# Serving hours of the meals (Beijing time), shown to the elder on the nearby page.
SERVING_HOURS: dict[str, dict[str, str]] = {
    "MEAL_BREAKFAST": {"serves_from": "07:00", "serves_until": "09:00"},
    "MEAL_LUNCH": {"serves_from": "11:00", "serves_until": "13:00"},
    "MEAL_DINNER": {"serves_from": "17:00", "serves_until": "18:30"},
    "MEAL_DELIVERY": {"serves_from": "10:30", "serves_until": "12:30"},
}

# 普惠 price lists by kind: (code, name, category, unit, low fen, high fen).
PRICE_LISTS: dict[ProviderKind, list[tuple[str, str, str, str, int, int]]] = {
    ProviderKind.meal_point: [
        ("MEAL_BREAKFAST", "早餐", "meal", "次", 300, 500),
        ("MEAL_LUNCH", "午餐", "meal", "次", 1000, 1500),
        ("MEAL_DINNER", "晚餐", "meal", "次", 800, 1200),
        ("MEAL_DELIVERY", "送餐上门", "meal", "次", 200, 400),
    ],
    ProviderKind.community_embedded: [
        ("DAY_CARE", "日间照料", "day_care", "天", 3000, 5000),
        ("REHAB_SESSION", "康复护理", "rehab_nursing", "次", 4000, 6000),
        ("BATH_ASSIST", "助浴", "bathing", "次", 3000, 5000),
        ("MEAL_LUNCH", "午餐", "meal", "次", 1200, 1500),
        ("RESPITE_DAY", "短期托养", "respite_stay", "天", 8000, 12000),
        ("AID_RENTAL", "辅具租赁", "rehab_nursing", "月", 5000, 5000),
    ],
    ProviderKind.rural_station: [
        ("MEAL_LUNCH", "午餐", "meal", "次", 600, 1000),
        ("DAY_CARE", "日间照料", "day_care", "天", 1500, 2500),
        ("CLEANING", "助洁", "cleaning", "小时", 2000, 3000),
        ("EMERGENCY_CALL", "紧急呼叫服务", "emergency_call", "月", 800, 1500),
    ],
    ProviderKind.institution: [
        ("LONG_STAY", "长期入住（含护理）", "institution_stay", "月", 200000, 350000),
        ("RESPITE_STAY", "喘息服务", "respite_stay", "天", 10000, 15000),
        ("REHAB_SESSION", "康复护理", "rehab_nursing", "次", 6000, 9000),
    ],
    ProviderKind.home_care: [
        ("HOME_CARE_HOUR", "居家上门照护", "home_care_hours", "小时", 3500, 5000),
        ("BATH_HOME", "上门助浴", "bathing", "次", 6000, 9000),
        ("CLEAN_HOME", "上门助洁", "cleaning", "小时", 3000, 4000),
        ("WALK_ESCORT", "助行陪护", "escort", "小时", 2500, 3500),
        ("MEDICAL_ESCORT", "陪同就医", "medical_escort", "次", 5000, 8000),
        ("EMERGENCY_CALL", "紧急呼叫服务", "emergency_call", "月", 1000, 2000),
        ("AID_FITTING", "辅具适配", "rehab_nursing", "次", 10000, 10000),
        ("ADAPT_GRAB_BAR", "适老化改造：安装扶手", "home_adaptation", "项", 30000, 30000),
        ("ADAPT_FLOOR", "适老化改造：防滑地面", "home_adaptation", "项", 120000, 120000),
    ],
}

# Registration authority and organisation type (characters 1-2 of the USCC): 52 is a private
# non-enterprise unit registered by civil affairs, 91 a company registered by market regulation.
USCC_PREFIX = {
    ProviderKind.meal_point: "52",
    ProviderKind.community_embedded: "52",
    ProviderKind.rural_station: "52",
    ProviderKind.institution: "52",
    ProviderKind.home_care: "91",
}


def _organisation_code(rng: random.Random) -> str:
    """Nine characters: eight digits and their GB 11714 check character."""
    body = [rng.randrange(10) for _ in range(8)]
    check = 11 - sum(d * w for d, w in zip(body, (3, 7, 9, 10, 5, 8, 4, 2), strict=True)) % 11
    tail = {10: "X", 11: "0"}.get(check, str(check))
    return "".join(map(str, body)) + tail


def demo_uscc(rng: random.Random, kind: ProviderKind, region_code: str) -> str:
    body = USCC_PREFIX[kind] + region_code[:6] + _organisation_code(rng)
    assert all(ch in ALPHABET for ch in body)
    return body + check_character(body)


def _name(kind: ProviderKind, county: Region, rng: random.Random, n: int) -> str:
    place = county.name
    if kind is ProviderKind.meal_point:
        return f"{place}{rng.choice(COMMUNITIES)}社区长者饭堂（{n}号助餐点）"
    if kind is ProviderKind.community_embedded:
        return f"{place}{rng.choice(COMMUNITIES)}社区嵌入式养老服务中心"
    if kind is ProviderKind.rural_station:
        return f"{place}{rng.choice(VILLAGES)}村“家门口”养老服务站"
    if kind is ProviderKind.institution:
        return f"{place}{rng.choice(HOMES)}养老院"
    return f"{place}{rng.choice(HOMES)}居家养老服务有限公司"


def _services(kind: ProviderKind, rng: random.Random) -> list[dict[str, Any]]:
    # Prices end in a whole jiao (multiples of 10 fen) as a price board would show them.
    return [
        {
            "code": code,
            "name": name,
            "category": category,
            "unit": unit,
            # (a fixed price draws nothing, so adding one keeps every other demo value)
            "price_fen": low if low == high else rng.randrange(low // 10, high // 10 + 1) * 10,
            **BILLING.get(code, {}),
            **SERVING_HOURS.get(code, {}),
        }
        for code, name, category, unit, low, high in PRICE_LISTS[kind]
    ]


def demo_providers(per_kind_per_city: int = 1, *, seed: int = 2026) -> list[dict[str, Any]]:
    """Applications for `per_kind_per_city` providers of every kind in each of the 14 cities.

    Deterministic in (`per_kind_per_city`, `seed`). Each is a valid `ProviderCreate` body.
    """
    rng = random.Random(seed)
    known = regions()
    out: list[dict[str, Any]] = []
    serial = 0
    for city_code in CITY_CODES:
        city = known[city_code]
        counties = sorted(
            (r for r in known.values() if r.parent == city_code), key=lambda r: r.code
        ) or [city]
        streets = CITY_STREETS[city_code] + COMMON_STREETS
        for kind in ProviderKind:
            for i in range(per_kind_per_city):
                serial += 1
                # Rural stations go to the outer counties, the rest to the central districts.
                pool = counties[-2:] if kind is ProviderKind.rural_station else counties[:3]
                county = pool[(serial + i) % len(pool)]
                lat = round(county.lat + rng.uniform(-0.015, 0.015), 6)
                lon = round(county.lon + rng.uniform(-0.015, 0.015), 6)
                if kind is ProviderKind.rural_station:
                    address = (
                        f"{city.name}{county.name}{rng.choice(VILLAGES)}镇"
                        f"{rng.choice(VILLAGES)}村{rng.randint(1, 12)}组{rng.randint(1, 80)}号"
                    )
                else:
                    address = (
                        f"{city.name}{county.name}{rng.choice(streets)}{rng.randint(1, 399)}号"
                    )
                name = _name(kind, county, rng, serial)
                out.append(
                    {
                        "name": name,
                        "kind": kind.value,
                        "uscc": demo_uscc(rng, kind, county.code),
                        "region_code": county.code,
                        "address": address,
                        "lat": lat,
                        "lon": lon,
                        "contact": {
                            "name": rng.choice(SURNAMES) + rng.choice(GIVEN),
                            "phone": f"{AREA_CODES[city_code]}-{rng.randint(2000000, 8999999)}",
                        },
                        "bank_account": {
                            "bank_name": f"{rng.choice(BANKS)}{city.name.removesuffix('市')}分行",
                            "account_name": name,
                            "account_number": "6"
                            + "".join(str(rng.randrange(10)) for _ in range(18)),
                        },
                        "services": _services(kind, rng),
                    }
                )
    return out


def waiting_providers(*, seed: int = 2027) -> list[dict[str, Any]]:
    """Two applications in Nanning that the demo leaves waiting for an officer's approval
    (a meal point and a home-care agency), so the approval page has something to decide."""
    wanted = (ProviderKind.meal_point.value, ProviderKind.home_care.value)
    nanning = [
        app
        for app in demo_providers(seed=seed)
        if app["region_code"].startswith("4501") and app["kind"] in wanted
    ]
    return nanning[:2]
