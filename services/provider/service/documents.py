"""Licence documents uploaded with an application (营业执照, 食品经营许可证, ...).

The provider's admin, or an officer of its region on its behalf, uploads them; only they read
them (anyone else is told there is no such provider, as for an unknown id). A file is judged by
its content (`review_rules.sniff`: PDF, JPEG, PNG; DOCUMENT_TYPE_NOT_ALLOWED otherwise), is at
most `document_max_bytes` (DOCUMENT_TOO_LARGE) and a provider keeps at most
`document_max_count` (DOCUMENT_LIMIT_REACHED, counted under the provider's row lock). A refused
or revoked provider takes no more. Each refusal changes nothing.
"""

from __future__ import annotations

import hashlib
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal, Role
from services.common.errors import RoleNotAllowed
from services.common.ids import new_uuid
from services.provider import schemas
from services.provider.config import ProviderSettings
from services.provider.errors import (
    ApplicationRefused,
    DocumentLimitReached,
    DocumentNotFound,
    DocumentTooLarge,
    DocumentTypeNotAllowed,
    ProviderNotFound,
    ProviderRevoked,
)
from services.provider.models import Provider, ProviderDocument
from services.provider.repository import documents as documents_repo
from services.provider.service import review_rules
from services.provider.service.access import ensure_admin_of, ensure_officer_of, load_provider
from services.provider.service.vocabulary import ProviderStatus


def _read(meta: documents_repo.DocumentMeta) -> schemas.DocumentRead:
    return schemas.DocumentRead(
        id=str(meta.id),
        kind=review_rules.DocumentKind(meta.kind),
        filename=meta.filename,
        content_type=meta.content_type,
        size_bytes=meta.size_bytes,
        sha256=meta.sha256,
        uploaded_by=meta.uploaded_by,
        uploaded_at=meta.uploaded_at,
    )


def is_party(principal: Principal, provider: Provider) -> bool:
    """The provider's own admin, or an officer whose region covers it."""
    if principal.role == Role.provider_admin:
        return principal.provider_id == str(provider.id)
    if principal.role == Role.civil_affairs:
        return principal.covers_region(provider.region_code)
    return False


async def _party_load(
    session: AsyncSession, principal: Principal, provider_id: uuid.UUID
) -> Provider:
    if principal.role not in (Role.provider_admin, Role.civil_affairs):
        raise RoleNotAllowed("Only the provider's admin or an officer may read its documents.")
    provider = await load_provider(session, provider_id)
    if not is_party(principal, provider):
        raise ProviderNotFound(field="provider_id")
    return provider


async def upload(
    session: AsyncSession,
    principal: Principal,
    provider_id: uuid.UUID,
    *,
    kind: review_rules.DocumentKind,
    filename: str | None,
    content: bytes,
    settings: ProviderSettings,
) -> schemas.DocumentRead:
    """Keep one licence document with the application. `content` may be one byte longer than
    the limit (the caller reads no more): that is enough to refuse it."""
    if principal.role == Role.provider_admin:
        ensure_admin_of(principal, provider_id)
        provider = await load_provider(session, provider_id, lock=True)
    else:
        provider = await load_provider(session, provider_id, lock=True)
        ensure_officer_of(principal, provider)
    if provider.status == ProviderStatus.refused:
        raise ApplicationRefused(field="provider_id")
    if provider.status == ProviderStatus.revoked:
        raise ProviderRevoked(field="provider_id")
    if len(content) > settings.document_max_bytes:
        raise DocumentTooLarge(
            f"At most {settings.document_max_bytes} bytes.",
            field="file",
            details={"max_bytes": settings.document_max_bytes},
        )
    content_type = review_rules.sniff(content)
    if content_type is None:
        raise DocumentTypeNotAllowed(field="file")
    if await documents_repo.count_documents(session, provider_id) >= settings.document_max_count:
        raise DocumentLimitReached(field="file", details={"max": settings.document_max_count})
    meta = await documents_repo.insert_document(
        session,
        document_id=new_uuid(),
        provider_id=provider_id,
        kind=kind.value,
        filename=review_rules.safe_filename(filename, content_type),
        content_type=content_type,
        content=content,
        sha256=hashlib.sha256(content).hexdigest(),
        uploaded_by=principal.sub,
    )
    return _read(meta)


async def list_documents(
    session: AsyncSession, principal: Principal, provider_id: uuid.UUID
) -> list[schemas.DocumentRead]:
    await _party_load(session, principal, provider_id)
    return [_read(m) for m in await documents_repo.list_documents(session, provider_id)]


async def fetch(
    session: AsyncSession, principal: Principal, provider_id: uuid.UUID, document_id: uuid.UUID
) -> ProviderDocument:
    """The document with its content, for the provider's admin or an officer of its region."""
    await _party_load(session, principal, provider_id)
    document = await documents_repo.get_document(session, provider_id, document_id)
    if document is None:
        raise DocumentNotFound(field="document_id")
    return document
