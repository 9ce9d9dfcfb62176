"""Every operation's OpenAPI entry lists the refusals it can answer, with their error codes.

FastAPI documents a route's success and whatever its `responses=` declares; the refusals
every route shares (no or a bad token, the wrong role or scope, an oversized body, invalid
input, a missing resource, a conflicting write) are added here, each with the error body's
schema and the codes of `services.common.errors` for that status. A route's own description
of a status (its specific codes) is kept; docs/errors.md lists every code of every service.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from services.common import errors

ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "stable, UPPER_SNAKE (docs/errors.md)"},
                "message": {"type": "string"},
                "field": {"type": "string"},
                "details": {"type": "object"},
            },
        }
    },
}
TITLES = {
    401: "Not signed in",
    403: "Role or scope not allowed",
    404: "Not found",
    409: "Conflict",
    413: "Request body too large",
    422: "Invalid input",
}
PUBLIC_PATHS = {"/healthz", "/readyz"}


def _codes_by_status() -> dict[int, list[str]]:
    by_status: dict[int, list[str]] = {}
    for entry in errors.catalogue(errors):
        by_status.setdefault(entry.status, []).append(entry.code)
    return by_status


def statuses_of(path: str, method: str, operation: dict[str, Any]) -> list[int]:
    """The shared refusals an operation can answer."""
    wanted = [401, 403, 422]
    if "{" in path:
        wanted.append(404)
    if method in ("post", "put", "patch", "delete"):
        wanted.append(409)
    if "requestBody" in operation:
        wanted.append(413)
    return sorted(wanted)


def document_refusals(app: FastAPI) -> None:
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        schema.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
        ref = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        common = _codes_by_status()
        for path, item in schema.get("paths", {}).items():
            if path in PUBLIC_PATHS:
                continue
            for method, operation in item.items():
                responses = operation.setdefault("responses", {})
                for status in statuses_of(path, method, operation):
                    entry = responses.setdefault(str(status), {})
                    shared = ", ".join(common.get(status, []))
                    own = entry.get("description")
                    entry["description"] = (
                        f"{TITLES[status]}: {own}" if own else f"{TITLES[status]}: {shared}"
                    ) + (f" (and {shared})" if own and shared else "")
                    entry["content"] = ref
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
