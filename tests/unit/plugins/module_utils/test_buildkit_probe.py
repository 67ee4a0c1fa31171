"""The node probe against real sockets on the loopback, and what leaving a node out does to the builder."""
from __future__ import annotations

import os
import socket
import ssl
import subprocess
import threading

import pytest

from ansible_collections.multiarch.buildhost.plugins.module_utils import _buildkit_probe
from ansible_collections.multiarch.buildhost.plugins.module_utils._buildkit_probe import leave_out_unreachable, probe
from ansible_collections.multiarch.buildhost.plugins.module_utils._buildx import Builder, BuildxError, Node

SETTINGS_FRAME = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


def serve_once(reply: bytes) -> int:
    """A one-connection TCP server on the loopback that reads the client's first bytes and sends REPLY."""
    listener = socket.create_server(("127.0.0.1", 0))

    def answer():
        with listener:
            connection = listener.accept()[0]
            with connection:
                connection.recv(64)
                connection.sendall(reply)

    threading.Thread(target=answer, daemon=True).start()
    return listener.getsockname()[1]


def free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        return listener.getsockname()[1]


def test_a_server_that_speaks_http2_answers():
    assert probe(Node(name="n", endpoint=f"tcp://127.0.0.1:{serve_once(SETTINGS_FRAME)}")) is None


def test_a_server_that_says_something_else_is_not_a_buildkit_node():
    port = serve_once(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    reason = probe(Node(name="n", endpoint=f"tcp://127.0.0.1:{port}"))
    assert reason == "it answered, but not as a BuildKit (gRPC) server"


def test_a_closed_port_is_reported_with_the_reason():
    reason = probe(Node(name="n", endpoint=f"tcp://127.0.0.1:{free_port()}"))
    assert reason and "refused" in reason.lower()


def test_a_tls_node_whose_server_is_plain_tcp_fails_the_handshake(tmp_path):
    # The CA file is loaded first: an unreadable one is a configuration error, not an unreachable node.
    with pytest.raises(BuildxError, match="TLS files cannot be loaded"):
        probe(Node(name="n", endpoint="tcp://127.0.0.1:1", driver_opts={"cacert": str(tmp_path / "missing.pem")}))


def test_endpoints_other_than_tcp_are_not_probed():
    assert probe(Node(name="n", endpoint="unix:///run/buildkit/buildkitd.sock")) is None


@pytest.mark.parametrize("endpoint", ["", "default", "multiarch-context", "ssh://builder@arm-01", "unix://[not-a-host"])
def test_docker_contexts_and_other_schemes_are_left_to_buildx(endpoint):
    assert probe(Node(name="n", endpoint=endpoint)) is None


def serve_once_v6(reply: bytes) -> int:
    try:
        listener = socket.create_server(("::1", 0), family=socket.AF_INET6)
    except OSError:
        pytest.fail("no IPv6 on the loopback (::1): this test needs it, and a skip would count as a pass")

    def answer():
        with listener:
            connection = listener.accept()[0]
            with connection:
                connection.recv(64)
                connection.sendall(reply)

    threading.Thread(target=answer, daemon=True).start()
    return listener.getsockname()[1]


def test_an_ipv6_node_in_brackets_is_probed():
    assert probe(Node(name="n", endpoint=f"tcp://[::1]:{serve_once_v6(SETTINGS_FRAME)}")) is None


@pytest.mark.parametrize(("endpoint", "problem"), [
    ("tcp://fd00::1:1234", "an IPv6 address goes in brackets"),
    ("tcp://arm-01:port", "the port is not a number"),
    ("tcp://arm-01:99999", "the port is not a number"),
    ("tcp://arm-01", "it has no :PORT"),
    ("tcp://[fd00::zz]:1234", "the address in brackets is not an IPv6 address"),
    ("tcp://[fd00::1]", "it has no ]:PORT"),
    ("tcp://arm-01:1234/", "the port is not a number"),
    ("tcp://builder@arm-01:1234", "the host is not a host name or IP address"),
    ("tcp:arm-01:1234", "it must start with tcp://"),
    ("TCP://arm-01:1234", "it must start with tcp://"),
])
def test_a_tcp_endpoint_that_is_not_host_port_fails_naming_the_node_and_endpoint(endpoint, problem):
    # Some of these raised a bare ValueError from urllib (a traceback instead of a task failure); others were probed
    # on a made-up port, or not at all.
    with pytest.raises(BuildxError) as error:
        probe(Node(name="arm", endpoint=endpoint))
    assert str(error.value).startswith(f"node arm: endpoint {endpoint!r} is not tcp://HOST:PORT: ")
    assert problem in str(error.value)


def fleet() -> Builder:
    return Builder("fleet", "remote", [
        Node(name="fleet0", endpoint="tcp://127.0.0.1:1234", platforms=["linux/amd64"]),
        Node(name="arm", endpoint="tcp://arm:1234", platforms=["linux/arm64"]),
        Node(name="ppc", endpoint="tcp://ppc:1234", platforms=["linux/ppc64le"]),
    ])


def test_a_dead_node_is_left_out_and_its_platforms_go_to_the_first_node(monkeypatch):
    monkeypatch.setattr(_buildkit_probe, "probe", lambda node, timeout=0: "refused" if node.name == "arm" else None)
    kept, left_out = leave_out_unreachable(fleet(), fail=False)
    assert [n.name for n in kept.nodes] == ["fleet0", "ppc"]
    assert kept.nodes[0].platforms == ["linux/amd64", "linux/arm64"]
    assert [(o.name, o.platforms, o.reason) for o in left_out] == [("arm", ["linux/arm64"], "refused")]


def test_with_fail_a_dead_node_is_an_error_naming_it(monkeypatch):
    monkeypatch.setattr(_buildkit_probe, "probe", lambda node, timeout=0: "timed out" if node.name == "ppc" else None)
    with pytest.raises(BuildxError, match=r"ppc \(tcp://ppc:1234\): timed out"):
        leave_out_unreachable(fleet(), fail=True)


def test_the_first_node_must_answer(monkeypatch):
    monkeypatch.setattr(_buildkit_probe, "probe", lambda node, timeout=0: "refused" if node.name == "fleet0" else None)
    with pytest.raises(BuildxError, match="the builder's first node, does not answer"):
        leave_out_unreachable(fleet(), fail=False)


def test_the_left_out_platforms_are_fixed_on_the_first_node_even_when_it_had_none(monkeypatch):
    # Every node reports the platforms its QEMU emulates: unfixed, buildx could send arm64 to the amd64 node.
    monkeypatch.setattr(_buildkit_probe, "probe", lambda node, timeout=0: "refused" if node.name == "arm" else None)
    builder = fleet()
    builder.nodes[0].platforms = []
    kept, _left_out = leave_out_unreachable(builder, fail=False)
    assert kept.nodes[0].platforms == ["linux/arm64"]


def make_ca(directory) -> str:
    path = directory / "ca.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", str(directory / "ca.key"), "-out", str(path), "-days", "1", "-subj", "/CN=probe-test-ca"],
                   check=True, capture_output=True)
    return str(path)


def test_a_fifo_named_as_a_tls_file_is_refused_without_waiting(tmp_path):
    fifo = tmp_path / "ca.pem"
    os.mkfifo(fifo)
    with pytest.raises(BuildxError, match=r"ca.pem \(cacert\) is not a regular file"):
        probe(Node(name="n", endpoint="tcp://127.0.0.1:1", driver_opts={"cacert": str(fifo)}))


def test_the_tls_file_loaded_is_the_one_checked_even_if_its_name_is_swapped_between(tmp_path, monkeypatch):
    # The name may sit in a directory a user controls: swap it for other content right after the check, by either
    # kind of check. ssl must still load what was checked.
    ca = make_ca(tmp_path)
    impostor = tmp_path / "impostor.pem"
    impostor.write_text("not a certificate\n")
    swapped = []

    def swap_after(real):
        def check(target, *args, **kwargs):
            result = real(target, *args, **kwargs)
            if not swapped:
                os.replace(impostor, ca)
                swapped.append(True)
            return result
        return check

    monkeypatch.setattr(os, "fstat", swap_after(os.fstat))
    monkeypatch.setattr(os, "stat", swap_after(os.stat))
    context = _buildkit_probe._tls_context({"cacert": ca})
    assert swapped
    assert [dict(entry[0] for entry in cert["subject"]) for cert in context.get_ca_certs()] == [{"commonName": "probe-test-ca"}]
    monkeypatch.undo()
    with pytest.raises(ssl.SSLError, match=r"ca.pem \(cacert\)"):  # the name now holds the impostor: refused by name
        _buildkit_probe._tls_context({"cacert": ca})
