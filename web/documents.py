"""Licence documents of a provider's application, as the web passes them on: an upload (the
provider service judges the file by its content and size and answers a stable code) and a
download (the service's file with its type and disposition, never rendered inline)."""

from __future__ import annotations

import re

from fastapi import UploadFile
from fastapi.responses import Response

from web.clients import ApiError, ProviderClient

# The provider service's own limit is 5 MB (YIYANG_PROVIDER_DOCUMENT_MAX_BYTES); the web reads
# at most one byte more than this and lets the service say what is wrong.
MAX_DOCUMENT = 5 * 1024 * 1024
KINDS = ("business_licence", "food_licence", "institution_registration", "fire_safety", "other")
_ID = re.compile(r"^[\w-]{1,64}$")


def valid_id(value: str) -> bool:
    return bool(_ID.match(value))


async def upload(
    client: ProviderClient, provider_id: str, kind: str, file: UploadFile | None
) -> str | None:
    """Forward one document; None when kept, else the refusal in plain Chinese."""
    if kind not in KINDS:
        return "请选择证照类型。"
    if file is None or not file.filename:
        return "请选择要上传的文件。"
    content = await file.read(MAX_DOCUMENT + 1)
    if not content:
        return "文件是空的，请重新选择。"
    try:
        await client.upload_document(
            provider_id,
            kind,
            file.filename,
            content,
            file.content_type or "application/octet-stream",
        )
    except ApiError as exc:
        return exc.friendly
    return None


async def download(client: ProviderClient, provider_id: str, document_id: str) -> Response:
    """The document's file as the service answers it (raises ApiError on a refusal)."""
    resp = await client.document(provider_id, document_id)
    return Response(
        content=resp.content,
        media_type=resp.headers.get("content-type", "application/octet-stream"),
        headers={
            "Content-Disposition": resp.headers.get("content-disposition", "attachment"),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )
