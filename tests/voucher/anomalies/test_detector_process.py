"""`yiyang detect --once`: the detector as its own process reads the stream, raises the
alert once, and stops; a second run raises nothing more."""

from __future__ import annotations

from datetime import timedelta

from services.voucher import detector
from tests.voucher.anomalies.conftest import alerts, craft
from tests.voucher.anomalies.test_rules import T0, _people


async def test_detect_once_raises_and_stops(world):
    pid = world.add_provider()
    t = world.add_terminal(pid)
    for i, (b, v) in enumerate(await _people(world, 11)):
        await craft(
            world,
            voucher_id=v,
            beneficiary_id=b,
            provider_id=pid,
            terminal_id=t.id,
            at=T0 + timedelta(seconds=20 * i),
        )
    argv = [
        "--once",
        "--database-url",
        world.owner_url,
        "--provider-url",
        "http://127.0.0.1:9",  # nothing there: the rules that need places stay quiet
        "--directory-wait",
        "0.2",
    ]
    assert await detector._main(detector.build_parser().parse_args(argv)) == 0
    [alert] = await alerts(world)
    assert alert["rule_code"] == "terminal_burst" and len(alert["evidence"]) == 11
    assert await detector._main(detector.build_parser().parse_args(argv)) == 0
    assert len(await alerts(world)) == 1
