"""an account is found by its key with one index probe

Revision ID: ledger_1402
Revises: ledger_1401
Create Date: 2026-12-16

Every batch of events looks up the accounts it posts to by their dimensions (code, programme,
region, funding source, provider, beneficiary, currency), some of which are NULL for a given
code. The lookup compared them with `IS NOT DISTINCT FROM`, which no index serves: each key
was compared with every account of its code. With 2,000 providers (4,000 payable accounts)
that was half a second of the ledger database's CPU for each batch of 500 redemptions, and it
grows with every provider and beneficiary the programme has.

`ix_account_key` indexes the key with NULL written as '' (no dimension is ever empty text:
the schemas refuse it), so `FIND_ACCOUNTS` probes it once a key and then compares the
dimensions exactly. `uq_account_dimensions` still says what is unique.

Each posted batch also updates the balance of every account it touches (one row each: with
many providers, most of a batch's payables), and each row update called two PL/pgSQL
triggers. `account_slots_fixed` now has a WHEN clause, so it is called only for an update
that changes the slots (which it refuses); `account_guard` still checks every update.

And the account table keeps half of each page free (fillfactor 50). A full page cannot take
the new version of a row, so a balance update wrote a new entry into each of the table's five
indexes; with room on the page it is a HOT update, the indexes untouched: 32 -> 8 us an
account row updated (measured on 2,000 payables). Pages written before this migration gain
the room as they are rewritten (VACUUM FULL account does it at once).
"""

from __future__ import annotations

from collections.abc import Sequence

from services.common.alembic_env import execute_script

revision: str = "ledger_1402"
down_revision: str | None = "ledger_1401"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    execute_script(
        """
    CREATE INDEX ix_account_key ON account (code, coalesce(program_code, ''),
        coalesce(region_code, ''), coalesce(funding_source, ''), coalesce(provider_id, ''),
        coalesce(beneficiary_id, ''), currency);
    ALTER TABLE account SET (fillfactor = 50);
    DROP TRIGGER account_slots_fixed ON account;
    CREATE TRIGGER account_slots_fixed BEFORE UPDATE ON account
      FOR EACH ROW WHEN (NEW.balance_slots IS DISTINCT FROM OLD.balance_slots)
      EXECUTE FUNCTION ledger_account_slots_fixed();
    """
    )


def downgrade() -> None:
    execute_script(
        """
    DROP TRIGGER account_slots_fixed ON account;
    CREATE TRIGGER account_slots_fixed BEFORE UPDATE ON account
      FOR EACH ROW EXECUTE FUNCTION ledger_account_slots_fixed();
    DROP INDEX ix_account_key;
    ALTER TABLE account RESET (fillfactor);
    """
    )
