"""The failover drill, short: a Patroni cluster (etcd, a primary and a synchronous standby) on
loopback, the system on it, redemptions over HTTP, SIGKILL to the primary's postmaster
mid-load. Nothing acknowledged is lost, nothing is duplicated, the service is back within a
bound, the relay drains the outbox into the ledger and the chain verifies.

etcd (Debian's etcd-server) and Patroni (PyPI) are installed by scripts/ensure_tools.py when
missing; under CI a tool that cannot be installed fails the test (tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtests import drill
from scripts.ensure_tools import ensure_etcd, ensure_patroni
from tests.conftest import require_tool

# The bound on the outage (seconds without any acknowledgement) the drill must meet. Patroni
# promotes in about 2 s here (loop_wait 1 s, primary_start_timeout 0); the rest is headroom
# for a loaded 2-core machine.
MAX_OUTAGE_S = 20


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_killing_the_primary_mid_load_loses_and_duplicates_nothing(tmp_path: Path):
    require_tool(ensure_etcd)
    require_tool(ensure_patroni)
    result = drill.run(
        duration_s=24,
        kill_after_s=8,
        clients=4,
        beneficiaries=200,
        max_outage_s=MAX_OUTAGE_S,
        reports=tmp_path,
    )
    timeline = result["timeline"]
    assert timeline["primary_after"] != timeline["primary_before"], timeline
    assert result["acknowledged"] > timeline["acks_before_kill"] > 0, result
    assert result["lost"] == 0, result
    assert result["duplicated"] == 0, result
    assert result["committed_without_answer"] == 0, result
    assert result["abandoned"] == 0, result
    assert result["new_primary_writable"], result
    assert result["seconds_without_service"] <= MAX_OUTAGE_S, result
    assert result["first_new_request_acknowledged_after_kill_s"] is not None, result
    assert result["relay"]["resumed"] and result["relay"]["remaining"] == 0, result["relay"]
    assert result["chain_verified"], result["checks"]
    assert result["checks"]["ok"], result["checks"]
    assert result["ok"]
    assert (next(tmp_path.glob("drill-*")) / "drill.json").exists()


def test_a_database_url_is_pointed_at_every_node_and_the_writable_one():
    url = "postgresql://yiyang_voucher_app@127.0.0.1:5001/yl_voucher?sslmode=disable"
    assert drill.multi_host(url, "127.0.0.1:5001,127.0.0.1:5002") == (
        "postgresql://yiyang_voucher_app@127.0.0.1:5001,127.0.0.1:5002/yl_voucher"
        "?sslmode=disable&target_session_attrs=read-write"
    )
