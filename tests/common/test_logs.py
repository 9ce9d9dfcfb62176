"""The background processes log their own events, not the HTTP client's every request."""

from __future__ import annotations

import logging

from services.common.logs import configure_process_logging


def test_background_processes_keep_their_events_and_drop_request_lines():
    root, httpx_level = logging.getLogger().level, logging.getLogger("httpx").level
    try:
        configure_process_logging()
        assert logging.getLogger("yiyang.relay").isEnabledFor(logging.INFO)
        assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)
        assert logging.getLogger("httpx").isEnabledFor(logging.WARNING)
    finally:
        logging.getLogger().setLevel(root)
        logging.getLogger("httpx").setLevel(httpx_level)
