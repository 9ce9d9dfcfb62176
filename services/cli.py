"""The `yiyang` command.

yiyang up [--demo]          the whole system on 127.0.0.1 (embedded PostgreSQL by default)
yiyang token --role ROLE    a development bearer token (last line of the output)
yiyang migrate [DATABASE]   bring databases (the services' and the web's) to the newest migration
yiyang serve SERVICE        one service in the foreground (what `up` starts)
yiyang scheduler [--once]   issue each program's period on its schedule, lapse vouchers
yiyang localstripe          the local fake Stripe, bound to 127.0.0.1 (webhooks: --webhook-url)
yiyang keys                 fresh production secrets, one VAR='value' line each
yiyang web add-admin ...    an account administrator of the web (prints a temporary password)
yiyang web totp USER        (development) the current two-factor sign-in code of a demo user
yiyang drill failover       a Patroni cluster on loopback, its primary killed mid-load: lost? (0)
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import sys
from collections.abc import Callable
from pathlib import Path

from services.common.auth import Role, issue_token
from services.common.migrate import DATABASES
from services.common.settings import get_common_settings


def _cmd_token(args: argparse.Namespace) -> int:
    settings = get_common_settings()
    beneficiaries = tuple(args.beneficiary or ())
    sub = args.sub
    if sub is None and args.role == Role.beneficiary.value and beneficiaries:
        sub = beneficiaries[0]
    token = issue_token(
        settings.auth_private_key,
        role=args.role,
        sub=sub,
        region=args.region,
        provider_id=args.provider,
        beneficiary_ids=beneficiaries,
        name=args.name,
        ttl_s=args.ttl,
    )
    scope = ", ".join(
        f"{k}={v}"
        for k, v in (
            ("region", args.region),
            ("provider", args.provider),
            ("beneficiary", ",".join(beneficiaries) or None),
        )
        if v
    )
    print(f"# {args.role} token ({scope or 'no scope'}), valid {args.ttl}s, env={settings.env}")
    print(token)
    return 0


def _cmd_migrate(args: argparse.Namespace) -> int:
    from services import launcher

    asyncio.run(launcher.prepare_databases(args.service or None))
    print("databases migrated")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    module = {"web": "web.main:app"}.get(args.service, f"services.{args.service}.main:app")
    uvicorn.run(
        module,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=False,
        workers=args.workers,
    )
    return 0


def _cmd_up(args: argparse.Namespace) -> int:
    from services import launcher

    return launcher.up(demo=args.demo, host=args.host)


def _cmd_localstripe(args: argparse.Namespace) -> int:
    from services.common import stripe_fake

    stripe_fake.serve(
        args.host,
        args.port,
        state=args.state,
        webhook_url=args.webhook_url,
        webhook_secret=args.webhook_secret,
    )
    return 0


def _cmd_module(module: str) -> Callable[[argparse.Namespace], int]:
    """A subcommand implemented by a module's `main(argv)` (relay, demo, bench, ...)."""

    def run(args: argparse.Namespace) -> int:
        return int(importlib.import_module(module).main(args.rest) or 0)

    return run


# Subcommands that live with the code they drive: name -> (module with main(argv), help).
MODULE_COMMANDS = {
    "keys": ("services.common.keys", "print fresh secrets for a production deployment"),
    "relay": ("services.voucher.relay", "deliver the voucher outbox to the ledger"),
    "anchor": ("services.ledger.anchor", "anchor every ledger book into the root chain, sign it"),
    "detect": ("services.voucher.detector", "raise anomaly alerts from the redemption events"),
    "scheduler": (
        "services.voucher.scheduler",
        "issue each program's period on schedule and lapse vouchers",
    ),
    "demo": ("services.demo", "load demo data into a running system"),
    "bench": ("loadtests.bench", "benchmark the redemption hot path"),
    "loadtest": ("loadtests.run", "bounded headless Locust run, then correctness checks"),
    "drill": ("loadtests.drill", "failover drill: kill the primary PostgreSQL mid-load"),
    "errors-doc": ("services.common.error_docs", "write docs/errors.md from the error catalogues"),
    "web": ("web.manage", "web accounts: add an administrator; (development) a sign-in code"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="yiyang", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="run the whole system locally")
    up.add_argument("--demo", action="store_true", help="load demo data")
    up.add_argument("--host", default="127.0.0.1")
    up.set_defaults(func=_cmd_up)

    tok = sub.add_parser("token", help="print a development token (last line)")
    tok.add_argument(
        "--role", required=True, choices=[r.value for r in Role if r is not Role.terminal]
    )
    tok.add_argument("--region")
    tok.add_argument("--provider")
    tok.add_argument(
        "--beneficiary",
        action="append",
        help="a beneficiary id (repeat for a proxy acting for several)",
    )
    tok.add_argument("--sub")
    tok.add_argument("--name")
    tok.add_argument("--ttl", type=int, default=12 * 3600)
    tok.set_defaults(func=_cmd_token)

    mig = sub.add_parser("migrate", help="create and migrate the databases")
    mig.add_argument("service", nargs="?", choices=list(DATABASES))
    mig.set_defaults(func=_cmd_migrate)

    srv = sub.add_parser("serve", help="run one service in the foreground")
    srv.add_argument("service", choices=["voucher", "provider", "ledger", "web"])
    srv.add_argument("--host", default="127.0.0.1")
    srv.add_argument("--port", type=int, required=True)
    srv.add_argument("--workers", type=int, default=1)
    srv.add_argument("--log-level", default="warning")
    srv.set_defaults(func=_cmd_serve)

    ls = sub.add_parser("localstripe", help="run the local fake Stripe")
    ls.add_argument("--host", default="127.0.0.1")
    ls.add_argument("--port", type=int, default=8420)
    ls.add_argument(
        "--state",
        type=Path,
        default=None,
        help="keep its objects in this file (default: memory only)",
    )
    ls.add_argument(
        "--webhook-url",
        default=os.environ.get("YIYANG_STRIPE_WEBHOOK_URL"),
        help="deliver payment_intent events here, signed (Stripe's webhooks)",
    )
    ls.add_argument("--webhook-secret", default=os.environ.get("YIYANG_STRIPE_WEBHOOK_SECRET"))
    ls.set_defaults(func=_cmd_localstripe)

    for name, (module, help_text) in MODULE_COMMANDS.items():
        p = sub.add_parser(name, help=help_text, add_help=False)
        p.add_argument("rest", nargs=argparse.REMAINDER)
        p.set_defaults(func=_cmd_module(module))
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in MODULE_COMMANDS:
        # Hand every argument to the module as is (argparse's REMAINDER drops leading options).
        return int(importlib.import_module(MODULE_COMMANDS[argv[0]][0]).main(argv[1:]) or 0)
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
