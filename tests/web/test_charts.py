"""The SVG bar chart helper and amount formatting (pure, no services)."""

from web.charts import bar_chart, fen_to_yuan
from web.routes.provider import day_summary
from web.service.bill import parse_yuan


def test_fen_to_yuan_is_exact():
    assert fen_to_yuan(0) == "0.00"
    assert fen_to_yuan(5) == "0.05"
    assert fen_to_yuan(123456789) == "1,234,567.89"
    assert fen_to_yuan(-150) == "-1.50"


def test_parse_yuan_is_exact_and_refuses_what_is_not_an_amount():
    assert parse_yuan("15") == 1500
    assert parse_yuan(" 20.5 ") == 2050
    assert parse_yuan("0.07") == 7
    assert parse_yuan("19.99") == 1999
    for bad in ("", "1.234", "-1", "1e3", "abc", "12,00", "12345678"):
        assert parse_yuan(bad) is None


def test_bar_chart_scales_bars_and_writes_values_out():
    svg = bar_chart("预算", [("失能补贴", 100_00), ("老年助餐", 50_00), ("<护理>", 0)])
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "100.00 元" in svg and "50.00 元" in svg and "&lt;护理&gt;" in svg
    bars = [
        int(w)
        for w in __import__("re").findall(r'<rect[^>]* width="(\d+)" [^>]*fill="#0b5394"', svg)
    ]
    assert bars[0] == 2 * bars[1] and bars[2] == 0
    assert "暂无数据" in bar_chart("空", [])
    # drawn 360 wide: on a 360 px phone its text is the size written, 17 px and more
    assert 'viewBox="0 0 360 ' in svg
    sizes = [int(x) for x in __import__("re").findall(r'font-size="(\d+)"', svg)]
    assert min(sizes) >= 17


def test_day_summary_leaves_voided_out():
    rows = [
        {"status": "posted", "gross_fen": 1500, "subsidy_fen": 1200, "copay_fen": 300},
        {"status": "voided", "gross_fen": 900, "subsidy_fen": 900, "copay_fen": 0},
        {"status": "posted", "gross_fen": 1000, "subsidy_fen": 800, "copay_fen": 200},
    ]
    assert day_summary(rows) == {
        "count": 2,
        "gross_fen": 2500,
        "subsidy_fen": 2000,
        "copay_fen": 500,
        "cash_fen": 0,
        "online_paid_fen": 0,
        "online_waiting_fen": 0,
        "unrecorded_fen": 500,
        "voided": 1,
    }


def test_day_summary_counts_the_till_apart_from_what_the_family_pays_online():
    """The cashier's cash-up: cash taken, online paid, online still unpaid, each apart; a
    voided sale's co-payment counts in none."""
    rows = [
        {
            "status": "posted",
            "gross_fen": 1500,
            "subsidy_fen": 1000,
            "copay_fen": 500,
            "copay_method": "cash",
            "copay_status": "succeeded",
        },
        {
            "status": "posted",
            "gross_fen": 1500,
            "subsidy_fen": 1200,
            "copay_fen": 300,
            "copay_method": "stripe",
            "copay_status": "succeeded",
        },
        {
            "status": "posted",
            "gross_fen": 1500,
            "subsidy_fen": 1300,
            "copay_fen": 200,
            "copay_method": "stripe",
            "copay_status": "open",
        },
        {
            "status": "voided",
            "gross_fen": 1500,
            "subsidy_fen": 1000,
            "copay_fen": 500,
            "copay_method": "cash",
        },
    ]
    s = day_summary(rows)
    assert (s["copay_fen"], s["cash_fen"], s["online_paid_fen"], s["online_waiting_fen"]) == (
        1000,
        500,
        300,
        200,
    )
    assert s["unrecorded_fen"] == 0 and s["voided"] == 1


def test_after_a_void_the_cashier_is_told_what_becomes_of_the_co_payment():
    from web.routes.provider import void_message

    assert "请把老人自付的 5.00 元现金退还给老人" in void_message(
        {"copay_fen": 500, "copay_method": "cash"}
    )
    online = void_message({"copay_fen": 550, "copay_method": "stripe", "copay_status": "succeeded"})
    assert "家属在线支付的 5.50 元将原路退回" in online and "现金" not in online.split("不用")[0]
    assert "还没有在线支付" in void_message(
        {"copay_fen": 550, "copay_method": "stripe", "copay_status": "open"}
    )
    assert (
        void_message({"copay_fen": 0, "copay_method": None}) == "已撤销，补贴已退回老人的补贴券。"
    )
    assert void_message(None) == "已撤销，补贴已退回老人的补贴券。"


def test_places_plot_draws_points_to_scale_with_distances():
    import re

    from web.charts import places_plot

    svg, pairs = places_plot(
        "消费地点",
        [("甲", 22.817, 108.366), ("乙", 22.817, 108.700), ("甲", 22.817, 108.366)],
    )
    # The same place twice is one point; one pair, its straight-line distance written on it.
    assert svg.count("<circle") == 2 and len(pairs) == 1
    assert 33.0 < pairs[0][2] < 35.0
    assert re.search(r'class="distance">3[34]\.\d 公里<', svg)
    for x, y in re.findall(r'<circle cx="([0-9.]+)" cy="([0-9.]+)"', svg):
        assert 0 <= float(x) <= 340 and 0 <= float(y) <= 300
    assert 'role="img"' in svg and "<title>消费地点</title>" in svg


def test_the_dashboards_provider_chart_names_each_kind_whole():
    """Long kind names (社区嵌入式养老服务设施, 12 characters with 农村“家门口”养老服务站) are
    written whole on their own line of the stacked chart, never cut mid-word."""
    from web.routes.dashboard import _more_charts

    d = {
        "providers": [
            {"status": "approved", "kind": "community_embedded", "providers": 1},
            {"status": "approved", "kind": "rural_station", "providers": 2},
            {"status": "applied", "kind": "institution", "providers": 5},
        ]
    }
    svg = "".join(_more_charts(d, {}))
    assert "社区嵌入式养老服务设施：1 家" in svg
    assert "农村“家门口”养老服务站：2 家" in svg
    assert "养老机构" not in svg  # (not approved)


def test_cash_benefit_lines_name_each_programme_and_count_people_once():
    """A person owed by two programmes is two lines and one person; each line says its
    programme (our word, or the name its officers published) and month."""
    from web.routes.payments import cash_benefit_lines

    cash = {
        "payable": [
            {"beneficiary_id": "a", "program_code": "nursing_subsidy", "period": "2026-12"},
        ],
        "not_payable": [
            {"beneficiary_id": "b", "program_code": "nursing_subsidy", "period": "2026-12"},
            {"beneficiary_id": "b", "program_code": "age_allowance", "period": "2026-12"},
            {"beneficiary_id": "c", "program_code": "age_allowance", "period": "2027-01"},
        ],
    }
    lines = cash_benefit_lines(cash, {"age_allowance": "高龄津贴"})
    assert (lines["payable_people"], lines["stuck_people"]) == (1, 2)
    assert [b["program_label"] for b in lines["not_payable"]] == [
        "护理补贴",
        "高龄津贴",
        "高龄津贴",
    ]
    assert cash_benefit_lines(None, {}) == {
        "payable": [],
        "not_payable": [],
        "payable_people": 0,
        "stuck_people": 0,
    }


def test_a_refusal_at_the_counter_says_its_figures():
    from web.clients import ApiError
    from web.routes.provider import refusal

    def said(code: str, details: dict | None) -> str:
        return refusal(ApiError(422, code, "", None, details))

    assert "每天最多用 2 次" in said("DAILY_LIMIT_REACHED", {"day_limit_count": 2})
    assert "每天最多补贴 10.00 元" in said("DAILY_LIMIT_REACHED", {"day_cap_fen": 1000})
    small = said("BILL_TOO_SMALL", {"per_use_fen": 500})
    assert "消费金额要超过 5.00 元" in small and "再加一项服务" in small
    assert said("DAILY_LIMIT_REACHED", None) == "今天的使用次数已经用完了。"  # (no figure)
