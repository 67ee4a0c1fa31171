#!/usr/bin/env python3
"""Benchmarks for multiarch.buildhost: prints figures (medians over repeats, ratios within one run).

    bench/bench.py                 every figure (about 20 minutes on 2 cores)
    bench/bench.py --only cache    one group: provisioning, scale, baseline, cache, emulation, drivers, fleet
    bench/bench.py --smoke         one quick pass of the cache figure, as `make test` runs it

Hosts are Debian 13 systemd containers (the lab's test-host image) named mbh-bench-N, driven through the
community.docker.docker connection; the cache and emulation figures build on this machine's engine against the
lab registry on 127.0.0.1:5000. Needs `make lab` first.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_BIN = os.path.join(REPO, ".venv", "bin")
ROOTFS = "/var/lib/multiarch-lab/rootfs"
IMAGE = "localhost/multiarch-lab-debian:13"
REGISTRY = "localhost:5000"
ENV = dict(os.environ, PATH=f"{VENV_BIN}:{os.environ['PATH']}", ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"),
           ANSIBLE_STDOUT_CALLBACK="default", ANSIBLE_NOCOLOR="1")


def run(cmd, **kwargs):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, env=ENV, **kwargs)


def timed(cmd, **kwargs):
    started = time.monotonic()
    result = subprocess.run(cmd, capture_output=True, text=True, env=ENV, **kwargs)
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return elapsed, result.stdout


def median(values):
    return statistics.median(values)


def report(name, value, unit=""):
    print(f"{name:<58} {value:>10.2f} {unit}".rstrip(), flush=True)


# ---- hosts ----------------------------------------------------------------------------------------------------

def start_hosts(count):
    names = [f"mbh-bench-{i}" for i in range(1, count + 1)]
    for name in names:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)
        run(["docker", "run", "-d", "--name", name, "--privileged", "--cgroupns=host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
             "-v", "/var/lib/docker", "-v", "/var/lib/containerd", IMAGE])
    for name in names:
        subprocess.run(["docker", "exec", name, "systemctl", "is-system-running", "--wait"], capture_output=True)
        run(["docker", "exec", name, "useradd", "-m", "builder"])
    return names


def remove_hosts(names):
    for name in names:
        subprocess.run(["docker", "rm", "-f", "-v", name], capture_output=True)


def inventory(names):
    handle = tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False)
    hosts = {n: {"ansible_connection": "community.docker.docker"} for n in names}
    json.dump({"all": {"children": {"builders": {"hosts": hosts, "vars": {
        "docker_users": ["builder"], "qemu_platforms": ["linux/arm64", "linux/riscv64"], "qemu_verify_in_container": False}}}}},
        handle)
    handle.close()
    return handle.name


def setup_builders(names):
    """One run of setup-builders.yml: (seconds, tasks, changed)."""
    elapsed, out = timed(["ansible-playbook", "-i", inventory(names), os.path.join(REPO, "playbooks", "setup-builders.yml")])
    recap = re.findall(r"ok=(\d+)\s+changed=(\d+)", out)
    tasks = sum(int(ok) for ok, _ in recap) // max(len(recap), 1)
    changed = sum(int(ch) for _, ch in recap)
    return elapsed, tasks, changed


def figure_provisioning(repeats):
    names = start_hosts(1)
    try:
        first, first_tasks, first_changed = setup_builders(names)
        reruns = [setup_builders(names) for _ in range(repeats)]
        rerun = median([r[0] for r in reruns])
        report("provisioning: first run (s)", first)
        report("provisioning: first run tasks / changed", first_tasks, f"tasks, {first_changed} changed")
        report("provisioning: idempotent re-run, median (s) (target <= 15)", rerun)
        report("provisioning: re-run tasks", reruns[0][1], f"tasks, {max(r[2] for r in reruns)} changed (target 0)")
        report("provisioning: first run / re-run", first / rerun, "x")
        return rerun
    finally:
        remove_hosts(names)


def figure_scale(repeats):
    names = start_hosts(4)
    try:
        setup_builders(names)  # prepare all four once
        times = {}
        for count in (1, 2, 4):
            times[count] = median([setup_builders(names[:count])[0] for _ in range(repeats)])
            report(f"scale: idempotent re-run on {count} host(s), median (s)", times[count])
        report("scale: 2 hosts / 1 host", times[2] / times[1], "x")
        report("scale: 4 hosts / 1 host (target <= 1.5)", times[4] / times[1], "x")
    finally:
        remove_hosts(names)


BASELINE = r"""
set -e
jq '. * {"experimental": true}' /etc/docker/daemon.json > /tmp/d.json && cat /tmp/d.json > /etc/docker/daemon.json
jq '. * {"experimental": "enabled"}' /home/builder/.docker/config.json > /tmp/c.json && cat /tmp/c.json > /home/builder/.docker/config.json
for arch in aarch64 riscv64; do
  [ -e /proc/sys/fs/binfmt_misc/qemu-$arch ] && echo -1 > /proc/sys/fs/binfmt_misc/qemu-$arch
  sed 's/:[A-Z]*$/:OCF/' /usr/lib/binfmt.d/qemu-$arch.conf > /proc/sys/fs/binfmt_misc/register
done
su builder -c 'docker buildx rm baseline >/dev/null 2>&1 || true; docker buildx create --name baseline --use >/dev/null'
"""


def figure_baseline(repeats):
    names = start_hosts(1)
    try:
        setup_builders(names)
        run(["docker", "exec", names[0], "apt-get", "install", "-y", "-q", "jq"])
        shell = median([timed(["docker", "exec", names[0], "bash", "-c", BASELINE])[0] for _ in range(repeats)])
        # the shell script replaced handlers: let the playbook put its own back before timing its re-run
        setup_builders(names)
        playbook = median([setup_builders(names)[0] for _ in range(repeats)])
        report("baseline: shell script (jq, binfmt register, buildx create), median (s)", shell)
        report("baseline: playbook idempotent re-run, median (s)", playbook)
        report("baseline: re-run / shell (target <= 3)", playbook / shell, "x")
    finally:
        remove_hosts(names)


# ---- builds on this machine's engine --------------------------------------------------------------------------

# Like a dependency install or compile step: emulated work that cache should spare, before the source is copied.
# Its weight decides the cache ratios: --dependency-iterations (150,000 is about 20 s of emulated shell per platform
# here; --smoke uses 30,000 to keep `make test` short).
DEPENDENCY_STEP = "RUN i=0; while [ $i -lt {iterations} ]; do i=$((i+1)); done; echo $i > /etc/app/dependencies\n"
DEPENDENCY_ITERATIONS = 150_000
SMOKE_DEPENDENCY_ITERATIONS = 30_000


def app_copy(variant="", iterations=DEPENDENCY_ITERATIONS):
    directory = tempfile.mkdtemp(prefix="mbh-bench-app.")
    shutil.copytree(os.path.join(REPO, "examples", "multiarch-app"), directory, dirs_exist_ok=True, ignore=shutil.ignore_patterns("rootfs"))
    shutil.copytree(ROOTFS, os.path.join(directory, "rootfs"), dirs_exist_ok=True)
    dockerfile = os.path.join(directory, "Dockerfile")
    with open(dockerfile) as handle:
        text = handle.read()
    with open(dockerfile, "w") as handle:
        handle.write(text.replace("COPY app.sh", DEPENDENCY_STEP.format(iterations=iterations) + "COPY app.sh"))
    if variant:
        with open(os.path.join(directory, "app.sh"), "a") as handle:
            handle.write(f"# {variant}\n")
    return directory


def build(context, tag, cache, cold=False, dockerfile=None, platforms="linux/amd64,linux/arm64"):
    cmd = ["docker", "buildx", "build", "--builder", "default", "--progress", "plain", "--provenance=false",
           "--platform", platforms, "--tag", tag, "--push"]
    if dockerfile:
        cmd += ["--file", dockerfile]
    if cache == "inline" and not cold:
        cmd += ["--cache-from", tag, "--build-arg", "BUILDKIT_INLINE_CACHE=1"]
    elif cache == "inline":
        cmd += ["--build-arg", "BUILDKIT_INLINE_CACHE=1"]
    elif cache == "registry":
        ref = tag.rsplit(":", 1)[0] + ":buildcache"
        if not cold:
            cmd += ["--cache-from", f"type=registry,ref={ref}"]
        cmd += ["--cache-to", f"type=registry,ref={ref},mode=max"]
    subprocess.run(["docker", "buildx", "prune", "--builder", "default", "-af"], capture_output=True)  # only the remote cache counts
    return timed(cmd + [context])[0]


def figure_cache(repeats, iterations=DEPENDENCY_ITERATIONS):
    print(f"cache figure: dependency step of {iterations} emulated shell iterations", flush=True)
    for cache in ("inline", "registry"):
        tag = f"{REGISTRY}/bench/app-{cache}:latest"
        colds, cacheds, changeds = [], [], []
        for attempt in range(repeats):
            context = app_copy(iterations=iterations)
            colds.append(build(context, tag, cache, cold=True))
            cacheds.append(build(context, tag, cache))
            changed = app_copy(variant=f"change {attempt} {time.time()}", iterations=iterations)
            changeds.append(build(changed, tag, cache))
            shutil.rmtree(context)
            shutil.rmtree(changed)
        cold, cached, one_line = median(colds), median(cacheds), median(changeds)
        report(f"cache ({cache}): cold build, median (s)", cold)
        report(f"cache ({cache}): cached rebuild, no change, median (s)", cached)
        report(f"cache ({cache}): rebuild after a one-line change, median (s)", one_line)
        report(f"cache ({cache}): cold / cached (target >= 5)", cold / cached, "x")
        report(f"cache ({cache}): cold / one-line change", cold / one_line, "x")


EMULATED = """FROM scratch AS base
ARG TARGETARCH
COPY rootfs/${TARGETARCH}/ /
RUN ["/bin/busybox", "--install", "-s", "/bin"]
FROM base
RUN i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done; echo $i > /work
"""
CROSS = """FROM scratch AS native
ARG BUILDARCH
COPY rootfs/${BUILDARCH}/ /
RUN ["/bin/busybox", "--install", "-s", "/bin"]
FROM --platform=$BUILDPLATFORM native AS work
RUN i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done; echo $i > /work
FROM scratch AS base
ARG TARGETARCH
COPY rootfs/${TARGETARCH}/ /
FROM base
COPY --from=work /work /work
"""


def figure_emulation(repeats):
    context = app_copy()
    for name, text in (("emulated", EMULATED), ("cross", CROSS)):
        with open(os.path.join(context, f"Dockerfile.{name}"), "w") as handle:
            handle.write(text)
    times = {}
    for name in ("emulated", "cross"):
        times[name] = median([build(context, f"{REGISTRY}/bench/{name}:latest", "none", cold=True,
                                    dockerfile=os.path.join(context, f"Dockerfile.{name}"), platforms="linux/arm64,linux/riscv64")
                              for _ in range(repeats)])
        report(f"emulation: {name} build (arm64 + riscv64), median (s)", times[name])
    report("emulation: emulated / cross-compiled", times["emulated"] / times["cross"], "x")
    shutil.rmtree(context)


BUILDKIT_IMAGE = "moby/buildkit:v0.13.2"  # the lab's build (tests/lab/buildkit.sh); test hosts cannot pull it


def figure_drivers(repeats):
    """The example app (with the dependency step) built on one Debian 13 host by the docker driver and by a
    docker-container builder, cold (the builder's cache pruned) and cached (the same build again), pushed each time."""
    names = start_hosts(1)
    host = names[0]
    try:
        setup_builders(names)
        subprocess.run(f"docker save {BUILDKIT_IMAGE} | docker exec -i {host} docker load", shell=True, check=True,
                       capture_output=True)
        run(["docker", "exec", host, "apt-get", "install", "-y", "-q", "docker-registry"])
        run(["docker", "exec", host, "bash", "-c",
             "systemctl stop docker-registry; printf 'version: 0.1\nstorage:\n  filesystem: {rootdirectory: /var/lib/bench-registry}"
             "\nhttp: {addr: \"127.0.0.1:5000\"}\n' > /etc/docker/registry/bench.yml && "
             "systemd-run --unit bench-registry docker-registry serve /etc/docker/registry/bench.yml"])
        context = app_copy()
        run(["docker", "cp", f"{context}/.", f"{host}:/srv/bench-app"])
        shutil.rmtree(context)
        run(["docker", "exec", host, "docker", "buildx", "create", "--name", "bench-container", "--driver", "docker-container",
             "--driver-opt", f"image={BUILDKIT_IMAGE}", "--driver-opt", "network=host", "--bootstrap"])
        times = {}
        for driver, builder in (("docker", "default"), ("docker-container", "bench-container")):
            colds, cacheds = [], []
            cmd = ["docker", "exec", host, "docker", "buildx", "build", "--builder", builder, "--progress", "plain",
                   "--provenance=false", "--platform", "linux/amd64,linux/arm64", "--tag",
                   f"localhost:5000/bench/app-{driver}:latest", "--push", "/srv/bench-app"]
            for _ in range(repeats):
                run(["docker", "exec", host, "docker", "buildx", "prune", "--builder", builder, "-af"])
                colds.append(timed(cmd)[0])
                cacheds.append(timed(cmd)[0])
            times[driver] = (median(colds), median(cacheds))
            report(f"drivers ({driver}): cold build, median (s)", times[driver][0])
            report(f"drivers ({driver}): cached rebuild, median (s)", times[driver][1])
            report(f"drivers ({driver}): cold / cached", times[driver][0] / times[driver][1], "x")
        report("drivers: docker-container / docker, cold", times["docker-container"][0] / times["docker"][0], "x")
        report("drivers: docker-container / docker, cached", times["docker-container"][1] / times["docker"][1], "x")
    finally:
        remove_hosts(names)


FLEET_NODES = (("amd64", 18801), ("arm64", 18802))


def _fleet_pki(directory):
    """A CA, one server certificate for 127.0.0.1 and one client certificate, with the openssl CLI."""
    def openssl(*args):
        run(["openssl", *args], cwd=directory)
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
            "-subj", "/CN=bench CA", "-keyout", "ca.key", "-out", "ca.pem")
    for name, usage, san in (("server", "serverAuth", "subjectAltName=IP:127.0.0.1"), ("client", "clientAuth", None)):
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", f"/CN=bench {name}",
                "-keyout", f"{name}.key", "-out", f"{name}.csr")
        with open(os.path.join(directory, f"{name}.ext"), "w") as handle:
            handle.write(f"extendedKeyUsage={usage}\n" + (f"{san}\n" if san else ""))
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.pem")


def figure_fleet(repeats):
    """The example app for linux/amd64 + linux/arm64, cold: one BuildKit node doing both platforms, against two nodes
    (one per platform) of a remote-driver builder, as the fleet mode makes them. Both nodes run on this machine."""
    pki = tempfile.mkdtemp(prefix="bench-fleet-")
    os.chmod(pki, 0o755)
    with open(os.path.join(pki, "buildkitd.toml"), "w") as handle:
        handle.write('[registry."localhost:5000"]\n  http = true\n')
    containers = [f"mbh-bench-buildkitd-{arch}" for arch, _port in FLEET_NODES]
    opts = f"cacert={pki}/ca.pem,cert={pki}/client.pem,key={pki}/client.key,servername=127.0.0.1"
    try:
        _fleet_pki(pki)
        for (arch, port), name in zip(FLEET_NODES, containers):
            subprocess.run(["docker", "rm", "-f", "-v", name], capture_output=True)
            run(["docker", "run", "-d", "--name", name, "--privileged", "--network", "host", "-v", f"{pki}:/certs:ro",
                 "-v", f"{pki}/buildkitd.toml:/etc/buildkit/buildkitd.toml:ro", f"127.0.0.1:5000/{BUILDKIT_IMAGE}",
                 "--addr", f"tcp://127.0.0.1:{port}", "--tlscacert", "/certs/ca.pem", "--tlscert", "/certs/server.pem",
                 "--tlskey", "/certs/server.key", "--oci-worker-platform", f"linux/{arch}"])
        for builder in ("bench-one", "bench-two"):
            subprocess.run(["docker", "buildx", "rm", builder], capture_output=True)
        (arch_a, port_a), (arch_b, port_b) = FLEET_NODES
        run(["docker", "buildx", "create", "--name", "bench-one", "--driver", "remote", "--driver-opt", opts,
             f"tcp://127.0.0.1:{port_a}"])
        run(["docker", "buildx", "create", "--name", "bench-two", "--driver", "remote", "--driver-opt", opts,
             "--platform", f"linux/{arch_a}", "--node", "bench-two-a", f"tcp://127.0.0.1:{port_a}"])
        run(["docker", "buildx", "create", "--name", "bench-two", "--append", "--driver", "remote", "--driver-opt", opts,
             "--platform", f"linux/{arch_b}", "--node", "bench-two-b", f"tcp://127.0.0.1:{port_b}"])
        for builder in ("bench-one", "bench-two"):
            run(["docker", "buildx", "inspect", "--bootstrap", builder])
        context = app_copy()
        times = {}
        for builder in ("bench-one", "bench-two"):
            samples = []
            for _ in range(repeats):
                for node in ("bench-one", "bench-two"):
                    subprocess.run(["docker", "buildx", "prune", "--builder", node, "-af"], capture_output=True)
                samples.append(timed(["docker", "buildx", "build", "--builder", builder, "--progress", "plain",
                                      "--provenance=false", "--platform", "linux/amd64,linux/arm64",
                                      "--tag", f"{REGISTRY}/bench/fleet-{builder}:latest", "--push", context])[0])
            times[builder] = median(samples)
        shutil.rmtree(context)
        report("fleet: one node, amd64 + arm64 (arm64 emulated), cold, median (s)", times["bench-one"])
        report("fleet: two nodes, one platform each, cold, median (s)", times["bench-two"])
        report("fleet: one node / two nodes", times["bench-one"] / times["bench-two"], "x")
    finally:
        for builder in ("bench-one", "bench-two"):
            subprocess.run(["docker", "buildx", "rm", builder], capture_output=True)
        for name in containers:
            subprocess.run(["docker", "rm", "-f", "-v", name], capture_output=True)
        shutil.rmtree(pki, ignore_errors=True)


FIGURES = {"provisioning": figure_provisioning, "scale": figure_scale, "baseline": figure_baseline,
           "cache": figure_cache, "emulation": figure_emulation, "drivers": figure_drivers, "fleet": figure_fleet}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=sorted(FIGURES), action="append")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="one pass of the cache figure, with a light dependency step")
    parser.add_argument("--dependency-iterations", type=int, help="weight of the cached dependency step (default 150000)")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, {os.uname().sysname} {os.uname().release}; "
          f"{run(['docker', 'version', '--format', '{{.Server.Version}}']).stdout.strip()} engine", flush=True)
    if args.smoke:
        figure_cache(1, args.dependency_iterations or SMOKE_DEPENDENCY_ITERATIONS)
        return
    figures = dict(FIGURES, cache=functools.partial(figure_cache, iterations=args.dependency_iterations or DEPENDENCY_ITERATIONS))
    for name in args.only or figures:
        figures[name](args.repeats)


if __name__ == "__main__":
    main()
