"""one live proxy authorisation per account and person: a second grant for an account that
already acts for the person is refused (`PROXY_EXISTS`) by a partial unique index, so two
officers (or a resubmitted form) racing grant once. Live duplicates made before keep the
earliest; the later ones are revoked.

Revision ID: voucher_2601
Revises: voucher_2301
Create Date: 2026-12-14
"""

from __future__ import annotations

from collections.abc import Sequence

from services.common.alembic_env import execute_script

revision: str = "voucher_2601"
down_revision: str | None = "voucher_2301"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    execute_script("""
    UPDATE proxy_authorisation p SET status = 'revoked', revoked_at = now()
     WHERE p.status = 'active'
       AND EXISTS (SELECT 1 FROM proxy_authorisation q
                    WHERE q.beneficiary_id = p.beneficiary_id AND q.proxy_sub = p.proxy_sub
                      AND q.status = 'active'
                      AND (q.created_at, q.id) < (p.created_at, p.id));
    CREATE UNIQUE INDEX uq_proxy_authorisation_active
        ON proxy_authorisation (beneficiary_id, proxy_sub) WHERE status = 'active';
    """)


def downgrade() -> None:
    execute_script("DROP INDEX uq_proxy_authorisation_active;")
