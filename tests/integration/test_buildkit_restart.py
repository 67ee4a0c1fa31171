"""A certificate renewal restarts BuildKit only once the builds in flight have finished (issue 26: every renewal
restarted buildkitd at once and killed them). A real daemon in the lab's BuildKit image, a real build with a RUN step
that takes a while, and the buildkit_restart module as the buildkit role calls it."""
from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid

import pytest

BUILDKIT_IMAGE_FILE = "/var/lib/multiarch-lab/buildkit-image"  # written by tests/lab/buildkit.sh
LAB_ROOTFS = "/var/lib/multiarch-lab/rootfs/amd64"
SOCKET = "unix:///run/buildkit/buildkitd.sock"


def docker(*args: str) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"docker {' '.join(args)}: {done.stderr.strip()}"
    return done.stdout.strip()


@pytest.fixture
def daemon(tmp_path):
    """A BuildKit daemon in a container, reading a file of ours as if it were its certificate; a build context whose
    RUN step sleeps SECONDS (read from the context) and prints when it is done."""
    if not os.path.exists(BUILDKIT_IMAGE_FILE):  # a missing lab is a failure, never a skip counted as a pass
        pytest.fail(f"no {BUILDKIT_IMAGE_FILE}: run `make lab` first")
    with open(BUILDKIT_IMAGE_FILE, encoding="utf-8") as handle:
        image = handle.read().strip()
    name = f"mbh-it-restart-{uuid.uuid4().hex[:8]}"
    cert = tmp_path / "cert.pem"
    cert.write_text("stands for the daemon's certificate\n")
    context = tmp_path / "context"
    shutil.copytree(LAB_ROOTFS, context / "rootfs", symlinks=True)
    docker("run", "-d", "--name", name, "--privileged", "--network", "none", "-v", f"{context}:/context:ro",
           "-v", f"{cert}:/etc/buildkit/cert.pem:ro", image, "--addr", SOCKET, "--oci-worker-net", "host")
    for _attempt in range(60):
        if subprocess.run(["docker", "exec", name, "buildctl", "--addr", SOCKET, "debug", "workers"],
                          capture_output=True, check=False).returncode == 0:
            break
        time.sleep(0.5)
    yield name, cert, context
    subprocess.run(["docker", "rm", "-f", "-v", name], capture_output=True, check=False)


def start_build(name: str, context, seconds: int) -> subprocess.Popen:
    (context / "Dockerfile").write_text(
        "FROM scratch\nCOPY rootfs/ /\n"
        f'RUN ["/bin/busybox", "sh", "-c", "echo {uuid.uuid4().hex} >/dev/null; sleep {seconds}; echo BUILD-DONE"]\n')
    build = subprocess.Popen(["docker", "exec", name, "buildctl", "--addr", SOCKET, "build", "--progress", "plain",
                              "--frontend", "dockerfile.v0", "--local", "context=/context", "--local", "dockerfile=/context"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for _attempt in range(100):  # until the daemon lists it as running
        listed = subprocess.run(["docker", "exec", name, "buildctl", "--addr", SOCKET, "debug", "histories",
                                 "--format", "{{json .}}"], capture_output=True, text=True, check=False).stdout
        if listed.strip():
            return build
        time.sleep(0.2)
    build.kill()
    raise AssertionError(f"the build never showed up in the daemon's history: {build.communicate()[0]}")


def renew(cert) -> None:
    """The role writes a new certificate: its file is newer than the daemon's start."""
    time.sleep(1.1)
    cert.write_text("a renewed certificate\n")


def test_a_build_running_during_a_renewal_finishes_and_the_daemon_restarts_after_it(daemon, run_module):
    name, cert, context = daemon
    started = docker("inspect", "--format", "{{.State.StartedAt}}", name)
    build = start_build(name, context, seconds=12)
    renew(cert)
    result = run_module("buildkit_restart", {"container": name, "files": [str(cert)], "wait": 120, "poll": 1})
    output = build.communicate(timeout=120)[0]
    assert build.returncode == 0 and "BUILD-DONE" in output, output
    assert result["changed"] and result["restarted"] and not result["restart_pending"], result
    assert result["waited_seconds"] >= 5, result  # it did wait for the build
    assert docker("inspect", "--format", "{{.State.StartedAt}}", name) != started

    again = run_module("buildkit_restart", {"container": name, "files": [str(cert)], "wait": 120, "poll": 1})
    assert not again["changed"] and not again["restart_due"], again


def test_a_build_longer_than_the_wait_is_left_running_and_the_next_run_restarts(daemon, run_module):
    name, cert, context = daemon
    started = docker("inspect", "--format", "{{.State.StartedAt}}", name)
    build = start_build(name, context, seconds=15)
    renew(cert)
    result = run_module("buildkit_restart", {"container": name, "files": [str(cert)], "wait": 3, "poll": 1})
    assert not result["changed"] and result["restart_pending"] and result["running_builds"] == 1, result
    assert "still running" in str(result.get("warnings")), result
    assert docker("inspect", "--format", "{{.State.StartedAt}}", name) == started
    output = build.communicate(timeout=120)[0]
    assert build.returncode == 0 and "BUILD-DONE" in output, output

    later = run_module("buildkit_restart", {"container": name, "files": [str(cert)], "wait": 30, "poll": 1})
    assert later["changed"] and later["restarted"], later
    assert docker("inspect", "--format", "{{.State.StartedAt}}", name) != started


def test_check_mode_predicts_the_restart_and_leaves_the_daemon_alone(daemon, run_module):
    name, cert, _context = daemon
    started = docker("inspect", "--format", "{{.State.StartedAt}}", name)
    renew(cert)
    result = run_module("buildkit_restart", {"container": name, "files": [str(cert)]}, check_mode=True)
    assert result["changed"] and result["restart_due"], result
    assert docker("inspect", "--format", "{{.State.StartedAt}}", name) == started
