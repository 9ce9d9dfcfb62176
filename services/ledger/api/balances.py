"""Balances: the trial balance at a point in time, and an account's statement."""

from __future__ import annotations

from fastapi import APIRouter

from services.common.auth import Principal
from services.common.db import DatabaseDep
from services.ledger.api.deps import (
    ERRORS,
    FINANCE_AUDITOR,
    AccountID,
    AsOf,
    From,
    RegionQuery,
    To,
    asked,
    aware,
    scope,
)
from services.ledger.schemas import StatementRead, TrialBalanceRead
from services.ledger.service import audit

router = APIRouter()


@router.get("/trial-balance", responses=ERRORS)
async def get_trial_balance(
    db: DatabaseDep,
    as_of: AsOf = None,
    region_code: RegionQuery = None,
    p: Principal = FINANCE_AUDITOR,
) -> TrialBalanceRead:
    """Trial balance as of a time (default now): each account in scope with its debit and
    credit totals and balance; total debits equal total credits."""
    return await audit.trial_balance(db, aware(as_of), asked(p, region_code))


@router.get("/accounts/{account_id}/statement", responses=ERRORS)
async def get_statement(
    account_id: AccountID,
    db: DatabaseDep,
    from_: From = None,
    to: To = None,
    as_of: AsOf = None,
    p: Principal = FINANCE_AUDITOR,
) -> StatementRead:
    """An account's statement: opening balance at `from`, each posting to `to` (at most
    `as_of`, default now) with the running balance, and the closing balance."""
    scope(p)
    acct = await audit.load_account(db, account_id)
    p.ensure_region(acct.region_code)
    return await audit.statement(db, acct, aware(from_), aware(to), aware(as_of))
