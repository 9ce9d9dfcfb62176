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
The functions and triggers are in migrations/sql/ (journal_row_checks.sql,
ledger_posting_apply.sql, journal_guards.sql); ledger_posting_apply is loaded in its current
form, which also refuses unknown accounts (the foreign keys made here did too until ledger_0120)
and queues ledger_0120's balance check (harmless before it exists). See docs/ledger.md.
"""

from __future__ import annotations

from collections.abc import Sequence

from services.common.alembic_env import execute_script, execute_sql_file

revision: str = "ledger_0002"
down_revision: str | None = "ledger_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

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
"""


DOWNGRADE = """
DROP TABLE IF EXISTS commitment, idempotency_record, ledger_event, posting, entry,
  accounting_period, account, book_head CASCADE;
DROP FUNCTION IF EXISTS ledger_entry_chain(), ledger_entry_balanced(), ledger_posting_apply(),
  ledger_refuse_change(), ledger_derived_row_guard();
"""


def upgrade() -> None:
    execute_script(UPGRADE)
    execute_sql_file("journal_row_checks.sql")
    execute_sql_file("superseded/ledger_0120_ledger_posting_apply.sql")
    execute_sql_file("journal_guards.sql")


def downgrade() -> None:
    execute_script(DOWNGRADE)
