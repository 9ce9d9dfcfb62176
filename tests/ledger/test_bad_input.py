"""Bad input gets a clear 4xx naming the field, never a 500, and changes nothing."""

import json

import pytest

from tests.ledger.conftest import CITY, DISTRICT, PROGRAM, SHARES, redemption

GOOD_COMMITMENT = {
    "idempotency_key": "k-bad",
    "purpose": "voucher",
    "program_code": PROGRAM,
    "region_code": DISTRICT,
    "period": "2026-11",
    "amount_fen": 100,
    "count": 1,
    "funding_shares": SHARES,
}
GOOD_APPROPRIATION = {
    "idempotency_key": "a-bad",
    "program_code": PROGRAM,
    "region_code": CITY,
    "by_source": {"central": 100},
    "memo": "预算下达",
}


def _with(base, **changes):
    out = dict(base)
    for k, v in changes.items():
        if v is ...:
            out.pop(k)
        else:
            out[k] = v
    return out


COMMITMENTS = [
    (_with(GOOD_COMMITMENT, amount_fen=0), "amount_fen"),
    (_with(GOOD_COMMITMENT, amount_fen=-5), "amount_fen"),
    (_with(GOOD_COMMITMENT, amount_fen=12.5), "amount_fen"),
    (_with(GOOD_COMMITMENT, amount_fen="100"), "amount_fen"),
    (_with(GOOD_COMMITMENT, funding_shares={"central": 9000}), "funding_shares"),
    (_with(GOOD_COMMITMENT, funding_shares={}), "funding_shares"),
    (_with(GOOD_COMMITMENT, funding_shares={"Central!": 10_000}), "funding_shares.Central!.[key]"),
    (_with(GOOD_COMMITMENT, region_code="45"), "region_code"),
    (_with(GOOD_COMMITMENT, period="2026-13"), "period"),
    (_with(GOOD_COMMITMENT, purpose="gift"), "purpose"),
    (_with(GOOD_COMMITMENT, idempotency_key=...), "idempotency_key"),
    (_with(GOOD_COMMITMENT, idempotency_key=""), "idempotency_key"),
    (_with(GOOD_COMMITMENT, surprise=1), "surprise"),
]
APPROPRIATIONS = [
    (_with(GOOD_APPROPRIATION, by_source={"central": 0}), "by_source.central"),
    (_with(GOOD_APPROPRIATION, by_source={}), "by_source"),
    (_with(GOOD_APPROPRIATION, program_code="Bad Code"), "program_code"),
    (_with(GOOD_APPROPRIATION, region_code="4501"), "region_code"),
    (_with(GOOD_APPROPRIATION, memo=...), "memo"),  # a manual entry says why (issue 21)
    (_with(GOOD_APPROPRIATION, memo="  "), "memo"),
    # sources the programme is not funded from (SOURCE_NOT_IN_PROGRAM)
    (_with(GOOD_APPROPRIATION, by_source={"nonsense_source": 100}), "by_source.nonsense_source"),
    (_with(GOOD_APPROPRIATION, by_source={"central": 100, "s0": 10**15}), "by_source.s0"),
]


@pytest.fixture
async def funded(ledger):
    await ledger.appropriate({"central": 950_000, "regional": 50_000})
    await ledger.events([redemption(1)])  # rejected: nothing outstanding yet
    return ledger


async def test_bad_commitments(funded):
    before = await funded.snapshot()
    for body, field in COMMITMENTS:
        r = await funded.c.post("/v1/commitments", headers=funded.service, json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["error"]["field"] == field, r.json()
        assert r.json()["error"]["code"] in ("VALIDATION_ERROR",)
    r = await funded.c.post("/v1/commitments", headers=funded.service, content=b"{not json")
    assert r.status_code == 422
    assert await funded.snapshot() == before


async def test_bad_appropriations(funded):
    before = await funded.snapshot()
    for body, field in APPROPRIATIONS:
        r = await funded.c.post("/v1/appropriations", headers=funded.finance, json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["error"]["field"] == field, r.json()
        if field in ("by_source.nonsense_source", "by_source.s0"):
            assert r.json()["error"]["code"] == "SOURCE_NOT_IN_PROGRAM", r.json()
    assert await funded.snapshot() == before


async def test_bad_event_batches_are_refused_whole(funded):
    before = await funded.snapshot()
    for body in (
        {"events": []},
        {
            "events": [
                {
                    "event_id": "nope",
                    "type": "x",
                    "occurred_at": "2026-11-01T00:00:00Z",
                    "payload": {},
                }
            ]
        },
        {"events": [dict(redemption(5), occurred_at="yesterday")]},
        {},
    ):
        r = await funded.c.post("/v1/events", headers=funded.service, json=body)
        assert r.status_code == 422, r.text
    # text that is not Unicode (a lone surrogate escape, which JSON parsers accept)
    raw = json.dumps({"events": [redemption(6)]}).replace(
        '"provider_id": "', '"provider_id": "\\ud800'
    )
    r = await funded.c.post(
        "/v1/events", headers={**funded.service, "content-type": "application/json"}, content=raw
    )
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "VALIDATION_ERROR"
    assert await funded.snapshot() == before


async def test_bad_query_parameters(funded):
    for url, params in [
        ("/v1/trial-balance", {"as_of": "soon"}),
        ("/v1/trial-balance", {"region_code": "abc"}),
        ("/v1/entries", {"cursor": "abc"}),
        ("/v1/entries", {"limit": 0}),
        ("/v1/entries", {"period": "2026-1"}),
        ("/v1/entries", {"account": "x"}),
        ("/v1/accounts/abc/statement", {}),
        ("/v1/budget", {"program_code": PROGRAM}),
        ("/v1/accounts/99999999999999999999/statement", {}),
        ("/v1/entries", {"account": "99999999999999999999"}),
        ("/v1/trial-balance", {"as_of": "99999-01-01T00:00:00"}),
        # years no book can hold (and past which Beijing time cannot be written)
        ("/v1/trial-balance", {"as_of": "9999-12-31T23:59:59Z"}),
        ("/v1/trial-balance", {"as_of": "0001-01-01"}),
        ("/v1/journal/export", {"as_of": "9999-12-31T23:59:59Z"}),
        ("/v1/journal/export", {"as_of": "0001-01-01"}),
        ("/v1/entries", {"from": "0001-01-01"}),
        ("/v1/entries", {"period": "0000-01"}),
    ]:
        r = await funded.c.get(url, headers=funded.auditor, params=params)
        assert r.status_code == 422, (url, params, r.text)
        assert r.json()["error"]["field"], r.json()


async def test_bad_reversal_and_close(funded):
    before = await funded.snapshot()
    r = await funded.c.post(
        "/v1/entries/not-a-uuid/reverse",
        headers=funded.finance,
        json={"idempotency_key": "x", "reason": "y"},
    )
    assert r.status_code == 422
    r = await funded.c.post(
        "/v1/periods/2026-1/close", headers=funded.finance, json={"idempotency_key": "x"}
    )
    assert r.status_code == 422
    assert await funded.snapshot() == before


async def test_times_are_iso_8601_only(funded):
    """`as_of`, `from` and `to` are ISO 8601: a number (read by pydantic as seconds since
    1970) is a 422 naming the parameter, and an ISO time with or without a zone works."""
    account = await funded.fetchval("SELECT min(id) FROM account")
    for url in ("/v1/trial-balance", "/v1/entries", f"/v1/accounts/{account}/statement"):
        names = ("as_of",) if url == "/v1/trial-balance" else ("from", "to")
        for name in names:
            for number in ("0.5", "1700000000", "0", "-1", "1e9"):
                r = await funded.c.get(url, headers=funded.auditor, params={name: number})
                assert r.status_code == 422, (url, name, number, r.text)
                error = r.json()["error"]
                assert (error["code"], error["field"]) == ("VALIDATION_ERROR", name), error
                assert "ISO 8601" in error["message"] or "ISO 8601" in str(error["details"])
            for iso in ("2026-12-04T08:00:00+08:00", "2026-12-04T08:00:00", "2026-12-04"):
                r = await funded.c.get(url, headers=funded.auditor, params={name: iso})
                assert r.status_code == 200, (url, name, iso, r.text)
    now = await funded.c.get(
        "/v1/trial-balance", headers=funded.auditor, params={"as_of": "2999-01-01T00:00:00Z"}
    )
    assert now.json()["total_debit_fen"] == now.json()["total_credit_fen"] > 0
