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


def test_the_load_generator_frames_as_rfc_6455_section_5_7_shows():
    """Its light client writes frames itself: the RFC's own examples, masked and unmasked."""
    sys.path.insert(0, ROOT)
    from bench.scale import decode_frames, encode_frame

    mask = bytes((0x37, 0xFA, 0x21, 0x3D))
    assert encode_frame(1, b"Hello", mask) == bytes.fromhex("818537fa213d7f9f4d5158")
    assert encode_frame(10, b"", mask) == bytes.fromhex("8a80") + mask  # an empty pong
    long = encode_frame(1, b"x" * 256, mask)
    assert long[:4] == bytes.fromhex("81fe0100") and len(long) == 4 + 4 + 256
    # from the server (unmasked): "Hello", then a fragmented "Hel" + "lo", then half a frame
    buf = bytearray(bytes.fromhex("810548656c6c6f010348656c80026c6f817e01"))
    assert decode_frames(buf) == [(0x80, 1, b"Hello"), (0, 1, b"Hel"), (0x80, 0, b"lo")]
    assert buf == bytearray(bytes.fromhex("817e01"))  # kept until the rest arrives
    try:
        decode_frames(bytearray(bytes.fromhex("8185") + mask + b"Hello"))
        raise AssertionError("a masked frame from the server must be refused")
    except ValueError as e:
        assert "masked" in str(e)


def test_the_load_generator_keeps_its_readings_through_a_server_restart(tmp_path):
    """What makes "zero lost" honest: a device of the generator keeps every reading until acked and
    sends the rest again on its next connection, as a board does."""
    sys.path.insert(0, ROOT)
    import asyncio
    import time

    from bench.scale import run_worker
    from test_server_kit import Running, run

    async def main():
        async with Running(tmp_path) as s:
            fleet = [("g%d" % i, s.add("g%d" % i)) for i in range(5)]
            spec = {"url": s.device_url, "devices": fleet, "ramp_s": 0.2, "period_s": 0.1, "seed": 1}
            spec.update(stop_at=time.time() + 3, drain_s=5)
            worker = asyncio.ensure_future(run_worker(spec))
            await asyncio.sleep(1.2)
            await s.restart()  # every connection drops; readings made meanwhile wait in the outboxes
            result = await worker
            assert not result["errors"]
            for dev, _ in fleet:
                got = result["devices"][dev]
                assert got["connects"] == 2 and got["sent"] >= 20 and got["acked"] == got["sent"], got
                stored = [r["seq"] for r in s.db.readings(dev, after=0, limit=1000)]
                assert stored == list(range(1, got["sent"] + 1))

    run(main())
