"""The Stripe webhook of a sharded voucher service (docs/shards.md, docs/copayments.md).

Stripe posts every event to one address and the request names no province; the event's
object does: a PaymentIntent carries our `redemption_id` in its metadata, made in the
person's province. The province router reads the body, finds the province-made id in the
object's metadata and hands the request, body and `Stripe-Signature` unchanged, to that
province's app, which checks the signature and applies the event as without shards. An
event naming no id of a served province is 422 PROVINCE_UNKNOWN (Stripe retries it; a
refund is found again by the retry loop of its own province, services/voucher/service/
copay_refund.py).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from services.common.errors import ProvinceUnknown
from services.common.shards import province_in_text

if TYPE_CHECKING:
    from services.common.shards import ProvinceRouter


def _metadata(body: bytes) -> str:
    try:
        event = json.loads(body)
        obj: Any = event["data"]["object"]
        metadata = obj.get("metadata") or {}
    except (ValueError, KeyError, TypeError, AttributeError):
        return ""
    return json.dumps(metadata) if isinstance(metadata, dict) else ""


async def stripe_webhook(router: ProvinceRouter, request: Request) -> Response:
    body = await request.body()
    province = province_in_text(_metadata(body), router.apps)
    if province is None:
        refusal = ProvinceUnknown(field="metadata")
        return JSONResponse(refusal.body(), status_code=refusal.status_code)
    return await router.forward(province, request, body)
