"""ws:// and wss:// URLs: hosts, IPv6 literals, default ports, resources, and clear errors."""

from ws.dial import parse_url
from ws.protocol import InvalidURL
from wsutil import raises


def URL(secure, host, port, resource):
    """What parse_url returns: (secure, host, port, resource)."""
    return (secure, host, port, resource)


def test_defaults_and_resource():
    assert parse_url("ws://example.com") == URL(False, "example.com", 80, "/")
    assert parse_url("wss://example.com") == URL(True, "example.com", 443, "/")
    assert parse_url("ws://h/a/b?c=d&e") == URL(False, "h", 80, "/a/b?c=d&e")
    assert parse_url("ws://h?x=1") == URL(False, "h", 80, "/?x=1")


def test_ports_ipv4_and_ipv6():
    assert parse_url("ws://127.0.0.1:9001/x") == URL(False, "127.0.0.1", 9001, "/x")
    assert parse_url("wss://[::1]:8443/") == URL(True, "::1", 8443, "/")
    assert parse_url("ws://[fe80::1:2]/") == URL(False, "fe80::1:2", 80, "/")


def test_scheme_and_host_are_case_insensitive():
    assert parse_url("WSS://Example.COM/Path") == URL(True, "example.com", 443, "/Path")


def _why(url):
    return raises(InvalidURL, parse_url, url).why


def test_each_fault_has_its_own_message():
    assert "scheme" in _why("http://h/")
    assert "no scheme" in _why("example.com")
    assert "no host" in _why("ws:///path")
    assert "not a number" in _why("ws://h:http/")
    assert "out of range" in _why("ws://h:70000/")
    assert "out of range" in _why("ws://h:0/")
    assert "unclosed" in _why("ws://[::1/")
    assert "IPv6" in _why("ws://[nothex]/")
    assert "after the IPv6" in _why("ws://[::1]9/")
    assert "fragments" in _why("ws://h/#top")
    assert "user" in _why("ws://me:pw@h/")
    assert "control" in _why("ws://h/a b")
    assert "str" in _why(b"ws://h/")


def test_error_names_the_url():
    e = raises(InvalidURL, parse_url, "ftp://x")
    assert e.url == "ftp://x" and "ftp://x" in str(e)
