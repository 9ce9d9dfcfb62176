"""Tables of the web app's own database (`yiyang_web`): the people who sign in, their
sessions, the sign-in throttle and the audit log of every sign-in and account change.

The services never read this database: the web is the identity provider, it checks a person
here and mints the token the services trust. Secrets stay unreadable at rest: passwords are
argon2id hashes, recovery codes and session ids keyed hashes, and the TOTP secret and a
provider staff account's terminal secret are encrypted with the web's personal-data key
(`services.common.crypto.PiiCipher`). The audit log is append-only for the web's own role
(`APPEND_ONLY_TABLES`, see services/common/migrate.py).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlmodel import Field, SQLModel

from services.common.db import make_registry
from web.roles import ROLES, sql_in

registry = make_registry()
metadata = registry.metadata

# Rows of these tables are never changed or removed by the web's own role.
APPEND_ONLY_TABLES = ["audit_event"]

USER_STATUSES = ("active", "disabled")
THROTTLE_KINDS = ("pair", "address", "account")
AUDIT_ACTIONS = (
    "sign_in",
    "sign_in_failed",
    "sign_in_throttled",
    "totp_failed",
    "recovery_code_used",
    "sign_out",
    "sign_out_everywhere",
    "password_changed",
    "totp_enrolled",
    "user_created",
    "user_disabled",
    "user_enabled",
    "user_rescoped",
    "password_reset",
    "totp_reset",
    "audit_exported",
)


class WebTable(SQLModel, registry=registry):
    """Base of every table of the web (keeps them out of the services' metadata)."""


def _uuid_pk() -> Any:
    return Field(sa_column=Column(UUID(as_uuid=True), primary_key=True))


def _at(*, nullable: bool = False) -> Any:
    if nullable:
        return Field(default=None, sa_column=Column(DateTime(timezone=True)))
    return Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )


class WebUser(WebTable, table=True):
    """A person who signs in. `region` is the authority of officers, finance, auditors and
    administrators (it goes into their token), and for every other account the region it
    belongs to (its provider's or its first person's), which decides the administrators who
    manage it."""

    __tablename__ = "web_user"
    id: uuid.UUID = _uuid_pk()
    username: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    display_name: str = Field(sa_column=Column(String(100), nullable=False))
    role: str = Field(sa_column=Column(String(20), nullable=False))
    region: str = Field(sa_column=Column(String(12), nullable=False))
    provider_id: str | None = Field(default=None, sa_column=Column(String(64)))
    beneficiary_ids: list[str] = Field(
        sa_column=Column(ARRAY(String(64)), nullable=False, server_default="{}")
    )
    status: str = Field(sa_column=Column(String(10), nullable=False, server_default="active"))
    password_hash: str = Field(sa_column=Column(Text, nullable=False))
    must_change_password: bool = Field(
        sa_column=Column(Boolean, nullable=False, server_default="false")
    )
    password_changed_at: datetime = _at()
    # TOTP (RFC 6238): the secret, encrypted; the last time step accepted (a code is
    # accepted once); a secret being enrolled until its first code confirms it.
    totp_secret: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    totp_pending_secret: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    totp_enrolled_at: datetime | None = _at(nullable=True)
    totp_last_step: int | None = Field(default=None, sa_column=Column(BigInteger))
    # A provider staff account's terminal secret, encrypted; the redeem page uses it.
    terminal_secret: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    created_at: datetime = _at()
    updated_at: datetime = _at()
    created_by: str | None = Field(default=None, sa_column=Column(String(64)))

    __table_args__ = (
        CheckConstraint("username = lower(username)", name="username_lower_case"),
        CheckConstraint(f"role IN {sql_in(ROLES)}", name="role_known"),
        CheckConstraint(f"status IN {sql_in(USER_STATUSES)}", name="status_known"),
        CheckConstraint(
            "role NOT IN ('provider_staff', 'provider_admin') OR provider_id IS NOT NULL",
            name="provider_roles_have_a_provider",
        ),
        CheckConstraint(
            "role NOT IN ('beneficiary', 'proxy') OR cardinality(beneficiary_ids) > 0",
            name="person_roles_have_people",
        ),
    )


class RecoveryCode(WebTable, table=True):
    """One of the ten one-time codes a two-factor user gets at enrolment (keyed hash)."""

    __tablename__ = "recovery_code"
    id: int | None = Field(
        default=None, sa_column=Column(BigInteger, primary_key=True, autoincrement=True)
    )
    user_id: uuid.UUID = Field(
        sa_column=Column(
            UUID(as_uuid=True),
            ForeignKey("web_user.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        )
    )
    code_hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = _at()
    used_at: datetime | None = _at(nullable=True)

    __table_args__ = (UniqueConstraint("user_id", "code_hash"),)


class WebSession(WebTable, table=True):
    """A signed-in browser. The cookie holds a random value; only its keyed hash is here.

    Ends at `expires_at` (absolute timeout), after `idle` seconds without a request (measured
    from `last_seen_at`, refreshed at most once a minute), or when revoked (sign-out, sign-out
    everywhere, the user disabled or their password reset). `mfa_pending`: the password was
    right, the second factor not given yet; such a session opens no page."""

    __tablename__ = "web_session"
    id: uuid.UUID = _uuid_pk()
    token_hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False, unique=True))
    user_id: uuid.UUID = Field(
        sa_column=Column(
            UUID(as_uuid=True),
            ForeignKey("web_user.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        )
    )
    created_at: datetime = _at()
    last_seen_at: datetime = _at()
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    revoked_at: datetime | None = _at(nullable=True)
    mfa_pending: bool = Field(sa_column=Column(Boolean, nullable=False, server_default="false"))
    mfa_failures: int = Field(sa_column=Column(Integer, nullable=False, server_default="0"))
    csrf: str = Field(sa_column=Column(String(64), nullable=False))
    acting_for: str | None = Field(default=None, sa_column=Column(String(64)))
    flash: list[Any] = Field(sa_column=Column(JSONB, nullable=False, server_default="[]"))
    address: str | None = Field(default=None, sa_column=Column(String(64)))


class SignInThrottle(WebTable, table=True):
    """Recent wrong passwords (and codes), counted three ways: for one account from one
    address (`pair`), from one address for any account, and for one account from anywhere.
    The rule (how long each waits) is web/service/throttle.py."""

    __tablename__ = "sign_in_throttle"
    kind: str = Field(sa_column=Column(String(10), primary_key=True))
    key: str = Field(sa_column=Column(String(200), primary_key=True))
    failures: int = Field(sa_column=Column(Integer, nullable=False, server_default="0"))
    last_failure_at: datetime | None = _at(nullable=True)
    blocked_until: datetime | None = _at(nullable=True)
    # `pair` rows only: the account signed in from this address (it is then not held up by
    # the account's own count, which strangers' failures raise).
    last_success_at: datetime | None = _at(nullable=True)

    __table_args__ = (
        CheckConstraint(f"kind IN {sql_in(THROTTLE_KINDS)}", name="kind_known"),
        CheckConstraint("failures >= 0", name="failures_not_negative"),
    )


IMPORT_KINDS = ("beneficiaries", "status", "chain_check")
IMPORT_JOB_STATUSES = ("running", "done", "failed")


class ImportJob(WebTable, table=True):
    """Long work run in the background step by step (web/service/background.py) so the
    person can leave the page and come back. An officer's file import (web/service/imports.py):
    `done_rows` of `total_rows` sent to the voucher service so far; `result` the service's
    answers merged (row numbers of the whole file; ids, codes and statuses, never a national
    ID or a name). An auditor's chain check (`chain_check`, web/service/chain_checks.py):
    entries of the ledger's books checked of all, `result` each book's verdict and the
    root's. A running job whose `updated_at` has not moved for a while was cut short (the web
    restarted): importing the same file again finishes it (the imports record nothing
    twice); a chain check is simply started again."""

    __tablename__ = "import_job"
    id: uuid.UUID = _uuid_pk()
    user_id: uuid.UUID = Field(
        sa_column=Column(
            UUID(as_uuid=True),
            ForeignKey("web_user.id", ondelete="CASCADE"),
            nullable=False,
        )
    )
    kind: str = Field(sa_column=Column(String(20), nullable=False))
    filename: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(sa_column=Column(String(12), nullable=False, server_default="running"))
    total_rows: int = Field(sa_column=Column(Integer, nullable=False))
    done_rows: int = Field(sa_column=Column(Integer, nullable=False, server_default="0"))
    result: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False, server_default="{}"))
    error: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = _at()
    updated_at: datetime = _at()
    finished_at: datetime | None = _at(nullable=True)

    __table_args__ = (
        CheckConstraint(f"kind IN {sql_in(IMPORT_KINDS)}", name="kind_known"),
        CheckConstraint(f"status IN {sql_in(IMPORT_JOB_STATUSES)}", name="status_known"),
        CheckConstraint("0 <= done_rows AND done_rows <= total_rows", name="progress"),
        Index("ix_import_job_user_kind_created", "user_id", "kind", "created_at"),
    )


class AuditEvent(WebTable, table=True):
    """One sign-in, failure, lock, sign-out, password or two-factor change, or administrator
    action. `actor` did it (None: nobody signed in), to `subject`'s account; `region` is the
    subject's (what an auditor's scope is matched against). `detail` never holds a secret."""

    __tablename__ = "audit_event"
    id: int | None = Field(
        default=None, sa_column=Column(BigInteger, primary_key=True, autoincrement=True)
    )
    at: datetime = _at()
    action: str = Field(sa_column=Column(String(30), nullable=False))
    actor: str | None = Field(default=None, sa_column=Column(String(64)))
    subject: str | None = Field(default=None, sa_column=Column(String(64)))
    region: str | None = Field(default=None, sa_column=Column(String(12)))
    address: str | None = Field(default=None, sa_column=Column(String(64)))
    detail: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False, server_default="{}"))

    __table_args__ = (
        CheckConstraint(f"action IN {sql_in(AUDIT_ACTIONS)}", name="action_known"),
        Index("ix_audit_event_at", "at"),
        Index("ix_audit_event_subject_at", "subject", "at"),
        Index("ix_audit_event_actor_at", "actor", "at"),
    )
