"""A real non-root user attacks the root-run modules through the directories she controls (issue 14).

mbh-alice owns her home and ~/.docker. Root's decoy credentials live in a root-only tree. Each attack is made by
alice herself (runuser), with real symlinks and a real race loop bounded in time; the module runs as root, as Ansible
with become runs it. What must hold: the decoy is never read into a result, never written, never chowned.
"""
from __future__ import annotations

import grp
import os
import pwd
import shutil
import subprocess
import time

import pytest

from ansible_collections.multiarch.buildhost.plugins.module_utils._safe_file import FileRefused, NewDirectory, Trust, write_file

ALICE, BOB = "mbh-alice", "mbh-bob"
ROOT_SECRET = "cm9vdDpyb290LW9ubHktc2VjcmV0"  # base64 of root:root-only-secret
DECOY_DIR = "/var/lib/mbh-hostile-decoy/.docker"
DECOY = os.path.join(DECOY_DIR, "config.json")
DECOY_CONTENT = ('{"auths": {"root.example": {"auth": "%s"}}}\n' % ROOT_SECRET).encode()


def _ensure_user(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", name], check=True)
        return pwd.getpwnam(name)


def as_user(user: str, script: str, **kwargs) -> subprocess.CompletedProcess:
    """Run SCRIPT with bash as USER: the attacker's own shell, with her own permissions."""
    return subprocess.run(["runuser", "-u", user, "--", "bash", "-c", script], check=True, capture_output=True, **kwargs)


@pytest.fixture(scope="session")
def users():
    if os.geteuid() != 0:
        pytest.fail("the hostile-user tests must run as root (make integration)")
    return _ensure_user(ALICE), _ensure_user(BOB)


@pytest.fixture
def alice(users):
    entry = users[0]
    docker_dir = os.path.join(entry.pw_dir, ".docker")
    for leftover in os.listdir(entry.pw_dir):
        if leftover.startswith((".docker", "projects", "swap")):
            path = os.path.join(entry.pw_dir, leftover)
            if os.path.islink(path) or not os.path.isdir(path):
                os.unlink(path)
            else:
                shutil.rmtree(path)
    as_user(ALICE, f"mkdir -m 700 {docker_dir} && printf '{{\"credsStore\": \"pass\"}}' > {docker_dir}/config.json")
    return entry


@pytest.fixture
def decoy():
    """Root's credentials in a root-only tree; returns a function that says whether they are exactly as planted."""
    shutil.rmtree(os.path.dirname(DECOY_DIR), ignore_errors=True)
    os.makedirs(DECOY_DIR, mode=0o700)
    os.chmod(os.path.dirname(DECOY_DIR), 0o755)
    with open(DECOY, "wb") as handle:
        handle.write(DECOY_CONTENT)
    os.chmod(DECOY, 0o600)

    def intact() -> bool:
        st = os.lstat(DECOY)
        with open(DECOY, "rb") as handle:
            content = handle.read()
        return content == DECOY_CONTENT and (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (0, 0, 0o600) \
            and sorted(os.listdir(DECOY_DIR)) == ["config.json"]

    yield intact
    shutil.rmtree(os.path.dirname(DECOY_DIR), ignore_errors=True)


def leaked(result) -> bool:
    return ROOT_SECRET in repr(dict(result))


def test_docker_directory_symlinked_into_roots_tree_is_refused(run_module, alice, decoy, reliability):
    as_user(ALICE, f"rm -rf ~/.docker && ln -s {DECOY_DIR} ~/.docker")
    result = run_module("docker_cli_config", {"owner": ALICE, "settings": {"proxies": {}}}, diff=True)
    ok = result.failed and "symbolic link" in result["msg"] and decoy() and not leaked(result)
    reliability.tried("hostile user: ~/.docker -> root's .docker", ok=ok)
    assert result.failed and f"{alice.pw_dir}/.docker is a symbolic link" in result["msg"]
    assert decoy() and not leaked(result)


def test_symlink_higher_up_a_custom_path_is_refused(run_module, alice, decoy, reliability):
    as_user(ALICE, f"ln -s {os.path.dirname(DECOY_DIR)} ~/projects")
    path = os.path.join(alice.pw_dir, "projects", ".docker", "config.json")
    result = run_module("docker_cli_config", {"owner": ALICE, "path": path})
    ok = result.failed and "symbolic link" in result["msg"] and decoy() and not leaked(result)
    reliability.tried("hostile user: a parent above ~/.docker is a symlink", ok=ok)
    assert result.failed and f"{alice.pw_dir}/projects is a symbolic link" in result["msg"]
    assert decoy()


def test_the_last_component_as_a_symlink_to_roots_file_is_refused(run_module, alice, decoy, reliability):
    as_user(ALICE, f"ln -sf {DECOY} ~/.docker/config.json")
    result = run_module("docker_cli_config", {"owner": ALICE})
    ok = result.failed and decoy() and not leaked(result)
    reliability.tried("hostile user: config.json -> root's config.json", ok=ok)
    assert result.failed and "is a symbolic link" in result["msg"] and decoy()


def test_a_hard_link_to_roots_file_is_refused(run_module, alice, decoy, reliability):
    # fs.protected_hardlinks=1 stops alice from making this link herself; hosts with it off let her, so root makes
    # the same link here to stand for that.
    os.unlink(os.path.join(alice.pw_dir, ".docker", "config.json"))
    os.link(DECOY, os.path.join(alice.pw_dir, ".docker", "config.json"))
    result = run_module("docker_cli_config", {"owner": ALICE})
    ok = result.failed and "hard links" in result["msg"] and not leaked(result)
    reliability.tried("hostile user: config.json hard-linked to root's file", ok=ok)
    assert result.failed and "belongs to root" not in result["msg"] and "hard links" in result["msg"]
    assert not leaked(result)
    os.unlink(os.path.join(alice.pw_dir, ".docker", "config.json"))
    assert decoy()


def test_a_dangling_docker_symlink_fails_clearly(run_module, alice, reliability):
    as_user(ALICE, "rm -rf ~/.docker && ln -s /var/lib/mbh-dangling-target/place ~/.docker")
    result = run_module("docker_cli_config", {"owner": ALICE})
    ok = result.failed and ".docker is a symbolic link" in result["msg"] and not os.path.exists("/var/lib/mbh-dangling-target")
    reliability.tried("hostile user: dangling ~/.docker symlink", ok=ok)
    assert ok, result


def test_a_fifo_in_place_of_config_json_is_refused_without_hanging(run_module, alice, reliability):
    as_user(ALICE, "rm ~/.docker/config.json && mkfifo ~/.docker/config.json")
    started = time.monotonic()
    result = run_module("docker_cli_config", {"owner": ALICE})
    ok = result.failed and "not a regular file" in result["msg"] and time.monotonic() - started < 5
    reliability.tried("hostile user: a FIFO named config.json", ok=ok)
    assert ok, result


def test_a_directory_of_another_user_on_the_path_is_refused(run_module, users, alice, reliability):
    bob = users[1]
    shutil.rmtree(os.path.join(bob.pw_dir, ".docker"), ignore_errors=True)
    path = os.path.join(bob.pw_dir, ".docker", "config.json")
    result = run_module("docker_cli_config", {"owner": ALICE, "path": path})
    ok = result.failed and f"belongs to {BOB}" in result["msg"] and not os.path.exists(path)
    reliability.tried("hostile user: a path through another user's home", ok=ok)
    assert ok, result


def test_a_world_writable_directory_on_the_path_is_refused(run_module, alice, reliability):
    as_user(ALICE, "chmod 777 ~/.docker")
    result = run_module("docker_cli_config", {"owner": ALICE})
    ok = result.failed and "writable by every user" in result["msg"]
    reliability.tried("hostile user: ~/.docker mode 0777", ok=ok)
    assert ok, result


def test_the_buildkitd_config_is_not_written_through_a_planted_link(alice, decoy, reliability):
    as_user(ALICE, f"ln -s {DECOY_DIR} ~/.docker/buildx")
    path = os.path.join(alice.pw_dir, ".docker", "buildx", "multiarch-buildhost", "b.buildkitd.toml")
    with pytest.raises(FileRefused) as refused:
        write_file(path, b"debug = true\n", 0o644, alice.pw_uid, alice.pw_gid, trust=Trust.root_and(alice.pw_uid, alice.pw_gid),
                   create=NewDirectory(0o700, alice.pw_uid, alice.pw_gid))
    ok = "symbolic link" in str(refused.value) and decoy()
    reliability.tried("hostile user: ~/.docker/buildx -> root's tree (buildkitd config)", ok=ok)
    assert ok


RACE_SECONDS = 6.0

# alice's side of the race: atomically swap her entry between a real one and a link to root's, as fast as she can.
SWAP_FILE = f"""
import os, time
d = os.path.expanduser("~/.docker")
real = os.path.join(d, "real.json")
end = time.monotonic() + {RACE_SECONDS}
while time.monotonic() < end:
    with open(real, "w") as f:
        f.write('{{"credsStore": "pass"}}')
    os.rename(real, os.path.join(d, "config.json"))
    try:
        os.symlink("{DECOY}", os.path.join(d, "link"))
    except FileExistsError:
        pass
    os.rename(os.path.join(d, "link"), os.path.join(d, "config.json"))
"""

SWAP_DIRECTORY = f"""
import os, time
home = os.path.expanduser("~")
docker, moved = os.path.join(home, ".docker"), os.path.join(home, "swapdir")
end = time.monotonic() + {RACE_SECONDS}
while time.monotonic() < end:
    for step in (lambda: os.rename(docker, moved), lambda: os.symlink("{DECOY_DIR}", docker),
                 lambda: os.unlink(docker), lambda: os.rename(moved, docker)):
        try:
            step()
        except OSError:
            pass  # the module made .docker meanwhile, or the last round left things half-swapped: go on
"""


@pytest.mark.parametrize(("what", "attack"), [("file", SWAP_FILE), ("directory", SWAP_DIRECTORY)])
def test_a_racing_owner_never_gets_roots_credentials(run_module, alice, decoy, reliability, what, attack):
    attacker = subprocess.Popen(["runuser", "-u", ALICE, "--", "/usr/bin/python3", "-c", attack],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    runs = refused = written = 0
    leaks = []
    try:
        while attacker.poll() is None:
            result = run_module("docker_cli_config", {"owner": ALICE, "settings": {"proxies": {"default": {"noProxy": "x"}}}},
                                diff=True)
            runs += 1
            refused += bool(result.failed)
            written += bool(not result.failed and result["changed"])
            if leaked(result):
                leaks.append(result)
    finally:
        attacker.wait(timeout=RACE_SECONDS + 10)
    assert attacker.returncode == 0, attacker.stderr.read()
    stolen = []
    for root, _dirs, files in os.walk(alice.pw_dir):
        for name in files:
            full = os.path.join(root, name)
            if not os.path.islink(full):
                with open(full, "rb") as handle:
                    if ROOT_SECRET.encode() in handle.read():
                        stolen.append(full)
    ok = not leaks and not stolen and decoy() and runs > 20
    reliability.tried(f"hostile user: race swapping the {what} ({runs} runs, {refused} refused, {written} written)", ok=ok)
    assert runs > 20, "the race loop must actually race"
    assert not leaks, "a result showed root's credentials"
    assert not stolen, f"root's credentials reached alice's files: {stolen}"
    assert decoy(), "root's file was changed"


def test_a_stale_hard_link_to_roots_replaced_file_is_refused(run_module, alice, decoy, reliability):
    # Alice linked root's config.json into her ~/.docker (fs.protected_hardlinks=0; root makes the link here to stand
    # for that), then root replaced the original by rename: her link is now the only one, so the single-link rule
    # alone would let root's old credentials through.
    planted = os.path.join(alice.pw_dir, ".docker", "config.json")
    os.unlink(planted)
    os.link(DECOY, planted)
    replacement = DECOY + ".new"
    with open(replacement, "wb") as handle:
        handle.write(DECOY_CONTENT)
    os.chmod(replacement, 0o600)
    os.rename(replacement, DECOY)
    assert os.stat(planted).st_nlink == 1
    result = run_module("docker_cli_config", {"owner": ALICE, "settings": {"proxies": {}}})
    st = os.stat(planted)
    ok = result.failed and "belongs to root" in result["msg"] and not leaked(result) and st.st_uid == 0 and decoy()
    reliability.tried("hostile user: a stale hard link to root's replaced config.json", ok=ok)
    assert result.failed and "belongs to root" in result["msg"], result
    assert not leaked(result) and st.st_uid == 0, "root's old file must be neither read nor handed to alice"
    os.unlink(planted)


def test_the_users_cli_plugin_runs_as_the_user_never_as_root(run_module, alice, reliability):
    # The docker CLI loads plugins from ~/.docker/cli-plugins before the system's: alice's own docker-buildx would
    # run with root's rights if the modules ran docker as root in her tree.
    ran_as = os.path.join(alice.pw_dir, "ran-as")
    as_user(ALICE, f"""rm -f {ran_as}; mkdir -p ~/.docker/cli-plugins && cat > ~/.docker/cli-plugins/docker-buildx <<'EOS'
#!/bin/sh
id -u >> {ran_as}
env > {ran_as}.env
ps -o sid= -p $$ > {ran_as}.sid
if [ "$1" = docker-cli-plugin-metadata ]; then echo '{{"SchemaVersion":"0.1.0","Vendor":"mbh-alice","Version":"0"}}'; fi
exit 0
EOS
chmod 755 ~/.docker/cli-plugins/docker-buildx""")
    # Root's proxy settings: the plain one is the site's and is passed on; the one with a password is root's
    # credential, which alice could read from her own process's environment (issue 26).
    planted = {"MBH_ROOT_ONLY_TOKEN": "root-only-token-value", "HTTPS_PROXY": "http://root:pr0xy-Pa55@proxy.lan:3128",
               "http_proxy": "http://proxy.lan:3128"}
    saved = {key: os.environ.get(key) for key in planted}
    os.environ.update(planted)
    try:
        result = run_module("buildx_builder_info", {"owner": ALICE, "cache_usage": False})
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    with open(ran_as) as handle:
        uids = {int(line) for line in handle if line.strip()}
    with open(ran_as + ".env") as handle:
        plugin_env = handle.read()
    with open(ran_as + ".sid") as handle:
        plugin_session = int(handle.read().strip())
    assert "root-only-token-value" not in plugin_env, "root's environment reached alice's process"
    assert "pr0xy-Pa55" not in plugin_env and "HTTPS_PROXY=" not in plugin_env, "root's proxy password reached alice"
    assert "http_proxy=http://proxy.lan:3128" in plugin_env, "the site's plain proxy setting was not passed on"
    assert f"HOME={alice.pw_dir}" in plugin_env
    assert plugin_session != os.getsid(0), "alice's process shares root's session (and terminal)"
    ok = bool(uids) and uids == {alice.pw_uid}
    reliability.tried("hostile user: alice's own docker-buildx plugin (must run as alice)", ok=ok)
    assert uids, f"the plugin never ran, so this proves nothing: {result}"
    assert uids == {alice.pw_uid}, f"alice's plugin ran as uid(s) {sorted(uids)}"


@pytest.fixture
def docker_user(users):
    """mbh-carol, allowed on the lab daemon through a group of her own (the lab socket is root:root 0660)."""
    entry = _ensure_user("mbh-carol")
    subprocess.run(["groupadd", "-f", "mbh-docker"], check=True)
    subprocess.run(["usermod", "-aG", "mbh-docker", "mbh-carol"], check=True)
    shutil.rmtree(os.path.join(entry.pw_dir, ".docker"), ignore_errors=True)
    socket = "/var/run/docker.sock"
    before = os.stat(socket).st_gid
    os.chown(socket, -1, grp.getgrnam("mbh-docker").gr_gid)
    yield entry
    os.chown(socket, -1, before)


def test_builders_are_made_by_the_user_and_all_their_state_is_theirs(run_module, docker_user, alice, reliability):
    name = "mbh-carol-builder"
    try:
        created = run_module("buildx_builder", {"owner": "mbh-carol", "name": name, "driver": "docker-container",
                                                "use": True})
        listed = run_module("buildx_builder_info", {"owner": "mbh-carol", "cache_usage": False})
        strangers = []
        for root, dirs, files in os.walk(os.path.join(docker_user.pw_dir, ".docker")):
            for entry in dirs + files:
                if os.lstat(os.path.join(root, entry)).st_uid != docker_user.pw_uid:
                    strangers.append(os.path.join(root, entry))
        # Alice is not in any group that may use the daemon: a clear message, not docker's alone.
        refused = run_module("buildx_builder", {"owner": ALICE, "name": name, "bootstrap": True})
    finally:
        run_module("buildx_builder", {"owner": "mbh-carol", "name": name, "state": "absent"})
    ok = not created.failed and listed["current"] == name and not strangers \
        and refused.failed and "add them to its group" in refused["msg"]
    reliability.tried("docker runs as the owner: state theirs, no daemon access explained", ok=ok)
    assert not created.failed, created
    assert listed["current"] == name, listed
    assert not strangers, f"not mbh-carol's: {strangers}"
    assert refused.failed and "mbh-alice may not use the Docker daemon" in refused["msg"], refused


def _probe_loop(path: str, seconds: float, outcomes) -> None:
    """In a forked child (root): load PATH as a node's CA again and again, reporting what each attempt came to."""
    from ansible_collections.multiarch.buildhost.plugins.module_utils import _buildkit_probe  # pylint: disable=import-outside-toplevel
    import ssl  # pylint: disable=import-outside-toplevel
    counts = {"loaded": 0, "refused": 0, "other": []}
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            context = _buildkit_probe._tls_context({"cacert": path})  # pylint: disable=protected-access
            names = [dict(entry[0] for entry in cert["subject"]) for cert in context.get_ca_certs()]
            if names == [{"commonName": "alice-node-ca"}]:
                counts["loaded"] += 1
            else:
                counts["other"].append(repr(names))
        except ssl.SSLError as exc:
            if "is not a regular file" in str(exc):
                counts["refused"] += 1
            else:
                counts["other"].append(str(exc))
    outcomes.put(counts)


def test_a_racing_owner_cannot_make_the_node_probe_open_her_fifo(alice, reliability):
    # buildx_builder probes a remote node with the TLS files its driver_opts name, as root; they may sit in a user's
    # directory. Alice swaps her CA file for a FIFO and back, as fast as she can. Checked by name and then opened by
    # name again, a swap in between made ssl open the FIFO and wait for a writer for ever; loaded from the descriptor
    # it checked, each attempt loads her CA or refuses the FIFO, and never waits.
    import multiprocessing  # pylint: disable=import-outside-toplevel
    node = os.path.join(alice.pw_dir, "swap-node")
    as_user(ALICE, f"mkdir -m 700 {node} && cd {node} && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1"
                   " -nodes -keyout ca.key -out ca.real -days 1 -subj /CN=alice-node-ca 2>/dev/null && mkfifo ca.fifo"
                   " && cp ca.real ca.pem")
    attacker = subprocess.Popen(["runuser", "-u", ALICE, "--", "bash", "-c",
                                 f"cd {node}; end=$((SECONDS + {int(RACE_SECONDS)})); while [ $SECONDS -lt $end ]; do"
                                 " ln -f ca.fifo next && mv -fT next ca.pem; ln -f ca.real next && mv -fT next ca.pem; done"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    outcomes = multiprocessing.get_context("fork").Queue()
    prober = multiprocessing.get_context("fork").Process(target=_probe_loop,
                                                         args=(os.path.join(node, "ca.pem"), RACE_SECONDS - 2, outcomes))
    prober.start()
    prober.join(timeout=RACE_SECONDS + 20)
    hung = prober.is_alive()
    if hung:
        prober.kill()
    attacker.wait(timeout=RACE_SECONDS + 10)
    assert attacker.returncode == 0, attacker.stderr.read()
    counts = outcomes.get(timeout=5) if not hung else {"loaded": 0, "refused": 0, "other": ["hung"]}
    ok = not hung and not counts["other"] and counts["loaded"] > 0 and counts["refused"] > 0
    reliability.tried(f"hostile user: FIFO swapped under the node probe's CA ({counts['loaded']} loaded,"
                      f" {counts['refused']} refused)", ok=ok)
    assert not hung, "the probe opened alice's FIFO and waited for a writer"
    assert not counts["other"], counts["other"][:5]
    assert counts["loaded"] > 0 and counts["refused"] > 0, f"the race must hit both states: {counts}"
