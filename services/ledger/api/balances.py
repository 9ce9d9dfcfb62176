"""Balances: the trial balance at a point in time, and an account's statement."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from services.common.auth import Principal
from services.common.db import DatabaseDep
from services.ledger.api.deps import (
    ERRORS,
    FINANCE_AUDITOR,
    AccountID,
    AsOf,
    FileFormat,
    From,
    RegionQuery,
    To,
    asked,
    aware,
    file_response,
    scope,
)
from services.ledger.schemas import StatementRead, TrialBalanceRead
from services.ledger.service import audit, exports

router = APIRouter()


@router.get("/trial-balance", responses=ERRORS, response_model=TrialBalanceRead)
async def get_trial_balance(
    db: DatabaseDep,
    as_of: AsOf = None,
    region_code: RegionQuery = None,
    format: FileFormat = "json",
    p: Principal = FINANCE_AUDITOR,
) -> TrialBalanceRead | Response:
    """Trial balance as of a time (default now): each account in scope with its debit and
    credit totals and balance; total debits equal total credits. `format=csv|xlsx`: a file."""
    tb = await audit.trial_balance(db, aware(as_of), asked(p, region_code))
    if format == "json":
        return tb
    return file_response(exports.trial_balance_table(format, tb), format, "trial_balance")


@router.get("/accounts/{account_id}/statement", responses=ERRORS, response_model=StatementRead)
async def get_statement(
    account_id: AccountID,
    db: DatabaseDep,
    from_: From = None,
    to: To = None,
    as_of: AsOf = None,
    format: FileFormat = "json",
    p: Principal = FINANCE_AUDITOR,
) -> StatementRead | Response:
    """An account's statement: opening balance at `from`, each posting to `to` (at most
    `as_of`, default now) with the running balance, and the closing balance.
    `format=csv|xlsx`: a file."""
    scope(p)
    acct = await audit.load_account(db, account_id)
    p.ensure_region(acct.region_code)
    st = await audit.statement(db, acct, aware(from_), aware(to), aware(as_of))
    if format == "json":
        return st
    name = f"statement_{st.code}_{st.account_id}"
    return file_response(exports.statement_table(format, st), format, name)
