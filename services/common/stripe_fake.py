"""Run `localstripe` (a stateful fake Stripe server) the way Yiyang needs it.

Its own entry point listens on every interface and pickles its state to /tmp after every
change; here it listens on 127.0.0.1 only and keeps its state in memory.
"""

from __future__ import annotations

import argparse


def serve(host: str = "127.0.0.1", port: int = 8420) -> None:
    from aiohttp import web
    from localstripe import resources

    resources.Store.dump_to_disk = lambda self: None  # type: ignore[method-assign]
    resources.Store.try_load_from_disk = lambda self: None  # type: ignore[method-assign]
    from localstripe.server import app

    web.run_app(app, host=host, port=port, print=None)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="yiyang localstripe")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8420)
    args = parser.parse_args(argv)
    serve(args.host, args.port)


if __name__ == "__main__":
    main()
