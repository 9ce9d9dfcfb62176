"""The provider admin's application (资质申请): its review status, the officer's reason when it
was sent back or refused, the licence documents kept with it (upload, download) and the
resubmission after changes. Officers review it on /officer/providers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.common.auth import Role
from web import documents
from web.clients import ApiError
from web.deps import CsrfSession, PageForbidden, StateDep, provider_client, require_role
from web.render import page
from web.sessions import Session

router = APIRouter(prefix="/provider")
ADMIN = require_role(Role.provider_admin)
HERE = "/provider/application"


def _admin_only(session: Session) -> None:
    if session.role != Role.provider_admin.value:
        raise PageForbidden()


@router.get("/application", response_class=HTMLResponse)
async def application(request: Request, web: StateDep, session: Session = ADMIN) -> HTMLResponse:
    """The application's review status, the officer's reason, the documents, and the
    resubmission when the officer asked for changes."""
    client = provider_client(web, session)
    provider: dict[str, Any] = {}
    docs: list[dict[str, Any]] = []
    error = None
    try:
        provider = await client.get(session.provider_id or "")
        docs = await client.documents(session.provider_id or "")
    except ApiError as exc:
        error = exc.friendly
    finally:
        await client.aclose()
    return page(
        request,
        "provider_application.html",
        session,
        provider=provider,
        documents=docs,
        error=error,
        kinds=documents.KINDS,
    )


@router.post("/application/documents", response_class=HTMLResponse)
async def upload(
    web: StateDep,
    session: CsrfSession,
    kind: Annotated[str, Form()] = "",
    file: Annotated[UploadFile | None, File()] = None,
) -> HTMLResponse:
    """Upload a licence document with the application."""
    _admin_only(session)
    client = provider_client(web, session)
    try:
        refusal = await documents.upload(client, session.provider_id or "", kind, file)
    finally:
        await client.aclose()
    session.flash.append(("err", refusal) if refusal else ("ok", "证照已上传。"))
    return RedirectResponse(HERE, status_code=303)  # type: ignore[return-value]


@router.get("/application/documents/{document_id}")
async def download(
    request: Request, document_id: str, web: StateDep, session: Session = ADMIN
) -> Response:
    """One of the application's documents (the file, to download)."""
    if not documents.valid_id(document_id):
        return page(request, "error.html", session, status_code=404, message="没有这份文件。")
    client = provider_client(web, session)
    try:
        return await documents.download(client, session.provider_id or "", document_id)
    except ApiError as exc:
        return page(
            request, "error.html", session, status_code=exc.page_status, message=exc.friendly
        )
    finally:
        await client.aclose()


@router.post("/application/resubmit", response_class=HTMLResponse)
async def resubmit(
    web: StateDep, session: CsrfSession, reason: Annotated[str, Form()] = ""
) -> HTMLResponse:
    """Resubmit the application after the changes the officer asked for."""
    _admin_only(session)
    client = provider_client(web, session)
    try:
        await client.change_status(
            session.provider_id or "", "resubmit", reason.strip()[:500] or None
        )
        session.flash.append(("ok", "已重新提交，等待民政部门审核。"))
    except ApiError as exc:
        session.flash.append(("err", exc.friendly))
    finally:
        await client.aclose()
    return RedirectResponse(HERE, status_code=303)  # type: ignore[return-value]
