"""a terminal may be issued under an `Idempotency-Key`: the same key and name again (a double
press, a lost answer) answers the same terminal and secret instead of issuing a second one.
`request_key` is the key scoped to its caller (unique per provider), `request_hash` the
request it was sent with; `secret_sealed` is the secret encrypted (the personal-data key,
bound to the terminal) so that a repeat within `secret_until` can answer it again. It is
never read after that instant, and is cleared by the provider's next issuance and by the
terminal's revocation.

Revision ID: provider_0701
Revises: provider_0601
Create Date: 2026-12-16
"""

from __future__ import annotations

from collections.abc import Sequence

from services.common.alembic_env import execute_script

revision: str = "provider_0701"
down_revision: str | None = "provider_0601"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    execute_script("""
    ALTER TABLE terminal
        ADD COLUMN request_key text,
        ADD COLUMN request_hash bytea,
        ADD COLUMN secret_sealed bytea,
        ADD COLUMN secret_until timestamptz,
        ADD CONSTRAINT ck_terminal_request_hash
            CHECK ((request_key IS NULL) = (request_hash IS NULL)),
        ADD CONSTRAINT ck_terminal_secret_until
            CHECK (secret_sealed IS NULL OR secret_until IS NOT NULL);
    CREATE UNIQUE INDEX uq_terminal_request_key
        ON terminal (provider_id, request_key) WHERE request_key IS NOT NULL;
    """)


def downgrade() -> None:
    execute_script("""
    DROP INDEX uq_terminal_request_key;
    ALTER TABLE terminal
        DROP CONSTRAINT ck_terminal_secret_until,
        DROP CONSTRAINT ck_terminal_request_hash,
        DROP COLUMN secret_until,
        DROP COLUMN secret_sealed,
        DROP COLUMN request_hash,
        DROP COLUMN request_key;
    """)
