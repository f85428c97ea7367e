"""wss://: certificate verification with a CA given as data, host names, pinning; both runtimes."""

import hashlib
import ssl

import pytest
import trustme

from servers import WsServer


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    ca = trustme.CA()
    leaf = ca.issue_cert("localhost", "127.0.0.1")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(ctx)
    server = WsServer(ssl=ctx)
    d = tmp_path_factory.mktemp("tls")
    pem = ca.cert_pem.bytes()
    (d / "ca.pem").write_bytes(pem)
    (d / "ca.der").write_bytes(ssl.PEM_cert_to_DER_cert(pem.decode()))
    other = trustme.CA().cert_pem.bytes()
    (d / "other.pem").write_bytes(other)
    leaf_der = ssl.PEM_cert_to_DER_cert(leaf.cert_chain_pems[0].bytes().decode())
    yield {
        "server": server,
        "dir": d,
        "pin": hashlib.sha256(leaf_der).hexdigest(),
    }
    server.stop()


def _url(tls):
    return tls["server"].url("/echo")


def test_ca_as_pem_data_verifies_the_server(tls, runtime):
    r = runtime(
        "tls_echo", _url(tls), {"cadata_file": str(tls["dir"] / "ca.pem"), "server_hostname": "localhost"}
    )
    assert r == {"echo": "over tls"}


def test_ca_as_der_data_verifies_the_server(tls, runtime):
    r = runtime(
        "tls_echo", _url(tls), {"cadata_file": str(tls["dir"] / "ca.der"), "server_hostname": "localhost"}
    )
    assert r == {"echo": "over tls"}


def test_certificate_from_another_ca_is_refused(tls, runtime):
    r = runtime(
        "tls_echo", _url(tls), {"cadata_file": str(tls["dir"] / "other.pem"), "server_hostname": "localhost"}
    )
    assert r["error"] == "TLSError"


def test_wrong_host_name_is_refused(tls, runtime):
    r = runtime(
        "tls_echo", _url(tls), {"cadata_file": str(tls["dir"] / "ca.pem"), "server_hostname": "evil.example"}
    )
    assert r["error"] == "TLSError"


def test_pinned_fingerprint_is_accepted_without_a_ca(tls, runtime):
    r = runtime("tls_echo", _url(tls), {"fingerprint": tls["pin"]})
    assert r == {"echo": "over tls"}
    colons = ":".join(tls["pin"][i : i + 2] for i in range(0, 64, 2)).upper()
    assert runtime("tls_echo", _url(tls), {"fingerprint": colons}) == {"echo": "over tls"}


def test_wrong_pin_is_refused_even_with_a_valid_ca(tls, runtime):
    r = runtime(
        "tls_echo",
        _url(tls),
        {"cadata_file": str(tls["dir"] / "ca.pem"), "server_hostname": "localhost", "fingerprint": "00" * 32},
    )
    assert r["error"] == "TLSError"


def test_no_trust_anchor_is_refused(tls, runtime):
    r = runtime("tls_echo", _url(tls), {})
    assert r["error"] == "TLSError"


def test_insecure_must_be_asked_for_by_name(tls, runtime):
    assert runtime("tls_echo", _url(tls), {"insecure": True}) == {"echo": "over tls"}


def test_malformed_fingerprint_is_a_clear_error():
    from ws.tls import parse_fingerprint

    with pytest.raises(ValueError, match="SHA-256"):
        parse_fingerprint("abcd")
    assert parse_fingerprint("AB" * 32) == bytes([0xAB]) * 32
