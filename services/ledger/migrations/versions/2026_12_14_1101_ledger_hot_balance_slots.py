"""hot accounts keep their balance in slots, so concurrent writers of one account do not queue

Revision ID: ledger_1101
Revises: ledger_1001
Create Date: 2026-12-14

- `account.balance_slots` (1..16, default 1): the number of slots the account's balance is
  kept in. Slot 0 is `account.balance_fen`; slots 1..n-1 are rows of the new
  `account_balance_slot` (the no-overdraft rule and normal side copied, so each slot is checked
  on its own). The balance of an account is the sum (`models.account_balance`).
- The posting trigger moves a hot account's balance in the first slot it can lock without
  waiting (ledger_hot_balance.sql, ledger_posting_apply.sql; ledger_0601's body is in
  superseded/).
- The accounts every redemption or budget move of a region touches (chart.HOT_CODES: 2101,
  3001, 3002, 5001) get `chart.HOT_BALANCE_SLOTS` slots when opened; existing ones here, with
  their balance left in slot 0.
"""

from __future__ import annotations

from collections.abc import Sequence

from services.common.alembic_env import execute_script, execute_sql_file

revision: str = "ledger_1101"
down_revision: str | None = "ledger_1001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As chart.HOT_CODES and chart.HOT_BALANCE_SLOTS at this revision (a migration keeps its values).
HOT_CODES = ("2101", "3001", "3002", "5001")
HOT_BALANCE_SLOTS = 4


def upgrade() -> None:
    codes = ", ".join(f"'{c}'" for c in HOT_CODES)
    execute_script(
        f"""
    ALTER TABLE account ADD COLUMN balance_slots smallint NOT NULL DEFAULT 1;
    ALTER TABLE account ADD CONSTRAINT ck_account_balance_slots
      CHECK (balance_slots BETWEEN 1 AND 16);
    CREATE TABLE account_balance_slot (
      account_id bigint NOT NULL,
      slot smallint NOT NULL,
      no_overdraft boolean NOT NULL,
      normal_sign smallint NOT NULL,
      balance_fen bigint NOT NULL DEFAULT 0,
      CONSTRAINT pk_account_balance_slot PRIMARY KEY (account_id, slot),
      CONSTRAINT fk_account_balance_slot_account_id_account FOREIGN KEY (account_id)
        REFERENCES account (id),
      CONSTRAINT ck_account_balance_slot_slot CHECK (slot BETWEEN 1 AND 15),
      CONSTRAINT ck_account_balance_slot_no_overdraft
        CHECK (NOT no_overdraft OR balance_fen * normal_sign >= 0)
    );
    ALTER TABLE account DISABLE TRIGGER account_guard;
    UPDATE account SET balance_slots = {HOT_BALANCE_SLOTS} WHERE code IN ({codes});
    ALTER TABLE account ENABLE TRIGGER account_guard;
    INSERT INTO account_balance_slot (account_id, slot, no_overdraft, normal_sign)
    SELECT a.id, g, a.no_overdraft, a.normal_sign
      FROM account a, generate_series(1, a.balance_slots - 1) g
     WHERE a.balance_slots > 1;
    """
    )
    execute_sql_file("ledger_hot_balance.sql")
    execute_sql_file("superseded/ledger_1101_ledger_posting_apply.sql")


def downgrade() -> None:
    execute_script(
        """
    ALTER TABLE account DISABLE TRIGGER account_guard;
    UPDATE account a SET balance_fen = a.balance_fen + s.total
      FROM (SELECT account_id, sum(balance_fen) AS total FROM account_balance_slot
             GROUP BY account_id) s
     WHERE a.id = s.account_id;
    ALTER TABLE account ENABLE TRIGGER account_guard;
    DROP TRIGGER account_open_slots ON account;
    DROP TRIGGER account_slots_fixed ON account;
    DROP TABLE account_balance_slot;
    ALTER TABLE account DROP COLUMN balance_slots;
    """
    )
    execute_sql_file("superseded/ledger_0601_ledger_posting_apply.sql")
    execute_script(
        """
    DROP FUNCTION ledger_hot_balance_move(bigint, bigint);
    DROP FUNCTION ledger_refuse_overdraft(bigint, text, text, text);
    DROP FUNCTION ledger_account_open_slots();
    DROP FUNCTION ledger_account_slots_fixed();
    DROP FUNCTION ledger_balance_slot_guard();
    """
    )
