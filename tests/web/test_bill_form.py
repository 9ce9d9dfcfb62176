"""The cashier's bill form (web/service/bill.py): quantities against the price list, a price
only for a variable-price item, and the hidden field that carries the bill to the redemption."""

from __future__ import annotations

from web.service.bill import decode, read_form

LIST = [
    {"code": "MEAL_LUNCH", "name": "午餐", "unit": "次", "price_fen": 1500},
    {
        "code": "CLEAN_HOME",
        "name": "上门助洁",
        "unit": "小时",
        "price_fen": 3000,
        "max_per_visit": 3,
    },
    {
        "code": "AID_FITTING",
        "name": "辅具适配",
        "unit": "次",
        "price_fen": 10000,
        "variable_price": True,
        "max_price_fen": 50000,
    },
]


def test_quantities_and_a_variable_price_make_the_bill():
    bill, problems = read_form(
        {
            "qty_MEAL_LUNCH": "1",
            "qty_CLEAN_HOME": "3",
            "qty_AID_FITTING": "1",
            "price_AID_FITTING": "320.5",
            "qty_UNKNOWN": "4",
        },
        LIST,
    )
    assert problems == {}
    assert bill.total_fen == 1500 + 9000 + 32050
    assert bill.items() == [
        {"service_code": "MEAL_LUNCH", "quantity": 1},
        {"service_code": "CLEAN_HOME", "quantity": 3},
        {"service_code": "AID_FITTING", "quantity": 1, "amount_fen": 32050},
    ]
    assert bill.encode() == "MEAL_LUNCH*1;CLEAN_HOME*3;AID_FITTING*1@32050"
    assert decode(bill.encode()) == bill.items()


def test_what_the_list_does_not_allow_is_named_beside_its_field():
    _, problems = read_form(
        {
            "qty_MEAL_LUNCH": "2",
            "qty_CLEAN_HOME": "x",
            "qty_AID_FITTING": "1",
            "price_AID_FITTING": "500.01",
        },
        LIST,
    )
    assert set(problems) == {"qty_MEAL_LUNCH", "qty_CLEAN_HOME", "price_AID_FITTING"}
    assert (
        "每次只能收 1" in problems["qty_MEAL_LUNCH"] and "500.00" in problems["price_AID_FITTING"]
    )
    _, problems = read_form({"qty_AID_FITTING": "1"}, LIST)
    assert "请输入正确的金额" in problems["price_AID_FITTING"]
    _, problems = read_form({"qty_MEAL_LUNCH": "0"}, LIST)
    assert problems == {"items": "请选择服务项目，并填写数量。"}


def test_a_tampered_hidden_bill_is_refused():
    too_many = ";".join(f"ITEM_{n}*1" for n in range(21))
    for bad in (
        "",
        "meal*1",
        "MEAL_LUNCH*0",
        "MEAL_LUNCH*100",
        "MEAL_LUNCH*1@0",
        too_many,
        "MEAL_LUNCH*1@-5",
        "MEAL_LUNCH 1",
        "MEAL_LUNCH*1;",
    ):
        assert decode(bad) is None, bad
