# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether a remote BuildKit node answers, and leaving out the nodes that do not.

buildx has no fallback: a builder with a dead node fails every build that needs the node's platforms after a 20 s
timeout. A TCP connect alone proves little (a proxy or a stale address may accept it), so the probe makes the same
mutual-TLS handshake buildx would, with the node's CA, client certificate and server name, then speaks the first
words of HTTP/2 (gRPC's transport): with TLS 1.3 a server refuses a client certificate only after the handshake.
"""
from __future__ import annotations

import ipaddress
import os
import re
import socket
import ssl
import stat
from dataclasses import dataclass, replace

from ansible_collections.multiarch.buildhost.plugins.module_utils._buildx import Builder, BuildxError, Node

PROBE_TIMEOUT_SECONDS = 3.0
_HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_EMPTY_SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
_SETTINGS_TYPE = 0x4
# A host name or IPv4 address as a tcp:// endpoint may hold it; BuildKit's client dials HOST:PORT as it stands.
_HOST = re.compile(r"^[A-Za-z0-9_.-]+$")
_PORT = re.compile(r"^[0-9]{1,5}$")


@dataclass(frozen=True)
class LeftOut:
    name: str
    endpoint: str
    platforms: list
    reason: str

    def as_result(self) -> dict:
        return {"name": self.name, "endpoint": self.endpoint, "platforms": self.platforms, "reason": self.reason}


def _open_regular(path: str, key: str) -> int:
    """A descriptor of PATH, refused unless it is a regular file (a FIFO or a device named here would hang the module
    or feed it endlessly). O_PATH: nothing is opened for reading here, so naming a device has none of the effects
    opening one may have; ssl opens the checked file itself, through /proc/self/fd."""
    fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ssl.SSLError(f"{path} ({key}) is not a regular file")
    except BaseException:
        os.close(fd)
        raise
    return fd


def _tls_context(driver_opts: dict) -> ssl.SSLContext | None:
    named = {key: driver_opts[key] for key in ("cacert", "cert", "key") if driver_opts.get(key)}
    if not named:
        return None
    descriptors = {}
    try:
        for key, path in named.items():
            descriptors[key] = _open_regular(path, key)
        # ssl loads only by name. /proc/self/fd/N names the very file checked above: a name in a directory a user
        # controls may point somewhere else by the time ssl opens it.
        by_descriptor = {key: f"/proc/self/fd/{fd}" for key, fd in descriptors.items()}
        try:
            context = ssl.create_default_context(cafile=by_descriptor.get("cacert"))
            if "cert" in by_descriptor:
                context.load_cert_chain(by_descriptor["cert"], by_descriptor.get("key"))
        except ssl.SSLError as exc:
            raise ssl.SSLError(f"{', '.join(f'{path} ({key})' for key, path in named.items())}: {exc}") from exc
    finally:
        for fd in descriptors.values():
            os.close(fd)
    context.set_alpn_protocols(["h2"])
    return context


def tcp_address(node: Node) -> tuple[str, int] | None:
    """(host, port) of NODE's ``tcp://HOST:PORT`` or ``tcp://[IPv6]:PORT`` endpoint; None for the endpoints the probe
    leaves alone (a docker context, ``unix://``, ``ssh://``...).

    BuildKit's client splits the endpoint at ``://`` and dials the rest, so the rest must be exactly HOST:PORT; anything
    else after ``tcp:`` is an error that names the node and the endpoint.
    """
    endpoint = node.endpoint or ""
    if not endpoint.lower().startswith("tcp:"):
        return None
    rest = endpoint[len("tcp://"):]
    problem = None
    if not endpoint.startswith("tcp://"):
        problem = "it must start with tcp:// (in lower case)"
    elif rest.startswith("["):
        host, bracket, port = rest[1:].partition("]:")
        if not bracket:
            problem = "it has no ]:PORT after the IPv6 address"
        else:
            try:
                ipaddress.IPv6Address(host)
            except ValueError:
                problem = "the address in brackets is not an IPv6 address"
    else:
        host, colon, port = rest.rpartition(":")
        if not colon:
            problem = "it has no :PORT"
        elif ":" in host:
            problem = "an IPv6 address goes in brackets, as tcp://[fd00::1]:1234"
        elif not _HOST.match(host):
            problem = "the host is not a host name or IP address"
    if problem is None and not (_PORT.match(port) and 0 < int(port) < 65536):
        problem = "the port is not a number from 1 to 65535"
    if problem:
        raise BuildxError(f"node {node.name}: endpoint {endpoint!r} is not tcp://HOST:PORT: {problem}")
    return host, int(port)


def probe(node: Node, timeout: float = PROBE_TIMEOUT_SECONDS) -> str | None:
    """None when NODE answers as a BuildKit (gRPC) server would; else why not. Only tcp:// endpoints are probed."""
    address = tcp_address(node)
    if address is None:
        return None
    host, port = address
    try:
        context = _tls_context(node.driver_opts)
    except (OSError, ssl.SSLError) as exc:
        raise BuildxError(f"node {node.name}: its TLS files cannot be loaded: {exc}") from exc
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw:
            stream = raw
            if context is not None:
                stream = context.wrap_socket(raw, server_hostname=node.driver_opts.get("servername") or host)
            with stream:
                stream.sendall(_HTTP2_PREFACE + _EMPTY_SETTINGS)
                header = stream.recv(9)
    except (OSError, ssl.SSLError) as exc:  # refused, unreachable, timed out, certificate refused either way
        return str(exc) or type(exc).__name__
    if len(header) < 9 or header[3] != _SETTINGS_TYPE:
        return "it answered, but not as a BuildKit (gRPC) server"
    return None


def leave_out_unreachable(desired: Builder, fail: bool) -> tuple[Builder, list[LeftOut]]:
    """DESIRED without the nodes that do not answer; their platforms go to the first node (emulated there).

    The first node is the builder's own (the host's local BuildKit): without it nothing can build, so it must answer.
    With FAIL, any node that does not answer is an error.
    """
    first, *others = desired.nodes
    reason = probe(first)
    if reason:
        raise BuildxError(f"node {first.name} ({first.endpoint}), the builder's first node, does not answer: {reason}")
    kept, left_out = [first], []
    for node in others:
        reason = probe(node)
        if reason is None:
            kept.append(node)
        else:
            left_out.append(LeftOut(node.name, node.endpoint, list(node.platforms), reason))
    if left_out and fail:
        raise BuildxError("these nodes do not answer: " + "; ".join(f"{o.name} ({o.endpoint}): {o.reason}" for o in left_out))
    moved = [p for o in left_out for p in o.platforms if p not in first.platforms]
    if moved:
        # Fixed on the first node even when it had no fixed platforms: buildx would otherwise give them to any node
        # that reports them, and every node reports the platforms its QEMU emulates.
        kept[0] = replace(first, platforms=first.platforms + moved)
    return Builder(desired.name, desired.driver, kept), left_out
