"""the events' counts kept as they are recorded, not counted on every metrics call

Revision ID: ledger_1404
Revises: ledger_1403
Create Date: 2026-12-17

`/v1/metrics` counted every event the ledger ever received (`GROUP BY type, status` over
ledger_event): a full scan on each call, 10,000,000 rows in a year. A statement trigger now
appends each INSERT's counts to `ledger_event_tally` (ledger_event_tally.sql), and the
metrics sum the tally. The tally starts from the events already recorded: the trigger is
created first, and its lock on ledger_event holds every insert until this migration commits,
so no event is counted twice or missed.
"""

from __future__ import annotations

from collections.abc import Sequence

from services.common.alembic_env import execute_script, execute_sql_file

revision: str = "ledger_1404"
down_revision: str | None = "ledger_1403"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    execute_script(
        """
    CREATE TABLE ledger_event_tally (
      id bigserial CONSTRAINT pk_ledger_event_tally PRIMARY KEY,
      type varchar(40) NOT NULL,
      status varchar(10) NOT NULL,
      n bigint NOT NULL CONSTRAINT ck_ledger_event_tally_n CHECK (n > 0)
    );
    """
    )
    execute_sql_file("ledger_event_tally.sql")
    execute_script(
        """
    INSERT INTO ledger_event_tally (type, status, n)
    SELECT type, status, count(*) FROM ledger_event GROUP BY type, status;
    """
    )


def downgrade() -> None:
    execute_script(
        """
    DROP TRIGGER ledger_event_tally ON ledger_event;
    DROP FUNCTION ledger_event_tally_add();
    DROP TABLE ledger_event_tally;
    """
    )
