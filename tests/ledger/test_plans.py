"""Pure rules of what each event posts: no database."""

from hypothesis import given
from hypothesis import strategies as st

from services.ledger.service import hashing, plans

shares = (
    st.dictionaries(
        st.sampled_from(["central", "regional", "city", "county"]),
        st.integers(0, 10_000),
        min_size=1,
    )
    .filter(lambda d: sum(d.values()) > 0)
    .map(lambda d: _normalise(d))
)


def _normalise(d: dict[str, int]) -> dict[str, int]:
    from services.common.money import allocate

    names = sorted(d)
    return dict(zip(names, allocate(10_000, [d[n] for n in names]), strict=True))


@given(st.integers(1, 10**12), shares)
def test_split_sums_to_the_amount_and_follows_source_names(amount, shares_bp):
    parts = plans.split_by_source(amount, shares_bp)
    assert sum(p for _, p in parts) == amount
    assert [s for s, _ in parts] == sorted(s for s, _ in parts)
    assert all(p > 0 for _, p in parts)


def test_split_remainder_goes_to_the_earlier_source_on_ties():
    assert plans.split_by_source(1, {"regional": 5000, "central": 5000}) == [("central", 1)]
    assert plans.split_by_source(3, {"central": 9500, "regional": 500}) == [("central", 3)]
    assert plans.split_by_source(101, {"central": 9500, "regional": 500}) == [
        ("central", 96),
        ("regional", 5),
    ]


@given(st.integers(1, 10**10), shares)
def test_every_event_posts_a_balanced_entry(amount, shares_bp):
    built = [
        plans.appropriation(
            program_code="p",
            region_code="450100",
            by_source={"central": amount},
            created_by="t",
            idempotency_key="k",
            memo=None,
        ),
        plans.commitment(
            purpose="voucher",
            program_code="p",
            budget_region_code="450100",
            amount_fen=amount,
            shares_bp=shares_bp,
            created_by="t",
            idempotency_key="k",
            ref="c",
        ),
        plans.redemption(
            program_code="p",
            budget_region_code="450100",
            provider_id="x",
            subsidy_fen=amount,
            shares_bp=shares_bp,
            created_by="t",
            idempotency_key="e1",
        ),
        plans.cash_benefit(
            program_code="p",
            budget_region_code="450100",
            beneficiary_id="b",
            amount_fen=amount,
            shares_bp=shares_bp,
            created_by="t",
            idempotency_key="e2",
        ),
        plans.expiry(
            program_code="p",
            budget_region_code="450100",
            released_fen=amount,
            shares_bp=shares_bp,
            created_by="t",
            idempotency_key="e3",
        ),
    ]
    for plan in built:
        assert sum(p.amount_fen for p in plan.postings) == 0
        assert len(plan.postings) >= 2
        assert {p.account.region_code for p in plan.postings} == {"450100"}
        back = plans.reversal(plan, kind="reversal", created_by="t", idempotency_key="r")
        assert all(
            a.amount_fen == -b.amount_fen for a, b in zip(plan.postings, back.postings, strict=True)
        )
        assert back.reverses_entry_id == plan.id


def test_hash_covers_every_posting_field():
    entry = dict.fromkeys(hashing.ENTRY_FIELDS) | {"id": "e", "seq": 1, "book": "main"}
    posting = dict.fromkeys(hashing.POSTING_FIELDS) | {"line": 1, "amount_fen": 5}
    base = hashing.entry_hash(hashing.GENESIS_HASH, entry, [posting])
    assert hashing.entry_hash(hashing.GENESIS_HASH, entry, [posting | {"amount_fen": 6}]) != base
    assert hashing.entry_hash(bytes([1]) * 32, entry, [posting]) != base
    assert hashing.entry_hash(hashing.GENESIS_HASH, entry, [posting]) == base


def test_canonical_bytes_are_plain_sorted_compact_json():
    import json

    entry = dict.fromkeys(hashing.ENTRY_FIELDS) | {"id": "e", "seq": 1, "memo": "颐养 ok"}
    posting = dict.fromkeys(hashing.POSTING_FIELDS) | {"line": 1, "amount_fen": -5}
    doc = {**entry, "postings": [posting]}
    assert (
        hashing.canonical(entry, [posting])
        == json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    )
