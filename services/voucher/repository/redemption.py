"""The voucher service's hot-path SQL: the one module where raw SQL runs (asyncpg, prepared).

Everything else of the service is SQLAlchemy on the SQLModel tables through an AsyncSession
(the rest of repository/). What is here was put in raw SQL by a measurement
(docs/performance.md), and each statement says why below. Table names come from models.py;
tests/voucher/redeem/test_hot_path_sql.py prepares every statement of this module against a
migrated database, and test_rule_matches_sql.py compares REDEEM's arithmetic with the pure rule
(`compute_split` in service/redemption.py) on generated cases.

`REDEEM` -- raw because it is the measured hot path: POST /v1/redemptions is one round trip
of one prepared statement in autocommit on `db.statements` (services/common/statement_pool.py:
the raw pool's connections without asyncpg.Pool's per-call machinery), at 42% of what PostgreSQL does with
the same statement alone (pgbench), ~1,080 redemptions/s on 2 cores. A session would add a
BEGIN and a COMMIT round trip and SQLAlchemy's statement handling to every redemption. The
statement does the whole redemption:

1. `pick`  locks the beneficiary's best usable voucher (active, in its window, allowing the
   provider's kind and the category of every line of the bill, the provider's region inside
   the voucher's spend area, today outside the person's hospital stay copied onto the voucher
   as `paused_from..paused_until`; lowest priority first) and reads today's usage. A death,
   a move or an exit revokes or ends the voucher rows themselves (service/lifecycle.py), so
   the status check is the voucher's `status`: the row lock makes a redemption racing a
   death either commit before it or find the voucher revoked;
2. `calc`  applies the rule of service/redemption.py (`compute_split`) to it, on the whole
   bill (priced beforehand from the price list by service/pricing.py);
3. `upd`   takes the subsidy off the balance, moves the day counters, marks it exhausted at 0;
4. `nonce` records the QR nonce: its primary key makes a replayed token fail, even when many
   terminals race it, and the failure rolls back the whole statement;
   A service package's voucher (`visits_left` not NULL) pays only a bill naming a home
   visit (`$22`), one visit a bill: `upd` counts it down and marks the voucher exhausted at
   the last one (VISITS_USED_UP, service/redemption.py `compute_split`);
5. `red`   records the redemption (with the price list's version and, for a home-visit
   item, the visit checked beforehand by the cold path): unique (provider_id,
   idempotency_key), and one live redemption per visit (uq_redemption_visit);
6. `items` records the bill's lines (`redemption_item`), sent as parallel arrays, when the
   bill has more than one line or a quantity above one. A bill of one line at quantity one
   (a lunch: most redemptions) is the redemption row itself -- its service, category and
   gross are the line's, the gross its unit price -- and writes no line: one heap row and
   one index entry fewer a redemption, about 12% of the statement's CPU (docs/performance.md,
   "A one-line bill is its redemption"). Readers take the line from the redemption then
   (`bill_line_of`);
7. `ev`    writes the `redemption.created` outbox event for the ledger.

It is the only writer of `redemption` and `redemption_item`, which is why those tables carry
no foreign key to `voucher`, `beneficiary` or `redemption` (migration voucher_1901): `red`
takes the voucher and the person from the row `pick` holds locked, and `items` writes the
lines with their redemption from the same row; the parents are never deleted (triggers
`redemption_parent_kept`, `redemption_guard`). The keys re-checked that per redemption with a
lookup and a row lock each (docs/performance.md, "The hot path at a third of the limit").

Through PgBouncer in transaction mode (`pooler=pgbouncer`, services/common/db.py) these
statements are not kept prepared: each is sent unnamed, parsed and planned on every execution,
one more round trip (docs/operations.md, "Connection pooling").

Redemptions that reach the statement pool together (in one turn of the event loop, or while
every connection is busy) run together (`REDEEM_TOGETHER`, below, and
services/common/statement_pool.py): one statement calls a temporary function made from
REDEEM's own text, which runs REDEEM for each of them in turn, in one transaction with one
commit, the people in lock order. A unique violation (a replayed
code, a repeated key) undoes the whole batch, and each of its redemptions then runs alone
through REDEEM, getting its own answer. docs/performance.md, "Redemptions committed together",
says what it gained.

When it returns no row, or a unique violation, the cold path (service/redemption_flow.py,
repository/redemption_flow.py) reads why.

`DIAGNOSE` -- raw because it is the redemption's other answer: when REDEEM pays nothing (a
meal's daily limit reached, a replayed code, a retried request, a spent voucher) the route
must say exactly why, and at a lunch counter that is a large share of the requests. The load
test measured it: as four statements on an AsyncSession the refusal cost several times the
redemption's own CPU and took a third of the service's time under load. One prepared
statement reads every fact the refusal needs -- the earlier answer under the idempotency key,
whether the nonce was used, the person's status and hospital stay, the voucher the redemption would have used
(or else an exhausted one or one for another area) -- and the preview reads the same.

`CODE_HOLDER` -- raw because every redemption starts with one: the person's phone asks for a
fresh dynamic code (POST /v1/beneficiaries/{id}/codes) before each payment and again every
minute while the code is shown, so code issuance runs at least as often as redemption. The
load test measured it: on an AsyncSession the two reads it needs (the person's status, a
proxy's live authorisation) cost 1.9 ms of CPU a code against 1.0 ms as one raw statement,
and the whole mixed load carried 40% fewer requests. One prepared statement on the raw pool
answers both.

The relay's statements -- raw because the relay is its own process on a small asyncpg pool
(`yiyang relay`, no SQLAlchemy engine) and its drain rate is measured ("Relay": ~1,110
events/s, 0.03-0.07 ms of relay CPU per event). `CLAIM_BATCH` reads each payload as its JSON
text (`payload::text`), which the relay splices into the ledger's request unparsed: through
SQLAlchemy's JSONB type every payload would be parsed and serialised again, a third of the
relay's CPU before that change. The relay is partitioned by the events' book (`outbox.book`):
`PENDING_BOOKS` finds the partitions with work (a skip scan of ix_outbox_undelivered_book),
`OPEN_LEASES`, `HEARTBEAT`, `PURGE_WORKERS`, `RENEW_LEASES`, `LIVE_OWNERS`, `TAKE_LEASES` and
`RELEASE_LEASES` share them out
among the relay workers (one owner a partition, `relay_lease`), `LEASE_FENCE` locks the
worker's lease row in the batch's own transaction (the partition's turn: no other worker can
take it meanwhile), `CLAIM_BATCH` takes the partition's oldest events; `MARK_*` settle the
batch in that transaction. `LAG` is GET /v1/outbox/lag (exact: it reads the whole backlog);
`PROGRESS`, the relay's progress line and the readiness probe (/readyz), reads a bounded part
of it (the backlog counted up to a cap, each partition's oldest event).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypedDict

import asyncpg

from services.common.statement_pool import StatementPool, Together
from services.voucher.models import (
    Beneficiary,
    Outbox,
    ProxyAuthorisation,
    Redemption,
    RedemptionItem,
    RelayLease,
    UsedNonce,
    Voucher,
)

_VOUCHER = Voucher.__tablename__
_BENEFICIARY = Beneficiary.__tablename__
_PROXY = ProxyAuthorisation.__tablename__
_REDEMPTION = Redemption.__tablename__
_ITEM = RedemptionItem.__tablename__
_NONCE = UsedNonce.__tablename__
_OUTBOX = Outbox.__tablename__
_LEASE = RelayLease.__tablename__

_REDEEM_WORK = f"""
WITH pick AS (
  SELECT v.id, v.beneficiary_id, v.program_code, v.period, v.region_code,
         v.budget_region_code, v.funding_shares, v.balance_fen, v.ratio_bp, v.per_use_fen,
         v.per_txn_cap_fen, v.day_cap_fen, v.day_limit_count, v.visits_left,
         CASE WHEN v.day_on = $7::date THEN v.day_count ELSE 0 END AS used_count,
         CASE WHEN v.day_on = $7::date THEN v.day_subsidy_fen ELSE 0 END AS used_fen
    FROM {_VOUCHER} v
   WHERE v.beneficiary_id = $1::uuid AND v.status = 'active'
     AND v.valid_from <= $8::timestamptz AND v.valid_until > $8::timestamptz
     AND $4::text = ANY (v.allowed_kinds) AND $5::text[] <@ v.allowed_categories::text[]
     AND starts_with($17::text, v.spend_region_prefix)
     AND (v.paused_from IS NULL OR $7::date < v.paused_from OR $7::date > v.paused_until)
     AND (v.visits_left IS NULL OR $22::uuid IS NOT NULL)
   ORDER BY v.priority, v.valid_until, v.id
   LIMIT 1
   FOR UPDATE
), calc AS (
  SELECT p.*,
         least(CASE WHEN p.per_use_fen IS NOT NULL THEN p.per_use_fen
                    ELSE ($6::bigint * coalesce(p.ratio_bp, 10000)) / 10000 END,
               p.per_txn_cap_fen, p.balance_fen, p.day_cap_fen - p.used_fen) AS subsidy
    FROM pick p
   WHERE p.balance_fen > 0
     AND (p.day_limit_count IS NULL OR p.used_count < p.day_limit_count)
     AND (p.per_use_fen IS NULL OR $6::bigint > p.per_use_fen)
     AND (p.visits_left IS NULL OR p.visits_left > 0)
), upd AS (
  UPDATE {_VOUCHER} v
     SET balance_fen = v.balance_fen - c.subsidy,
         day_on = $7::date,
         day_count = c.used_count + 1,
         day_subsidy_fen = c.used_fen + c.subsidy,
         visits_left = v.visits_left - 1,
         status = CASE WHEN v.balance_fen - c.subsidy = 0 OR v.visits_left = 1 THEN 'exhausted'
                       ELSE v.status END,
         updated_at = $8::timestamptz
    FROM calc c
   WHERE v.id = c.id AND c.subsidy > 0
  RETURNING v.id, v.beneficiary_id, v.balance_fen, v.program_code, v.period, v.region_code,
            v.budget_region_code, v.funding_shares, c.subsidy
), nonce AS (
  INSERT INTO {_NONCE} (nonce, expires_at)
  SELECT $2::bytea, $3::timestamptz FROM upd WHERE $2::bytea IS NOT NULL
), red AS (
  INSERT INTO {_REDEMPTION} (id, voucher_id, beneficiary_id, provider_id, terminal_id,
                          service_code, category, gross_fen, subsidy_fen, copay_fen,
                          balance_after_fen, idempotency_key, request_hash, nonce, card_id,
                          day_on, created_at, price_list_version, staff_id, visit_id)
  SELECT $9::uuid, u.id, u.beneficiary_id, $11::text, $12::text, ($13::text[])[1],
         ($5::text[])[1], $6::bigint, u.subsidy, $6::bigint - u.subsidy, u.balance_fen,
         $14::text, $15::bytea, $2::bytea, $16::uuid, $7::date, $8::timestamptz, $20::bigint,
         $21::text, $22::uuid
    FROM upd u
), items AS (
  INSERT INTO {_ITEM} (redemption_id, line, service_code, category, quantity, unit_price_fen,
                       amount_fen)
  SELECT $9::uuid, i.line, i.code, i.category, i.quantity, i.unit_price,
         i.unit_price * i.quantity
    FROM upd u,
         unnest($13::text[], $5::text[], $18::int[], $19::bigint[])
           WITH ORDINALITY AS i(code, category, quantity, unit_price, line)
   WHERE cardinality($13::text[]) > 1 OR ($18::int[])[1] > 1
), ev AS (
  INSERT INTO {_OUTBOX} (event_id, type, payload, occurred_at)
  SELECT $10::uuid, 'redemption.created',
         jsonb_build_object(
           'program_code', u.program_code, 'region_code', u.region_code,
           'budget_region_code', u.budget_region_code, 'period', u.period,
           'funding_shares', u.funding_shares,
           'redemption_id', $9::uuid::text, 'voucher_id', u.id::text,
           'beneficiary_id', u.beneficiary_id::text, 'provider_id', $11::text,
           'service_code', ($13::text[])[1], 'gross_fen', $6::bigint, 'subsidy_fen', u.subsidy,
           'copay_fen', $6::bigint - u.subsidy, 'terminal_id', $12::text,
           'staff_id', $21::text),
         $8::timestamptz
    FROM upd u
)
"""
_REDEEM_ANSWER = """$9::uuid AS id, u.id AS voucher_id, u.subsidy AS subsidy_fen,
       $6::bigint - u.subsidy AS copay_fen, u.balance_fen"""
REDEEM = f"{_REDEEM_WORK}SELECT {_REDEEM_ANSWER}\n  FROM upd u\n"


# --- redemptions waiting for a connection, run together ---------------------------------------
#
# Redemptions that reach the statement pool together run together (statement_pool.py): one
# statement calls a function that runs REDEEM for each in turn, in one transaction
# (services/common/statement_pool.py, `Together`). The function is REDEEM itself, its
# parameters taken from arrays (one element a redemption; a bill's lines concatenated, each
# redemption's slice given by its first line and count), and is made from REDEEM's text here,
# so there is one statement to read and to change. It is a temporary function, created on
# each statement connection before its first use: nothing in the schema to migrate.
# tests/voucher/redeem/test_together.py races it, and test_rule_matches_sql.py runs the
# rule's cases through it.

_LINE_PARAMS = frozenset({5, 13, 18, 19})  # one element a line of the bill
_PARAM = re.compile(r"\$(\d+)")
_CAST = re.compile(r"\$(\d+)::([a-z]+(?:\[\])?)")


def _param_types(sql: str) -> dict[int, str]:
    """Each parameter's type, from the casts that REDEEM writes at every use."""
    types: dict[int, str] = {}
    for n, kind in _CAST.findall(sql):
        if types.setdefault(int(n), kind) != kind:
            raise ValueError(f"${n} is cast to both {types[int(n)]} and {kind}")
    uses = {int(n) for n in _PARAM.findall(sql)}
    if uses != set(types) or uses != set(range(1, len(uses) + 1)):
        raise ValueError("every parameter of REDEEM must be numbered in turn and cast")
    return types


def _together(work: str, answer: str) -> tuple[str, str, int]:
    """The temporary function that runs REDEEM for each of many redemptions, the statement
    that calls it, and how many parameters REDEEM has."""
    types = _param_types(work + answer)
    arrays = [("_k", "int"), ("_first", "int"), ("_count", "int")] + [
        (f"_p{n}", kind.removesuffix("[]")) for n, kind in sorted(types.items())
    ]

    def element(match: re.Match[str]) -> str:
        n = int(match.group(1))
        if n in _LINE_PARAMS:
            return f"(_p{n}[_first[_j]:_first[_j] + _count[_j] - 1])"
        return f"(_p{n}[_j])"

    body = _PARAM.sub(element, f"{work}SELECT {answer}, _k[_j]\n  FROM upd u")
    params = ", ".join(f"{name} {kind}[]" for name, kind in arrays)
    function = f"""CREATE OR REPLACE FUNCTION pg_temp.redeem_together({params})
RETURNS TABLE (_id uuid, _voucher_id uuid, _subsidy_fen bigint, _copay_fen bigint,
               _balance_fen bigint, _call int)
LANGUAGE plpgsql AS $together$
BEGIN
  FOR _j IN 1 .. cardinality(_k) LOOP
    RETURN QUERY {body};
  END LOOP;
END
$together$"""
    call = ", ".join(f"${n}::{kind}[]" for n, (_name, kind) in enumerate(arrays, 1))
    return function, f"SELECT * FROM pg_temp.redeem_together({call})", len(types)


_TOGETHER_SETUP, _TOGETHER_CALL, _REDEEM_PARAMS = _together(_REDEEM_WORK, _REDEEM_ANSWER)


def _pack(calls: Sequence[tuple[int, tuple[Any, ...]]]) -> tuple[Any, ...]:
    """Many redemptions' REDEEM arguments as the function's arrays, in the order of the people
    they pay for: two batches then lock their vouchers in the same order, never each
    waiting for the other."""
    ordered = sorted(calls, key=lambda call: call[1][0])
    columns: list[list[Any]] = [[] for _ in range(_REDEEM_PARAMS)]
    numbers, first, count = [], [], []
    for number, args in ordered:
        numbers.append(number)
        first.append(len(columns[12]) + 1)  # $13, the lines' service codes
        count.append(len(args[12]))
        for i, value in enumerate(args):
            if i + 1 in _LINE_PARAMS:
                columns[i].extend(value)
            else:
                columns[i].append(value)
    return (numbers, first, count, *columns)


REDEEM_TOGETHER = Together(solo=REDEEM, call=_TOGETHER_CALL, setup=_TOGETHER_SETUP, pack=_pack)


@dataclass(frozen=True, slots=True)
class Redeemed:
    """What the redemption statement answers: the redemption, the voucher that paid, the
    subsidy and co-payment, and the voucher's balance after."""

    id: uuid.UUID
    voucher_id: uuid.UUID
    subsidy_fen: int
    copay_fen: int
    balance_fen: int


@dataclass(frozen=True, slots=True)
class Lines:
    """A priced bill's lines as the statement takes them: parallel arrays, line order."""

    service_codes: list[str]
    categories: list[str]
    quantities: list[int]
    unit_prices_fen: list[int]


async def redeem(
    conn: asyncpg.Connection | asyncpg.Pool | StatementPool,
    *,
    beneficiary_id: uuid.UUID,
    nonce: bytes | None,
    nonce_expires_at: datetime | None,
    provider_kind: str,
    lines: Lines,
    gross_fen: int,
    price_list_version: int,
    today: date,
    now: datetime,
    redemption_id: uuid.UUID,
    event_id: uuid.UUID,
    provider_id: str,
    terminal_id: str | None,
    idempotency_key: str,
    request_hash: bytes,
    card_id: uuid.UUID | None,
    provider_region: str | None,
    staff_id: str | None = None,
    visit_id: uuid.UUID | None = None,
) -> Redeemed | None:
    """Run the one-statement redemption of a priced bill (`gross_fen` = the sum of its
    lines); what it did on success, None when no voucher could pay. Raises
    UniqueViolationError on a used nonce or a repeated idempotency key (the statement then
    changed nothing)."""
    args = (
        beneficiary_id,
        nonce,
        nonce_expires_at,
        provider_kind,
        lines.categories,
        gross_fen,
        today,
        now,
        redemption_id,
        event_id,
        provider_id,
        terminal_id,
        lines.service_codes,
        idempotency_key,
        request_hash,
        card_id,
        provider_region,
        lines.quantities,
        lines.unit_prices_fen,
        price_list_version,
        staff_id,
        visit_id,
    )
    if isinstance(conn, StatementPool):  # run together with others waiting, if any
        row = await conn.fetchrow_together(REDEEM_TOGETHER, *args)
    else:
        row = await conn.fetchrow(REDEEM, *args)
    if row is None:
        return None
    return Redeemed(row[0], row[1], row[2], row[3], row[4])


# --- why the redemption paid nothing (and the preview) ---------------------------------------

DIAGNOSE = f"""
SELECT e.id, e.voucher_id, e.subsidy_fen, e.copay_fen, e.balance_after_fen, e.request_hash,
       e.gross_fen,
       EXISTS (SELECT 1 FROM {_NONCE} n WHERE n.nonce = $3::bytea) AS nonce_used,
       b.status AS person_status, b.paused_from, b.paused_until,
       v.id, v.program_code, v.status, v.spend_region_prefix, v.balance_fen, v.ratio_bp,
       v.per_use_fen, v.per_txn_cap_fen, v.day_cap_fen, v.day_limit_count, v.day_on,
       v.day_count, v.day_subsidy_fen, v.visits_left,
       b.name AS person_name
  FROM (SELECT 1) AS one
  LEFT JOIN {_REDEMPTION} e ON e.provider_id = $1::text AND e.idempotency_key = $2::text
  LEFT JOIN {_BENEFICIARY} b ON b.id = $4::uuid
  LEFT JOIN LATERAL (
    SELECT c.* FROM {_VOUCHER} c
     WHERE c.beneficiary_id = $4::uuid AND c.status IN ('active', 'exhausted')
       AND c.valid_from <= $7::timestamptz AND c.valid_until > $7::timestamptz
       AND $5::text = ANY (c.allowed_kinds) AND $6::text[] <@ c.allowed_categories::text[]
       AND (c.visits_left IS NULL OR $9::boolean)
     ORDER BY coalesce(starts_with($8::text, c.spend_region_prefix), false) DESC,
              c.status = 'active' DESC, c.priority, c.valid_until, c.id
     LIMIT 1
  ) AS v ON true
"""


@dataclass(frozen=True, slots=True)
class Earlier:
    """A redemption already made under an idempotency key: its answer and what was asked."""

    id: uuid.UUID
    voucher_id: uuid.UUID
    subsidy_fen: int
    copay_fen: int
    balance_fen: int
    request_hash: bytes
    gross_fen: int


@dataclass(frozen=True, slots=True)
class Candidate:
    """The voucher the redemption would have used (or an exhausted one, or one for another
    area): what the refusal and the preview's split need."""

    id: uuid.UUID
    program_code: str
    status: str
    spend_region_prefix: str | None
    balance_fen: int
    ratio_bp: int | None
    per_use_fen: int | None
    per_txn_cap_fen: int | None
    day_cap_fen: int | None
    day_limit_count: int | None
    day_on: date | None
    day_count: int
    day_subsidy_fen: int
    visits_left: int | None = None  # a service package's home visits left this period


@dataclass(frozen=True, slots=True)
class Diagnosis:
    earlier: Earlier | None  # None: no request under that key (or no key asked)
    nonce_used: bool
    person_status: str | None  # None: no such person
    voucher: Candidate | None
    paused_from: date | None = None  # the person's hospital stay (inclusive)
    paused_until: date | None = None
    person_name: str | None = None  # (for the preview's masked mention)


async def diagnose(
    pool: asyncpg.Pool | StatementPool,
    *,
    provider_id: str,
    idempotency_key: str | None,
    nonce: bytes | None,
    beneficiary_id: uuid.UUID,
    provider_kind: str,
    categories: list[str],
    now: datetime,
    provider_region: str | None,
    names_visit: bool = False,
) -> Diagnosis:
    """Every fact that explains a redemption that paid nothing, in one round trip
    (`categories`: those of the bill's lines, every one to be covered by the voucher; a
    service package's voucher only for a bill that `names_visit`)."""
    r = await pool.fetchrow(
        DIAGNOSE,
        provider_id,
        idempotency_key,
        nonce,
        beneficiary_id,
        provider_kind,
        categories,
        now,
        provider_region,
        names_visit,
    )
    assert r is not None  # the statement always answers one row
    earlier = None if r[0] is None else Earlier(r[0], r[1], r[2], r[3], r[4], bytes(r[5]), r[6])
    voucher = None if r[11] is None else Candidate(*r[11:25])
    return Diagnosis(earlier, bool(r[7]), r[8], voucher, r[9], r[10], r[25])


# --- a fresh code ---------------------------------------------------------------------------

# The person's status, and whether the proxy `$2` (NULL: the person themself) holds a live
# authorisation for them; no row when there is no such person.
CODE_HOLDER = f"""
SELECT b.status,
       $2::text IS NULL OR EXISTS (
         SELECT 1 FROM {_PROXY} p
          WHERE p.beneficiary_id = b.id AND p.proxy_sub = $2::text AND p.status = 'active'
       ) AS may_act
  FROM {_BENEFICIARY} b
 WHERE b.id = $1::uuid
"""


@dataclass(frozen=True, slots=True)
class CodeHolder:
    status: str
    may_act: bool


async def code_holder(
    pool: asyncpg.Pool, beneficiary_id: uuid.UUID, proxy_sub: str | None
) -> CodeHolder | None:
    """For a fresh code: the person's status and whether `proxy_sub` may act for them (True
    for the person themself); None when there is no such person."""
    row = await pool.fetchrow(CODE_HOLDER, beneficiary_id, proxy_sub)
    return None if row is None else CodeHolder(row[0], row[1])


# --- the relay ----------------------------------------------------------------------------


def _over_pending_books(select: str) -> str:
    """`select` over `b(book)`, the partitions (books) with undelivered events (its last row
    NULL): a skip scan of ix_outbox_undelivered_book, one index probe a partition however
    long the backlog."""
    return f"""
WITH RECURSIVE b(book) AS (
  (SELECT book FROM {_OUTBOX} WHERE delivered_at IS NULL ORDER BY book LIMIT 1)
  UNION ALL
  SELECT (SELECT o.book FROM {_OUTBOX} o WHERE o.delivered_at IS NULL AND o.book > b.book
           ORDER BY o.book LIMIT 1)
    FROM b WHERE b.book IS NOT NULL
)
{select}"""


PENDING_BOOKS = _over_pending_books("SELECT book FROM b WHERE book IS NOT NULL\n")

OPEN_LEASES = f"""
INSERT INTO {_LEASE} (partition) SELECT unnest($1::text[]) ON CONFLICT (partition) DO NOTHING
"""

# A worker keeps what it owns (nobody else took it) for another `ttl` seconds.
RENEW_LEASES = f"""
UPDATE {_LEASE} SET expires_at = now() + make_interval(secs => $2)
 WHERE owner = $1 RETURNING partition
"""

# A worker's own row ('~worker:<id>'): it is alive (counted in the fair share) even while it
# owns no partition yet.
HEARTBEAT = f"""
INSERT INTO {_LEASE} (partition, owner, expires_at, taken_at)
VALUES ('~worker:' || $1, $1, now() + make_interval(secs => $2), now())
ON CONFLICT (partition) DO UPDATE SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at
"""

# Rows of workers gone for an hour (a worker named by host:pid leaves one behind).
PURGE_WORKERS = f"""
DELETE FROM {_LEASE}
 WHERE partition LIKE '~worker:%' AND expires_at < now() - interval '1 hour'
"""

# The live workers (their own rows unexpired) and how many partitions each holds.
LIVE_OWNERS = f"""
SELECT w.owner, count(l.partition) AS held
  FROM {_LEASE} w
  LEFT JOIN {_LEASE} l ON l.owner = w.owner AND l.partition NOT LIKE '~%'
   AND l.expires_at > now()
 WHERE w.partition LIKE '~worker:%' AND w.expires_at > now()
 GROUP BY w.owner
"""

# Free or expired partitions with work, up to `$4`; a lease row locked by a batch in flight is
# skipped (its owner is delivering: the lease moves only between batches).
TAKE_LEASES = f"""
UPDATE {_LEASE} l SET owner = $1, expires_at = now() + make_interval(secs => $2),
       taken_at = now()
 WHERE l.partition IN (
   SELECT partition FROM {_LEASE}
    WHERE partition = ANY($3::text[]) AND (owner IS NULL OR expires_at <= now())
    ORDER BY partition LIMIT $4 FOR UPDATE SKIP LOCKED)
RETURNING l.partition
"""

RELEASE_LEASES = f"""
UPDATE {_LEASE} SET owner = NULL, expires_at = '-infinity'
 WHERE owner = $1 AND partition = ANY($2::text[])
"""

# The partition's turn, inside the batch's transaction: the worker's own lease row, locked
# until COMMIT (another worker cannot take it meanwhile; another relay of the same worker
# waits for its turn, so events reach the ledger in outbox order: a void never overtakes
# its redemption).
LEASE_FENCE = f"""
SELECT 1 FROM {_LEASE} WHERE partition = $1 AND owner = $2 FOR UPDATE
"""

# The partition's oldest undelivered events, by an ordered scan of ix_outbox_undelivered_book
# that stops after `$2` rows. The partition is named as a range (`book >= $1 AND book <= $1`)
# and the order is the index's own (book, id): had it said `book = $1 ... ORDER BY id`, the
# primary key could serve the order too, and with statistics that saw a quarter of the rows
# in each partition the planner walked the primary key from the oldest id, past every event
# delivered so far (30,000 rows read for 500, 35-40 ms a batch at 124,000 waiting; the
# relay's share of PostgreSQL was 0.13 ms an event; docs/performance.md, "Three postings a
# redemption"). CLAIM_PLAN turns bitmap scans off for the batch's transaction, so a tiny estimate
# cannot fetch the whole partition and sort it either.
CLAIM_PLAN = "SET LOCAL enable_bitmapscan = off"
CLAIM_BATCH = f"""
SELECT id, event_id::text AS event_id, type, payload::text AS payload, occurred_at
  FROM {_OUTBOX}
 WHERE book >= $1 AND book <= $1 AND delivered_at IS NULL
 ORDER BY book, id
 LIMIT $2
 FOR UPDATE
"""

MARK_DELIVERED = f"""
UPDATE {_OUTBOX} SET delivered_at = now(), attempts = attempts + 1, last_error = NULL
 WHERE id = ANY($1::bigint[])
"""

MARK_REJECTED = f"""
UPDATE {_OUTBOX} SET delivered_at = now(), rejected = true, attempts = attempts + 1,
       last_error = $2
 WHERE id = $1
"""

MARK_FAILED = f"""
UPDATE {_OUTBOX} SET attempts = attempts + 1, last_error = $2 WHERE id = ANY($1::bigint[])
"""

# Each part by its partial index (the backlog's rows, the refused ones), never a scan of
# every event the outbox has carried: readiness and the relay's progress line ask it often.
LAG = f"""
SELECT (SELECT count(*) FROM {_OUTBOX} WHERE delivered_at IS NULL) AS undelivered,
       (SELECT count(*) FROM {_OUTBOX} WHERE rejected) AS rejected,
       u.oldest, coalesce(extract(epoch FROM now() - u.oldest), 0)::float8 AS oldest_age_s
  FROM (SELECT min(occurred_at) AS oldest FROM {_OUTBOX} WHERE delivered_at IS NULL) u
"""

# The relay's progress line and readiness ask often (every 5 s a relay, every probe), and
# need no exact count: the backlog counted up to `$1` events (one range of the undelivered
# index, however long the backlog), the refused ones (their partial index), and the age of
# the oldest undelivered event by outbox order: each partition's first by the skip scan of
# PENDING_BOOKS, one index probe a partition. LAG's exact count and min(occurred_at) read the
# whole backlog: 14 ms of the server's CPU at 40,000 waiting (docs/performance.md, "Relay").
PROGRESS = _over_pending_books(
    f"""SELECT (SELECT count(*) FROM (SELECT 1 FROM {_OUTBOX} WHERE delivered_at IS NULL
                               ORDER BY book, id LIMIT $1) w) AS undelivered,
       (SELECT count(*) FROM {_OUTBOX} WHERE rejected) AS rejected,
       coalesce(extract(epoch FROM now() - min(f.occurred_at)), 0)::float8 AS oldest_age_s
  FROM b
  CROSS JOIN LATERAL (
    SELECT o.occurred_at FROM {_OUTBOX} o
     WHERE o.book >= b.book AND o.book <= b.book AND o.delivered_at IS NULL
     ORDER BY o.book, o.id LIMIT 1) f
 WHERE b.book IS NOT NULL
"""
)

# Every raw statement of this module (the test prepares each one).
STATEMENTS = {
    "REDEEM": REDEEM,
    "DIAGNOSE": DIAGNOSE,
    "CODE_HOLDER": CODE_HOLDER,
    "PENDING_BOOKS": PENDING_BOOKS,
    "OPEN_LEASES": OPEN_LEASES,
    "RENEW_LEASES": RENEW_LEASES,
    "HEARTBEAT": HEARTBEAT,
    "PURGE_WORKERS": PURGE_WORKERS,
    "LIVE_OWNERS": LIVE_OWNERS,
    "TAKE_LEASES": TAKE_LEASES,
    "RELEASE_LEASES": RELEASE_LEASES,
    "LEASE_FENCE": LEASE_FENCE,
    "CLAIM_BATCH": CLAIM_BATCH,
    "MARK_DELIVERED": MARK_DELIVERED,
    "MARK_REJECTED": MARK_REJECTED,
    "MARK_FAILED": MARK_FAILED,
    "LAG": LAG,
    "PROGRESS": PROGRESS,
}


class OutboxEvent(TypedDict):
    """An undelivered event as the relay sends it; `event_id` and `payload` are the outbox's
    text of them (uuid::text, jsonb::text): the relay writes them into its request and
    matches the ledger's answers by `event_id` without converting either."""

    id: int
    event_id: str
    type: str
    payload: str
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class Lag:
    """How far the relay is behind: undelivered events, rejected ones, the oldest's age."""

    undelivered: int
    rejected: int
    oldest_undelivered_at: datetime | None
    oldest_age_s: float


@dataclass(frozen=True, slots=True)
class Progress:
    """The relay's lag as its progress line and readiness report it: the backlog counted up
    to a cap (`undelivered == cap`: at least that many), refused events, the oldest
    undelivered event's age (the oldest of each partition's first in outbox order)."""

    undelivered: int
    at_least: bool
    rejected: int
    oldest_age_s: float


def fair_share(n: int, load: dict[str, int], me: str) -> tuple[int, int]:
    """(keep at most, take up to) for `me`: partitions with work `n` over the live workers of
    `load` (partitions each holds): at most ceil(n/w); down to floor(n/w) while another worker
    holds fewer than that, so a worker that joins gets its share."""
    w = max(1, len(load))
    lo, hi = n // w, -(-n // w)
    starved = any(held < lo for owner, held in load.items() if owner != me)
    return (max(lo, 1) if starved else hi), hi


async def share_partitions(
    conn: asyncpg.Connection, owner: str, ttl_s: float, owned: Sequence[str]
) -> list[str]:
    """The partitions `owner` delivers now: those it still owns (renewed), plus free or
    expired ones with work up to its fair share (`fair_share`), minus those it owns beyond
    that share or without work (released). One short transaction."""
    async with conn.transaction():
        pending = [r[0] for r in await conn.fetch(PENDING_BOOKS)]
        if pending:
            await conn.execute(OPEN_LEASES, pending)
        await conn.execute(HEARTBEAT, owner, ttl_s)
        await conn.execute(PURGE_WORKERS)
        mine = {
            r[0] for r in await conn.fetch(RENEW_LEASES, owner, ttl_s) if not r[0].startswith("~")
        }
        load = {r[0]: int(r[1]) for r in await conn.fetch(LIVE_OWNERS)}
        keep_max, take_max = fair_share(len(pending), load, owner)
        idle = sorted(mine - set(pending))
        keep = [p for p in owned if p in mine and p in pending]
        keep += sorted(mine & set(pending) - set(keep))
        extra = keep[keep_max:]
        keep = keep[:keep_max]
        if idle or extra:
            await conn.execute(RELEASE_LEASES, owner, idle + extra)
        want = take_max - len(keep) if not extra else 0
        if want > 0:
            free = [p for p in pending if p not in mine]
            keep += [r[0] for r in await conn.fetch(TAKE_LEASES, owner, ttl_s, free, want)]
    return keep


async def lock_batch(
    conn: asyncpg.Connection, partition: str, owner: str, limit: int
) -> list[OutboxEvent] | None:
    """The partition's turn (LEASE_FENCE: None when `owner` no longer holds it), then its
    oldest undelivered events, locked, in id order. Must run inside the transaction that
    posts and marks them."""
    if await conn.fetchval(LEASE_FENCE, partition, owner) is None:
        return None
    await conn.execute(CLAIM_PLAN)
    return [
        OutboxEvent(id=r[0], event_id=r[1], type=r[2], payload=r[3], occurred_at=r[4])
        for r in await conn.fetch(CLAIM_BATCH, partition, limit)
    ]


async def mark_delivered(conn: asyncpg.Connection, ids: list[int]) -> None:
    if ids:
        await conn.execute(MARK_DELIVERED, ids)


async def mark_rejected(conn: asyncpg.Connection, rejected: list[tuple[int, str]]) -> None:
    """Refused for good by the ledger: kept (visible as lag.rejected), never resent blindly."""
    for outbox_id, error in rejected:
        await conn.execute(MARK_REJECTED, outbox_id, error[:500])


async def mark_failed(conn: asyncpg.Connection, ids: list[int], error: str) -> None:
    if ids:
        await conn.execute(MARK_FAILED, ids, error[:500])


async def lag(conn: asyncpg.Connection | asyncpg.Pool) -> Lag:
    """How far the relay is behind: undelivered events and the age of the oldest."""
    row: Any = await conn.fetchrow(LAG)
    return Lag(int(row[0]), int(row[1]), row[2], float(row[3]))


# The backlog is counted this far in a progress line (a few ms of the server's CPU at most).
PROGRESS_CAP = 10_000


async def progress(conn: asyncpg.Connection | asyncpg.Pool, cap: int = PROGRESS_CAP) -> Progress:
    """`PROGRESS`: how far the relay is behind, at a cost bounded by `cap`, not the backlog."""
    row: Any = await conn.fetchrow(PROGRESS, cap)
    return Progress(int(row[0]), int(row[0]) >= cap, int(row[1]), float(row[2]))
