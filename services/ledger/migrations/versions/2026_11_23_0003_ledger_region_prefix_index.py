"""region prefix indexes; every entry carries its own idempotency key, unique


Revision ID: ledger_0003
Revises: ledger_0002
Create Date: 2026-11-23

Region scope is a prefix of the region code (`region_code LIKE '4501%'`). Under a non-C
collation a plain btree index cannot serve a LIKE prefix; text_pattern_ops can.

Every entry carries the idempotency key of the request or event that made it (events:
'event:<event_id>'), and the key is unique: even a writer that skipped the service's own
lookup cannot post the same request twice.

There is one book ('main'), and an account is opened with a zero balance: balances only ever
come from postings, so no role can conjure a balance by inserting a row.
"""

from __future__ import annotations

from collections.abc import Sequence

from services.common.alembic_env import execute_script, execute_sql_file

revision: str = "ledger_0003"
down_revision: str | None = "ledger_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    execute_script("""
    DROP INDEX ix_posting_region_seq;
    CREATE INDEX ix_posting_region_seq ON posting (region_code text_pattern_ops, seq);
    CREATE INDEX ix_posting_region_posted_at ON posting (region_code text_pattern_ops, posted_at);
    ALTER TABLE entry ALTER COLUMN idempotency_key SET NOT NULL;
    ALTER TABLE entry ADD CONSTRAINT uq_entry_idempotency_key UNIQUE (idempotency_key);
    ALTER TABLE ledger_event ADD CONSTRAINT uq_ledger_event_entry_id UNIQUE (entry_id);
    ALTER TABLE book_head ADD CONSTRAINT ck_book_head_single_book CHECK (book = 'main');
    """)
    execute_sql_file("ledger_account_opens_empty.sql")


def downgrade() -> None:
    execute_script("""
    DROP TRIGGER account_opens_empty ON account;
    DROP FUNCTION ledger_account_opens_empty();
    ALTER TABLE book_head DROP CONSTRAINT ck_book_head_single_book;
    ALTER TABLE ledger_event DROP CONSTRAINT uq_ledger_event_entry_id;
    ALTER TABLE entry DROP CONSTRAINT uq_entry_idempotency_key;
    ALTER TABLE entry ALTER COLUMN idempotency_key DROP NOT NULL;
    DROP INDEX ix_posting_region_posted_at;
    DROP INDEX ix_posting_region_seq;
    CREATE INDEX ix_posting_region_seq ON posting (region_code, seq);
    """)
