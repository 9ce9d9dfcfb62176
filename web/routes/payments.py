"""Finance: payment batches — pick approved claims (and the month's nursing cash benefits),
make a batch, download its payment instruction file, upload the bank's confirmation.

The ledger does the money (services/ledger/settlement/batches.py): a batch is made once per
idempotency key, and a confirmation file posts each paid line once. The pages only choose,
show and pass files through unchanged.
"""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Role
from web.clients import ApiError
from web.deps import (
    CsrfSession,
    DbSession,
    PageForbidden,
    StateDep,
    WebState,
    ledger_client,
    provider_client,
    require_role,
)
from web.labels import program_name
from web.render import page
from web.routes.provider import this_month
from web.service.accounts import person_name, person_names, subject_of
from web.service.programs import program_names
from web.sessions import Session

router = APIRouter(prefix="/finance/payments")
READERS = require_role(Role.finance, Role.auditor)
_PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_CURSOR = re.compile(r"^[\w:.+\-]{1,100}$")
MAX_CONFIRMATION_BYTES = 5 * 1024 * 1024
# Maker–checker (the ledger's rule, service/batch_rules.py `ensure_not_maker`).
OWN_BATCH = "付款批次由您生成，请由另一位财务人员上传银行回单。"
BATCH_STATES = {"pending": "等待银行回单", "paid": "已全部付款", "partly_failed": "部分付款失败"}
LINE_STATES = {"pending": "待付款", "paid": "已付款", "failed": "付款失败"}
NOT_PAYABLE = {"NO_PAYOUT_ACCOUNT": "没有登记收款账户", "BENEFICIARY_UNKNOWN": "查不到这位老人"}


def cash_benefit_lines(cash: dict[str, Any] | None, names: dict[str, str]) -> dict[str, Any]:
    """The period's cash benefits as finance reads them: each line named by its programme
    (护理补贴, 高龄津贴, a city's own) and month, and how many people the lines are, since
    one person may be owed by several programmes."""
    payable = list((cash or {}).get("payable") or [])
    stuck = list((cash or {}).get("not_payable") or [])
    for b in (*payable, *stuck):
        b["program_label"] = program_name(b, "program_short", names)
    return {
        "payable": payable,
        "not_payable": stuck,
        "payable_people": len({b.get("beneficiary_id") for b in payable}),
        "stuck_people": len({b.get("beneficiary_id") for b in stuck}),
    }


ROW_PROBLEMS = {
    "OTHER_BATCH": "批次号不是这个批次的",
    "UNKNOWN_LINE": "没有这条付款明细",
    "DUPLICATE_LINE": "同一条明细出现了两次",
    "INVALID_STATUS": "状态应为 paid 或 failed",
    "AMOUNT_MISMATCH": "金额与付款明细不符（amount_fen 以分为单位，5.00 元写作 500）",
}


def batch_state(batch: dict[str, Any]) -> str:
    """The batch's state read from its lines (the same rule as the ledger's list)."""
    states = [ln.get("status") for ln in batch.get("lines") or ()]
    if "pending" in states:
        return "pending"
    return "partly_failed" if "failed" in states else "paid"


async def provider_names(web: WebState, session: Session, ids: set[str]) -> dict[str, str]:
    """Provider names for ids, from the register in a call per hundred providers (a city's
    aging list names thousands); the id itself when the register does not answer."""
    wanted = {i for i in ids if i}
    client = provider_client(web, session)
    try:
        found = await client.names(wanted)
    except ApiError:
        found = {}
    finally:
        await client.aclose()
    return {pid: found.get(pid) or pid for pid in wanted}


async def _index(
    request: Request,
    web: WebState,
    db: AsyncSession,
    session: Session,
    period: str,
    cursor: str | None = None,
    status_code: int = 200,
    error: str | None = None,
) -> HTMLResponse:
    client = ledger_client(web, session)
    claims: list[dict[str, Any]] = []
    cash: dict[str, Any] | None = None
    batches: dict[str, Any] = {"items": [], "next_cursor": None}
    problems: list[str] = [error] if error else []
    try:
        # Each part of the page is asked for on its own, so one refusal leaves the others.
        for what, call in (
            ("claims", lambda: client.claims(status="approved")),
            ("cash", lambda: client.payable_cash_benefits(period, session.region or "")),
            ("batches", lambda: client.payment_batches(cursor)),
        ):
            try:
                got: Any = await call()
            except ApiError as exc:
                problems.append(exc.friendly)
                continue
            if what == "claims":
                claims = got
            elif what == "cash":
                cash = got
            else:
                batches = got
    finally:
        await client.aclose()
    names = await provider_names(web, session, {str(c.get("provider_id")) for c in claims})
    for c in claims:
        c["provider_name"] = names.get(str(c.get("provider_id")), c.get("provider_id"))
    programmes = await program_names(web, session) if cash else {}
    creators = await person_names(db, [b.get("created_by") for b in batches.get("items") or ()])
    for b in batches.get("items") or ():
        b["state_name"] = BATCH_STATES.get(b.get("state"), b.get("state"))
        b["creator_name"] = creators.get(b.get("created_by") or "", "")
    return page(
        request,
        "finance_payments.html",
        session,
        status_code=status_code,
        claims=claims,
        cash=cash,
        lines=cash_benefit_lines(cash, programmes),
        batches=batches,
        period=period,
        problems=problems,
        not_payable=NOT_PAYABLE,
        idempotency_key=str(uuid.uuid4()),
        can_pay=session.role == Role.finance.value,
    )


@router.get("", response_class=HTMLResponse)
async def payments(
    request: Request,
    web: StateDep,
    db: DbSession,
    session: Session = READERS,
    period: str = "",
    cursor: str = "",
) -> HTMLResponse:
    """What can be paid now in the officer's region — approved claims and the month's
    payable nursing cash benefits — with a form to batch them, and the batches made so far."""
    period = period.strip() or this_month()
    if not _PERIOD.match(period):
        return await _index(
            request,
            web,
            db,
            session,
            this_month(),
            status_code=422,
            error="月份请按 2026-11 这样填写。",
        )
    return await _index(
        request, web, db, session, period, cursor=cursor if _CURSOR.match(cursor) else None
    )


@router.post("", response_class=HTMLResponse)
async def create_batch(
    request: Request,
    web: StateDep,
    db: DbSession,
    session: CsrfSession,
    claim_ids: Annotated[list[str] | None, Form()] = None,
    cash_period: Annotated[str, Form()] = "",
    include_cash: Annotated[str, Form()] = "",
    idempotency_key: Annotated[str, Form()] = "",
) -> Response:
    """Make a payment batch of the chosen claims (and, when ticked, the month's payable cash
    benefits). The key is made when the form is shown, so a double press makes one batch."""
    if session.role != Role.finance.value:
        raise PageForbidden()
    period = cash_period.strip() or this_month()
    try:
        uuid.UUID(idempotency_key)
        chosen = sorted({str(uuid.UUID(c)) for c in claim_ids or ()})
    except ValueError:
        return await _index(
            request,
            web,
            db,
            session,
            this_month(),
            status_code=422,
            error="页面已过期，请刷新后再提交。",
        )
    with_cash = include_cash == "1"
    if with_cash and not _PERIOD.match(period):
        return await _index(
            request,
            web,
            db,
            session,
            this_month(),
            status_code=422,
            error="月份请按 2026-11 这样填写。",
        )
    if not chosen and not with_cash:
        return await _index(
            request,
            web,
            db,
            session,
            period,
            status_code=422,
            error="请至少勾选一笔结算申请，或勾选发放现金补贴。",
        )
    body: dict[str, Any] = {
        "region_code": session.region,
        "idempotency_key": f"web-batch:{idempotency_key}",
    }
    if chosen:
        body["claim_ids"] = chosen
    else:
        body["include_claims"] = False
    if with_cash:
        body["cash_benefit_period"] = period
    client = ledger_client(web, session)
    try:
        batch = await client.create_batch(body)
    except ApiError as exc:
        return await _index(
            request, web, db, session, period, error=exc.friendly, status_code=exc.page_status
        )
    finally:
        await client.aclose()
    message = (
        f"已生成付款批次 {batch.get('reference')}，"
        f"共 {batch.get('count', 0)} 笔。请下载付款文件交银行。"
    )
    session.flash.append(("ok", message))
    return RedirectResponse(f"/finance/payments/{batch['id']}", status_code=303)


class BatchNotFound(PageForbidden):
    """A batch id that is not one (rendered like a refusal, in plain words)."""

    def __init__(self) -> None:
        super().__init__("没有找到这个付款批次。")


def _batch_id(batch_id: str) -> str:
    try:
        return str(uuid.UUID(batch_id))
    except ValueError:
        raise BatchNotFound() from None


async def _batch_page(
    request: Request,
    web: WebState,
    db: AsyncSession,
    session: Session,
    batch_id: str,
    status_code: int = 200,
    error: str | None = None,
    result: dict[str, Any] | None = None,
) -> HTMLResponse:
    client = ledger_client(web, session)
    batch: dict[str, Any] | None = None
    try:
        batch = await client.batch(batch_id)
    except ApiError as exc:
        error = error or exc.friendly
        status_code = status_code if status_code != 200 else (exc.page_status)
    finally:
        await client.aclose()
    if batch is not None:
        names = await provider_names(
            web, session, {str(ln.get("provider_id") or "") for ln in batch.get("lines") or ()}
        )
        for ln in batch.get("lines") or ():
            ln["state_name"] = LINE_STATES.get(ln.get("status"), ln.get("status"))
            ln["provider_name"] = names.get(str(ln.get("provider_id") or ""))
        batch["state"] = batch_state(batch)
        batch["state_name"] = BATCH_STATES[batch["state"]]
        batch["creator_name"] = await person_name(db, batch.get("created_by"))
        batch["paid_fen"] = sum(
            int(ln["amount_fen"]) for ln in batch.get("lines") or () if ln.get("status") == "paid"
        )
    can_pay = session.role == Role.finance.value
    own = batch is not None and batch.get("created_by") == subject_of(session.username)
    return page(
        request,
        "finance_batch.html",
        session,
        status_code=status_code,
        batch=batch,
        error=error,
        result=result,
        not_payable=NOT_PAYABLE,
        # The upload form only for finance who did not make the batch; its maker is told why.
        can_confirm=can_pay and not own,
        own_batch=OWN_BATCH if can_pay and own else None,
    )


@router.get("/{batch_id}", response_class=HTMLResponse)
async def batch_page(
    batch_id: str, request: Request, web: StateDep, db: DbSession, session: Session = READERS
) -> HTMLResponse:
    """A batch: its lines and their status, the file's SHA-256, the confirmation upload (for
    finance other than the batch's maker, who is told to hand it to a colleague)."""
    return await _batch_page(request, web, db, session, _batch_id(batch_id))


@router.get("/{batch_id}/file")
async def batch_file(batch_id: str, web: StateDep, session: Session = READERS) -> Response:
    """The payment instruction file exactly as the ledger made it, with its checksum header
    (`X-Checksum-SHA256`) passed through for the bank's upload tool."""
    client = ledger_client(web, session)
    try:
        resp = await client.batch_file(_batch_id(batch_id))
    except ApiError as exc:
        return Response(
            exc.friendly, status_code=exc.page_status, media_type="text/plain; charset=utf-8"
        )
    finally:
        await client.aclose()
    headers = {
        "Content-Disposition": resp.headers.get(
            "content-disposition", f'attachment; filename="{batch_id}.csv"'
        )
    }
    if resp.headers.get("x-checksum-sha256"):
        headers["X-Checksum-SHA256"] = resp.headers["x-checksum-sha256"]
    return Response(resp.content, media_type="text/csv; charset=utf-8", headers=headers)


@router.get("/{batch_id}/confirmations")
async def confirmations_page(batch_id: str, session: Session = READERS) -> RedirectResponse:
    """The upload's address opened again (a reload of a refused upload's page, a bookmark):
    the batch's own page, where the upload is."""
    return RedirectResponse(f"/finance/payments/{_batch_id(batch_id)}", status_code=303)


@router.post("/{batch_id}/confirmations", response_class=HTMLResponse)
async def upload_confirmation(
    batch_id: str,
    request: Request,
    web: StateDep,
    db: DbSession,
    session: CsrfSession,
    file: Annotated[UploadFile | None, File()] = None,
) -> HTMLResponse:
    """Pass the bank's confirmation file to the ledger and show each line's result. The
    ledger refuses a file that does not match the batch whole (nothing is posted) and
    answers a file it has seen before without posting anything."""
    if session.role != Role.finance.value:
        raise PageForbidden()
    bid = _batch_id(batch_id)
    content = await file.read(MAX_CONFIRMATION_BYTES + 1) if file else b""
    if not file or not (file.filename or "").lower().endswith((".csv", ".txt")):
        return await _batch_page(
            request,
            web,
            db,
            session,
            bid,
            status_code=422,
            error="请选择银行回单文件（CSV 格式）。",
        )
    if not content.strip() or len(content) > MAX_CONFIRMATION_BYTES:
        return await _batch_page(
            request,
            web,
            db,
            session,
            bid,
            status_code=422,
            error="文件为空或超过 5MB，请检查后重新上传。",
        )
    client = ledger_client(web, session)
    try:
        result = await client.confirm_batch(bid, content)
    except ApiError as exc:
        return await _batch_page(
            request, web, db, session, bid, status_code=exc.page_status, error=_upload_problem(exc)
        )
    finally:
        await client.aclose()
    return await _batch_page(request, web, db, session, bid, result=result)


def _upload_problem(exc: ApiError) -> str:
    """The ledger's refusal in plain words, naming the rows of the file that do not match."""
    if exc.code == "MAKER_CHECKER_VIOLATION":
        return OWN_BATCH
    rows = (exc.details or {}).get("rows") if isinstance(exc.details, dict) else None
    if exc.code != "CONFIRMATION_INVALID" or not rows:
        return exc.friendly
    where = "；".join(
        f"第 {r.get('row')} 行：{ROW_PROBLEMS.get(str(r.get('problem')), r.get('problem'))}"
        for r in rows[:10]
        if isinstance(r, dict)
    )
    return f"{exc.friendly}（{where}）"
