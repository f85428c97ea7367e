"""The asyncio connection against a real websockets server on loopback, on both runtimes."""

import json

from servers import RawServer


def test_echo_text_and_binary_of_every_length_class(ws_server, runtime):
    sizes = [0, 1, 125, 126, 1024, 65535, 65536, 70000]
    r = runtime("echo", ws_server.url("/echo"), {"sizes": sizes, "max_message_size": 100000})
    assert r["results"] == [[kind, n, True] for n in sizes for kind in ("text", "bytes")]
    assert r["closed"] is True


def test_large_messages_are_fragmented_and_reassembled(ws_server, runtime):
    r = runtime("echo", ws_server.url("/echo"), {"sizes": [5000, 9], "fragment_size": 1000})
    assert all(ok for _, _, ok in r["results"])


def test_headers_origin_and_subprotocol_reach_the_server(ws_server, runtime):
    r = runtime(
        "headers",
        ws_server.url("/headers?x=1"),
        {
            "headers": {"Authorization": "Bearer abc", "X-Device": "node-7"},
            "subprotocols": ["v9", "v1.node"],
            "origin": "http://node-7.local",
        },
    )
    saw = json.loads(r["server_saw"])
    assert saw["authorization"] == "Bearer abc"
    assert saw["x-device"] == "node-7"
    assert saw["origin"] == "http://node-7.local"
    assert saw["path"] == "/headers?x=1"
    assert saw["host"] == "127.0.0.1:%d" % ws_server.port
    assert saw["subprotocol"] == "v1.node" and r["subprotocol"] == "v1.node"


def test_bad_token_gets_handshake_error_with_status(ws_server, runtime):
    r = runtime(
        "expect_error", ws_server.url("/auth"), {"connect": {"headers": {"Authorization": "Bearer bad"}}}
    )
    assert r["error"] == "HandshakeError" and r["status"] == 401


def test_good_token_is_accepted(ws_server, runtime):
    r = runtime("headers", ws_server.url("/headers"), {"headers": {"Authorization": "Bearer good-token"}})
    assert json.loads(r["server_saw"])["authorization"] == "Bearer good-token"


def test_503_carries_retry_after_and_302_location(ws_server, runtime):
    r = runtime("expect_error", ws_server.url("/refuse503"), {})
    assert (r["error"], r["status"], r["retry_after"]) == ("HandshakeError", 503, 7)
    r = runtime("expect_error", ws_server.url("/redirect"), {})
    assert (r["status"], r["location"]) == (302, "ws://127.0.0.1:1/elsewhere")


def test_server_close_code_and_reason_reach_the_application(ws_server, runtime):
    r = runtime("server_close", ws_server.url("/close/4001"), {})
    assert r["messages"] == ["bye"]
    assert (r["code"], r["reason"], r["clean"]) == (4001, "server says bye", False)
    r = runtime("server_close", ws_server.url("/close/1000"), {})
    assert (r["code"], r["clean"]) == (1000, True)


def test_client_close_completes_the_handshake(ws_server, runtime):
    r = runtime("client_close", ws_server.url("/echo"), {"code": 1001, "reason": "going away"})
    assert (r["code"], r["reason"]) == (1001, "going away")


def test_connection_refused_is_connect_failed(runtime):
    raw = RawServer()
    port = raw.port
    raw.stop()  # nothing listens there any more
    r = runtime("expect_error", "ws://127.0.0.1:%d/" % port, {"send": "x"})
    assert r["error"] in ("ConnectFailed", "ConnectionClosed"), r
    if r["error"] == "ConnectionClosed":  # MicroPython learns of the refusal on first I/O
        assert r["code"] == 1006


def test_ipv6_loopback(runtime):
    import socket

    from servers import WsServer

    try:
        socket.socket(socket.AF_INET6).bind(("::1", 0))
    except OSError:
        import pytest

        pytest.skip("no IPv6 loopback on this machine")
    s = WsServer()
    try:
        url = "ws://[::1]:%d/echo" % s.port
        r = runtime("expect_error", url, {"send": "x"})
        # the server listens on 127.0.0.1 only: an IPv6 connect is refused, with a typed error
        assert r["error"] in ("ConnectFailed", "ConnectionClosed")
    finally:
        s.stop()


def test_invalid_url_is_a_clear_error(runtime):
    r = runtime("expect_error", "http://127.0.0.1/", {})
    assert r["error"] == "InvalidURL" and "scheme" in r["message"]


def test_masked_server_frame_fails_with_1002_and_a_close_frame(runtime):
    raw = RawServer(script=b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", linger=3)
    try:
        r = runtime("expect_error", raw.url(), {})
        assert (r["error"], r["code"]) == ("ConnectionClosed", 1002)
        sent = raw.received[-1]
        assert sent[0] == 0x88  # the client's close frame ...
        key = sent[2:6]
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(sent[6 : 6 + (sent[1] & 0x7F)]))
        assert int.from_bytes(payload[:2], "big") == 1002  # ... carries 1002
    finally:
        raw.stop()


def test_invalid_utf8_fails_with_1007(runtime):
    raw = RawServer(script=b"\x81\x03\xed\xa0\x80", linger=3)
    try:
        r = runtime("expect_error", raw.url(), {})
        assert (r["error"], r["code"]) == ("ConnectionClosed", 1007)
    finally:
        raw.stop()


def test_ping_is_answered_with_pong_carrying_the_payload(runtime):
    raw = RawServer(script=b"\x89\x04abcd" + b"\x81\x02ok" + b"\x88\x02\x03\xe8", linger=3)
    try:
        r = runtime("server_close", raw.url(), {})
        assert r["messages"] == ["ok"] and r["code"] == 1000
        sent = raw.received[-1]
        assert sent[0] == 0x8A and sent[1] == 0x84  # masked pong, 4 bytes
        key = sent[2:6]
        assert bytes(b ^ key[i % 4] for i, b in enumerate(sent[6:10])) == b"abcd"
    finally:
        raw.stop()


def test_dropped_connection_is_1006(runtime):
    raw = RawServer(script=b"\x81\x02hi", linger=0.2)
    try:
        r = runtime("server_close", raw.url(), {})
        assert r["messages"] == ["hi"]
        assert (r["code"], r["clean"]) == (1006, False)
    finally:
        raw.stop()


def test_handshake_timeout(runtime):
    raw = RawServer(response=b"HTTP/1.1 101 Switching", linger=5)
    try:
        r = runtime("expect_error", raw.url(), {"connect": {"handshake_timeout": 0.5}})
        assert (r["error"], r["what"]) == ("WebSocketTimeout", "handshake")
    finally:
        raw.stop()


def test_keepalive_declares_a_silent_server_dead(runtime):
    raw = RawServer(linger=6)  # handshakes, then never answers a ping
    try:
        r = runtime("keepalive", raw.url(), {"interval": 0.3, "timeout": 0.3, "wait": 5})
        assert r["closed"] == 1006 and "keepalive" in r["reason"]
    finally:
        raw.stop()


def test_keepalive_keeps_a_live_connection_open(ws_server, runtime):
    r = runtime("keepalive", ws_server.url("/echo"), {"interval": 0.2, "timeout": 0.5, "wait": 1.5})
    assert r == {"still_open": True}


def test_concurrent_senders_never_interleave_frames(ws_server, runtime):
    r = runtime("concurrent_send", ws_server.url("/echo"), {"n": 30, "size": 3000})
    assert r == {"count": 90, "whole": True}
