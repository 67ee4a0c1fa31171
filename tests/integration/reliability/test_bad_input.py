"""Wrong results, secrets in diffs and tracebacks that issue 14 found, each tried for real (issue 14).

Every refusal must name the file, leave it byte-for-byte intact and leave no temporary file behind.
"""
from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import resource
import subprocess
import sys
import time
import tomllib

import pytest

COLLECTION_ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", ".collection")

RUNNER = """
[[runners]]
  name = "dind"
  url = "https://gitlab.example.com"
  token = "glrt-plain-TOKEN1"
  executor = "docker"
  [runners.cache]
    Type = "s3"
    [runners.cache.s3]
      AccessKey = "AKIA-ACCESS-2"
      SecretKey = "secret-key-3"
      SessionToken = "session-token-4"
    [runners.cache.gcs]
      PrivateKey = '''-----BEGIN PRIVATE KEY-----
gcs-private-key-5
-----END PRIVATE KEY-----'''
    [runners.cache.azure]
      AccountKey = "azure\\u002Daccount-key-6"
  [runners.docker]
    image = "docker:27"
[[runners]]
  name = "dotted"
  executor = "docker"
  runner.token = "dotted-token-7"
  docker.privileged = false
"""
RUNNER_SECRETS = ["glrt-plain-TOKEN1", "AKIA-ACCESS-2", "secret-key-3", "session-token-4", "gcs-private-key-5",
                  "azure-account-key-6", "dotted-token-7"]


def sha(path) -> str:
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def leftovers(directory) -> list[str]:
    return [name for name in os.listdir(directory) if name.endswith(".tmp")]


def refused_intact(result, path, before_sha) -> bool:
    return bool(result.failed and str(path) in result["msg"] and sha(path) == before_sha
                and not leftovers(os.path.dirname(path)) and "Traceback" not in result.get("msg", ""))


# ---------------------------------------------------------------- values compared as JSON types


@pytest.mark.parametrize(("content", "settings"), [
    (b'{"experimental": 1}', {}),
    (b'{"experimental": true, "features": {"containerd-snapshotter": 1}}', {"features": {"containerd-snapshotter": True}}),
    (b'{"experimental": true, "max-concurrent-downloads": 3.0}', {"max-concurrent-downloads": 3}),
])
def test_a_value_python_thinks_equal_but_docker_reads_differently_is_rewritten(
        run_module, tmp_path, content, settings, reliability):
    path = tmp_path / "daemon.json"
    path.write_bytes(content)
    result = run_module("docker_daemon_config", {"path": str(path), "validate": False, "settings": settings})
    written = json.loads(path.read_bytes())
    ok = result["changed"] and result["restart_required"] and written["experimental"] is True
    reliability.tried("wrong result: JSON types compared", ok=ok)
    assert ok
    for key, value in settings.items():
        assert json.dumps(written[key]) == json.dumps(value)
    assert run_module("docker_daemon_config", {"path": str(path), "validate": False, "settings": settings})["changed"] is False


@pytest.mark.parametrize("module", ["docker_daemon_config", "docker_cli_config"])
def test_experimental_null_leaves_the_key_alone(run_module, tmp_path, module, reliability):
    path = tmp_path / "file.json"
    path.write_bytes(b'{"experimental": "as the admin left it"}\n')
    before = sha(path)
    args = {"path": str(path), "experimental": None, **({"validate": False} if module == "docker_daemon_config" else {})}
    result = run_module(module, args)
    ok = not result.failed and (module == "docker_cli_config" or sha(path) == before)
    reliability.tried(f"wrong result: {module} experimental: null", ok=ok)
    assert not result.failed, result
    assert json.loads(path.read_bytes())["experimental"] == "as the admin left it"


def test_remove_keys_reaches_keys_that_hold_dots_and_warns_about_missing_ones(run_module, tmp_path, reliability):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"auths": {"registry.example.com": {"auth": "c2VjcmV0"}, "b.example": {"auth": "eA=="},
                                          "keep.example": {}}}))
    result = run_module("docker_cli_config", {"path": str(path), "remove_keys": [
        "auths.registry.example.com", "auths.b\\.example", "auths.absent.example"]})
    auths = json.loads(path.read_text())["auths"]
    warnings = json.dumps(result.get("warnings", []))  # ansible-core 2.19 returns warnings as structured events
    ok = list(auths) == ["keep.example"] and "auths.absent.example is not in" in warnings
    reliability.tried("wrong result: remove_keys with dotted registry names", ok=ok)
    assert list(auths) == ["keep.example"]
    assert result["removed_keys"] == ["auths.registry.example.com", "auths.b\\.example"]
    assert "auths.absent.example is not in" in warnings


@pytest.mark.parametrize(("case", "content", "message"), [
    ("duplicate keys", b'{"debug": true, "debug": false}', "holds the key 'debug' twice"),
    ("nested duplicate keys", b'{"features": {"a": 1, "a": 2}}', "holds the key 'a' twice"),
    ("NaN", b'{"x": NaN}', "holds NaN"),
    ("Infinity", b'{"x": Infinity}', "holds Infinity"),
    ("-Infinity", b'{"x": -Infinity}', "holds -Infinity"),
    ("a number beyond the float range", b'{"x": 1e999}', "outside the range"),
    ("a lone UTF-16 surrogate", b'{"x": "\\ud800"}', "lone UTF-16 surrogate"),
    ("absurd nesting", b'{"a": ' * 5000 + b"1" + b"}" * 5000, "nested more than"),
    ("a byte-order mark", b'\xef\xbb\xbf{}', "byte-order mark"),
])
@pytest.mark.parametrize("module", ["docker_daemon_config", "docker_cli_config"])
def test_json_that_docker_would_read_differently_is_refused_untouched(run_module, tmp_path, module, case, content, message,
                                                                      reliability):
    path = tmp_path / "file.json"
    path.write_bytes(content)
    before = sha(path)
    result = run_module(module, {"path": str(path), **({"validate": False} if module == "docker_daemon_config" else {})})
    ok = refused_intact(result, path, before) and message in result["msg"]
    reliability.tried(f"bad input: {module}: {case}", ok=ok)
    assert ok, result.get("msg")


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_settings_that_json_cannot_hold_are_refused(run_module, tmp_path, value, reliability):
    path = tmp_path / "daemon.json"
    path.write_bytes(b"{}")
    result = run_module("docker_daemon_config", {"path": str(path), "validate": False, "settings": {"x": value}})
    ok = result.failed and "JSON cannot represent" in result["msg"] and path.read_bytes() == b"{}"
    reliability.tried("bad input: settings with NaN or Infinity", ok=ok)
    assert ok, result


def test_a_backup_of_a_credentials_file_gets_the_files_new_mode(run_module, tmp_path, reliability):
    path = tmp_path / ".docker" / "config.json"
    path.parent.mkdir(mode=0o700)
    path.write_text('{"auths": {"r.example": {"auth": "c2VjcmV0"}}}')
    os.chmod(path, 0o644)
    result = run_module("docker_cli_config", {"path": str(path), "backup": True})
    backup_mode = os.stat(result["backup_file"]).st_mode & 0o777
    ok = os.stat(path).st_mode & 0o777 == 0o600 and backup_mode == 0o600
    reliability.tried("wrong result: backup of config.json keeps a loose mode", ok=ok)
    assert ok, oct(backup_mode)
    assert json.loads(open(result["backup_file"]).read())["auths"]["r.example"]["auth"] == "c2VjcmV0"


def _merge_into_new_directory(args):
    path, index = args
    from ansible.module_utils.testing import patch_module_args
    from ansible_collections.multiarch.buildhost.plugins.modules import docker_cli_config

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    with patch_module_args({"path": path, "settings": {f"key-{index}": index}}):
        try:
            docker_cli_config.main()
        except SystemExit:
            pass


def test_concurrent_runs_into_a_directory_that_does_not_exist_yet_lose_nothing(tmp_path, reliability):
    path = str(tmp_path / "home" / ".docker" / "config.json")
    workers = 16
    with multiprocessing.get_context("fork").Pool(8) as pool:
        pool.map(_merge_into_new_directory, [(path, i) for i in range(workers)])
    with open(path) as handle:
        document = json.load(handle)
    expected = {"experimental": "enabled", **{f"key-{i}": i for i in range(workers)}}
    reliability.tried(f"concurrency: {workers} runs creating ~/.docker", ok=document == expected)
    assert document == expected


def test_a_volume_asked_for_twice_is_added_once(run_module, tmp_path, reliability):
    path = tmp_path / "config.toml"
    path.write_text(RUNNER)
    run_module("gitlab_runner_config", {"path": str(path), "volumes": ["/x", "/x", "/certs/client"]})
    volumes = [runner["docker"]["volumes"] for runner in tomllib.loads(path.read_text())["runners"]]
    ok = volumes == [["/x", "/certs/client"], ["/x", "/certs/client"]]
    reliability.tried("wrong result: duplicate volumes", ok=ok)
    assert ok, volumes


# ---------------------------------------------------------------- secrets in diffs


def test_no_runner_secret_reaches_the_result_or_the_diff_whatever_its_toml_form(run_module, tmp_path, reliability):
    path = tmp_path / "config.toml"
    path.write_text(RUNNER)
    result = run_module("gitlab_runner_config", {"path": str(path), "privileged": True}, diff=True)
    shown = json.dumps(dict(result))
    found = [secret for secret in RUNNER_SECRETS if secret in shown or secret.replace("-", "\\u002D") in shown]
    reliability.tried("secrets in diffs: S3/GCS/Azure keys, multi-line, escaped, dotted", ok=not found and result["changed"])
    assert result["changed"] and "privileged = true" in result["diff"]["after"]
    assert not found, found
    assert result["diff"]["after"].count("********") >= 7


# ---------------------------------------------------------------- tracebacks instead of a clear failure


def test_a_fresh_host_without_the_directory_gets_it_created(run_module, tmp_path, reliability):
    path = tmp_path / "etc" / "docker" / "daemon.json"
    result = run_module("docker_daemon_config", {"path": str(path), "validate": False})
    ok = not result.failed and json.loads(path.read_text()) == {"experimental": True} \
        and os.stat(path.parent).st_mode & 0o777 == 0o755
    reliability.tried("traceback: a missing /etc/docker", ok=ok)
    assert ok, result


def test_check_mode_on_a_fresh_host_creates_nothing(run_module, tmp_path, reliability):
    path = tmp_path / "etc" / "docker" / "daemon.json"
    result = run_module("docker_daemon_config", {"path": str(path), "validate": False}, check_mode=True, diff=True)
    ok = result["changed"] and not (tmp_path / "etc").exists() and '"experimental": true' in result["diff"]["after"]
    reliability.tried("check mode: a missing /etc/docker", ok=ok)
    assert ok, result


@pytest.mark.parametrize("module", ["docker_daemon_config", "docker_cli_config", "gitlab_runner_config"])
def test_a_path_ending_in_a_slash_is_refused(run_module, tmp_path, module, reliability):
    result = run_module(module, {"path": f"{tmp_path}/"})
    ok = result.failed and "ends with '/'" in result["msg"]
    reliability.tried(f"traceback: {module}: a path ending in '/'", ok=ok)
    assert ok, result


@pytest.fixture
def immutable(tmp_path):
    made = []

    def chattr(path):
        subprocess.run(["chattr", "+i", str(path)], check=True)
        made.append(path)

    yield chattr
    for path in made:
        subprocess.run(["chattr", "-i", str(path)], check=False)


@pytest.mark.parametrize("what", ["file", "directory"])
def test_an_immutable_file_or_directory_fails_clearly(run_module, tmp_path, immutable, what, reliability):
    path = tmp_path / "d" / "daemon.json"
    path.parent.mkdir()
    path.write_bytes(b'{"debug": true}')
    before = sha(path)
    immutable(path if what == "file" else path.parent)
    result = run_module("docker_daemon_config", {"path": str(path), "validate": False})
    ok = refused_intact(result, path, before) and "could not be written" in result["msg"]
    reliability.tried(f"traceback: chattr +i on the {what}", ok=ok)
    assert ok, result


def _run_in_child(name: str, args: dict, limit_bytes: int | None = None) -> dict:
    """Run module NAME in a fresh interpreter, optionally under a file-size limit (ulimit -f)."""
    code = ("import sys, json; sys.path.insert(0, %r)\n"
            "from ansible.module_utils.testing import patch_module_args\n"
            "from ansible_collections.multiarch.buildhost.plugins.modules import %s as m\n"
            "with patch_module_args(json.loads(sys.argv[1])):\n    m.main()\n") % (COLLECTION_ROOT, name)

    def limit():
        if limit_bytes is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    done = subprocess.run([sys.executable, "-c", code, json.dumps(args)], capture_output=True, text=True, preexec_fn=limit,
                          timeout=60, check=False)
    return json.loads(done.stdout or '{"failed": true, "msg": %s}' % json.dumps(done.stderr))


def test_a_file_size_limit_fails_clearly(tmp_path, reliability):
    path = tmp_path / "daemon.json"
    path.write_bytes(b'{"debug": true}')
    before = sha(path)
    result = _run_in_child("docker_daemon_config", {"path": str(path), "validate": False,
                                                    "settings": {"labels": ["x" * 100] * 100}}, limit_bytes=4096)
    ok = refused_intact(type("R", (dict,), {"failed": property(lambda s: bool(s.get("failed")))})(result), path, before)
    reliability.tried("traceback: ulimit -f", ok=ok)
    assert ok and "could not be written" in result["msg"], result


@pytest.fixture
def tiny_filesystem(tmp_path):
    mount = tmp_path / "full"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], check=True)
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def test_a_full_disk_fails_clearly(run_module, tiny_filesystem, reliability):
    path = tiny_filesystem / "daemon.json"
    path.write_bytes(b'{"debug": true}')
    before = sha(path)
    with open(tiny_filesystem / "filler", "wb") as filler:
        try:
            filler.write(b"x" * (128 * 1024))
        except OSError:
            pass
    result = run_module("docker_daemon_config", {"path": str(path), "validate": False, "settings": {"labels": ["y" * 4096] * 8}})
    ok = refused_intact(result, path, before) and "No space left" in result["msg"]
    reliability.tried("traceback: a full disk", ok=ok)
    assert ok, result


@pytest.mark.parametrize(("case", "content", "message"), [
    ("runners is not an array of tables", b"runners = 1\n", "must be an array of tables"),
    ("runners.docker is not a table", b'[[runners]]\n  name = "a"\n  executor = "docker"\n  docker = "x"\n', "is not a table"),
    ("volumes is not an array", b'[[runners]]\n  name = "a"\n  executor = "docker"\n  [runners.docker]\n    volumes = "/x"\n',
     "is not an array"),
    ("a byte-order mark", b'\xef\xbb\xbfconcurrent = 1\n', "byte-order mark"),
    ("not UTF-8", b'concurrent = "\xff"\n', "not valid UTF-8"),
])
def test_config_toml_of_the_wrong_shape_is_refused_untouched(run_module, tmp_path, case, content, message, reliability):
    path = tmp_path / "config.toml"
    path.write_bytes(content)
    before = sha(path)
    result = run_module("gitlab_runner_config", {"path": str(path), "privileged": True})
    ok = refused_intact(result, path, before) and message in result["msg"]
    reliability.tried(f"bad input: gitlab_runner_config: {case}", ok=ok)
    assert ok, result.get("msg")


def test_a_huge_config_toml_is_refused_quickly(run_module, tmp_path, reliability):
    path = tmp_path / "config.toml"
    path.write_bytes(b'concurrent = 1\nx = "' + b"a" * (2 * 1024 * 1024) + b'"\n')
    before = sha(path)
    started = time.monotonic()
    result = run_module("gitlab_runner_config", {"path": str(path), "privileged": True})
    took = time.monotonic() - started
    ok = refused_intact(result, path, before) and "larger than" in result["msg"] and took < 2
    reliability.tried("bad input: gitlab_runner_config: a 2 MB config.toml", ok=ok)
    assert ok, (took, result.get("msg"))


def test_crlf_files_stay_crlf(run_module, tmp_path, reliability):
    json_path = tmp_path / "daemon.json"
    json_path.write_bytes(b'{\r\n  "debug": true\r\n}\r\n')
    toml_path = tmp_path / "config.toml"
    toml_path.write_bytes(RUNNER.replace("\n", "\r\n").encode())
    run_module("docker_daemon_config", {"path": str(json_path), "validate": False})
    run_module("gitlab_runner_config", {"path": str(toml_path), "privileged": True, "volumes": ["/cache"]})
    ok = all(b"\n" not in content.replace(b"\r\n", b"") for content in (json_path.read_bytes(), toml_path.read_bytes()))
    reliability.tried("wrong result: CRLF kept", ok=ok)
    assert ok
    assert b'"experimental": true' in json_path.read_bytes() and b'"/cache"' in toml_path.read_bytes()


def test_config_toml_mode_drift_is_corrected_like_config_json(run_module, tmp_path, reliability):
    path = tmp_path / "config.toml"
    path.write_text(RUNNER)
    os.chmod(path, 0o644)
    first = run_module("gitlab_runner_config", {"path": str(path), "privileged": True})
    os.chmod(path, 0o640)
    drift = run_module("gitlab_runner_config", {"path": str(path), "privileged": True}, diff=True)
    ok = first["changed"] and drift["changed"] and os.stat(path).st_mode & 0o777 == 0o600 and "mode 0640" in \
        drift["diff"]["before_header"]
    reliability.tried("wrong result: config.toml mode drift", ok=ok)
    assert ok, drift
