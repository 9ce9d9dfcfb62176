"""The measured hot paths' routes: documented like any other, served without FastAPI's
per-request machinery.

A lean route is an `APIRoute` (its body schema, responses and docstring come from its
endpoint, so the OpenAPI document is the same) whose handler is one of our own: it
authenticates and authorises as the endpoint's dependencies would, in the same order, and
parses the body straight from its bytes with pydantic's JSON parser instead of `json.loads`
and then validation. Errors keep their usual shape. The lean routes are `POST /v1/redemptions`
(voucher) and `POST /v1/events` (ledger), the two calls the benchmark measures
(docs/performance.md).
"""

from __future__ import annotations

from typing import TypeVar

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


def json_body(raw: bytes, model: type[M]) -> M:
    """The request body as `model`, parsed from JSON in one step; a missing, malformed or
    invalid body is the 422 a declared body parameter gives (`loc` starting with "body")."""
    if not raw:
        raise RequestValidationError(
            [{"type": "missing", "loc": ("body",), "msg": "Field required"}]
        )
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError(
            [
                {**e, "loc": ("body", *e["loc"])}
                for e in exc.errors(include_url=False, include_input=False, include_context=False)
            ]
        ) from None
