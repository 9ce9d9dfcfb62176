"""Files holding secrets are readable by their owner only, from the moment they exist."""

from __future__ import annotations

import json
import os
import stat

from services.demo import remember_providers


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_the_demo_keeps_terminal_secrets_in_an_owner_only_file(tmp_path):
    old = os.umask(0o022)  # what a login shell usually has: new files 0644
    try:
        marker = tmp_path / "demo-loaded.json"
        first = [{"id": "p1", "terminal_secret": "yyt_abc.secret"}]
        assert remember_providers(marker, first) == first
        assert mode(marker) == 0o600
        # A later load keeps the first secrets (they are shown once).
        again = remember_providers(marker, [{"id": "p1", "terminal_secret": "other"}])
        assert again == first and json.loads(marker.read_text())["providers"] == first
    finally:
        os.umask(old)
