"""Opening handshake (RFC 6455 4.1, 4.2.2): the request we build and the responses we accept."""

from ws.handshake import accept_key, check_response
from ws.protocol import ClientProtocol, HandshakeError, LocalProtocolError
from wsutil import (
    ACCEPTED,
    CLOSED,
    CONNECTING,
    OPEN,
    accept_response,
    events,
    events_of,
    fixed_random,
    give,
    raises,
    request_key,
)


def _client(**kw):
    return ClientProtocol(
        kw.pop("host", "example.com"),
        kw.pop("port", 80),
        kw.pop("resource", "/"),
        random_bytes=fixed_random,
        **kw,
    )


def build_request(host, port, resource, **kw):
    """The request of a fresh client (its key comes from fixed_random)."""
    return _client(host=host, port=port, resource=resource, **kw).data_to_send()


def _lines(request):
    return request.decode().split("\r\n")


def test_accept_key_matches_rfc_example():
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_key_is_16_random_bytes_in_base64():
    draws = []

    def rand(n):
        draws.append(n)
        return fixed_random(n)

    key = request_key(ClientProtocol("h", 80, random_bytes=rand).data_to_send())
    assert key == "N/ohPTf6IT03+iE9N/ohPQ=="
    assert len(key) == 24 and draws == [16]


def test_request_line_headers_and_terminator():
    req = build_request("example.com", 80, "/chat?room=1")
    lines = _lines(req)
    assert lines[0] == "GET /chat?room=1 HTTP/1.1"
    assert "Host: example.com" in lines
    assert "Upgrade: websocket" in lines
    assert "Connection: Upgrade" in lines
    assert "Sec-WebSocket-Key: N/ohPTf6IT03+iE9N/ohPQ==" in lines
    assert "Sec-WebSocket-Version: 13" in lines
    assert req.endswith(b"\r\n\r\n")
    assert req.count(b"\r\n\r\n") == 1


def test_host_carries_port_only_when_not_default():
    assert "Host: h:8080" in _lines(build_request("h", 8080, "/"))
    assert "Host: h" in _lines(build_request("h", 443, "/", secure=True))
    assert "Host: h:80" in _lines(build_request("h", 80, "/", secure=True))
    assert "Host: [::1]:9001" in _lines(build_request("::1", 9001, "/"))


def test_origin_subprotocols_and_extra_headers():
    req = build_request(
        "h",
        80,
        "/",
        origin="http://h",
        subprotocols=["v1.node", "v2"],
        headers={"Authorization": "Bearer abc"},
    )
    lines = _lines(req)
    assert "Origin: http://h" in lines
    assert "Sec-WebSocket-Protocol: v1.node, v2" in lines
    assert "Authorization: Bearer abc" in lines


def test_header_injection_and_reserved_headers_are_refused():
    e = raises(LocalProtocolError, build_request, "h", 80, "/", headers={"X": "a\r\nHost: evil"})
    assert "line breaks" in str(e)
    e = raises(LocalProtocolError, build_request, "h", 80, "/", headers={"Sec-WebSocket-Key": "x"})
    assert "set by the client" in str(e)
    raises(LocalProtocolError, build_request, "h", 80, "/", headers=[("Bad Name", "v")])
    raises(LocalProtocolError, build_request, "h", 80, "/", subprotocols=["a,b"])


def test_accepts_valid_response_split_at_every_byte():
    for step in (1, 2, 3, 7, 1000):
        p = _client()
        resp = accept_response(p.data_to_send())
        evs = events_of(p, resp, step)
        assert evs == [events.Accepted(None, evs[0][2])]
        assert evs[0][2]["upgrade"] == "websocket"  # the response's headers, names lowercased
        assert p.state == OPEN


def test_bytes_after_the_header_belong_to_the_first_frame():
    p = _client()
    resp = accept_response(p.data_to_send()) + b"\x81\x02hi"
    assert events_of(p, resp)[1:] == [events.TextMessage("hi")]


def test_upgrade_and_connection_tokens_are_case_insensitive():
    p = _client()
    req = p.data_to_send()
    key = accept_response(req).split(b"Sec-WebSocket-Accept: ")[1].split(b"\r\n")[0].decode()
    resp = (
        "HTTP/1.1 101 OK\r\nupgrade: WebSocket\r\nCONNECTION: keep-alive, UPGRADE\r\n"
        "sec-websocket-accept: %s\r\n\r\n" % key
    ).encode()
    assert events_of(p, resp)[0][0] == ACCEPTED


def _refused(response, **kw):
    p = _client(**kw)
    p.data_to_send()
    give(p, response)
    e = raises(HandshakeError, p.next_event)
    assert p.state == CLOSED
    return e


def test_wrong_accept_is_refused():
    e = _refused(
        b"HTTP/1.1 101 X\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n"
    )
    assert e.status == 101
    assert "does not match" in str(e)


def test_missing_upgrade_headers_are_refused():
    p = _client()
    good = accept_response(p.data_to_send())
    for drop in (b"Upgrade: websocket\r\n", b"Connection: Upgrade\r\n"):
        e = _refused(good.replace(drop, b""))
        assert "invalid upgrade response" in str(e)


def test_status_other_than_101_carries_status_reason_and_hints():
    e = _refused(b"HTTP/1.1 302 Found\r\nLocation: ws://other/x\r\n\r\n")
    assert (e.status, e.reason, e.location) == (302, "Found", "ws://other/x")
    e = _refused(b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 30\r\nContent-Length: 0\r\n\r\n")
    assert (e.status, e.retry_after) == (503, 30)
    e = _refused(b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: Wed, 21 Oct 2015 07:28:00 GMT\r\n\r\n")
    assert e.status == 429 and e.retry_after is None
    assert e.headers["retry-after"].startswith("Wed")
    e = _refused(b"HTTP/1.1 401 Unauthorized\r\n\r\n")
    assert e.status == 401 and "not authorised" in str(e)


def test_subprotocol_only_if_offered():
    p = _client(subprotocols=["a", "b"])
    ev = events_of(p, accept_response(p.data_to_send(), "Sec-WebSocket-Protocol: b\r\n"))[0]
    assert ev[1] == "b" and p.state == OPEN
    e = _refused(accept_response(_client().data_to_send(), "Sec-WebSocket-Protocol: c\r\n"))
    assert "not offered" in str(e)
    p = _client(subprotocols=["a"])
    give(p, accept_response(p.data_to_send(), "Sec-WebSocket-Protocol: z\r\n"))
    raises(HandshakeError, p.next_event)


def test_extension_that_was_not_offered_is_refused():
    e = _refused(
        accept_response(_client().data_to_send(), "Sec-WebSocket-Extensions: permessage-deflate\r\n")
    )
    assert "extension" in str(e)


def test_header_size_limit():
    p = _client(max_header_size=200)
    p.data_to_send()
    give(p, b"HTTP/1.1 101 OK\r\n" + b"X-Pad: " + b"a" * 300)
    e = raises(HandshakeError, p.next_event)
    assert "exceeds 200" in str(e)


def test_malformed_responses_are_typed_errors():
    for bad in (
        b"SSH-2.0-OpenSSH\r\n\r\n",
        b"HTTP/1.1 1x1 Odd\r\n\r\n",
        b"HTTP/1.1 101 OK\r\nno colon here\r\n\r\n",
        b"HTTP/1.1 101 OK\r\nX : y\r\n\r\n",
        b"HTTP/1.1 101 \xff\xfe\r\n\r\n",
    ):
        p = _client()
        p.data_to_send()
        give(p, bad)
        raises(HandshakeError, p.next_event)


def test_eof_during_handshake_is_a_handshake_error():
    p = _client()
    p.data_to_send()
    give(p, b"HTTP/1.1 101 Swi")
    assert p.next_event() is None and p.state == CONNECTING
    give(p, b"")
    e = raises(HandshakeError, p.next_event)
    assert "closed during" in str(e)


def _head(*lines):
    return "\r\n".join(("HTTP/1.1 101 Switching Protocols",) + lines).encode()


def test_check_response_joins_repeated_headers_and_lowercases_names():
    head = _head(
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Accept: " + accept_key("k"),
        "A: 1",
        "a: 2",
    )
    sub, headers = check_response(head, "k")
    assert sub is None
    assert headers["a"] == "1, 2" and headers["upgrade"] == "websocket"


def test_check_response_returns_negotiated_protocol():
    head = _head(
        "upgrade: websocket",
        "connection: upgrade",
        "sec-websocket-accept: " + accept_key("k"),
        "sec-websocket-protocol: p",
    )
    assert check_response(head, "k", ["p"])[0] == "p"
    e = raises(HandshakeError, check_response, head, "k", ["q"])
    assert e.status == 101 and "not offered" in str(e)
    e = raises(HandshakeError, check_response, head, "other key", ["p"])
    assert "does not match" in str(e)
