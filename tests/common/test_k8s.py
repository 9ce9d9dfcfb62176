"""infra/k8s describes the system on Kubernetes; these tests keep it valid and true to the code:
every object validates against Kubernetes' own schemas (offline, `kubernetes-validate`), every
container runs a `yiyang` command with arguments it accepts, every served process is probed on
`/readyz` and `/healthz`, reachable through a Service and protected by a disruption budget, and
its secrets are the environment files infra/env describes."""

from __future__ import annotations

import configparser
import copy
import importlib
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import ValidationError

from services.cli import MODULE_COMMANDS, build_parser
from services.common.migrate import DATABASES

INFRA = Path(__file__).resolve().parents[2] / "infra"
K8S = INFRA / "k8s"
KUBERNETES = "1.31"  # the oldest release still supported upstream when this was written


def _objects() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        out.extend((path.name, doc) for doc in yaml.safe_load_all(path.read_text()) if doc)
    return out


def _of_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for _, doc in _objects() if doc["kind"] == kind]


def _env_example(name: str) -> dict[str, str]:
    text = (INFRA / "env" / f"{name}.env.example").read_text()
    return dict(
        line.split("=", 1)
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    )


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    if doc["kind"] == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    return doc["spec"]["template"]["spec"]["containers"]


# Deployments of other programs than `yiyang` (their own tests below).
AUXILIARY = {"yiyang-pgbouncer"}


def _ours(kind: str) -> list[dict[str, Any]]:
    return [d for d in _of_kind(kind) if d["metadata"]["name"] not in AUXILIARY]


@pytest.mark.parametrize(
    ("file", "doc"), _objects(), ids=lambda v: v if isinstance(v, str) else v["kind"]
)
def test_every_object_is_valid_kubernetes(file, doc):
    kubernetes_validate.validate(doc, KUBERNETES, strict=True)
    assert doc["metadata"].get("namespace", "yiyang") == "yiyang", file


def test_the_validator_refuses_a_misspelled_field():
    deployment = copy.deepcopy(_of_kind("Deployment")[0])
    deployment["spec"]["replicaz"] = 2
    with pytest.raises(ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES, strict=True)


def test_kustomization_applies_every_file():
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert sorted(listed) == sorted(on_disk)


def _expand(arg: str, env: dict[str, str]) -> str:
    # Kubernetes replaces $(VAR) in args with the container's environment.
    return re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], arg)


def test_every_container_runs_a_yiyang_command_it_accepts():
    seen = set()
    for kind in ("Deployment", "Job", "CronJob"):
        for doc in _ours(kind):
            for container in _containers(doc):
                env: dict[str, str] = {}
                for source in container.get("envFrom", []):
                    name = source["secretRef"]["name"].removeprefix("yiyang-")
                    env.update(_env_example(name))  # a secret no env example describes fails
                assert container["command"] == ["/opt/yiyang/.venv/bin/yiyang"]
                argv = [_expand(a, env) for a in container["args"]]
                if argv[0] in MODULE_COMMANDS:
                    module = importlib.import_module(MODULE_COMMANDS[argv[0]][0])
                    module.build_parser().parse_args(argv[1:])
                    seen.add(argv[0])
                else:
                    args = build_parser().parse_args(argv)
                    seen.add(getattr(args, "service", None) or argv[0])
    assert seen == {"voucher", "provider", "ledger", "web", "relay", "migrate", "scheduler"}


def _systemd_port(service: str) -> int:
    unit = (INFRA / "systemd" / f"yiyang-{service}.service").read_text()
    return int(re.search(r"--port (\d+)", unit).group(1))  # type: ignore[union-attr]


def test_every_served_process_is_probed_reachable_and_kept_up_in_a_disruption():
    services = {s["spec"]["selector"]["app.kubernetes.io/name"]: s for s in _of_kind("Service")}
    budgets = {
        b["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"]
        for b in _of_kind("PodDisruptionBudget")
    }
    served = 0
    for deployment in _of_kind("Deployment"):
        name = deployment["metadata"]["name"]
        assert name in budgets, f"{name} has no PodDisruptionBudget"
        assert deployment["spec"]["replicas"] >= 2, f"{name} is one pod: no rolling update"
        for container in _containers(deployment):
            assert container["securityContext"]["runAsNonRoot"] is True
            assert "memory" in container["resources"]["limits"]
            if not container.get("ports") or name in AUXILIARY:
                continue  # the relay: no HTTP; PgBouncer: below
            served += 1
            port = container["ports"][0]["containerPort"]
            assert port == _systemd_port(container["args"][1])
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
            assert services[name]["spec"]["ports"][0]["port"] == port
    assert served == 4


def test_the_ledger_is_reached_by_no_ingress():
    backends = {
        path["backend"]["service"]["name"]
        for ingress in _of_kind("Ingress")
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    assert backends == {"yiyang-web", "yiyang-voucher", "yiyang-provider"}


def _ini(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(
        interpolation=None, comment_prefixes=(";", "#"), inline_comment_prefixes=None
    )
    parser.read_string(text)
    return parser


# What differs between a PgBouncer beside a PostgreSQL node and one in Kubernetes: where it
# listens and logs, and TLS (clients' over the network there, the server's here).
PGBOUNCER_PLACE = {
    "unix_socket_dir",
    "auth_file",
    "logfile",
    "pidfile",
    "client_tls_sslmode",
    "client_tls_cert_file",
    "client_tls_key_file",
    "server_tls_sslmode",
    "server_tls_ca_file",
    "dns_max_ttl",
}


def test_pgbouncer_runs_the_infra_settings_in_transaction_mode_behind_its_service():
    (config,) = [c for c in _of_kind("ConfigMap") if c["metadata"]["name"] == "yiyang-pgbouncer"]
    k8s = _ini(config["data"]["pgbouncer.ini"])
    machine = _ini((INFRA / "pgbouncer" / "pgbouncer.ini").read_text())
    assert k8s["pgbouncer"]["pool_mode"] == "transaction"
    same = lambda ini: {k: v for k, v in ini["pgbouncer"].items() if k not in PGBOUNCER_PLACE}  # noqa: E731
    assert same(k8s) == same(machine)
    # Every database of the system, with the same pool sizes.
    pools = lambda ini: {k: v.split("pool_size=")[1] for k, v in ini["databases"].items()}  # noqa: E731
    assert pools(k8s) == pools(machine)
    assert set(pools(k8s)) == {f"yiyang_{d}" for d in DATABASES}

    (deployment,) = [d for d in _of_kind("Deployment") if d["metadata"]["name"] in AUXILIARY]
    (container,) = _containers(deployment)
    port = int(k8s["pgbouncer"]["listen_port"])
    assert container["ports"][0]["containerPort"] == port
    assert container["readinessProbe"]["tcpSocket"]["port"] == container["ports"][0]["name"]
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert container["args"] == [mounts["/etc/pgbouncer/pgbouncer.ini"]["mountPath"]]
    assert k8s["pgbouncer"]["auth_file"].startswith("/etc/pgbouncer/secret/")
    (service,) = [s for s in _of_kind("Service") if s["metadata"]["name"] == "yiyang-pgbouncer"]
    assert service["spec"]["ports"][0]["port"] == port
