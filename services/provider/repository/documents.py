"""Licence documents kept with an application (append-only): the file and its description."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.provider.models import ProviderDocument


@dataclass(frozen=True)
class DocumentMeta:
    """A document without its content (what a list shows)."""

    id: uuid.UUID
    kind: str
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    uploaded_by: str
    uploaded_at: datetime


_META = (
    col(ProviderDocument.id),
    col(ProviderDocument.kind),
    col(ProviderDocument.filename),
    col(ProviderDocument.content_type),
    col(ProviderDocument.size_bytes),
    col(ProviderDocument.sha256),
    col(ProviderDocument.uploaded_by),
    col(ProviderDocument.uploaded_at),
)


def _meta(row: Any) -> DocumentMeta:
    return DocumentMeta(
        id=row[0],
        kind=row[1],
        filename=row[2],
        content_type=row[3],
        size_bytes=row[4],
        sha256=row[5],
        uploaded_by=row[6],
        uploaded_at=row[7],
    )


async def insert_document(
    session: AsyncSession,
    *,
    document_id: uuid.UUID,
    provider_id: uuid.UUID,
    kind: str,
    filename: str,
    content_type: str,
    content: bytes,
    sha256: str,
    uploaded_by: str,
) -> DocumentMeta:
    result = await session.execute(
        insert(ProviderDocument)
        .values(
            id=document_id,
            provider_id=provider_id,
            kind=kind,
            filename=filename,
            content_type=content_type,
            size_bytes=len(content),
            sha256=sha256,
            content=content,
            uploaded_by=uploaded_by,
        )
        .returning(*_META)
    )
    return _meta(result.one())


async def count_documents(session: AsyncSession, provider_id: uuid.UUID) -> int:
    result = await session.execute(
        select(func.count())
        .select_from(ProviderDocument)
        .where(col(ProviderDocument.provider_id) == provider_id)
    )
    return int(result.scalar_one())


async def list_documents(session: AsyncSession, provider_id: uuid.UUID) -> list[DocumentMeta]:
    """The provider's documents, oldest first, without their content."""
    result = await session.execute(
        select(*_META)
        .where(col(ProviderDocument.provider_id) == provider_id)
        .order_by(col(ProviderDocument.uploaded_at), col(ProviderDocument.id))
    )
    return [_meta(row) for row in result.all()]


async def get_document(
    session: AsyncSession, provider_id: uuid.UUID, document_id: uuid.UUID
) -> ProviderDocument | None:
    """One document with its content, only if it belongs to that provider."""
    result = await session.execute(
        select(ProviderDocument).where(
            col(ProviderDocument.id) == document_id,
            col(ProviderDocument.provider_id) == provider_id,
        )
    )
    return result.scalar_one_or_none()
