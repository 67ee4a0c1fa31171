"""A job on a remote_buildkit runner, run as GitLab Runner would run it: examples/gitlab-ci/remote-buildkit-build.sh in
an unprivileged container with no Docker daemon or socket, the client certificate mounted read-only, building
linux/amd64 + linux/arm64 on two real BuildKit daemons (the remote_buildkit fixture) and pushing to the lab registry.

The container gets the settings the gitlab_runner role writes for such a runner (molecule/gitlab_runner/vars/expected.yml,
which the Molecule scenario compares with the real config.toml): its privileged flag, volumes and environment, with the
host-side certificate directory and the daemon addresses swapped for this lab's.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import uuid

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(REPO, "examples", "gitlab-ci", "remote-buildkit-build.sh")
EXPECTED_CONFIG = os.path.join(REPO, "molecule", "gitlab_runner", "vars", "expected.yml")
RUNNER_NAME = "unprivileged-buildkit"
ROLE_CLIENT_DIR = "/etc/multiarch-buildhost/buildkit/domains/ci/client"  # trust domain ci's, as the scenario has it
LAB_ROOTFS = "/var/lib/multiarch-lab/rootfs"
LAB_REGISTRY = "127.0.0.1:5000"
DOCKER_CLI = "/usr/local/bin/docker"
BUILDX_PLUGIN = "/usr/local/lib/docker/cli-plugins/docker-buildx"
PLATFORMS = ("linux/amd64", "linux/arm64")
# Not a real credential: the lab registry takes any. The test proves it never reaches the job's output.
REGISTRY_PASSWORD = "mbh-job-Pa55word-not-on-argv"


def docker(*args: str, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, check=False, env=env)
    if check and done.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed (rc={done.returncode}): {done.stderr.strip()}")
    return done


def runner_entry() -> dict:
    with open(EXPECTED_CONFIG, encoding="utf-8") as handle:
        expected = yaml.safe_load(handle)["gitlab_runner_expected_config"]
    return next(runner for runner in expected["runners"] if runner["name"] == RUNNER_NAME)


def job_image() -> str:
    """The lab's Debian 13 image: no docker:cli image can be pulled here, so the CLI and buildx are mounted into it."""
    listed = docker("images", "--format", "{{.Repository}}:{{.Tag}}", "localhost/multiarch-lab-debian").stdout.split()
    if "localhost/multiarch-lab-debian:13" in listed:
        return "localhost/multiarch-lab-debian:13"
    trixie = sorted(ref for ref in listed if ref.split(":")[1].startswith("13"))
    if not trixie:  # a missing lab is a failure, never a skip counted as a pass
        pytest.fail("no localhost/multiarch-lab-debian:13 image: run `make lab` first")
    return trixie[0]


@pytest.fixture
def client_dir(tmp_path, remote_buildkit) -> str:
    """The client certificate as the buildkit role lays it out (ca.pem, cert.pem, key.pem) from the fixture's names."""
    directory = tmp_path / "client"
    directory.mkdir()
    for source, target in (("ca.pem", "ca.pem"), ("client.pem", "cert.pem"), ("client.key", "key.pem")):
        shutil.copyfile(os.path.join(remote_buildkit.certs_dir, source), directory / target)
    os.chmod(directory / "key.pem", 0o600)
    return str(directory)


@pytest.fixture
def build_context(tmp_path) -> str:
    """A two-platform image from static busybox binaries: FROM scratch, nothing to pull."""
    context = tmp_path / "project"
    for arch in ("amd64", "arm64"):
        shutil.copytree(os.path.join(LAB_ROOTFS, arch), context / "rootfs" / arch, symlinks=True)
    (context / "Dockerfile").write_text("FROM scratch\nARG TARGETARCH\nCOPY rootfs/${TARGETARCH}/ /\n")
    return str(context)


def run_job(remote_buildkit, client_dir: str, context: str, image: str, tag: str, **overrides: str):
    """Start the job container the way GitLab Runner's docker executor would for RUNNER_NAME; returns (name, rc, log)."""
    entry = runner_entry()
    settings = entry["docker"]
    environment = dict(item.split("=", 1) for item in entry["environment"])
    # The lab's daemons, not the scenario's build-01.example.com: every node, and the name their certificate holds.
    environment["BUILDKIT_HOST"] = " ".join(node["endpoint"] for node in remote_buildkit.nodes)
    environment["BUILDKIT_SERVERNAME"] = remote_buildkit.servername
    environment.update(IMAGE=image, TAG=tag, PLATFORMS=",".join(PLATFORMS), CACHE_REF=f"{image}:buildcache",
                       REGISTRY=LAB_REGISTRY, REGISTRY_USER="ci")
    environment.update(overrides)
    name = f"mbh-job-{uuid.uuid4().hex[:10]}"
    argv = ["run", "-d", "--name", name, "--network", "host", "--workdir", "/builds/project",
            "--volume", f"{context}:/builds/project:ro",
            "--volume", f"{SCRIPT}:/builds/ci/remote-buildkit-build.sh:ro",
            "--volume", f"{DOCKER_CLI}:/usr/local/bin/docker:ro",
            "--volume", f"{os.path.realpath(BUILDX_PLUGIN)}:/usr/local/lib/docker/cli-plugins/docker-buildx:ro"]
    if settings["privileged"]:
        argv.append("--privileged")
    for volume in settings["volumes"]:
        argv += ["--volume", volume.replace(ROLE_CLIENT_DIR + ":", client_dir + ":", 1)]
    for key, value in environment.items():
        argv += ["--env", f"{key}={value}"]
    # The password comes from this process's environment (`--env NAME`), as GitLab hands masked variables over.
    argv += ["--env", "REGISTRY_PASSWORD", job_image(), "sh", "/builds/ci/remote-buildkit-build.sh"]
    docker(*argv, env=dict(os.environ, REGISTRY_PASSWORD=REGISTRY_PASSWORD))
    rc = int(docker("wait", name).stdout.strip())
    logs = docker("logs", name)
    return name, rc, logs.stdout + logs.stderr


def index_platforms(reference: str) -> set[str]:
    template = "{{range .Manifest.Manifests}}{{with .Platform}}{{.OS}}/{{.Architecture}} {{end}}{{end}}"
    shown = docker("buildx", "imagetools", "inspect", reference, "--format", template).stdout.split()
    return set(shown) - {"unknown/unknown"}  # provenance attestations


@pytest.fixture
def job_containers():
    names: list[str] = []
    yield names
    for name in names:
        docker("rm", "-f", "-v", name, check=False)


def test_an_unprivileged_job_builds_and_pushes_every_platform_on_remote_buildkit(
        remote_buildkit, client_dir, build_context, job_containers):
    image = f"{LAB_REGISTRY}/mbh-job/remote-buildkit"
    tag = uuid.uuid4().hex[:8]
    name, rc, log = run_job(remote_buildkit, client_dir, build_context, image, tag)
    job_containers.append(name)
    assert rc == 0, log
    assert f"{image}:{tag} holds linux/amd64 linux/arm64" in log

    # What the registry holds, read from outside the job.
    assert index_platforms(f"{image}:{tag}") >= set(PLATFORMS), log
    assert docker("buildx", "imagetools", "inspect", f"{image}:buildcache", check=False).returncode == 0, \
        "the registry cache (CACHE_REF, mode=max) was not pushed"
    assert REGISTRY_PASSWORD not in log

    # The job ran as GitLab Runner runs a remote_buildkit runner's jobs: no privilege, no Docker socket, the
    # certificate read-only.
    container = json.loads(docker("inspect", name).stdout)[0]
    host_config = container["HostConfig"]
    assert host_config["Privileged"] is False
    assert not host_config.get("CapAdd")
    assert not host_config.get("Devices")
    mounts = {mount["Destination"]: mount for mount in container["Mounts"]}
    assert not [m for m in mounts.values() if m.get("Source", "").endswith("docker.sock")], mounts
    assert not [d for d in mounts if d.endswith("docker.sock")], mounts
    assert mounts["/buildkit/client"]["RW"] is False
    assert mounts["/buildkit/client"]["Source"] == client_dir
    assert not [key for key in container["Config"]["Env"] if key.startswith("DOCKER_HOST=")]


def test_a_daemon_certificate_for_another_name_fails_the_job_before_it_builds(
        remote_buildkit, client_dir, build_context, job_containers):
    image, tag = f"{LAB_REGISTRY}/mbh-job/remote-buildkit", uuid.uuid4().hex[:8]
    name, rc, log = run_job(remote_buildkit, client_dir, build_context, image, tag,
                            BUILDKIT_SERVERNAME="not-the-daemon.example.com")
    job_containers.append(name)
    assert rc != 0, log
    assert "no BuildKit daemon answered at" in log and "servername not-the-daemon.example.com" in log, log
    assert docker("buildx", "imagetools", "inspect", f"{image}:{tag}", check=False).returncode != 0


# A RUN step of the job's own build, reporting what it can reach (issue 26: with the daemon's host network, such a step
# saw docker0 and eth0 and fetched the registry on the host's loopback, with CAP_NET_RAW in the host's namespace).
# RUN_ID makes every run's step new, so it runs rather than comes from the cache.
NETWORK_PROBE = (
    'FROM scratch\nARG TARGETARCH\nCOPY rootfs/${TARGETARCH}/ /\n'
    'RUN ["/bin/busybox", "sh", "-c", "echo RUN_ID >/dev/null; echo PROBE-IFACES'
    ' $(sed -n \'3,$ s/:.*//p\' /proc/net/dev | tr -d \' \' | sort | tr \'\\\\n\' \' \');'
    ' if busybox nc -w 3 127.0.0.1 5000 </dev/null; then echo PROBE-LOOPBACK open; else echo PROBE-LOOPBACK closed; fi"]\n'
)
# What the step printed, as BuildKit's plain progress shows it ("#7 0.215 PROBE-..."), not the echoed command line.
PROBE_OUTPUT = re.compile(r"^#\d+ \d+\.\d+ (PROBE-[A-Z]+) ?(.*)$")


def test_a_jobs_build_steps_see_no_host_interface_and_no_host_loopback_service(
        remote_buildkit, client_dir, build_context, job_containers):
    tag = uuid.uuid4().hex[:8]
    with open(os.path.join(build_context, "Dockerfile"), "w", encoding="utf-8") as handle:
        handle.write(NETWORK_PROBE.replace("RUN_ID", tag))
    host_interfaces = set(os.listdir("/sys/class/net")) - {"lo"}
    assert "docker0" in host_interfaces, "the lab engine's bridge is missing, so this would prove nothing"
    image = f"{LAB_REGISTRY}/mbh-job/network-probe"
    name, rc, log = run_job(remote_buildkit, client_dir, build_context, image, tag, PLATFORMS="linux/amd64")
    job_containers.append(name)
    assert rc == 0, log
    report = dict(match.groups() for match in map(PROBE_OUTPUT.match, log.splitlines()) if match)
    assert set(report) == {"PROBE-IFACES", "PROBE-LOOPBACK"}, f"the RUN step's report is not in the job's log:\n{log}"
    interfaces = set(report["PROBE-IFACES"].split())
    assert interfaces <= {"lo", "eth0"} and not interfaces & (host_interfaces - {"eth0"}), interfaces
    assert report["PROBE-LOOPBACK"] == "closed", "a build step reached the registry on the host's loopback"
