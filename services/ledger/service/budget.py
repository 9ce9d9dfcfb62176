"""Budget: appropriations (money in), commitments before issuance (money promised), and what
is available to a program at a region."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict

from services.common.db import Database
from services.common.ids import new_uuid
from services.common.regions import ancestors, is_known_within
from services.common.shards import province_code
from services.ledger.clients import ProgramDirectory
from services.ledger.errors import (
    BudgetExceeded,
    InsufficientBalance,
    NoBudget,
    SourceNotInProgram,
    UnknownProgram,
    UnknownRegion,
)
from services.ledger.models import Commitment
from services.ledger.repository import budget as repo
from services.ledger.repository import posting
from services.ledger.schemas import (
    AppropriationCreate,
    AppropriationRead,
    BudgetExecutionLine,
    BudgetExecutionRead,
    BudgetRead,
    CommitmentCreate,
    CommitmentRead,
)
from services.ledger.service import chart, plans
from services.ledger.service.idempotency import Journal, Outcome, run_once
from services.ledger.service.plans import EntryPlan


def refuse_overdraft(
    plan: EntryPlan, accounts: Mapping[chart.AccountKey, posting.OpenAccount]
) -> None:
    """Budget and outstanding accounts never cross zero (the database checks it again)."""
    for key, delta in sorted(plan.deltas().items(), key=lambda kv: kv[0].sort_key()):
        balance = accounts[key].balance_fen
        if plans.overdraws(balance, delta, key):
            if key.code == chart.BUDGET_AVAILABLE:
                raise BudgetExceeded(
                    f"The {key.funding_source} budget of region {key.region_code} cannot "
                    "cover this.",
                    field="amount_fen",
                    details={"available_fen": -balance, "funding_source": key.funding_source},
                )
            raise InsufficientBalance(
                f"Account {key.code} of region {key.region_code} would be overdrawn."
            )


async def post(journal: Journal, plan: EntryPlan) -> posting.Written:
    """Write one entry under its book's head, locked first (opening the accounts it needs)."""
    await journal.lock(posting.books_of([plan]))
    accounts = await posting.resolve_accounts(journal.conn, (p.account for p in plan.postings))
    refuse_overdraft(plan, accounts)
    [written] = await posting.write_entries(journal.conn, journal.heads, [plan], accounts)
    return written


async def check_target(programs: ProgramDirectory, program_code: str, region_code: str) -> None:
    """Budget moves only for a known region of this province (UNKNOWN_REGION) and a
    programme the voucher service, which owns programmes, knows (UNKNOWN_PROGRAM; 503
    VOUCHER_SERVICE_UNAVAILABLE when it cannot say). Checked before the keyed write, so a
    typo posts nothing and leaves its idempotency key unused."""
    if not is_known_within(province_code(), region_code):
        raise UnknownRegion(field="region_code")
    if not await programs.exists(program_code):
        raise UnknownProgram(field="program_code")


async def appropriate(
    db: Database, programs: ProgramDirectory, req: AppropriationCreate, created_by: str
) -> Outcome:
    """Budget appropriated to a program and region, by funding source: only sources the
    programme is funded from (SOURCE_NOT_IN_PROGRAM, `details.sources`)."""
    await check_target(programs, req.program_code, req.region_code)
    unfunded = await programs.unfunded(req.program_code, req.by_source)
    if unfunded:
        raise SourceNotInProgram(field=f"by_source.{unfunded[0]}", details={"sources": unfunded})

    async def work(journal: Journal) -> tuple[int, AppropriationRead]:
        plan = plans.appropriation(
            program_code=req.program_code,
            region_code=req.region_code,
            by_source=req.by_source,
            created_by=created_by,
            idempotency_key=req.idempotency_key,
            memo=req.memo,
        )
        written = await post(journal, plan)
        available = await repo.budget_by_source(
            journal.session, req.program_code, [req.region_code]
        )
        return 201, AppropriationRead(
            entry_id=str(written.entry_id),
            seq=written.seq,
            program_code=req.program_code,
            region_code=req.region_code,
            by_source=req.by_source,
            available_fen=sum(available.by_source.values()),
            available_by_source=available.by_source,
        )

    return await run_once(
        db,
        key=req.idempotency_key,
        operation="appropriation",
        body=req.model_dump(mode="json"),
        created_by=created_by,
        work=work,
    )


async def commit(
    db: Database, programs: ProgramDirectory, req: CommitmentCreate, created_by: str
) -> Outcome:
    """Budget committed before vouchers (or cash benefits) are issued.

    The region and programme must be known (`check_target`), the count at least one (the
    schema). The budget region is the nearest region at or above `region_code` that has
    budget for the program. Each funding source must cover its share (split by
    `funding_shares`); otherwise BUDGET_EXCEEDED and nothing is posted.
    """
    await check_target(programs, req.program_code, req.region_code)

    async def work(journal: Journal) -> tuple[int, CommitmentRead]:
        available = await repo.budget_by_source(
            journal.session, req.program_code, ancestors(req.region_code)
        )
        region = available.region_code
        if region is None:
            raise NoBudget(field="region_code")
        for source, part in plans.split_by_source(req.amount_fen, req.funding_shares):
            if available.by_source.get(source, 0) < part:
                raise BudgetExceeded(
                    f"The {source} budget cannot cover its share.",
                    field="amount_fen",
                    details={
                        "available_fen": sum(available.by_source.values()),
                        "by_source": available.by_source,
                        "funding_source": source,
                        "budget_region_code": region,
                    },
                )
        commitment_id = new_uuid()
        plan = plans.commitment(
            purpose=req.purpose,
            program_code=req.program_code,
            budget_region_code=region,
            amount_fen=req.amount_fen,
            shares_bp=req.funding_shares,
            created_by=created_by,
            idempotency_key=req.idempotency_key,
            ref=str(commitment_id),
        )
        written = await post(journal, plan)
        await repo.insert_commitment(
            journal.session,
            Commitment(
                id=commitment_id,
                entry_id=written.entry_id,
                idempotency_key=req.idempotency_key,
                purpose=req.purpose,
                program_code=req.program_code,
                region_code=req.region_code,
                budget_region_code=region,
                period=req.period,
                amount_fen=req.amount_fen,
                count=req.count,
            ),
        )
        return 201, CommitmentRead(
            commitment_id=str(commitment_id),
            entry_id=str(written.entry_id),
            amount_fen=req.amount_fen,
            budget_region_code=region,
        )

    return await run_once(
        db,
        key=req.idempotency_key,
        operation="commitment",
        body=req.model_dump(mode="json"),
        created_by=created_by,
        work=work,
    )


async def execution(db: Database, region_prefix: str) -> BudgetExecutionRead:
    """Budget execution by program and funding source over a region subtree (one snapshot)."""
    async with db.unit_of_work(isolation="REPEATABLE READ", readonly=True) as session:
        lines = await repo.execution_by_source(session, region_prefix + "%")
    return BudgetExecutionRead(
        region_prefix=region_prefix,
        lines=[BudgetExecutionLine(**asdict(line)) for line in lines],
    )


async def available(db: Database, program_code: str, region_code: str) -> BudgetRead:
    """Budget available to a program at the nearest region at or above `region_code` that has
    one, in total and by funding source (one snapshot)."""
    async with db.unit_of_work(isolation="REPEATABLE READ", readonly=True) as session:
        found = await repo.budget_by_source(session, program_code, ancestors(region_code))
        used = (
            await repo.budget_execution(session, program_code, found.region_code)
            if found.region_code
            else repo.Execution(0, 0, 0, 0)
        )
    return BudgetRead(
        budget_region_code=found.region_code,
        available_fen=sum(found.by_source.values()),
        by_source=dict(sorted(found.by_source.items())),
        appropriated_fen=used.appropriated_fen,
        committed_fen=used.committed_fen,
        spent_fen=used.spent_fen,
        released_fen=used.released_fen,
    )
