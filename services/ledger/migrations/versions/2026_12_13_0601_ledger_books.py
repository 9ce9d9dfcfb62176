"""ledger books: a gapless chain per city-level book, the root chain of anchors over them

Revision ID: ledger_0601
Revises: ledger_0401
Create Date: 2026-12-13

- `book_head`: one row per book (service/books.py: the first four digits of the entry's
  region, `main` for the entries written before books), no longer the single `main`; a new
  head opens empty (`ledger_book_opens_empty`, journal_books.sql).
- `posting.book`: the entry's book copied like its seq (the posting trigger checks it); the
  audit queries name an entry by (seq, book): `ix_posting_seq` becomes `ix_posting_seq_book`.
- The posting trigger (ledger_posting_apply.sql) queues the balance check on the heads of the
  postings' own books only (it touched every head: one book). ledger_0120's body is in
  superseded/.
- `root_anchor`: the root chain. Each anchor commits every book's head and continues the
  anchor before it (`ledger_root_anchor_chain`); append-only like the journal.

Existing entries stay in book `main` with their seqs and hashes.
"""

from __future__ import annotations

from collections.abc import Sequence

from services.common.alembic_env import execute_script, execute_sql_file

revision: str = "ledger_0601"
down_revision: str | None = "ledger_0401"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    execute_script(
        """
    ALTER TABLE book_head DROP CONSTRAINT ck_book_head_single_book;
    ALTER TABLE book_head ADD CONSTRAINT ck_book_head_book_name
      CHECK (book = 'main' OR book ~ '^[0-9]{4}$');
    ALTER TABLE posting ADD COLUMN book text NOT NULL DEFAULT 'main';
    DROP INDEX ix_posting_seq;
    CREATE INDEX ix_posting_seq_book ON posting (seq, book);
    CREATE TABLE root_anchor (
      seq bigint NOT NULL,
      anchored_at timestamptz NOT NULL,
      heads jsonb NOT NULL,
      prev_hash bytea NOT NULL,
      hash bytea NOT NULL,
      CONSTRAINT pk_root_anchor PRIMARY KEY (seq),
      CONSTRAINT ck_root_anchor_hash_length CHECK (octet_length(hash) = 32),
      CONSTRAINT ck_root_anchor_heads_array CHECK (jsonb_typeof(heads) = 'array')
    );
    """
    )
    execute_sql_file("superseded/ledger_0601_ledger_posting_apply.sql")
    execute_sql_file("journal_books.sql")


def downgrade() -> None:
    execute_script(
        """
    DROP TABLE root_anchor;
    DROP FUNCTION ledger_root_anchor_chain();
    DROP TRIGGER book_head_opens_empty ON book_head;
    DROP FUNCTION ledger_book_opens_empty();
    DROP INDEX ix_posting_seq_book;
    CREATE INDEX ix_posting_seq ON posting (seq);
    ALTER TABLE posting DROP COLUMN book;
    ALTER TABLE book_head DROP CONSTRAINT ck_book_head_book_name;
    ALTER TABLE book_head ADD CONSTRAINT ck_book_head_single_book CHECK (book = 'main');
    """
    )
    execute_sql_file("superseded/ledger_0120_ledger_posting_apply.sql")
