"""The registry mirrors reach a dind runner's docker:dind service (issue 28): the daemon.json the gitlab_runner role
writes, mounted as the role's config.toml mounts it, makes the service's dockerd pull Docker Hub images through the
mirror.

No docker:dind image can be pulled here and no gitlab-runner binary exists, so the service is a stand-in: the lab's
Debian 13 image running the lab engine's dockerd 26 (the engine docker:dind ships), privileged as GitLab Runner starts
the service, with the volume of the multiarch-docker runner in molecule/gitlab_runner/vars/expected.yml (which the
Molecule scenario compares with the real config.toml), the host-side file swapped for this test's. The file's content
is what the role writes: multiarch_registry_mirrors through the registry_mirror_daemon_settings filter, as to_nice_json
renders it.

The mirror is the lab registry on the host's loopback, which holds the lab's BuildKit image (the one a job's
docker-container builder would pull). The stand-in shares the host's network to reach it; a real dind service has a
network of its own and needs a mirror address that the job network reaches. Docker Hub is unreachable here, so a pull
that succeeds came through the mirror, and the same pull without the mount fails.
"""
from __future__ import annotations

import json
import os
import subprocess
import time
import uuid

import pytest
import yaml


REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXPECTED_CONFIG = os.path.join(REPO, "molecule", "gitlab_runner", "vars", "expected.yml")
RUNNER_NAME = "multiarch-docker"
ROLE_DAEMON_JSON = "/etc/multiarch-buildhost/dind-daemon.json"  # roles/gitlab_runner/vars/main.yml
SERVICE_DAEMON_JSON = "/etc/docker/daemon.json"
LAB_PREFIX = "/opt/multiarch-lab"  # the lab engine, unpacked from Debian trixie (tests/lab/engine.sh)
LAB_REGISTRY = "127.0.0.1:5000"
LAB_REGISTRY_LOG = "/var/lib/multiarch-lab/registry/registry.log"  # tests/lab/registry.sh
BUILDKIT_IMAGE_FILE = "/var/lib/multiarch-lab/buildkit-image"  # written by tests/lab/buildkit.sh
SERVICE_IMAGE = "localhost/multiarch-lab-debian:13"
SOCKET = "unix:///run/dind.sock"
READY_SECONDS = 30


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed (rc={done.returncode}): {done.stderr.strip()}")
    return done


def runner_daemon_json_volume() -> str:
    """The multiarch-docker runner's volume at /etc/docker/daemon.json, as the scenario's config.toml holds it."""
    with open(EXPECTED_CONFIG, encoding="utf-8") as handle:
        expected = yaml.safe_load(handle)["gitlab_runner_expected_config"]
    runner = next(runner for runner in expected["runners"] if runner["name"] == RUNNER_NAME)
    volumes = [volume for volume in runner["docker"]["volumes"] if volume.split(":")[1:2] == [SERVICE_DAEMON_JSON]]
    assert volumes == [f"{ROLE_DAEMON_JSON}:{SERVICE_DAEMON_JSON}:ro"], volumes
    return volumes[0]


def hub_name_of_lab_buildkit_image() -> str:
    """The lab's BuildKit image as a Docker Hub name (moby/buildkit:TAG): the lab registry serves it as the mirror."""
    if not os.path.exists(BUILDKIT_IMAGE_FILE):  # a missing lab is a failure, never a skip counted as a pass
        pytest.fail(f"no {BUILDKIT_IMAGE_FILE}: run `make lab` first")
    with open(BUILDKIT_IMAGE_FILE, encoding="utf-8") as handle:
        reference = handle.read().strip()
    assert reference.startswith(f"{LAB_REGISTRY}/"), reference
    return reference[len(LAB_REGISTRY) + 1:]


# The stand-in shares the host's network, so its dockerd must have a bridge of its own: with --bridge=none dockerd
# deletes a "stale" docker0, which is the lab engine's, and every later container loses its network.
STAND_IN_BRIDGE = "mbh-dind0"
STAND_IN_BRIDGE_ADDRESS = "10.251.0.1/24"


def ip(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *argv], capture_output=True, text=True, check=False)


@pytest.fixture
def services():
    names: list[str] = []
    ip("link", "del", STAND_IN_BRIDGE)
    for argv in (("link", "add", STAND_IN_BRIDGE, "type", "bridge"), ("addr", "add", STAND_IN_BRIDGE_ADDRESS, "dev", STAND_IN_BRIDGE)):
        done = ip(*argv)
        assert done.returncode == 0, f"ip {' '.join(argv)}: {done.stderr}"
    lab_bridge_before = ip("link", "show", "docker0").returncode == 0
    yield names
    for name in names:
        docker("rm", "-f", "-v", name, check=False)
    ip("link", "del", STAND_IN_BRIDGE)
    # The lab engine's bridge is what every later test's containers use.
    assert not lab_bridge_before or ip("link", "show", "docker0").returncode == 0, "the stand-in deleted docker0"


def start_service(names: list, volumes: list[str]) -> str:
    """A stand-in docker:dind service: the lab engine's dockerd, privileged, with VOLUMES; returns its name once it
    answers."""
    runc = subprocess.run(["sh", "-c", "command -v runc"], capture_output=True, text=True, check=False).stdout.strip()
    if not runc or not os.path.exists(f"{LAB_PREFIX}/usr/sbin/dockerd"):
        pytest.fail(f"no runc or no {LAB_PREFIX}/usr/sbin/dockerd: run `make lab` first")
    name = f"mbh-dind-{uuid.uuid4().hex[:10]}"
    names.append(name)
    argv = ["run", "-d", "--name", name, "--privileged", "--network", "host", "--volume", "/var/lib/docker",
            "--volume", f"{LAB_PREFIX}:{LAB_PREFIX}:ro", "--volume", f"{runc}:/usr/local/sbin/runc:ro",
            "--env", f"PATH=/usr/local/sbin:{LAB_PREFIX}/usr/bin:{LAB_PREFIX}/usr/sbin:/usr/sbin:/usr/bin:/sbin:/bin"]
    for volume in volumes:
        argv += ["--volume", volume]
    # Its own socket, pidfile, exec root and bridge; no iptables rules on the host's network.
    argv += ["--entrypoint", f"{LAB_PREFIX}/usr/sbin/dockerd", SERVICE_IMAGE, "--host", SOCKET, "--iptables=false",
             "--ip6tables=false", f"--bridge={STAND_IN_BRIDGE}", "--pidfile", "/run/dind.pid", "--exec-root",
             "/run/dind-exec"]
    docker(*argv)
    deadline = time.monotonic() + READY_SECONDS
    while docker("exec", name, "docker", "-H", SOCKET, "version", check=False).returncode != 0:
        if time.monotonic() > deadline:
            logs = docker("logs", "--tail", "30", name, check=False)
            raise AssertionError(f"the stand-in dind service did not answer:\n{logs.stdout}{logs.stderr}")
        time.sleep(0.5)
    return name


def test_the_mounted_daemon_json_makes_the_dind_service_pull_through_the_mirror(tmp_path, services):
    mirror = f"http://{LAB_REGISTRY}"
    host_file = tmp_path / "dind-daemon.json"
    # As the role writes it: the filter's settings through to_nice_json (indent 4, sorted keys), root's, 0644.
    # What registry_mirror_daemon_settings returns for it (its unit tests pin that). Not imported: importing a filter
    # plugin at collection time loads ansible's controller side, after which in-process module runs of other test
    # files lose their warnings (module.warn) from the result.
    host_file.write_text(json.dumps({"registry-mirrors": [mirror]}, indent=4, sort_keys=True) + "\n")
    os.chmod(host_file, 0o644)
    volume = runner_daemon_json_volume().replace(f"{ROLE_DAEMON_JSON}:", f"{host_file}:", 1)
    image = hub_name_of_lab_buildkit_image()
    repository = image.split(":", 1)[0]
    log_offset = os.path.getsize(LAB_REGISTRY_LOG)

    service = start_service(services, [volume])
    mirrors = docker("exec", service, "docker", "-H", SOCKET, "info", "--format", "{{json .RegistryConfig.Mirrors}}").stdout
    assert json.loads(mirrors) == [f"{mirror}/"]
    # Read-only, as config.toml mounts it: the service cannot change what the next job's service reads.
    mount = next(m for m in json.loads(docker("inspect", service).stdout)[0]["Mounts"] if m["Destination"] == SERVICE_DAEMON_JSON)
    assert mount["RW"] is False and mount["Source"] == str(host_file)

    pulled = docker("exec", service, "docker", "-H", SOCKET, "pull", image, check=False)
    assert pulled.returncode == 0, pulled.stderr
    with open(LAB_REGISTRY_LOG, encoding="utf-8", errors="replace") as handle:
        handle.seek(log_offset)
        served = [line for line in handle if f"GET /v2/{repository}/manifests/" in line and '" 200 ' in line]
    assert served, f"the mirror's access log shows no manifest of {repository} since the service started"


def test_without_the_mount_the_same_pull_goes_to_docker_hub_and_fails(services):
    service = start_service(services, [])
    mirrors = docker("exec", service, "docker", "-H", SOCKET, "info", "--format", "{{json .RegistryConfig.Mirrors}}").stdout
    assert json.loads(mirrors) in (None, [])
    pulled = docker("exec", service, "docker", "-H", SOCKET, "pull", hub_name_of_lab_buildkit_image(), check=False)
    assert pulled.returncode != 0 and "docker.io" in pulled.stderr, pulled.stderr
