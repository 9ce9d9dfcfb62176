"""infra/ describes a real deployment; these tests keep it true to the code."""

from __future__ import annotations

import importlib
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from services.cli import MODULE_COMMANDS, build_parser
from services.common import keys
from services.common.auth import issue_token, verify_token
from services.common.migrate import DATABASES, SERVICES
from services.common.settings import CommonSettings, get_common_settings
from services.ledger.config import LedgerSettings
from services.provider.config import ProviderSettings
from services.voucher.config import VoucherSettings
from services.voucher.service import codes
from web.config import WebSettings

INFRA = Path(__file__).resolve().parents[2] / "infra"
EXAMPLES = {
    "common": CommonSettings,
    "voucher": VoucherSettings,
    "provider": ProviderSettings,
    "ledger": LedgerSettings,
    "web": WebSettings,
}


def _env_file(path: Path) -> dict[str, str]:
    pairs = (
        line.split("=", 1)
        for line in path.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    )
    return dict(pairs)


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_each_env_example_names_exactly_the_settings_of_its_class(name):
    cls = EXAMPLES[name]
    prefix = cls.model_config["env_prefix"]
    expected = {prefix.upper() + field.upper() for field in cls.model_fields}
    listed = set(_env_file(INFRA / "env" / f"{name}.env.example"))
    assert listed == expected, (
        f"missing: {sorted(expected - listed)}, unknown: {sorted(listed - expected)}"
    )


def test_the_migration_env_names_every_database():
    listed = set(_env_file(INFRA / "env" / "migrate.env.example"))
    assert listed == {f"YIYANG_{s.upper()}_DATABASE_URL" for s in DATABASES} | {
        "YIYANG_LEDGER_PII_ENCRYPTION_KEY"  # ledger_0110 encrypts stored bank numbers
    } | {f"YIYANG_{s.upper()}_SHARDS" for s in SERVICES}  # every province's (docs/shards.md)


def _unit_env(unit: Path) -> dict[str, str]:
    """What a unit's EnvironmentFile=/etc/yiyang/NAME.env holds, from infra/env's examples."""
    env: dict[str, str] = {}
    for line in unit.read_text().splitlines():
        if line.startswith("EnvironmentFile="):
            name = Path(line.removeprefix("EnvironmentFile=").lstrip("-")).stem
            env.update(_env_file(INFRA / "env" / f"{name}.env.example"))
    return env


def _exec_starts() -> list[tuple[str, list[str]]]:
    out = []
    for unit in sorted((INFRA / "systemd").glob("*.service")):
        env = _unit_env(unit)
        for line in unit.read_text().splitlines():
            if line.startswith("ExecStart="):
                # systemd replaces ${VAR} with the value from the unit's environment files.
                command = re.sub(
                    r"\$\{(\w+)\}",
                    lambda m, env=env: env[m.group(1)],
                    line.removeprefix("ExecStart="),
                )
                argv = shlex.split(command)
                assert argv[0].endswith("/yiyang"), unit.name
                out.append((unit.name, argv[1:]))
    return out


def test_every_unit_runs_a_yiyang_command_with_arguments_it_accepts():
    starts = _exec_starts()
    assert {argv[0] for _, argv in starts} == {"serve", "relay", "detect", "migrate", "scheduler"}
    served = set()
    for _unit, argv in starts:
        if argv[0] not in MODULE_COMMANDS:
            args = build_parser().parse_args(argv)
            served.add(getattr(args, "service", None))
        else:
            module = importlib.import_module(MODULE_COMMANDS[argv[0]][0])
            module.build_parser().parse_args(argv[1:])  # a flag it does not take exits 2
    assert served == {"voucher", "provider", "ledger", "web", None}


def test_the_scheduler_ticks_on_a_timer_and_each_tick_ends():
    timer = (INFRA / "systemd" / "yiyang-scheduler.timer").read_text()
    assert "Unit=yiyang-scheduler.service" in timer
    assert re.search(r"^OnCalendar=\S+", timer, re.M)
    unit = (INFRA / "systemd" / "yiyang-scheduler.service").read_text()
    assert "Type=oneshot" in unit
    (argv,) = [argv for name, argv in _exec_starts() if name == "yiyang-scheduler.service"]
    assert argv == ["scheduler", "--once"]


def test_the_web_runs_as_many_workers_as_its_environment_says():
    unit = (INFRA / "systemd" / "yiyang-web.service").read_text()
    assert "--workers ${YIYANG_WEB_WORKERS}" in unit
    (web,) = [argv for name, argv in _exec_starts() if name == "yiyang-web.service"]
    workers = int(web[web.index("--workers") + 1])
    assert workers == WebSettings().workers >= 2  # sessions live in the web's database


@pytest.fixture
def fresh_keys(monkeypatch):
    fresh = keys.generate()
    for name, value in fresh.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("YIYANG_ENV", "production")
    monkeypatch.setenv("YIYANG_VOUCHER_STRIPE_API_BASE", "https://api.stripe.com")
    monkeypatch.setenv("YIYANG_VOUCHER_STRIPE_SECRET_KEY", "sk_live_from_the_dashboard")
    monkeypatch.setenv("YIYANG_VOUCHER_STRIPE_WEBHOOK_SECRET", "whsec_from_the_dashboard")
    monkeypatch.setenv("YIYANG_WEB_STRIPE_PUBLISHABLE_KEY", "pk_live_from_the_dashboard")
    get_common_settings.cache_clear()
    yield fresh
    get_common_settings.cache_clear()


def test_yiyang_keys_makes_a_set_production_accepts_and_that_signs(fresh_keys):
    common = CommonSettings()
    voucher = VoucherSettings()
    assert ProviderSettings() and WebSettings() and LedgerSettings()
    # One-line PEMs, as an environment file holds them, load and work.
    assert "\n" not in common.auth_private_key
    token = issue_token(common.auth_private_key, role="auditor", sub="a1")
    assert verify_token(common.auth_public_key, token).sub == "a1"
    minted = codes.issue_dynamic(voucher.qr_private_key, _uuid(), 60)
    assert codes.verify_token(voucher.qr_public_key, minted.text).nonce == minted.nonce


def test_the_placeholder_of_the_examples_is_refused_in_production(fresh_keys, monkeypatch):
    monkeypatch.setenv("YIYANG_PROVIDER_PII_HASH_KEY", "CHANGE_ME")
    with pytest.raises(ValueError, match="pii_hash_key"):
        ProviderSettings()


def test_yiyang_keys_prints_one_line_per_secret():
    out = subprocess.run(
        [sys.executable, "-m", "services.cli", "keys"], capture_output=True, text=True, check=True
    ).stdout
    lines = out.splitlines()
    assert len(lines) == len(keys.generate())
    # Single-quoted: systemd and shells take such a value literally, `\n`s included.
    assert all(re.fullmatch(r"YIYANG_[A-Z_]+='[^'\n]+'", line) for line in lines), lines
    assert (
        out
        != subprocess.run(
            [sys.executable, "-m", "services.cli", "keys"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )


def _uuid():
    import uuid

    return uuid.uuid4()


def test_posting_runs_in_the_idle_class_beside_the_endpoint():
    """The relay and the ledger take only the CPU the redemptions leave (the bench's
    sustained run deploys them so: loadtests/bench.py `run_idle`); the endpoint does not."""
    for name in ("yiyang-relay.service", "yiyang-ledger.service"):
        unit = (INFRA / "systemd" / name).read_text()
        assert re.search(r"^CPUWeight=idle$", unit, re.M), name
        assert re.search(r"^CPUSchedulingPolicy=idle$", unit, re.M), name
    voucher = (INFRA / "systemd" / "yiyang-voucher.service").read_text()
    assert "idle" not in voucher
