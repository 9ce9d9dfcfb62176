"""journal: chart of accounts, entries, postings, hash chain head, events, idempotency, periods

Revision ID: ledger_0002
Revises: ledger_0001
Create Date: 2026-11-23

Every money invariant of the ledger is enforced here, by PostgreSQL, whoever writes:
- an entry's postings sum to zero per currency and number at least two (deferred constraint
  trigger, checked once per entry at COMMIT);
- postings can only be added to an entry in the transaction that created it;
- entries form a gapless sequence and a hash chain advanced by the database itself (a gap or
  a fork is refused), and a period once closed takes no more entries;
- account balances are maintained from postings (one UPDATE per statement) and never changed
  otherwise; a no-overdraft account (budget, vouchers outstanding) cannot cross zero;
- journal rows are never updated, deleted or truncated (triggers; the app role also lacks the
  grants, see models.APPEND_ONLY_TABLES).
See docs/ledger.md.
"""

from __future__ import annotations

from collections.abc import Sequence

from services.common.alembic_env import execute_script

revision: str = "ledger_0002"
down_revision: str | None = "ledger_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JOURNAL_TABLES = (
    "entry",
    "posting",
    "ledger_event",
    "idempotency_record",
    "commitment",
    "accounting_period",
)

UPGRADE = r"""
CREATE TABLE book_head (
  book text PRIMARY KEY,
  last_seq bigint NOT NULL,
  last_hash bytea NOT NULL,
  last_posted_at timestamptz NOT NULL
);
INSERT INTO book_head (book, last_seq, last_hash, last_posted_at)
VALUES ('main', 0, decode(repeat('00', 32), 'hex'), '-infinity');

CREATE TABLE account (
  id bigserial PRIMARY KEY,
  code varchar(4) NOT NULL,
  name text NOT NULL,
  kind varchar(12) NOT NULL
    CONSTRAINT ck_account_kind CHECK (kind IN ('asset', 'liability', 'net_assets', 'revenue', 'expense')),
  normal_sign smallint NOT NULL CONSTRAINT ck_account_normal_sign CHECK (normal_sign IN (1, -1)),
  no_overdraft boolean NOT NULL DEFAULT false,
  program_code varchar(40),
  region_code varchar(12),
  funding_source varchar(32),
  provider_id varchar(64),
  beneficiary_id varchar(64),
  currency char(3) NOT NULL DEFAULT 'CNY',
  balance_fen bigint NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT ck_account_no_overdraft CHECK (NOT no_overdraft OR balance_fen * normal_sign >= 0),
  CONSTRAINT uq_account_dimensions UNIQUE NULLS NOT DISTINCT
    (code, program_code, region_code, funding_source, provider_id, beneficiary_id, currency)
);
CREATE INDEX ix_account_region_code ON account (region_code text_pattern_ops);
CREATE INDEX ix_account_code_program_region ON account (code, program_code, region_code);

CREATE TABLE accounting_period (
  period char(7) PRIMARY KEY CONSTRAINT ck_accounting_period_shape
    CHECK (period ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'),
  closed_at timestamptz NOT NULL DEFAULT now(),
  closed_by text NOT NULL
);

CREATE TABLE entry (
  id uuid PRIMARY KEY,
  book text NOT NULL DEFAULT 'main' REFERENCES book_head (book),
  seq bigint NOT NULL,
  kind varchar(32) NOT NULL,
  posted_at timestamptz NOT NULL,
  period char(7) NOT NULL,
  program_code varchar(40),
  region_code varchar(12),
  provider_id varchar(64),
  beneficiary_id varchar(64),
  voucher_id varchar(64),
  ref text,
  event_id uuid,
  idempotency_key text,
  reverses_entry_id uuid REFERENCES entry (id),
  memo text,
  created_by text NOT NULL,
  prev_hash bytea NOT NULL,
  hash bytea NOT NULL CONSTRAINT ck_entry_hash_length CHECK (octet_length(hash) = 32),
  txid bigint NOT NULL DEFAULT txid_current(),
  CONSTRAINT uq_entry_book_seq UNIQUE (book, seq),
  -- each entry is reversed at most once, whoever tries
  CONSTRAINT uq_entry_reverses_entry_id UNIQUE (reverses_entry_id)
);
CREATE INDEX ix_entry_kind_ref ON entry (kind, ref);
CREATE INDEX ix_entry_posted_at ON entry (posted_at);

CREATE TABLE posting (
  entry_id uuid NOT NULL REFERENCES entry (id),
  line smallint NOT NULL,
  account_id bigint NOT NULL REFERENCES account (id),
  amount_fen bigint NOT NULL CONSTRAINT ck_posting_nonzero CHECK (amount_fen <> 0),
  currency char(3) NOT NULL DEFAULT 'CNY',
  -- copied from the entry / account so that audit filters are index scans
  seq bigint NOT NULL,
  posted_at timestamptz NOT NULL,
  period char(7) NOT NULL,
  program_code varchar(40),
  region_code varchar(12),
  funding_source varchar(32),
  provider_id varchar(64),
  beneficiary_id varchar(64),
  voucher_id varchar(64),
  CONSTRAINT pk_posting PRIMARY KEY (entry_id, line)
);
CREATE INDEX ix_posting_account_seq ON posting (account_id, seq);
CREATE INDEX ix_posting_account_posted_at ON posting (account_id, posted_at);
CREATE INDEX ix_posting_seq ON posting (seq);
CREATE INDEX ix_posting_posted_at ON posting (posted_at);
CREATE INDEX ix_posting_region_seq ON posting (region_code, seq);
CREATE INDEX ix_posting_program_seq ON posting (program_code, seq);
CREATE INDEX ix_posting_period_seq ON posting (period, seq);
CREATE INDEX ix_posting_provider_seq ON posting (provider_id, seq) WHERE provider_id IS NOT NULL;
CREATE INDEX ix_posting_beneficiary_seq ON posting (beneficiary_id, seq) WHERE beneficiary_id IS NOT NULL;
CREATE INDEX ix_posting_voucher_seq ON posting (voucher_id, seq) WHERE voucher_id IS NOT NULL;

CREATE TABLE ledger_event (
  event_id uuid PRIMARY KEY,
  type varchar(40) NOT NULL,
  status varchar(10) NOT NULL CONSTRAINT ck_ledger_event_status CHECK (status IN ('applied', 'rejected')),
  request_hash bytea NOT NULL,
  entry_id uuid REFERENCES entry (id),
  error_code varchar(64),
  error_message text,
  occurred_at timestamptz,
  received_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT ck_ledger_event_outcome CHECK (
    (status = 'applied' AND error_code IS NULL) OR (status = 'rejected' AND entry_id IS NULL AND error_code IS NOT NULL))
);
CREATE INDEX ix_ledger_event_received_at ON ledger_event (received_at);

CREATE TABLE idempotency_record (
  key text PRIMARY KEY,
  operation varchar(40) NOT NULL,
  request_hash bytea NOT NULL,
  status_code smallint NOT NULL,
  response jsonb NOT NULL,
  created_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE commitment (
  id uuid PRIMARY KEY,
  entry_id uuid NOT NULL UNIQUE REFERENCES entry (id),
  idempotency_key text NOT NULL UNIQUE,
  purpose varchar(20) NOT NULL CONSTRAINT ck_commitment_purpose CHECK (purpose IN ('voucher', 'cash_benefit')),
  program_code varchar(40) NOT NULL,
  region_code varchar(12) NOT NULL,
  budget_region_code varchar(12) NOT NULL,
  period char(7) NOT NULL,
  amount_fen bigint NOT NULL CONSTRAINT ck_commitment_amount CHECK (amount_fen > 0),
  count integer NOT NULL CONSTRAINT ck_commitment_count CHECK (count >= 0),
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Every new entry takes the book's head row lock (this also serialises all writers, so the
-- balance updates below never deadlock), must continue the sequence and the hash chain,
-- must be dated now-ish and never before the previous entry, and not in a closed period.
CREATE FUNCTION ledger_entry_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  h book_head%ROWTYPE;
BEGIN
  SELECT * INTO h FROM book_head WHERE book = NEW.book FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'UNKNOWN_BOOK: no book %', NEW.book USING ERRCODE = '23503';
  END IF;
  IF NEW.seq IS DISTINCT FROM h.last_seq + 1 THEN
    RAISE EXCEPTION 'CHAIN_SEQUENCE_GAP: entry seq % does not follow %', NEW.seq, h.last_seq
      USING ERRCODE = '23514';
  END IF;
  IF NEW.prev_hash IS DISTINCT FROM h.last_hash THEN
    RAISE EXCEPTION 'CHAIN_FORK: entry % does not continue the hash chain', NEW.seq
      USING ERRCODE = '23514';
  END IF;
  IF NEW.posted_at < h.last_posted_at OR NEW.posted_at > clock_timestamp() THEN
    RAISE EXCEPTION 'POSTED_AT_INVALID: an entry is dated between the previous entry and now'
      USING ERRCODE = '23514';
  END IF;
  IF NEW.period IS DISTINCT FROM to_char(NEW.posted_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM') THEN
    RAISE EXCEPTION 'PERIOD_MISMATCH: the period must be the month of posted_at'
      USING ERRCODE = '23514';
  END IF;
  IF EXISTS (SELECT 1 FROM accounting_period p WHERE p.period = NEW.period) THEN
    RAISE EXCEPTION 'PERIOD_CLOSED: period % is closed', NEW.period USING ERRCODE = '23514';
  END IF;
  NEW.txid := txid_current();
  UPDATE book_head SET last_seq = NEW.seq, last_hash = NEW.hash, last_posted_at = NEW.posted_at
   WHERE book = NEW.book;
  RETURN NEW;
END $$;
CREATE TRIGGER entry_chain BEFORE INSERT ON entry FOR EACH ROW EXECUTE FUNCTION ledger_entry_chain();

-- Checked once per entry at COMMIT, when all its postings are in.
CREATE FUNCTION ledger_entry_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  n integer;
  unbalanced text;
BEGIN
  SELECT count(*) INTO n FROM posting WHERE entry_id = NEW.id;
  IF n < 2 THEN
    RAISE EXCEPTION 'ENTRY_TOO_FEW_POSTINGS: entry % has % postings; at least 2 are needed',
      NEW.seq, n USING ERRCODE = '23514';
  END IF;
  SELECT string_agg(currency || ' ' || total, ', ') INTO unbalanced
    FROM (SELECT currency, sum(amount_fen) AS total FROM posting WHERE entry_id = NEW.id
           GROUP BY currency HAVING sum(amount_fen) <> 0) s;
  IF unbalanced IS NOT NULL THEN
    RAISE EXCEPTION 'ENTRY_UNBALANCED: entry % does not sum to zero (%)', NEW.seq, unbalanced
      USING ERRCODE = '23514';
  END IF;
  RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER entry_balanced AFTER INSERT ON entry
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_entry_balanced();

-- Once per INSERT statement: postings belong to an entry of this transaction and repeat its
-- seq/date/period; no-overdraft accounts stay on their side of zero; balances move.
CREATE FUNCTION ledger_posting_apply() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  bad record;
BEGIN
  SELECT n.entry_id, e.seq INTO bad
    FROM new_postings n LEFT JOIN entry e ON e.id = n.entry_id
   WHERE e.id IS NULL OR e.txid <> txid_current() OR n.seq <> e.seq
      OR n.posted_at <> e.posted_at OR n.period <> e.period
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'ENTRY_SEALED: postings may only be added to an entry in the transaction that created it'
      USING ERRCODE = '23514';
  END IF;
  SELECT a.id, a.code, a.currency, n.currency AS posting_currency INTO bad
    FROM new_postings n JOIN account a ON a.id = n.account_id
   WHERE a.currency <> n.currency LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'CURRENCY_MISMATCH: account % is kept in %', bad.id, bad.currency
      USING ERRCODE = '23514';
  END IF;
  SELECT a.id, a.code, a.region_code, a.funding_source, a.balance_fen + s.delta AS after INTO bad
    FROM (SELECT account_id, sum(amount_fen) AS delta FROM new_postings GROUP BY account_id) s
    JOIN account a ON a.id = s.account_id
   WHERE a.no_overdraft AND (a.balance_fen + s.delta) * a.normal_sign < 0
   ORDER BY a.id LIMIT 1;
  IF FOUND THEN
    IF bad.code = '3001' THEN
      RAISE EXCEPTION 'BUDGET_EXCEEDED: the budget of region % (%) cannot cover this',
        bad.region_code, bad.funding_source USING ERRCODE = '23514';
    END IF;
    RAISE EXCEPTION 'INSUFFICIENT_BALANCE: account % (%) would be overdrawn', bad.id, bad.code
      USING ERRCODE = '23514';
  END IF;
  UPDATE account a SET balance_fen = a.balance_fen + s.delta
    FROM (SELECT account_id, sum(amount_fen) AS delta FROM new_postings GROUP BY account_id) s
   WHERE a.id = s.account_id;
  RETURN NULL;
END $$;
CREATE TRIGGER posting_apply AFTER INSERT ON posting REFERENCING NEW TABLE AS new_postings
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_posting_apply();

CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'JOURNAL_IMMUTABLE: % of % is refused; correct by a reversing entry',
    TG_OP, TG_TABLE_NAME USING ERRCODE = 'P0001';
END $$;

-- Balances and the chain head change only from inside the journal's own triggers.
CREATE FUNCTION ledger_derived_row_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'UPDATE' OR pg_trigger_depth() < 2 THEN
    RAISE EXCEPTION 'DERIVED_ROW: % of % is refused; it follows from the journal',
      TG_OP, TG_TABLE_NAME USING ERRCODE = 'P0001';
  END IF;
  -- (nested: PL/pgSQL plans the inner test only where NEW has these columns)
  IF TG_TABLE_NAME = 'account' THEN
    IF (NEW.code, NEW.kind, NEW.normal_sign, NEW.no_overdraft, NEW.program_code,
        NEW.region_code, NEW.funding_source, NEW.provider_id, NEW.beneficiary_id, NEW.currency)
       IS DISTINCT FROM (OLD.code, OLD.kind, OLD.normal_sign, OLD.no_overdraft,
        OLD.program_code, OLD.region_code, OLD.funding_source, OLD.provider_id,
        OLD.beneficiary_id, OLD.currency) THEN
      RAISE EXCEPTION 'DERIVED_ROW: an account''s identity never changes' USING ERRCODE = 'P0001';
    END IF;
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER account_guard BEFORE UPDATE OR DELETE ON account
  FOR EACH ROW EXECUTE FUNCTION ledger_derived_row_guard();
CREATE TRIGGER account_no_truncate BEFORE TRUNCATE ON account
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER book_head_guard BEFORE UPDATE OR DELETE ON book_head
  FOR EACH ROW EXECUTE FUNCTION ledger_derived_row_guard();
CREATE TRIGGER book_head_no_truncate BEFORE TRUNCATE ON book_head
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
"""

IMMUTABLE = """
CREATE TRIGGER {t}_immutable BEFORE UPDATE OR DELETE ON {t}
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER {t}_no_truncate BEFORE TRUNCATE ON {t}
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
"""

DOWNGRADE = """
DROP TABLE IF EXISTS commitment, idempotency_record, ledger_event, posting, entry,
  accounting_period, account, book_head CASCADE;
DROP FUNCTION IF EXISTS ledger_entry_chain(), ledger_entry_balanced(), ledger_posting_apply(),
  ledger_refuse_change(), ledger_derived_row_guard();
"""


def upgrade() -> None:
    execute_script(UPGRADE + "".join(IMMUTABLE.format(t=t) for t in JOURNAL_TABLES))


def downgrade() -> None:
    execute_script(DOWNGRADE)
