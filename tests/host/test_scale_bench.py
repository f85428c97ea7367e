"""The scale benchmark (bench/scale.py) on a small fleet: it runs end to end against the real
server, loses nothing, and reports every figure docs/benchmarks.md records."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

FIGURES = (
    "stored",
    "sent",
    "lost",
    "duplicated",
    "ingest_per_s",
    "server_cpu_pct",
    "rss_per_connection_kib",
    "command_p50_ms",
    "command_p99_ms",
)


def test_twenty_devices_for_a_few_seconds_lose_nothing_and_report_every_figure(tmp_path):
    out = tmp_path / "scale.json"
    cmd = [sys.executable, "-m", "bench.scale", "--devices", "20", "--duration", "3", "--rate", "5"]
    proc = subprocess.run(
        cmd + ["--ramp", "1", "--json", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    f = json.loads(out.read_text())
    assert all(f[k] is not None for k in FIGURES), f
    assert f["devices"] == 20 and f["online_at_start"] == 20 and f["never_connected"] == 0
    # Every device reported about once a second; every reading sent was stored exactly once.
    assert f["sent"] >= 20 * 3
    assert f["lost"] == 0 and f["duplicated"] == 0 and f["phantom"] == 0 and f["unacked_at_end"] == 0
    assert f["stored"] == f["sent"]
    assert f["commands"] >= 10 and f["commands_failed"] == 0
    assert 0 < f["command_p50_ms"] <= f["command_p99_ms"]
    assert f["ingest_per_s"] > 0 and f["server_cpu_pct"] > 0
    assert [ln.split() for ln in proc.stdout.splitlines() if "zero lost" in ln] == [["zero", "lost", "PASS"]]


def test_the_check_counts_acked_readings_missing_from_the_database_as_lost(tmp_path):
    """So that "zero lost" above means something: the comparison does see a gap."""
    sys.path.insert(0, ROOT)
    import sqlite3

    from bench.scale import check_db

    db = sqlite3.connect(tmp_path / "server.db")
    db.execute("CREATE TABLE readings (device TEXT, seq INTEGER, received INTEGER)")
    db.executemany(
        "INSERT INTO readings VALUES (?, ?, 1)", [("a", 1), ("a", 2), ("a", 4), ("b", 1), ("b", 9)]
    )
    db.commit()
    db.close()
    sent = {"a": {"sent": 5, "acked": 4}, "b": {"sent": 1, "acked": 1}}
    f = check_db(str(tmp_path / "server.db"), sent)
    # a: seq 3 acked but not stored; 5 sent, never acked. b: seq 9 was never sent.
    assert f == {"stored": 5, "lost": 1, "duplicated": 0, "phantom": 1, "unacked_at_end": 1}
