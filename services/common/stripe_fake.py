"""Run `localstripe` (a stateful fake Stripe server) the way Yiyang needs it.

Its own entry point listens on every interface and pickles its state to /tmp after every
change; here it listens on 127.0.0.1 only and keeps its state in memory, or in the file
named by `--state` (so a test can stop it and start it again with what it knew: a Stripe
outage, not a Stripe that forgot).

Two things a browser can do with the real Stripe that localstripe lacks are added here, so
the family's payment page runs against the real Stripe.js contract in development too:
- `POST /v1/payment_intents/{id}/confirm` with the publishable key, the intent's
  `client_secret` and `payment_method_data` (what Stripe.js `confirmCardPayment` sends);
- its fake Stripe.js (`/js.stripe.com/v3/`) gets a `confirmCardPayment` that does that and
  then, for a card that asks for it, localstripe's own 3-D Secure step
  (stripe_fake_confirm.js).
With `--webhook-url` it delivers `payment_intent.succeeded` there, signed with
`--webhook-secret`, as Stripe would (`yiyang up` points it at the voucher service).
"""

from __future__ import annotations

import argparse
import os
import pickle
import re
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
_CONFIRM = re.compile(r"^/v1/payment_intents/(pi_\w+)/confirm$")
WEBHOOK_EVENTS = ["payment_intent.succeeded", "payment_intent.payment_failed"]


def _keep_state(store_cls: Any, path: Path | None) -> None:
    """Where localstripe keeps its objects: nowhere (memory only) or one file."""
    if path is None:
        store_cls.dump_to_disk = lambda self: None
        store_cls.try_load_from_disk = lambda self: None
        return

    def dump(self: Any) -> None:
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            pickle.dump(dict(self), f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)

    def load(self: Any) -> None:
        if path.exists():
            with open(path, "rb") as f:
                old = pickle.load(f)  # our own file, written by dump() above
            dict.clear(self)
            dict.update(self, old)

    store_cls.dump_to_disk = dump
    store_cls.try_load_from_disk = load


def _browser_side(web: Any) -> Any:
    """A middleware for what Stripe.js does in a browser with the publishable key."""
    from localstripe.errors import UserError
    from localstripe.resources import PaymentIntent, PaymentMethod, store
    from localstripe.server import get_post_data, json_response

    script = (
        (Path(str(__import__("localstripe").__file__)).parent / "localstripe-v3.js").read_text()
        + "\n"
        + (HERE / "stripe_fake_confirm.js").read_text()
    )

    @web.middleware  # type: ignore[untyped-decorator]  # aiohttp reached through Any
    async def browser_side(request: Any, handler: Any) -> Any:
        if request.method == "GET" and request.path == "/js.stripe.com/v3/":
            return web.Response(text=script, content_type="application/javascript")
        match = _CONFIRM.match(request.path)
        if request.method != "POST" or match is None or request.headers.get("Authorization"):
            return await handler(request)
        data = await get_post_data(request, remove_auth=False) or {}
        if not str(data.get("key", "")).startswith("pk_"):
            raise UserError(401, "Unauthorized")
        intent = PaymentIntent._api_retrieve(match.group(1))
        if data.get("client_secret") != intent.client_secret:
            raise UserError(401, "Unauthorized")
        method_data = data.get("payment_method_data") or {}
        if method_data.get("type") != "card":
            raise UserError(400, "Bad request")
        method = PaymentMethod._api_create(type="card", card=method_data.get("card"))
        intent.payment_method = method.id
        confirmed = PaymentIntent._api_confirm(intent.id)
        store.dump_to_disk()
        return json_response(confirmed._export())

    return browser_side


def serve(
    host: str = "127.0.0.1",
    port: int = 8420,
    *,
    state: Path | None = None,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
) -> None:
    from aiohttp import web
    from localstripe import resources

    _keep_state(resources.Store, state)
    from localstripe.server import app
    from localstripe.webhooks import register_webhook

    resources.store.try_load_from_disk()
    app.middlewares.insert(1, _browser_side(web))  # inside localstripe's error handler
    if webhook_url:
        register_webhook("yiyang", webhook_url, webhook_secret or "", WEBHOOK_EVENTS)
    web.run_app(app, host=host, port=port, print=None)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="yiyang localstripe")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8420)
    parser.add_argument(
        "--state",
        type=Path,
        default=None,
        help="keep what it knows in this file (default: memory only)",
    )
    parser.add_argument("--webhook-url", default=os.environ.get("YIYANG_STRIPE_WEBHOOK_URL"))
    parser.add_argument("--webhook-secret", default=os.environ.get("YIYANG_STRIPE_WEBHOOK_SECRET"))
    args = parser.parse_args(argv)
    serve(
        args.host,
        args.port,
        state=args.state,
        webhook_url=args.webhook_url,
        webhook_secret=args.webhook_secret,
    )


if __name__ == "__main__":
    main()
