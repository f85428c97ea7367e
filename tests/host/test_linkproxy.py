"""Faults on the link: the loopback proxy's latency, stall, reset, refusal and black hole, as the
client on both runtimes sees them."""

import threading
import time

import pytest

from servers import WsServer, _Loop
from simulator.linkproxy import LinkProxy, parse_target


@pytest.fixture
def link(ws_server):
    loop = _Loop()
    proxy = loop.call(LinkProxy("127.0.0.1", ws_server.port).start())
    proxy.loop = loop
    yield proxy
    loop.call(proxy.stop())
    loop.stop()


def _when_connected(proxy, action, timeout=10):
    # Runs action on the proxy's loop once a connection goes through it.
    def wait():
        deadline = time.monotonic() + timeout
        while not proxy.connections and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.2)  # let the handshake finish
        proxy.loop.loop.call_soon_threadsafe(action)

    t = threading.Thread(target=wait, daemon=True)
    t.start()
    return t


def _url(proxy, path="/echo"):
    return "ws://127.0.0.1:%d%s" % (proxy.port, path)


def test_messages_pass_through_unchanged(link, runtime):
    r = runtime("echo", _url(link), {"sizes": [0, 200, 70000], "max_message_size": 100000})
    assert all(ok for _, _, ok in r["results"])
    assert link.bytes_up > 70000 and link.bytes_down > 70000


def test_latency_delays_every_round_trip(link, runtime):
    link.set_latency(150)
    r = runtime("timed_echo", _url(link), {})
    assert r["echo"] == "ping through the link"
    assert r["ms"] >= 280  # 150 ms each way


def test_reset_drops_the_connection_as_1006(link, runtime):
    _when_connected(link, link.reset_all)
    r = runtime("server_close", _url(link, "/echo"), {})
    assert (r["code"], r["clean"]) == (1006, False)


def test_stalled_link_is_found_dead_by_keepalive(link, runtime):
    _when_connected(link, link.stall)
    r = runtime("keepalive", _url(link), {"interval": 0.3, "timeout": 0.5, "wait": 8})
    assert r["closed"] == 1006 and "keepalive" in r["reason"]


def test_refused_connection_is_a_typed_error(link, runtime):
    link.refusing = True
    r = runtime("expect_error", _url(link), {})
    assert r["error"] in ("ConnectFailed", "HandshakeError", "ConnectionClosed"), r


def test_black_hole_times_out_the_handshake(link, runtime):
    link.blackhole = True
    r = runtime("expect_error", _url(link), {"connect": {"handshake_timeout": 0.5}})
    assert (r["error"], r["what"]) == ("WebSocketTimeout", "handshake")


def test_server_down_behind_the_proxy(runtime):
    server = WsServer()
    port = server.port
    server.stop()
    loop = _Loop()
    proxy = loop.call(LinkProxy("127.0.0.1", port).start())
    try:
        r = runtime("expect_error", _url(proxy), {})
        assert r["error"] in ("ConnectFailed", "HandshakeError", "ConnectionClosed"), r
    finally:
        loop.call(proxy.stop())
        loop.stop()


def test_typed_commands_and_their_errors():
    p = LinkProxy("127.0.0.1", 1)
    assert p.command("latency 40") == "latency 40 ms" and p.latency_ms == 40
    assert p.command("stall") == "stalled" and p.stalled
    assert p.command("resume") == "resumed" and not p.stalled
    assert p.command("refuse on") == "refuse on" and p.refusing
    assert p.command("blackhole off") == "blackhole off" and not p.blackhole
    assert p.command("status").startswith("connections 0")
    with pytest.raises(ValueError, match="unknown command"):
        p.command("explode")
    with pytest.raises(ValueError, match="whole number"):
        p.command("latency soon")
    with pytest.raises(ValueError, match=">= 0"):
        p.set_latency(-1)


def test_only_loopback_targets_are_accepted():
    assert parse_target("127.0.0.1:80") == ("127.0.0.1", 80)
    assert parse_target("[::1]:80") == ("::1", 80)
    with pytest.raises(ValueError, match="not a loopback"):
        parse_target("10.0.0.1:80")
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_target("127.0.0.1")


def test_command_line_prompt_and_bad_arguments(ws_server):
    import os
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    r = subprocess.run(
        [sys.executable, "-m", "simulator.linkproxy", "--target", "192.168.1.5:80"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 2 and "not a loopback" in r.stderr
    p = subprocess.Popen(
        [sys.executable, "-m", "simulator.linkproxy", "--target", "127.0.0.1:%d" % ws_server.port],
        cwd=root,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert p.stdout.readline().startswith("linkproxy: 127.0.0.1:")
        p.stdin.write("latency 25\nbogus\nstatus\n")
        p.stdin.flush()
        assert p.stdout.readline().strip() == "latency 25 ms"
        assert "unknown command 'bogus'" in p.stdout.readline()
        assert "latency 25 ms" in p.stdout.readline()
    finally:
        p.kill()
        p.wait(10)
