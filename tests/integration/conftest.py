"""Fixtures shared by the engine tests: a pair of real BuildKit daemons behind mutual TLS (a two-node remote builder)."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field

import pytest

BUILDKIT_IMAGE_FILE = "/var/lib/multiarch-lab/buildkit-image"  # written by tests/lab/buildkit.sh
DEFAULT_BUILDKIT_IMAGE = "127.0.0.1:5000/moby/buildkit:v0.13.2"
LAB_REGISTRY = "127.0.0.1:5000"
SERVERNAME = "buildkitd.mbh-it.test"
# One daemon per platform, as a remote builder with one node per architecture is laid out.
NODE_LAYOUT = (("amd64", 18701), ("arm64", 18702))
READY_SECONDS = 60


@dataclass
class RemoteBuildkit:
    """Two running BuildKit daemons, each serving one platform on a loopback TCP port with mutual TLS."""

    certs_dir: str       # ca.pem, client.pem, client.key, server.pem, server.key
    servername: str      # a DNS name in the server certificate's SAN (the certificate also holds IP:127.0.0.1)
    nodes: list = field(default_factory=list)  # {"name", "endpoint", "platform", "container"}
    builder_driver_opts: str = ""              # for docker buildx create --driver remote --driver-opt ...


def _run(argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed (rc={done.returncode}): {(done.stderr or done.stdout).strip()}")
    return done


def _make_certs(directory: str) -> None:
    """A P-256 CA, a server certificate for 127.0.0.1 and SERVERNAME, and a client certificate, with openssl."""
    def openssl(*args: str) -> None:
        _run(["openssl", *args], cwd=directory)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=mbh-it BuildKit CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    for name, subject, extensions in (
        ("server", "/CN=" + SERVERNAME, f"subjectAltName=IP:127.0.0.1,DNS:{SERVERNAME}\nextendedKeyUsage=serverAuth\n"),
        ("client", "/CN=mbh-it buildx client", "extendedKeyUsage=clientAuth\n"),
    ):
        with open(os.path.join(directory, f"{name}.ext"), "w", encoding="utf-8") as handle:
            handle.write("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n" + extensions)
        openssl("req", "-new", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.pem")
    for leftover in ("ca.key", "ca.srl", "server.csr", "client.csr", "server.ext", "client.ext"):
        os.unlink(os.path.join(directory, leftover))
    # Readable by any test user: buildx, run as a module's owner, reads the client key from here.
    for name in os.listdir(directory):
        os.chmod(os.path.join(directory, name), 0o644)


def _remove_node(container: str) -> None:
    subprocess.run(["docker", "rm", "-f", "-v", container], capture_output=True, check=False)
    subprocess.run(["docker", "volume", "rm", "-f", f"{container}-state"], capture_output=True, check=False)


def _wait_until_serving(container: str, endpoint: str) -> None:
    """Until the daemon answers on its TLS port to the client certificate (which proves the mutual TLS setup too)."""
    probe = ["docker", "exec", container, "buildctl", "--addr", endpoint, "--tlsservername", SERVERNAME,
             "--tlscacert", "/certs/ca.pem", "--tlscert", "/certs/client.pem", "--tlskey", "/certs/client.key", "debug", "workers"]
    deadline = time.monotonic() + READY_SECONDS
    while True:
        done = subprocess.run(probe, capture_output=True, text=True, check=False)
        if done.returncode == 0:
            return
        if time.monotonic() > deadline:
            logs = subprocess.run(["docker", "logs", "--tail", "30", container], capture_output=True, text=True, check=False)
            raise RuntimeError(f"{container} does not answer on {endpoint}: {done.stderr.strip()}\n"
                               f"{logs.stdout}{logs.stderr}")
        time.sleep(0.5)


@pytest.fixture(scope="session")
def remote_buildkit():
    """Two BuildKit daemons (linux/amd64 on 18701, linux/arm64 on 18702) with mutual TLS on the lab engine.

    Foreign platforms run under the host's QEMU binfmt handlers. Containers, volumes and certificates go at the end.
    """
    image = DEFAULT_BUILDKIT_IMAGE
    if os.path.exists(BUILDKIT_IMAGE_FILE):
        with open(BUILDKIT_IMAGE_FILE, encoding="utf-8") as handle:
            image = handle.read().strip() or image
    work = tempfile.mkdtemp(prefix="mbh-it-buildkit.")
    os.chmod(work, 0o755)
    certs = os.path.join(work, "certs")
    os.mkdir(certs, 0o755)
    _make_certs(certs)
    config = os.path.join(work, "buildkitd.toml")
    with open(config, "w", encoding="utf-8") as handle:
        handle.write(f'[registry."{LAB_REGISTRY}"]\n  http = true\n')
    os.chmod(config, 0o644)

    nodes = []
    try:
        for arch, port in NODE_LAYOUT:
            container = f"mbh-it-buildkitd-{arch}"
            _remove_node(container)  # a stale one from an interrupted session
            _run(["docker", "run", "-d", "--name", container, "--privileged", "--network", "host",
                  "-v", f"{container}-state:/var/lib/buildkit", "-v", f"{certs}:/certs:ro",
                  "-v", f"{config}:/etc/buildkit/buildkitd.toml:ro", image,
                  "--addr", "unix:///run/buildkit/buildkitd.sock", "--addr", f"tcp://127.0.0.1:{port}",
                  "--tlscacert", "/certs/ca.pem", "--tlscert", "/certs/server.pem", "--tlskey", "/certs/server.key",
                  "--oci-worker-platform", f"linux/{arch}",
                  # As the buildkit role runs it (buildkit_build_network's default): build steps in a network
                  # namespace of their own, never the host's.
                  "--oci-worker-net", "bridge"])
            nodes.append({"name": f"mbh-it-{arch}", "endpoint": f"tcp://127.0.0.1:{port}", "platform": f"linux/{arch}",
                          "container": container})
        for node in nodes:
            _wait_until_serving(node["container"], node["endpoint"])
        driver_opts = ",".join(f"{key}={value}" for key, value in (
            ("cacert", os.path.join(certs, "ca.pem")), ("cert", os.path.join(certs, "client.pem")),
            ("key", os.path.join(certs, "client.key")), ("servername", SERVERNAME)))
        yield RemoteBuildkit(certs_dir=certs, servername=SERVERNAME, nodes=nodes, builder_driver_opts=driver_opts)
    finally:
        for layout in NODE_LAYOUT:
            _remove_node(f"mbh-it-buildkitd-{layout[0]}")
        shutil.rmtree(work, ignore_errors=True)
