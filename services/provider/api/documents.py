"""Licence documents kept with an application: upload, list, download."""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Path, UploadFile
from fastapi.responses import Response

from services.common.auth import Principal, Role, require
from services.common.db import SessionDep
from services.provider import schemas
from services.provider.api.deps import ERRORS, ProviderID, SettingsDep
from services.provider.errors import DocumentNotFound
from services.provider.service import documents
from services.provider.service.review_rules import DocumentKind

router = APIRouter(tags=["documents"])

PARTIES = (Role.provider_admin, Role.civil_affairs)
DocumentID = Annotated[str, Path(description="The document's id.")]

_UPLOAD_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    404: {"description": "PROVIDER_NOT_FOUND"},
    409: {"description": "DOCUMENT_LIMIT_REACHED, APPLICATION_REFUSED, PROVIDER_REVOKED"},
    413: {"description": "DOCUMENT_TOO_LARGE"},
    415: {"description": "DOCUMENT_TYPE_NOT_ALLOWED"},
}


@router.post(
    "/providers/{provider_id}/documents",
    status_code=201,
    response_model=schemas.DocumentRead,
    responses=_UPLOAD_ERRORS,
)
async def upload(
    provider_id: ProviderID,
    settings: SettingsDep,
    session: SessionDep,
    kind: Annotated[DocumentKind, Form()],
    file: Annotated[UploadFile, File()],
    principal: Principal = require(*PARTIES),
) -> schemas.DocumentRead:
    """Upload a licence document with the application (multipart: `kind`, `file`): the
    provider's admin, or an officer of its region on its behalf. PDF, JPEG or PNG, judged by
    the file's content, not its name (DOCUMENT_TYPE_NOT_ALLOWED, 415); at most
    `YIYANG_PROVIDER_DOCUMENT_MAX_BYTES` (DOCUMENT_TOO_LARGE, 413)."""
    content = await file.read(settings.document_max_bytes + 1)
    return await documents.upload(
        session,
        principal,
        provider_id,
        kind=kind,
        filename=file.filename,
        content=content,
        settings=settings,
    )


@router.get(
    "/providers/{provider_id}/documents",
    response_model=schemas.DocumentPage,
    responses={**ERRORS, 404: {"description": "PROVIDER_NOT_FOUND"}},
)
async def list_documents(
    provider_id: ProviderID, session: SessionDep, principal: Principal = require(*PARTIES)
) -> schemas.DocumentPage:
    """The application's licence documents, oldest first (the provider's admin and officers
    of its region; anyone else is told there is no such provider)."""
    return schemas.DocumentPage(
        items=await documents.list_documents(session, principal, provider_id)
    )


@router.get(
    "/providers/{provider_id}/documents/{document_id}",
    response_class=Response,
    responses={
        **ERRORS,
        200: {"content": {"application/pdf": {}, "image/jpeg": {}, "image/png": {}}},
        404: {"description": "PROVIDER_NOT_FOUND, DOCUMENT_NOT_FOUND"},
    },
)
async def download(
    provider_id: ProviderID,
    document_id: DocumentID,
    session: SessionDep,
    principal: Principal = require(*PARTIES),
) -> Response:
    """One licence document's file, as uploaded (the provider's admin and officers of its
    region)."""
    try:
        doc_id = uuid.UUID(document_id)
    except ValueError as exc:
        raise DocumentNotFound(field="document_id") from exc
    document = await documents.fetch(session, principal, provider_id, doc_id)
    return Response(
        content=document.content,
        media_type=document.content_type,
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(document.filename)}",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )
