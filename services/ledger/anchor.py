"""`yiyang anchor`: anchor every ledger book's head into the root chain now, then (unless
`--no-sign`) sign the root's head as a checkpoint, and print the anchor.

The ledger does the same by itself before each signed checkpoint (every
`YIYANG_LEDGER_CHECKPOINT_INTERVAL_S`, and at every period close); `POST /v1/chain/anchor`
does it over HTTP. This command is for an operator or a cron job without a token: it reaches
the ledger's database directly (docs/ledger.md, "Books and the root chain").
"""

from __future__ import annotations

import argparse
import asyncio
import json

from services.common.db import Database, resolve_database_url
from services.common.settings import get_common_settings
from services.ledger.config import get_settings
from services.ledger.service import chain, checkpoints


async def _run(args: argparse.Namespace) -> int:
    settings = get_settings()
    url = args.database_url or await resolve_database_url(
        "ledger", settings.database_url, get_common_settings().data_dir
    )
    db = Database(url, pool_size=1, application_name="yiyang-anchor")
    try:
        row = await chain.anchor(db, force=args.force)
        if row is None:
            print("no book has an entry yet: nothing to anchor")
            return 0
        print(json.dumps(chain.anchor_read(row).model_dump(), ensure_ascii=False))
        if not args.no_sign:
            for r in await checkpoints.write_checkpoint(db, settings, checkpoints.INTERVAL):
                print(f"signed {r['type']} {r.get('book', '')} seq {r.get('seq', '')}")
    finally:
        await db.dispose()
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="yiyang anchor", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--database-url", help="the ledger database (default: settings)")
    p.add_argument("--force", action="store_true", help="anchor even if no book moved")
    p.add_argument("--no-sign", action="store_true", help="anchor only, sign no checkpoint")
    return asyncio.run(_run(p.parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
