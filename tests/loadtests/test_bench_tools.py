"""The benchmark's pieces: the pgbench script does the service's real redemption work, the
wrk script parses."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from loadtests import bench, bench_tools
from services.voucher.repository.redemption import REDEEM
from tests.loadtests.conftest import connect


def test_pgbench_script_binds_every_parameter_of_the_service_statement():
    script = bench_tools.pgbench_script(REDEEM, 100)
    assert "\\set n random(1, 100)" in script
    assert not re.search(r"\$\d", script)
    with pytest.raises(ValueError, match="does not bind"):
        bench_tools.pgbench_script(REDEEM.replace("$6::bigint", "$17::bigint"), 1)


async def test_pgbench_statement_redeems_exactly_like_the_service(seeded_voucher_db):
    """Run the generated statement (pgbench variables filled in) and look at what it did."""
    db, ids = seeded_voucher_db
    script = bench_tools.pgbench_script(REDEEM, len(ids))
    sql = script.split("\n", 2)[2]  # drop the two \\set lines
    conn = await connect(db.owner_url)
    try:
        await conn.execute(bench_tools.BENCH_PICK_SQL)
        before = await conn.fetchval("SELECT sum(balance_fen) FROM voucher")
        for n, nonce in ((1, 11), (2, 12), (1, 13)):
            row = await conn.fetchrow(sql.replace(":nonce", str(nonce)).replace(":n", str(n))
                                      .rstrip().rstrip(";"))
            assert row["subsidy_fen"] == 500 and row["copay_fen"] == 1000
        after = await conn.fetchval("SELECT sum(balance_fen) FROM voucher")
        assert before - after == 1500
        red = await conn.fetch("SELECT id::text FROM redemption ORDER BY created_at")
        ev = await conn.fetch("SELECT payload->>'redemption_id' AS rid FROM outbox")
        assert len(red) == 3 and {r["id"] for r in red} == {e["rid"] for e in ev}
        assert await conn.fetchval("SELECT count(*) FROM used_nonce") == 3
    finally:
        await conn.close()


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk not installed")
def test_wrk_script_sends_each_token_once_with_the_terminal_secret(tmp_path):
    """wrk with the Lua script against a tiny recording server: every request carries the
    terminal's secret and the next token; the JSON summary is printed and parsed."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen: list[tuple[str, dict]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append((self.headers["Authorization"], body))
            self.send_response(201)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    tokens = tmp_path / "t.txt"
    tokens.write_text("\n".join(f"TOKEN{i}" for i in range(100_000)) + "\n")
    try:
        result = bench_tools.run_wrk(f"http://127.0.0.1:{server.server_port}", tokens,
                                     "yyt_term.secret", threads=2, connections=2,
                                     duration_s=1, delay_ms=20)
    finally:
        server.shutdown()
    assert result.requests > 0 and result.non2xx == 0
    assert {auth for auth, _ in seen} == {"Bearer yyt_term.secret"}
    used = [b["token"] for _, b in seen]
    assert len(used) == len(set(used))  # no token twice while the list lasts
    assert {b["service_code"] for _, b in seen} == {"MEAL_LUNCH"}
    assert len({b["idempotency_key"] for _, b in seen}) == len(seen)


def test_top_frames_reads_collapsed_stacks(tmp_path):
    f = tmp_path / "c.txt"
    f.write_text("main (a.py:1);redeem (b.py:2) 3\nmain (a.py:1);verify (c.py:9) 1\n")
    top = dict(bench_tools.top_frames(f))
    assert top["main (a.py)"] == 100.0 and top["redeem (b.py)"] == 75.0


def test_render_shows_the_ratio_and_the_machine():
    text = bench.render({
        "machine": bench_tools.machine(),
        "saturation": {"median_accepted_per_s": 300.0, "runs": [{"accepted_per_s": 300}]},
        "direct_sql": {"median_tps": 1000.0, "runs": [{"tps": 1000}]},
        "ratio_a_over_b": 0.3,
        "fixed_rate": {"target_per_s": 120, "median_p50_ms": 5, "median_p95_ms": 9,
                       "median_p99_ms": 20, "runs": [{"p50_ms": 5, "p95_ms": 9,
                                                       "p99_ms": 20}]},
    })
    assert "| (a)/(b) | 0.3 |" in text and "cores" in text
