"""Reconciliation's three-way comparison, pure (no I/O): the voucher side (its JSON), the
ledger side (repository/reconciliation.py) and Stripe's records, to the fen.

Rules (docs/settlement.md, "Reconciliation"); each discrepancy names its kind, the record,
the side that is out (voucher, ledger or settlement) and the amount in fen:
- voucher-side redemptions vs ledger postings, matched by redemption id:
  MISSING_IN_LEDGER (a live redemption never posted), VOID_NOT_POSTED (voided on the voucher
  side, still live in the ledger), REVERSED_IN_LEDGER (live on the voucher side, reversed in
  the ledger), AMOUNT_MISMATCH, MISSING_IN_VOUCHER (a ledger redemption the voucher service
  does not have);
- vs claims and payments: CLAIM_MISMATCH (the voucher side and the ledger disagree on the
  claim holding a redemption), CLAIMED_BUT_VOIDED, PAYMENT_MISMATCH (a paid claim whose
  payment postings differ from its total), UNEXPLAINED_PAYABLE (a provider-payable posting
  of the period that is neither a redemption, a void nor a payment);
- Σ voucher balances vs vouchers outstanding (2101), per program and budget region:
  OUTSTANDING_MISMATCH.
- online co-payments (captured less refunded, as recorded from Stripe's webhooks and
  refunds) vs the ledger's co-payment clearing (1102) per co-payment: COPAY_MISMATCH. Cash
  co-payments are the provider's money and never in the ledger, so the voucher side's cash
  ones are expected at zero (one the ledger does hold is named, side ledger).
- online co-payments owed to providers: received (net, 2201 `copay` entries of the period)
  = claimed (live claim co-payment lines) + unclaimed, entry by entry: COPAY_CLAIM_MISMATCH
  (a claim holds another amount than the entry posted, or a claim line names no online
  co-payment entry), COPAY_METHOD_UNKNOWN (a co-payment entry whose method the ledger never
  recorded: it cannot be claimed). The totals are in `copay_settlement`.
"""

from __future__ import annotations

from collections.abc import Sequence

from services.ledger.settlement.clients import StripePayment, VoucherSide
from services.ledger.settlement.repository.copay import CopaySide
from services.ledger.settlement.repository.reconciliation import CopaySplit, LedgerSide
from services.ledger.settlement.schemas import CopaySettlement, Discrepancy


def _d(kind: str, record: str, side: str, amount: int, detail: str) -> Discrepancy:
    return Discrepancy(kind=kind, record=record, side=side, amount_fen=int(amount), detail=detail)


def compare(voucher: VoucherSide, ledger: LedgerSide) -> list[Discrepancy]:
    """The discrepancies between the voucher side and the ledger side."""
    out: list[Discrepancy] = []
    v_by_id = {r["id"]: r for r in voucher["redemptions"]}
    l_by_id = {r.redemption_id: r for r in ledger.redemptions}
    for rid, v in v_by_id.items():
        e = l_by_id.get(rid)
        live = v["status"] != "voided"
        if e is None:
            if live:
                out.append(
                    _d(
                        "MISSING_IN_LEDGER",
                        f"redemption:{rid}",
                        "ledger",
                        v["subsidy_fen"],
                        "a live redemption was never posted",
                    )
                )
            continue
        if live and e.reversed:
            out.append(
                _d(
                    "REVERSED_IN_LEDGER",
                    f"redemption:{rid}",
                    "ledger",
                    v["subsidy_fen"],
                    "reversed in the ledger, live in the voucher service",
                )
            )
        if not live and not e.reversed:
            out.append(
                _d(
                    "VOID_NOT_POSTED",
                    f"redemption:{rid}",
                    "ledger",
                    e.amount_fen or 0,
                    "voided in the voucher service, still payable in the ledger",
                )
            )
        if (e.amount_fen or 0) != v["subsidy_fen"]:
            out.append(
                _d(
                    "AMOUNT_MISMATCH",
                    f"redemption:{rid}",
                    "ledger",
                    (e.amount_fen or 0) - v["subsidy_fen"],
                    f"voucher {v['subsidy_fen']} fen, ledger {e.amount_fen} fen",
                )
            )
        if (v.get("claim_id") or None) != (e.claim_id or None):
            out.append(
                _d(
                    "CLAIM_MISMATCH",
                    f"redemption:{rid}",
                    "settlement",
                    v["subsidy_fen"],
                    f"voucher claim {v.get('claim_id')}, ledger claim {e.claim_id}",
                )
            )
        if e.claim_id and e.reversed:
            out.append(
                _d(
                    "CLAIMED_BUT_VOIDED",
                    f"redemption:{rid}",
                    "settlement",
                    e.amount_fen or 0,
                    f"in claim {e.claim_id} but reversed",
                )
            )
    for rid, e in l_by_id.items():
        if rid not in v_by_id:
            out.append(
                _d(
                    "MISSING_IN_VOUCHER",
                    f"redemption:{rid}",
                    "voucher",
                    e.amount_fen or 0,
                    f"ledger entry {e.entry_id}",
                )
            )
    for s in ledger.stray:
        out.append(
            _d(
                "UNEXPLAINED_PAYABLE",
                f"entry:{s.entry_id}",
                "ledger",
                -s.amount_fen,
                f"{s.kind} posting on provider payable ({s.provider_id})",
            )
        )
    for p in ledger.payments:
        expected = p.total_fen if p.status == "paid" else 0
        if p.paid_fen != expected:
            out.append(
                _d(
                    "PAYMENT_MISMATCH",
                    f"claim:{p.claim_id}",
                    "settlement",
                    p.paid_fen - expected,
                    f"claim {p.status} for {p.total_fen} fen, payments posted {p.paid_fen} fen",
                )
            )
    methods = {c["id"]: c.get("method") for c in voucher.get("copayments", [])}
    v_copay = {
        c["id"]: c["captured_fen"] - c["refunded_fen"]
        for c in voucher.get("copayments", [])
        if c.get("method") == "stripe"
    }
    l_copay = {c.copayment_id: c.net_fen for c in ledger.copays}
    for cid in sorted(set(v_copay) | set(l_copay)):
        diff = l_copay.get(cid, 0) - v_copay.get(cid, 0)
        if diff:
            cash = methods.get(cid) == "cash"
            out.append(
                _d(
                    "COPAY_MISMATCH",
                    f"copayment:{cid}",
                    "ledger" if cid in methods else "voucher",
                    diff,
                    f"ledger clearing {l_copay.get(cid, 0)} fen for a cash co-payment, "
                    "which the ledger must not hold"
                    if cash
                    else f"ledger clearing {l_copay.get(cid, 0)} fen, captured less refunded "
                    f"{v_copay.get(cid, 0)} fen",
                )
            )
    v_bal = {
        (b["program_code"], b["budget_region_code"]): b["balance_fen"] for b in voucher["balances"]
    }
    l_bal = {(o.program_code, o.region_code): o.balance_fen for o in ledger.outstanding}
    for key in sorted(set(v_bal) | set(l_bal)):
        diff = l_bal.get(key, 0) - v_bal.get(key, 0)
        if diff:
            out.append(
                _d(
                    "OUTSTANDING_MISMATCH",
                    f"account:2101:{key[0]}:{key[1]}",
                    "ledger" if key in l_bal else "voucher",
                    diff,
                    f"ledger {l_bal.get(key, 0)} fen, voucher balances {v_bal.get(key, 0)} fen",
                )
            )
    return out


def compare_copay_claims(side: CopaySide) -> tuple[list[Discrepancy], CopaySettlement]:
    """Online co-payments received = claimed + unclaimed, per co-payment entry."""
    out: list[Discrepancy] = []
    # refunds_to_recover_fen: refunds in no claim yet, to be taken back from the provider's
    # next claim (the co-payment may already have been paid out to it).
    totals = CopaySettlement(
        received_fen=0, claimed_fen=0, unclaimed_fen=0, refunds_to_recover_fen=0
    )
    for e in side.entries:
        posted = e.posted_fen
        if e.method is None:
            out.append(
                _d(
                    "COPAY_METHOD_UNKNOWN",
                    f"entry:{e.entry_id}",
                    "ledger",
                    posted,
                    f"co-payment {e.copayment_id}: how it was paid was never "
                    "recorded, so it cannot be claimed",
                )
            )
            continue
        if e.method != "stripe":
            continue  # a cash entry posted before cash left the books: COPAY_MISMATCH
        totals["received_fen"] += posted
        if e.claimed_fen is None:
            totals["unclaimed_fen"] += posted
            if posted < 0:
                totals["refunds_to_recover_fen"] -= posted
            continue
        claimed = e.claimed_fen
        totals["claimed_fen"] += claimed
        if claimed != posted:
            out.append(
                _d(
                    "COPAY_CLAIM_MISMATCH",
                    f"entry:{e.entry_id}",
                    "settlement",
                    claimed - posted,
                    f"co-payment {e.copayment_id}: posted {posted} fen, claimed {claimed} fen",
                )
            )
    for line in side.strays:
        out.append(
            _d(
                "COPAY_CLAIM_MISMATCH",
                f"claim:{line.claim_id}",
                "settlement",
                line.amount_fen,
                f"claim line names entry {line.entry_id}, which is no online co-payment",
            )
        )
    if totals["received_fen"] != totals["claimed_fen"] + totals["unclaimed_fen"] and not out:
        out.append(
            _d(
                "COPAY_CLAIM_MISMATCH",
                "copayments",
                "settlement",
                totals["claimed_fen"] + totals["unclaimed_fen"] - totals["received_fen"],
                "co-payments received differ from claimed + unclaimed",
            )
        )
    return out, totals


def compare_stripe(
    voucher: VoucherSide, split: Sequence[CopaySplit], stripe: dict[str, StripePayment]
) -> list[Discrepancy]:
    """Stripe's own records vs the ledger's co-payment postings, for the redemptions of the
    period and region (matched by the PaymentIntent's `redemption_id` metadata):

    - STRIPE_NOT_IN_LEDGER: Stripe captured a payment the ledger never received (no
      co-payment posted for that redemption) — amount: Stripe captured;
    - STRIPE_AMOUNT_MISMATCH: the ledger received another amount than Stripe captured —
      ledger − Stripe;
    - STRIPE_REFUND_MISSING: Stripe refunded more than the ledger posted as refunded (a refund
      the ledger lacks) — amount: Stripe − ledger; STRIPE_REFUND_MISMATCH when the ledger
      refunded more than Stripe did — ledger − Stripe;
    - NOT_IN_STRIPE: the ledger received an online co-payment Stripe has no succeeded
      PaymentIntent for — amount: ledger received.
    """
    redemptions = {r["id"] for r in voucher.get("redemptions", [])}
    copays = {c["redemption_id"]: c for c in voucher.get("copayments", [])}
    ledger = {r.copayment_id: (r.received_fen, r.refunded_fen) for r in split}
    out: list[Discrepancy] = []
    for rid in sorted(set(stripe) & redemptions):
        s = stripe[rid]
        record = f"payment_intent:{s['payment_intent_id']}"
        cp = copays.get(rid)
        received, refunded = ledger.get(cp["id"], (0, 0)) if cp else (0, 0)
        if received == 0 and s["captured_fen"]:
            out.append(
                _d(
                    "STRIPE_NOT_IN_LEDGER",
                    record,
                    "ledger",
                    s["captured_fen"],
                    f"Stripe captured {s['captured_fen']} fen for redemption {rid}; "
                    "the ledger has no co-payment for it",
                )
            )
            continue
        if received != s["captured_fen"]:
            out.append(
                _d(
                    "STRIPE_AMOUNT_MISMATCH",
                    record,
                    "ledger",
                    received - s["captured_fen"],
                    f"ledger received {received} fen, Stripe captured {s['captured_fen']} fen",
                )
            )
        if refunded != s["refunded_fen"]:
            missing = s["refunded_fen"] > refunded
            out.append(
                _d(
                    "STRIPE_REFUND_MISSING" if missing else "STRIPE_REFUND_MISMATCH",
                    record,
                    "ledger",
                    (s["refunded_fen"] - refunded) if missing else refunded - s["refunded_fen"],
                    f"Stripe refunded {s['refunded_fen']} fen, the ledger {refunded} fen",
                )
            )
    for rid, cp in sorted(copays.items()):
        if cp.get("method") != "stripe" or rid in stripe:
            continue
        received, _ = ledger.get(cp["id"], (0, 0))
        if received:
            out.append(
                _d(
                    "NOT_IN_STRIPE",
                    f"copayment:{cp['id']}",
                    "stripe",
                    received,
                    f"the ledger received {received} fen; Stripe has no succeeded "
                    f"PaymentIntent for redemption {rid}",
                )
            )
    return out
