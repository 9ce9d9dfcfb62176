"""infra/patroni/ (the three-node cluster) is valid Patroni configuration, its three nodes
agree, it keeps the guarantees the failover drill proves (loadtests/pgcluster.py), and the
services' URLs name every node and ask for the writable one."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from loadtests.pgcluster import Node, node_config
from scripts.ensure_tools import ensure_patroni
from tests.conftest import require_tool

INFRA = Path(__file__).resolve().parents[2] / "infra"
NODES = sorted((INFRA / "patroni").glob("pg*.yml"))


def _load(path: Path) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(path.read_text())
    return config


def test_there_are_three_nodes_that_differ_only_in_name_and_addresses():
    assert [p.name for p in NODES] == ["pg1.yml", "pg2.yml", "pg3.yml"]
    configs = [_load(p) for p in NODES]
    assert [c["name"] for c in configs] == ["pg1", "pg2", "pg3"]
    ips = [c["postgresql"]["connect_address"].split(":")[0] for c in configs]
    assert len(set(ips)) == 3

    assert configs[0]["etcd3"] == configs[1]["etcd3"] == configs[2]["etcd3"]

    def neutral(config: dict[str, Any], node: int) -> str:
        own = {k: v for k, v in config.items() if k != "etcd3"}
        text = yaml.safe_dump(own, sort_keys=True)
        return re.sub(rf"\b{re.escape(ips[node])}\b", "IP", text).replace(f"pg{node + 1}", "NODE")

    assert neutral(configs[0], 0) == neutral(configs[1], 1) == neutral(configs[2], 2)
    etcd = configs[0]["etcd3"]["hosts"]
    assert sorted(h.split(":")[0] for h in etcd) == sorted(ips), "one etcd member per node"


@pytest.mark.parametrize("path", NODES, ids=lambda p: p.name)
def test_each_node_is_valid_patroni_configuration(path: Path):
    require_tool(ensure_patroni)
    from patroni.validator import schema

    problems = [
        p
        for p in schema(_load(path))
        # What only the node itself can satisfy: its addresses and its PostgreSQL binaries.
        if "is already in use" not in p and "does not exist" not in p
    ]
    assert problems == []
    broken = copy.deepcopy(_load(path))
    broken["bootstrap"]["dcs"]["ttl"] = "soon"
    assert any("ttl" in p for p in schema(broken)), "the validator does check"


@pytest.mark.parametrize("path", NODES, ids=lambda p: p.name)
def test_each_node_keeps_what_the_drill_proves(path: Path):
    """Synchronous replication, durable commits, a crashed primary failed over at once, and
    pg_rewind to bring the old primary back: the settings the drill's cluster runs with."""
    dcs = _load(path)["bootstrap"]["dcs"]
    drill = node_config(
        Node("pg1", 1, 2, Path("/d"), Path("/c")), etcd="e:1", bin_dir=Path("/b"), base=Path("/x")
    )["bootstrap"]["dcs"]
    for key in ("synchronous_mode", "primary_start_timeout", "maximum_lag_on_failover"):
        assert dcs[key] == drill[key], key
    assert dcs["synchronous_mode"] is True
    assert dcs["synchronous_node_count"] >= 1
    assert dcs["postgresql"]["use_pg_rewind"] is True
    params = dcs["postgresql"]["parameters"]
    for key in ("synchronous_commit", "wal_log_hints"):
        assert params[key] == drill["postgresql"]["parameters"][key], key
    assert params["fsync"] == params["full_page_writes"] == "on"
    hba = _load(path)["postgresql"]["pg_hba"]
    assert not [line for line in hba if " trust" in line], "no trust outside the drill"


def test_the_services_urls_name_every_node_and_ask_for_the_writable_one():
    """The migration's URLs name PostgreSQL on each node; the running processes' name the
    PgBouncer beside each node (infra/pgbouncer/) and say so (`pooler=pgbouncer`)."""
    hosts = {
        _load(p)["postgresql"]["connect_address"].split(":")[0].replace("10.0.1.1", "db")
        for p in NODES
    }
    assert hosts == {"db1", "db2", "db3"}
    for example in sorted((INFRA / "env").glob("*.env.example")):
        for line in example.read_text().splitlines():
            if "_DATABASE_URL=" in line:
                url = line.split("=", 1)[1]
                if example.name == "migrate.env.example":
                    assert "@db1.internal:5432,db2.internal:5432,db3.internal:5432/" in url, line
                    assert url.endswith("?target_session_attrs=read-write"), line
                else:
                    assert "@db1.internal:6432,db2.internal:6432,db3.internal:6432/" in url, line
                    assert url.endswith("?target_session_attrs=read-write&pooler=pgbouncer"), line
