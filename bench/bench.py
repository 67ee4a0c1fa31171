#!/usr/bin/env python3
"""Benchmarks for multiarch.buildhost: prints figures (medians over repeats, ratios within one run).

    bench/bench.py                 every figure (about 20 minutes on 2 cores)
    bench/bench.py --only ssh      one group: ssh, controller, provisioning, scale, baseline, cache, emulation, drivers,
                                   fleet, ready
    bench/bench.py --smoke         one SSH host's first run and re-run, then one quick pass of the cache figure,
                                   as `make test` runs it
    bench/bench.py --baseline REF  one SSH host's idempotent re-run, REF (a git worktree) against the working tree,
                                   interleaved, with the ratios against issue 30's targets

Hosts are Debian 13 systemd containers (the lab's test-host image) named mbh-bench-N. The ssh figure drives them the
way users do, over SSH (sshd in the host, a key the bench makes once, ControlPersist, pipelining), with the
community.docker.docker connection and mitogen beside it; the older figures use the docker connection. The cache and
emulation figures build on this machine's engine against the lab registry on 127.0.0.1:5000. Needs `make lab` first.
"""
from __future__ import annotations

import argparse
import atexit
import functools
import hashlib
import json
import os
import re
import resource
import shutil
import socket
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
    shown = f"{value:>10}" if isinstance(value, int) else f"{value:>10.2f}"
    print(f"{name:<58} {shown} {unit}".rstrip(), flush=True)


# ---- hosts ----------------------------------------------------------------------------------------------------

# SSH test hosts: the lab image plus openssh-server, made once and kept (labelled with the base image it came from),
# and one key pair the bench makes once. apt's lists are dropped again, so a first run starts as on the lab image.
SSH_IMAGE = "localhost/multiarch-bench-sshd:13"
SSH_DIR = "/var/lib/multiarch-lab/bench-ssh"
SSH_KEY = os.path.join(SSH_DIR, "id_ed25519")
# OpenSSH 10 drops a source address for a while after connections that never authenticate (LAB.md).
SSHD_CONFIG = "PerSourcePenalties no\nUseDNS no\n"


def ssh_key():
    os.makedirs(SSH_DIR, mode=0o700, exist_ok=True)
    if not os.path.exists(SSH_KEY):
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "multiarch-bench", "-f", SSH_KEY])
    os.chmod(SSH_KEY, 0o600)
    with open(SSH_KEY + ".pub") as handle:
        return handle.read().strip()


def ssh_image():
    # apt's lists, caches and update stamp go again and the empty lists directory is dated to the epoch, as
    # tests/lab/images.sh ships it: otherwise `apt: cache_valid_time` takes the empty cache for a current one.
    recipe = ("set -e; apt-get update -q; DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "
              f"openssh-server; printf '{SSHD_CONFIG}' > /etc/ssh/sshd_config.d/bench.conf; "
              "rm -rf /var/lib/apt/lists/* /var/lib/apt/periodic/update-success-stamp /var/cache/apt/*.bin; "
              "mkdir -p /var/lib/apt/lists/partial; touch -d @0 /var/lib/apt/lists")
    base = run(["docker", "image", "inspect", "--format", "{{.Id}}", IMAGE]).stdout.strip()
    key = f"{base}-{hashlib.sha256(recipe.encode()).hexdigest()[:12]}"
    have = subprocess.run(["docker", "image", "inspect", "--format", '{{index .Config.Labels "mbh.key"}}', SSH_IMAGE],
                          capture_output=True, text=True).stdout.strip()
    if have == key:
        return SSH_IMAGE
    builder = "mbh-bench-sshd-build"
    subprocess.run(["docker", "rm", "-f", builder], capture_output=True)
    try:
        run(["docker", "run", "--name", builder, IMAGE, "bash", "-c", recipe])
        run(["docker", "commit", "-c", 'CMD ["/lib/systemd/systemd"]', "-c", f"LABEL mbh.key={key}", builder, SSH_IMAGE])
    finally:
        subprocess.run(["docker", "rm", "-f", builder], capture_output=True)
    return SSH_IMAGE


def start_hosts(count, ssh=False, first=1):
    """Test hosts mbh-bench-<first>..; with ssh=True they run sshd and authorize the bench's key."""
    names = [f"mbh-bench-{i}" for i in range(first, first + count)]
    image = ssh_image() if ssh else IMAGE
    for name in names:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)
        run(["docker", "run", "-d", "--name", name, "--privileged", "--cgroupns=host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
             "-v", "/var/lib/docker", "-v", "/var/lib/containerd", image])
    for name in names:
        subprocess.run(["docker", "exec", name, "systemctl", "is-system-running", "--wait"], capture_output=True)
        run(["docker", "exec", name, "useradd", "-m", "builder"])
        if ssh:
            run(["docker", "exec", "-i", name, "bash", "-c", "install -d -m 700 /root/.ssh && cat > /root/.ssh/authorized_keys "
                 "&& chmod 600 /root/.ssh/authorized_keys"], input=ssh_key() + "\n")
            wait_for_port(host_address(name), 22)
    return names


def wait_for_port(address, port, seconds=60):
    deadline = time.monotonic() + seconds
    while True:
        try:
            with socket.create_connection((address, port), timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def remove_hosts(names):
    for name in names:
        subprocess.run(["docker", "rm", "-f", "-v", name], capture_output=True)


def host_address(name):
    return run(["docker", "inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", name]).stdout.split()[0]


# One ControlPath directory per bench run, short enough for a unix socket name.
CONTROL_DIR = tempfile.mkdtemp(prefix="mbh-cp.", dir="/tmp")


def ssh_common_args():
    return (f"-o ControlMaster=auto -o ControlPersist=60s -o ControlPath={CONTROL_DIR}/%C "
            "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null")


def close_ssh_masters():
    for control in os.listdir(CONTROL_DIR):
        subprocess.run(["ssh", "-o", f"ControlPath={CONTROL_DIR}/{control}", "-O", "exit", "bench"], capture_output=True)
    shutil.rmtree(CONTROL_DIR, ignore_errors=True)


atexit.register(close_ssh_masters)


def inventory(names, connection="docker"):
    handle = tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False)
    if connection == "ssh":
        hosts = {n: {"ansible_connection": "ssh", "ansible_host": host_address(n), "ansible_user": "root",
                     "ansible_ssh_private_key_file": SSH_KEY, "ansible_ssh_common_args": ssh_common_args()} for n in names}
    else:
        hosts = {n: {"ansible_connection": "community.docker.docker"} for n in names}
    json.dump({"all": {"children": {"builders": {"hosts": hosts, "vars": {
        "docker_users": ["builder"], "qemu_platforms": ["linux/arm64", "linux/riscv64"], "qemu_verify_in_container": False}}}}},
        handle)
    handle.close()
    return handle.name


# ---- one playbook run, measured -------------------------------------------------------------------------------

# Actions that run on the controller only: no module is sent to the host for them.
CONTROLLER_ACTIONS = {"debug", "set_fact", "assert", "fail", "include_tasks", "import_tasks", "include_role", "import_role",
                      "meta", "validate_argument_spec", "include_vars", "add_host", "group_by", "set_stats", "pause",
                      "include", "end_play", "end_host"}
APT_ACTIONS = {"apt", "package", "apt_repository", "deb822_repository", "apt_key"}
MITOGEN_DIR = os.path.join(REPO, "build", "mitogen")


def short_action(action):
    for prefix in ("ansible.builtin.", "ansible.legacy."):
        if action.startswith(prefix):
            return action[len(prefix):]
    return action


def role_of(path):
    found = re.search(r"/roles/([^/]+)/", path or "")
    return found.group(1) if found else "(play)"


def _seconds(duration):
    from datetime import datetime
    if "end" not in duration:
        return 0.0
    start, end = (datetime.fromisoformat(duration[k].rstrip("Z")) for k in ("start", "end"))
    return (end - start).total_seconds()


def cgroup_cpu_seconds(name):
    """CPU time the container's cgroup has used (all its processes, systemd and Docker-in-Docker's daemons included;
    containers started by the host's own engine live in cgroups of their own and are not counted)."""
    pid = run(["docker", "inspect", "--format", "{{.State.Pid}}", name]).stdout.strip()
    with open(f"/proc/{pid}/cgroup") as handle:
        lines = [line.rstrip("\n").split(":", 2) for line in handle]
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):  # cgroup v2
        path = next(p for _, ctl, p in lines if ctl == "")
        path = re.sub(r"/init\.scope$", "", path)
        with open(f"/sys/fs/cgroup{path}/cpu.stat") as handle:
            usec = next(int(line.split()[1]) for line in handle if line.startswith("usage_usec"))
        return usec / 1e6
    path = next(p for _, ctl, p in lines if "cpuacct" in ctl.split(","))
    path = re.sub(r"/init\.scope$", "", path)
    root = next(d for d in ("/sys/fs/cgroup/cpuacct", "/sys/fs/cgroup/cpu,cpuacct") if os.path.isdir(d + path))
    with open(f"{root}{path}/cpuacct.usage") as handle:
        return int(handle.read()) / 1e9


def ssh_master_cpu():
    """CPU seconds of the live ControlPersist masters of this bench run, by pid: they outlive ansible-playbook, so
    its rusage never counts them."""
    tick = os.sysconf("SC_CLK_TCK")
    masters = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                cmdline = handle.read()
            # a master renames itself "ssh: <ControlPath> [mux]"
            if not cmdline.startswith(b"ssh: " + CONTROL_DIR.encode()):
                continue
            with open(f"/proc/{pid}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            masters[pid] = (int(fields[11]) + int(fields[12])) / tick
        except OSError:
            continue
    return masters


class PlaybookFailed(Exception):
    pass


class Run:
    """One ansible-playbook run of setup-builders.yml: wall time, CPU, and what the json callback reported."""

    def __init__(self, names, connection="docker", env=None, verbose=False, split_report=None, tree=REPO):
        self.names = names
        extra = {"ANSIBLE_PIPELINING": "1"}
        if not verbose:
            extra["ANSIBLE_STDOUT_CALLBACK"] = "ansible.posix.json"
        if tree != REPO:  # another checkout (--baseline): its own ansible.cfg, whose collections path is its own
            extra["ANSIBLE_CONFIG"] = os.path.join(tree, "ansible.cfg")
        extra.update(env or {})
        cmd = ["ansible-playbook", "-i", inventory(names, connection), os.path.join(tree, "playbooks", "setup-builders.yml")]
        if split_report:  # the same run, through the wrapper that writes where the controller's CPU went
            cmd = [os.path.join(VENV_BIN, "python"), os.path.join(REPO, "bench", "controller_split.py"), split_report, *cmd[1:]]
        if verbose:
            cmd.append("-vvv")
        hosts_before = {n: cgroup_cpu_seconds(n) for n in names}
        masters_before = ssh_master_cpu()
        rusage_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        result = subprocess.run(cmd, capture_output=True, text=True, env=dict(ENV, **extra))
        self.wall = time.monotonic() - started
        rusage_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        masters_after = ssh_master_cpu()
        self.host_cpu = {n: cgroup_cpu_seconds(n) - hosts_before[n] for n in names}
        self.controller_cpu = (rusage_after.ru_utime - rusage_before.ru_utime) + (rusage_after.ru_stime - rusage_before.ru_stime)
        self.master_cpu = sum(cpu - masters_before.get(pid, 0.0) for pid, cpu in masters_after.items())
        self.output = result.stdout
        failure = f"failed: {' '.join(cmd)}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        if verbose:
            if result.returncode != 0:
                raise PlaybookFailed(failure)
            return
        try:
            self.report = json.loads(result.stdout[result.stdout.index("{"):])
        except ValueError:
            raise PlaybookFailed(failure) from None
        if result.returncode != 0:
            failed = [f"{h}: {t['task']['name']}: {r.get('msg', '')}" for play in self.report["plays"] for t in play["tasks"]
                      for h, r in t["hosts"].items() if r.get("failed") or r.get("unreachable")]
            raise PlaybookFailed(f"failed: {' '.join(cmd)}\n" + "\n".join(failed)[-3000:] + f"\n{result.stderr[-2000:]}")

    @property
    def tasks(self):
        return sum(s["ok"] for s in self.report["stats"].values()) // len(self.names)

    @property
    def evaluated(self):
        """Task results per host, the skipped ones included: each costs the controller a worker process."""
        return sum(len(t["hosts"]) for play in self.report["plays"] for t in play["tasks"]) // len(self.names)

    @property
    def changed(self):
        return sum(s["changed"] for s in self.report["stats"].values())

    def task_times(self):
        """(seconds, role, task name, action) for every task, in order."""
        return [(_seconds(t["task"]["duration"]), role_of(t["task"]["path"]), t["task"]["name"],
                 short_action(next(iter(t["hosts"].values()), {}).get("action", "")))
                for play in self.report["plays"] for t in play["tasks"]]

    def apt_seconds(self):
        return sum(seconds for seconds, _, _, action in self.task_times() if action in APT_ACTIONS)

    def module_tasks_by_role(self):
        """Executed, non-skipped task runs per role that send a module to the host (one per loop item), per host."""
        counts = {}
        for play in self.report["plays"]:
            for t in play["tasks"]:
                role = role_of(t["task"]["path"])
                for result in t["hosts"].values():
                    action = short_action(result.get("action", ""))
                    if action in CONTROLLER_ACTIONS or result.get("skipped"):
                        continue
                    if action in ("gather_facts", "setup"):
                        role = "(facts)"
                    items = result.get("results")
                    runs = sum(1 for item in items if not item.get("skipped")) if isinstance(items, list) else 1
                    counts[role] = counts.get(role, 0) + runs
        return {role: n / len(self.names) for role, n in counts.items()}


def ssh_execs_by_role(output):
    """Every ssh (or sftp/scp) command Ansible ran, from a -vvv log, attributed to the role of the task that ran it:
    the real number of round trips, including an action plugin's several modules (template = stat + copy)."""
    counts, role = {}, "(play)"
    for line in output.splitlines():
        if line.startswith("task path: "):
            role = role_of(line)
            role = "(facts)" if role == "(play)" else role  # the playbook itself has only roles: its task is facts
        elif "SSH: EXEC" in line:
            counts[role] = counts.get(role, 0) + 1
    return counts


def setup_builders(names, connection="docker"):
    """One run of setup-builders.yml: (seconds, tasks, changed)."""
    measured = Run(names, connection)
    return measured.wall, measured.tasks, measured.changed


# ---- SSH, the way users run it ---------------------------------------------------------------------------------

SSH_TARGETS = {"rerun": 8.0, "round_trips": 12, "controller_cpu": 3.0, "four_hosts": 1.5}


def verdict(name, value, target, unit=""):
    shown = f"{value:>10}" if isinstance(value, int) else f"{value:>10.2f}"
    print(f"{name:<58} {shown} {unit:<2} target <= {target:g}: {'MET' if value <= target else 'NOT MET'}", flush=True)


def mitogen_env():
    """mitogen in build/mitogen (pip install --target, outside the venv and the requirements): its strategy plugin for
    one ansible-playbook run, or None with the reason printed."""
    if not os.path.isdir(os.path.join(MITOGEN_DIR, "ansible_mitogen")):
        result = subprocess.run([os.path.join(VENV_BIN, "pip"), "install", "-q", "--disable-pip-version-check", "--target",
                                 MITOGEN_DIR, "mitogen==0.3.54"], capture_output=True, text=True)
        if result.returncode != 0:
            print(f"mitogen: not installed ({result.stderr.strip()[-300:]}); skipped", flush=True)
            return None
    return {"PYTHONPATH": MITOGEN_DIR, "ANSIBLE_STRATEGY": "mitogen_linear", "ANSIBLE_HOST_KEY_CHECKING": "False",
            "ANSIBLE_STRATEGY_PLUGINS": os.path.join(MITOGEN_DIR, "ansible_mitogen", "plugins", "strategy")}


def report_reruns(label, names, runs, targets=False):
    """Median wall, controller and host CPU of idempotent re-runs, per host; with targets, against the issue's."""
    wall = median([r.wall for r in runs])
    cpu = median([r.controller_cpu for r in runs]) / len(names)
    masters = median([r.master_cpu for r in runs]) / len(names)
    host = median([sum(r.host_cpu.values()) for r in runs]) / len(names)
    if targets:
        verdict(f"{label}: idempotent re-run, median (s)", wall, SSH_TARGETS["rerun"], "s")
        verdict(f"{label}: controller CPU per host, user+sys (s)", cpu, SSH_TARGETS["controller_cpu"], "s")
    else:
        report(f"{label}: idempotent re-run, median (s)", wall)
        report(f"{label}: controller CPU per host, user+sys (s)", cpu)
    report(f"{label}: re-run tasks / changed", runs[0].tasks,
           f"tasks ran, {runs[0].evaluated} with the skipped ones; {max(r.changed for r in runs)} changed")
    if masters:
        report(f"{label}: + ControlPersist masters' CPU per host (s)", masters)
    report(f"{label}: host CPU per host, container cgroup (s)", host)
    return wall, cpu, host


def figure_ssh(repeats, smoke=False):
    """setup-builders.yml over SSH (key auth, ControlPersist, pipelining) on Debian 13 hosts running sshd: first run,
    idempotent re-run with controller and host CPU, module round trips per role, 4 hosts against 1; beside it the
    same re-run through the community.docker.docker connection and through mitogen."""
    names, more = ["mbh-bench-1"], []
    try:
        start_hosts(1, ssh=True)
        first = Run(names, "ssh")
        apt = first.apt_seconds()
        report("ssh: first run on a fresh host (s)", first.wall)
        report("ssh: first run, in apt/package tasks (s)", apt, f"s = {100 * apt / first.wall:.0f} % of the run")
        report("ssh: first run tasks / changed", first.tasks, f"tasks, {first.changed} changed")
        reruns = [Run(names, "ssh") for _ in range(repeats)]
        report_reruns("ssh", names, reruns, targets=True)
        tasks = reruns[-1].module_tasks_by_role()
        for role, count in tasks.items():
            report(f"ssh: re-run module tasks (incl. loop items), {role}", round(count))
        if smoke:
            verdict("ssh: re-run module tasks, total", round(sum(tasks.values())), SSH_TARGETS["round_trips"])
        else:
            execs = ssh_execs_by_role(Run(names, "ssh", verbose=True).output)
            for role, count in execs.items():
                report(f"ssh: re-run ssh round trips (-vvv count), {role}", count)
            verdict("ssh: re-run ssh round trips, total", sum(execs.values()), SSH_TARGETS["round_trips"])
        print("ssh: the re-run's slowest tasks (last re-run):", flush=True)
        for seconds, role, name, action in sorted(reruns[-1].task_times(), reverse=True)[:5]:
            print(f"    {seconds:6.2f} s  {name}  [{action}]", flush=True)
        if smoke:
            return
        report_reruns("docker connection", names, [Run(names, "docker") for _ in range(repeats)])
        env = mitogen_env()
        if env:
            try:
                report_reruns("mitogen_linear", names, [Run(names, "ssh", env=env) for _ in range(repeats)])
            except PlaybookFailed as error:
                print(f"mitogen: the re-run failed: {str(error)[-1500:]}", flush=True)
        more = start_hosts(3, ssh=True, first=2)
        prepare = Run(more, "ssh")
        report("ssh: first run on 3 fresh hosts at once (s)", prepare.wall)
        ones, fours = [], []
        for _ in range(repeats):  # interleaved, so both see the same machine
            ones.append(Run(names, "ssh"))
            fours.append(Run(names + more, "ssh"))
        one = median([r.wall for r in ones])
        one_cpu = median([r.controller_cpu for r in ones])
        report("ssh: re-run on 1 host, median (s)", one)
        four, four_cpu, four_host = report_reruns("ssh, 4 hosts", names + more, fours)
        verdict("ssh, 4 hosts: controller CPU per host, user+sys (s)", four_cpu, SSH_TARGETS["controller_cpu"], "s")
        # What one more host costs the controller, and the part of a run's CPU paid once (start-up, building each
        # module's payload once per run): the 1-host figure is both.
        marginal = (4 * four_cpu - one_cpu) / 3
        report("ssh: controller CPU per additional host (s)", marginal, f"s; paid once per run: {one_cpu - marginal:.2f} s")
        # The hosts run on the controller's cores here: 4 hosts cannot finish before all their CPU is spent.
        floor = 4 * (four_cpu + four_host) / (os.cpu_count() or 1)
        report("ssh, 4 hosts: CPU floor (controller + hosts CPU / cores) (s)", floor,
               f"s; measured {four:.2f} s; the floor alone is {floor / one:.2f}x one host")
        verdict("ssh: 4 hosts / 1 host", four / one, SSH_TARGETS["four_hosts"], "x")
    finally:
        remove_hosts(names + more)


def controller_split(report):
    """From controller_split.py's report: ansible-playbook's own CPU, and its workers' split into the tasks that ran a
    module for the first time in the run (which builds that module's payload) and all the others."""
    with open(report, encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle]
    workers = [r for r in rows if r["task"] is not None]
    seen, first_use = set(), []
    for row in workers:
        action = short_action(row["action"])
        if action not in CONTROLLER_ACTIONS and not row["skipped"] and action not in seen:
            seen.add(action)
            first_use.append(row)
    return {"main": next(r["cpu"] for r in rows if r["task"] is None), "workers": sum(r["cpu"] for r in workers),
            "ssh": sum(r["ssh"] for r in workers), "tasks": len(workers), "first_use": first_use,
            "first_use_cpu": sum(r["cpu"] for r in first_use), "by_task": workers}


def figure_controller(repeats):
    """Where the controller's CPU goes in one SSH host's idempotent re-run of setup-builders.yml: ansible-playbook's
    own process (start-up, loading the play, scheduling, results), and one forked worker per task, split into the
    tasks that ran a module first in the run (each builds that module's payload, once per run) and the others."""
    names = ["mbh-bench-1"]
    try:
        start_hosts(1, ssh=True)
        Run(names, "ssh")
        splits = []
        for _ in range(repeats):
            handle = tempfile.NamedTemporaryFile(prefix="mbh-split.", suffix=".jsonl", delete=False)
            handle.close()
            try:
                Run(names, "ssh", split_report=handle.name)
                splits.append(controller_split(handle.name))
            except (PlaybookFailed, OSError, ValueError, StopIteration, KeyError) as error:
                # The wrapper reaches into ansible-core's internals: a newer one may not fit. The other figures go on.
                print(f"controller: no split, controller_split.py may not fit this ansible-core: {str(error)[-600:]}", flush=True)
                return
            finally:
                os.unlink(handle.name)
        total = median([s["main"] + s["workers"] + s["ssh"] for s in splits])
        report("controller: re-run CPU (ansible-playbook, workers, ssh clients) (s)", total)
        report("controller: ansible-playbook's own process (s)", median([s["main"] for s in splits]))
        first = splits[-1]["first_use"]
        report("controller: workers of the first task of each module (s)", median([s["first_use_cpu"] for s in splits]),
               f"s; {len(first)} modules: {', '.join(short_action(r['action']).split('.')[-1] for r in first)}")
        report("controller: workers of the other tasks (s)", median([s["workers"] - s["first_use_cpu"] for s in splits]),
               f"s; {splits[-1]['tasks'] - len(first)} tasks")
        report("controller: ssh clients (s)", median([s["ssh"] for s in splits]))
        print("controller: the costliest workers (last re-run):", flush=True)
        for row in sorted(splits[-1]["by_task"], key=lambda r: r["cpu"], reverse=True)[:8]:
            print(f"    {row['cpu']:6.3f} s  {row['task']}  [{short_action(row['action'])}{', skipped' if row['skipped'] else ''}]",
                  flush=True)
    finally:
        remove_hosts(names)


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


def host_registry(host):
    """The lab's BuildKit image in HOST's engine (hosts cannot pull it), and a registry on the host's 127.0.0.1:5000."""
    subprocess.run(f"docker save {BUILDKIT_IMAGE} | docker exec -i {host} docker load", shell=True, check=True,
                   capture_output=True)
    run(["docker", "exec", host, "apt-get", "install", "-y", "-q", "docker-registry"])
    run(["docker", "exec", host, "bash", "-c",
         "systemctl stop docker-registry; printf 'version: 0.1\nstorage:\n  filesystem: {rootdirectory: /var/lib/bench-registry}"
         "\nhttp: {addr: \"127.0.0.1:5000\"}\n' > /etc/docker/registry/bench.yml && "
         "systemd-run --unit bench-registry docker-registry serve /etc/docker/registry/bench.yml && sleep 1"])


def figure_drivers(repeats):
    """The example app (with the dependency step) built on one Debian 13 host by the docker driver and by a
    docker-container builder, cold (the builder's cache pruned) and cached (the same build again), pushed each time."""
    names = start_hosts(1)
    host = names[0]
    try:
        setup_builders(names)
        host_registry(host)
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


READY_RUNS = 10


def figure_ready(repeats):
    """Issue 28: how long after setup-builders.yml a build can start on a docker-container builder. On one Debian 13
    host that setup-builders.yml prepared, each run removes the builder, its container and the BuildKit image, then
    times `buildx create --bootstrap` (the image pulled from a registry in the host, as a site mirror serves it) and
    the first build after it, and the same first build on a builder created without bootstrap (BuildKit then starts
    inside the build). Median and p95 over at least READY_RUNS runs."""
    names = start_hosts(1)
    host = names[0]
    image = f"127.0.0.1:5000/{BUILDKIT_IMAGE}"
    try:
        setup_builders(names)
        host_registry(host)
        run(["docker", "exec", host, "docker", "tag", BUILDKIT_IMAGE, image])
        run(["docker", "exec", host, "docker", "push", image])
        run(["docker", "exec", host, "bash", "-c", "mkdir -p /srv/ready && cp /etc/hostname /srv/ready/ && "
             "printf 'FROM scratch\nCOPY hostname /\n' > /srv/ready/Dockerfile"])
        create = ["docker", "exec", host, "docker", "buildx", "create", "--name", "ready", "--driver", "docker-container",
                  "--driver-opt", f"image={image}", "--driver-opt", "network=host"]
        first_build = ["docker", "exec", host, "docker", "buildx", "build", "--builder", "ready", "--progress", "plain",
                       "/srv/ready"]
        clean = ["docker", "exec", host, "bash", "-c",
                 f"docker buildx rm -f ready >/dev/null 2>&1; docker image rm -f {image} {BUILDKIT_IMAGE} >/dev/null 2>&1; true"]
        bootstraps, builds, lazy = [], [], []
        for _ in range(max(READY_RUNS, repeats)):
            run(clean)
            bootstraps.append(timed(create + ["--bootstrap"])[0])
            builds.append(timed(first_build)[0])
            run(clean)
            run(create)
            lazy.append(timed(first_build)[0])
        for label, values in (("bootstrap (create, pull, start)", bootstraps), ("first build after it", builds),
                              ("first build, no bootstrap", lazy)):
            report(f"ready: {label}, median (s)", median(values))
            report(f"ready: {label}, p95 (s)", statistics.quantiles(values, n=20)[-1])
        report("ready: setup + first build / first build without bootstrap",
               (median(bootstraps) + median(builds)) / median(lazy), "x")
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


# Issue 30's targets for the working tree against a baseline, as ratios of one interleaved run (absolute times move from
# machine to machine), and the module round trips of one re-run, facts included.
BASELINE_TARGETS = {"rerun_ratio": 0.5, "rerun": 3.0, "round_trips": 4, "controller_cpu_ratio": 0.6}
BASELINE_TREE = os.path.join(REPO, "build", "bench-baseline")


def baseline_tree(ref):
    """A git worktree of REF under build/, with the collection link the Makefile makes (ansible.cfg finds it)."""
    subprocess.run(["git", "worktree", "remove", "--force", BASELINE_TREE], cwd=REPO, capture_output=True)
    shutil.rmtree(BASELINE_TREE, ignore_errors=True)
    subprocess.run(["git", "worktree", "prune"], cwd=REPO, capture_output=True)
    run(["git", "worktree", "add", "--detach", BASELINE_TREE, ref], cwd=REPO)
    link = os.path.join(BASELINE_TREE, ".collection", "ansible_collections", "multiarch", "buildhost")
    if not os.path.lexists(link):  # trees that do not carry it
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink("../../..", link)
    return BASELINE_TREE


def figure_baseline_compare(ref, repeats):
    """setup-builders.yml's idempotent re-run on one SSH host, the baseline REF against the working tree, in blocks
    interleaved in one run (each block settles the host to its tree first: the trees may write different files),
    with the ratios of the medians against issue 30's targets."""
    names = ["mbh-bench-1"]
    tree = baseline_tree(ref)
    revision = run(["git", "rev-parse", "--short", "HEAD"], cwd=tree).stdout.strip()
    trees = {f"baseline {ref} ({revision})": tree, "working tree": REPO}
    runs = {label: [] for label in trees}
    try:
        start_hosts(1, ssh=True)
        for _ in range(repeats):
            for label, path in trees.items():
                Run(names, "ssh", tree=path)  # settles the host to this tree
                runs[label].append(Run(names, "ssh", tree=path))
        medians = {}
        for label, measured in runs.items():
            medians[label] = (median([r.wall for r in measured]), median([r.controller_cpu for r in measured]),
                              round(sum(measured[-1].module_tasks_by_role().values())))
            report(f"{label}: re-run, median (s)", medians[label][0])
            report(f"{label}: controller CPU, user+sys (s)", medians[label][1])
            report(f"{label}: module round trips, facts included", medians[label][2])
        (base_wall, base_cpu, _), (wall, cpu, trips) = medians.values()
        verdict("working tree / baseline: re-run", wall / base_wall, BASELINE_TARGETS["rerun_ratio"], "x")
        verdict("working tree: re-run, median (s)", wall, BASELINE_TARGETS["rerun"], "s")
        verdict("working tree: module round trips", trips, BASELINE_TARGETS["round_trips"])
        verdict("working tree / baseline: controller CPU", cpu / base_cpu, BASELINE_TARGETS["controller_cpu_ratio"], "x")
    finally:
        remove_hosts(names)
        subprocess.run(["git", "worktree", "remove", "--force", BASELINE_TREE], cwd=REPO, capture_output=True)


FIGURES = {"ssh": figure_ssh, "controller": figure_controller, "provisioning": figure_provisioning, "scale": figure_scale, "baseline": figure_baseline,
           "cache": figure_cache, "emulation": figure_emulation, "drivers": figure_drivers, "fleet": figure_fleet,
           "ready": figure_ready}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=sorted(FIGURES), action="append")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--smoke", action="store_true",
                        help="one SSH host (first run and one re-run), then one pass of the cache figure with a light dependency step")
    parser.add_argument("--dependency-iterations", type=int, help="weight of the cached dependency step (default 150000)")
    parser.add_argument("--baseline", metavar="REF",
                        help="only the re-run of the working tree against REF (a git worktree of it), interleaved")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, {os.uname().sysname} {os.uname().release}; "
          f"{run(['docker', 'version', '--format', '{{.Server.Version}}']).stdout.strip()} engine", flush=True)
    try:
        if args.baseline:
            figure_baseline_compare(args.baseline, args.repeats)
            return
        if args.smoke:
            figure_ssh(1, smoke=True)
            figure_cache(1, args.dependency_iterations or SMOKE_DEPENDENCY_ITERATIONS)
            return
        figures = dict(FIGURES, cache=functools.partial(figure_cache, iterations=args.dependency_iterations or DEPENDENCY_ITERATIONS))
        for name in args.only or figures:
            figures[name](args.repeats)
    except PlaybookFailed as error:
        sys.exit(str(error))


if __name__ == "__main__":
    main()
