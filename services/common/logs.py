"""Logging of the background processes (relay, detector, scheduler): one line per event of
their own at INFO; the HTTP client's line per request (the directory polled every second,
every delivery) only when it goes wrong, so `yiyang up`'s banner is not buried."""

from __future__ import annotations

import logging

QUIET_LIBRARIES = ("httpx", "httpcore")


def configure_process_logging(level: int = logging.INFO) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger().setLevel(level)  # also when a handler was installed before
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
