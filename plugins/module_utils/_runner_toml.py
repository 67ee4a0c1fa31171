# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read and edit GitLab Runner's config.toml as TOML (tomlkit keeps comments, order and unknown keys)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from ansible_collections.multiarch.buildhost.plugins.module_utils._errors import BuildhostError
from ansible_collections.multiarch.buildhost.plugins.module_utils._json_merge import same_json
from ansible_collections.multiarch.buildhost.plugins.module_utils._managed_file import Plan
from ansible_collections.multiarch.buildhost.plugins.module_utils._redact import REDACTED, redact
from ansible_collections.multiarch.buildhost.plugins.module_utils._runner_build_mode import (
    check_dind_daemon_config, expand_build_mode, volume_target)
from ansible_collections.multiarch.buildhost.plugins.module_utils._safe_file import FileState

# A real config.toml is a few KiB. tomlkit's parser slows down sharply on large strings (2 MB took 50 s), so anything
# beyond this is refused before it is parsed.
MAX_RUNNER_CONFIG_BYTES = 256 * 1024


# [runners.docker] keys whose TOML type GitLab Runner fixes (its Go struct): a value of another type, `network_mtu =
# "1360"` or `privileged = 1`, stops the runner from loading config.toml at all, so it is refused here instead.
DOCKER_INTEGER_KEYS = frozenset({"cpu_shares", "network_mtu", "oom_score_adjust", "service_cpu_shares", "shm_size",
                                 "wait_for_services_timeout"})
DOCKER_BOOLEAN_KEYS = frozenset({"disable_cache", "disable_entrypoint_overwrite", "enable_ipv6", "oom_kill_disable",
                                 "privileged", "services_privileged", "tls_verify"})
# What runner_settings may set for one runner; `docker` holds that runner's own [runners.docker] keys, `environment`
# the job variables ([[runners]] environment, NAME=value) it must have; `absent_environment` the names of job
# variables and `absent_volumes` the paths in the job's container it must not have; `build_mode` (with `buildkit` for
# remote_buildkit) stands for the settings that mode needs (_runner_build_mode). That expansion may also give `mounts`,
# volumes that must be the only ones at their path in the job's container (the dind services' daemon.json); only the
# build mode gives them, runner_settings itself does not take the key.
RUNNER_SETTING_KEYS = ("limit", "request_concurrency", "environment", "docker", "absent_environment", "absent_volumes",
                       "build_mode", "buildkit")
# A job variable's name, and one as GitLab Runner reads it from `environment`: NAME=value.
VARIABLE_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
ENVIRONMENT_ENTRY = re.compile(rf"({VARIABLE_NAME})=(.*)", re.DOTALL)
# GitLab Runner's "no time" (Go's zero time.Time), which it writes itself for a token that does not expire.
UNKNOWN_TIME = datetime(1, 1, 1, tzinfo=timezone.utc)
PRIVILEGE_KEYS = ("privileged", "services_privileged", "allowed_privileged_images", "allowed_privileged_services")


class RunnerConfigError(BuildhostError):
    pass


def _tomlkit():
    import tomlkit  # pylint: disable=import-outside-toplevel  # the module checks it first, with missing_required_lib

    return tomlkit


def parse(path: str, content: bytes):
    """Parse config.toml; duplicate keys or tables are an error, as they are for GitLab Runner itself."""
    if content.startswith(b"\xef\xbb\xbf"):
        raise RunnerConfigError(f"{path} starts with a UTF-8 byte-order mark, which GitLab Runner cannot read; remove it")
    if len(content) > MAX_RUNNER_CONFIG_BYTES:
        raise RunnerConfigError(f"{path} is {len(content)} bytes, larger than the {MAX_RUNNER_CONFIG_BYTES} bytes a"
                                " config.toml can reasonably be; check what it holds")
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RunnerConfigError(f"{path} is not valid UTF-8 text: {exc}") from exc
    try:
        document = _tomlkit().parse(text)
    except Exception as exc:  # tomlkit raises several ParseError subclasses and KeyAlreadyPresent
        raise RunnerConfigError(f"{path} is not valid TOML: {exc}") from exc
    _check_shape(path, document)
    return document


def _check_shape(path: str, document) -> None:
    runners = document.get("runners")
    if runners is None:
        return
    if not isinstance(runners, list) or not all(isinstance(r, dict) for r in runners):
        raise RunnerConfigError(f"{path}: 'runners' must be an array of tables ([[runners]]), found {type(runners).__name__}")
    for runner in runners:
        docker = runner.get("docker")
        if docker is not None and not isinstance(docker, dict):
            raise RunnerConfigError(f"{path}: runner {str(runner.get('name', '?'))!r} has a 'docker' key that is not a"
                                    f" table ([runners.docker]), found {type(docker).__name__}")
        environment = runner.get("environment")
        if environment is not None and not isinstance(environment, list):
            raise RunnerConfigError(f"{path}: runner {str(runner.get('name', '?'))!r} has an environment that is not an"
                                    f" array, found {type(environment).__name__}")
        volumes = (docker or {}).get("volumes")
        if volumes is not None and not isinstance(volumes, list):
            raise RunnerConfigError(f"{path}: runner {str(runner.get('name', '?'))!r} has [runners.docker] volumes that"
                                    f" is not an array, found {type(volumes).__name__}")


@dataclass(frozen=True)
class RunnerSummary:
    name: str
    executor: str
    url: str
    privileged: bool | None


def summarize(document) -> list[RunnerSummary]:
    """What the registration and the fleet report need to know about each runner; no secrets (a token or password
    in the URL's userinfo is masked)."""
    summaries = []
    for runner in document.get("runners", []):
        docker = runner.get("docker") or {}
        privileged = docker.get("privileged")
        url, _secrets = redact(str(runner.get("url", "")))
        summaries.append(RunnerSummary(str(runner.get("name", "")), str(runner.get("executor", "")), url,
                                       None if privileged is None else bool(privileged)))
    return summaries


def runner_names(document) -> list[str]:
    return [runner.name for runner in summarize(document)]


def select_runners(path: str, document, names: list | None) -> list:
    runners = list(document.get("runners", []))
    if names:
        known = runner_names(document)
        unknown = [n for n in names if n not in known]
        if unknown:
            raise RunnerConfigError(f"{path} has no runner named {', '.join(unknown)} (it has: {', '.join(known) or 'none'})")
        return [r for r in runners if str(r.get("name", "")) in names]
    return [r for r in runners if str(r.get("executor", "")) == "docker"]


def _set(table, key: str, value: Any) -> bool:
    """Set KEY only when it differs, so untouched values keep their formatting; a new key is indented like its siblings."""
    if key in table and same_json(_plain(table[key]), value):
        return False
    if key in table:
        table[key] = value
    else:
        item = _tomlkit().item(value)
        item.trivia.indent = _indent_of(table)
        table[key] = item
    return True


def _indent_of(table) -> str:
    """The indentation a new key of TABLE needs to line up with its siblings. tomlkit puts the table header's own
    indentation in front of what a new key carries, so only the rest is returned."""
    tomlkit = _tomlkit()
    if not isinstance(table, tomlkit.items.Table):  # the document itself
        return ""
    header = table.trivia.indent
    for key, item in table.value.body:
        if key is not None and not isinstance(item, (tomlkit.items.Table, tomlkit.items.AoT)):
            indent = item.trivia.indent
            return indent[len(header):] if indent.startswith(header) else indent
    return "  " if header else ""


def _plain(value: Any) -> Any:
    return value.unwrap() if hasattr(value, "unwrap") else value


def _unique(items: list) -> list:
    return list(dict.fromkeys(items))


def _docker_settings(settings: dict, own_docker: dict | None) -> dict:
    """The [runners.docker] keys one runner must have: the privilege options, then O(docker), then its own keys."""
    wanted = {key: settings[key] for key in PRIVILEGE_KEYS if settings.get(key) is not None}
    wanted.update(settings.get("docker") or {})
    wanted.update(own_docker or {})
    return wanted


def _apply_docker(runner, wanted: dict, ensured_volumes: list) -> bool:
    if not wanted and not ensured_volumes:
        return False
    if "docker" not in runner:
        table = _tomlkit().table()
        table.trivia.indent = runner.trivia.indent + _indent_of(runner)
        runner["docker"] = table
    docker = runner["docker"]
    touched = False
    for key in [k for k in wanted if k in PRIVILEGE_KEYS]:
        touched |= _set(docker, key, wanted[key])
    if "volumes" in wanted:
        # A volume list that is set whole still gets the ensured volumes, so the two never undo each other.
        given = [str(v) for v in wanted["volumes"]]
        touched |= _set(docker, "volumes", _unique(given + [v for v in ensured_volumes if v not in given]))
    elif ensured_volumes:
        existing = [str(v) for v in docker.get("volumes", [])]
        missing = [v for v in ensured_volumes if v not in existing]
        if missing:
            if "volumes" not in docker:
                _set(docker, "volumes", missing)
            else:
                for volume in missing:
                    docker["volumes"].append(volume)
            touched = True
    for key in [k for k in wanted if k not in PRIVILEGE_KEYS and k != "volumes"]:
        touched |= _set(docker, key, wanted[key])
    return touched


def _apply_environment(runner, wanted: list[str]) -> bool:
    """Make the runner's environment hold each NAME=value in WANTED: an entry of the same name is replaced where it
    stands, a new one appended, and entries of other names are kept (set by hand, or by GitLab Runner itself)."""
    if not wanted:
        return False
    values = {ENVIRONMENT_ENTRY.match(entry).group(1): entry for entry in wanted}  # checked: the last of a name wins
    existing = [str(entry) for entry in runner.get("environment", [])]
    merged, placed = [], set()
    for entry in existing:
        match = ENVIRONMENT_ENTRY.match(entry)
        name = match.group(1) if match else None
        if name in values:
            if name not in placed:
                merged.append(values[name])
                placed.add(name)
        else:
            merged.append(entry)
    merged += [entry for name, entry in values.items() if name not in placed]
    return _set(runner, "environment", merged)


def _remove_entries(table, key: str, unwanted: Callable[[str], bool]) -> bool:
    """Drop from TABLE's KEY array the entries UNWANTED says so of; the others stay where they stand. An array this
    empties goes too (it was written for those entries)."""
    doomed = [index for index, entry in enumerate(table.get(key, [])) if unwanted(str(entry))]
    if not doomed:
        return False
    for index in reversed(doomed):
        del table[key][index]
    if not table[key]:
        del table[key]
    return True


def apply_settings(document, runners: list, settings: dict, per_runner: dict | None = None) -> list[str]:
    """Apply SETTINGS to RUNNERS (and the global concurrent), and PER_RUNNER (name -> checked settings, see
    check_runner_settings) to the runners of that name, over SETTINGS; returns the names of runners that changed."""
    per_runner = per_runner or {}
    changed = []
    if settings.get("concurrent") is not None:
        _set(document, "concurrent", settings["concurrent"])
    selected = {id(runner) for runner in runners}
    ensured_volumes = _unique(settings.get("volumes") or [])
    for runner in document.get("runners", []):
        name = str(runner.get("name", ""))
        own = per_runner.get(name)
        if id(runner) not in selected and own is None:
            continue
        own = own or {}
        touched = False
        for key in ("limit", "request_concurrency"):
            if own.get(key) is not None:
                touched |= _set(runner, key, own[key])
        # Removals first: what is asked for below is never one of them (check_runner_settings refuses that).
        absent_names = set(own.get("absent_environment") or [])
        if absent_names:
            touched |= _remove_entries(runner, "environment", lambda entry: entry.split("=", 1)[0] in absent_names)
        # A volume O(volumes) ensures on this runner stays: the two would undo each other on every run.
        mounts = list(own.get("mounts") or [])
        ensured = set(ensured_volumes if id(runner) in selected else []) | set(mounts)
        absent_targets = set(own.get("absent_volumes") or [])
        if absent_targets and "docker" in runner:
            touched |= _remove_entries(runner["docker"], "volumes",
                                       lambda volume: volume not in ensured and volume_target(volume) in absent_targets)
        # The shared job variables first (the proxy, from the role), then the runner's own: the last of a name wins.
        shared_environment = (settings.get("environment") or []) if id(runner) in selected else []
        touched |= _apply_environment(runner, shared_environment + (own.get("environment") or []))
        if id(runner) in selected:
            touched |= _apply_docker(runner, _docker_settings(settings, own.get("docker")), _unique(ensured_volumes + mounts))
        else:
            touched |= _apply_docker(runner, dict(own.get("docker") or {}), mounts)
        if touched:
            changed.append(name)
    return changed


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {value!r}" if not isinstance(value, str) else f"the string {value!r}"


def _integer(where: str, value: Any, minimum: int) -> int:
    """An integer as TOML writes it; an integral string (as `-e key=value` gives) is read as one, a boolean never."""
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?[0-9]+\s*", value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise RunnerConfigError(f"{where} must be an integer, not {_describe(value)}")
    if value < minimum:
        raise RunnerConfigError(f"{where} must be at least {minimum}, not {value}")
    return value


def _boolean(where: str, value: Any) -> bool:
    """true or false; the strings "true" and "false" as TOML spells them, but never 1, 0 or "yes"."""
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if not isinstance(value, bool):
        raise RunnerConfigError(f"{where} must be true or false, not {_describe(value)}")
    return value


def check_docker_settings(where: str, docker: Any) -> dict:
    """[runners.docker] keys with the types GitLab Runner reads; other keys pass as given."""
    if not isinstance(docker, dict):
        raise RunnerConfigError(f"{where} must be a dictionary of [runners.docker] keys, not {_describe(docker)}")
    checked = {}
    for key, value in docker.items():
        if value is None:
            raise RunnerConfigError(f"{where}.{key} is null, which TOML cannot hold; leave the key out to keep the file's value")
        if key in DOCKER_INTEGER_KEYS:
            checked[key] = _integer(f"{where}.{key}", value, minimum=0 if key != "oom_score_adjust" else -1000)
        elif key in DOCKER_BOOLEAN_KEYS:
            checked[key] = _boolean(f"{where}.{key}", value)
        elif key == "volumes" and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
            raise RunnerConfigError(f"{where}.volumes must be a list of strings, not {_describe(value)}")
        else:
            checked[key] = value
    return checked


def check_environment(where: str, environment: Any) -> list[str]:
    """Job variables as GitLab Runner reads them: a list of NAME=value strings."""
    if not isinstance(environment, list):
        raise RunnerConfigError(f"{where} must be a list of NAME=value strings, not {_describe(environment)}")
    for entry in environment:
        if not isinstance(entry, str) or not ENVIRONMENT_ENTRY.fullmatch(entry):
            # Only a name is ever shown: the entry may hold a secret.
            name = entry.split("=", 1)[0] if isinstance(entry, str) else ""
            shown = f" ({name!r})" if re.fullmatch(VARIABLE_NAME, name) else ""
            raise RunnerConfigError(f"{where} has an entry{shown} that is not NAME=value, NAME made of letters, digits"
                                    " and underscores")
    return list(environment)


def _names(where: str, names: Any) -> list[str]:
    if not isinstance(names, list) or not all(isinstance(n, str) and re.fullmatch(VARIABLE_NAME, n) for n in names):
        raise RunnerConfigError(f"{where} must be a list of variable names (letters, digits and underscores)")
    return list(names)


def _container_paths(where: str, paths: Any) -> list[str]:
    if not isinstance(paths, list) or not all(isinstance(p, str) and p.startswith("/") and ":" not in p for p in paths):
        raise RunnerConfigError(f"{where} must be a list of absolute paths in the job's container, not {_describe(paths)}")
    return list(paths)


def check_runner_settings(runner_settings: Any, dind_daemon_config: str | None = None,
                          shared_volumes: list | None = None) -> dict[str, dict]:
    """runner_settings (name -> limit, request_concurrency, environment, docker, absent_environment, absent_volumes)
    checked and typed, before anything is changed. Each runner's build_mode is expanded (with DIND_DAEMON_CONFIG for
    dind runners); a mount it gives that SHARED_VOLUMES (O(volumes)) would double with another volume at the same path
    fails."""
    checked: dict[str, dict] = {}
    dind_daemon_config = check_dind_daemon_config(dind_daemon_config)
    for name, own in (runner_settings or {}).items():
        where = f"runner_settings[{name!r}]"
        if not isinstance(own, dict):
            raise RunnerConfigError(f"{where} must be a dictionary of {', '.join(RUNNER_SETTING_KEYS)}, not {_describe(own)}")
        unknown = sorted(str(key) for key in own if key not in RUNNER_SETTING_KEYS)
        if unknown:
            raise RunnerConfigError(f"{where} has {', '.join(unknown)}, which this option does not set (it sets"
                                    f" {', '.join(RUNNER_SETTING_KEYS)}; other [runners.docker] keys go under docker)")
        own = expand_build_mode(where, own, dind_daemon_config)
        entry: dict[str, Any] = {}
        # limit 0 is GitLab Runner's "no limit"; request_concurrency below 1 would never ask for a job.
        if own.get("limit") is not None:
            entry["limit"] = _integer(f"{where}.limit", own["limit"], minimum=0)
        if own.get("request_concurrency") is not None:
            entry["request_concurrency"] = _integer(f"{where}.request_concurrency", own["request_concurrency"], minimum=1)
        if own.get("environment"):
            entry["environment"] = check_environment(f"{where}.environment", own["environment"])
        if own.get("docker"):
            entry["docker"] = check_docker_settings(f"{where}.docker", own["docker"])
        if own.get("absent_environment"):
            entry["absent_environment"] = _names(f"{where}.absent_environment", own["absent_environment"])
            both = sorted(set(entry["absent_environment"]) & {e.split("=", 1)[0] for e in entry.get("environment", [])})
            if both:
                raise RunnerConfigError(f"{where} asks both to have and not to have {', '.join(both)}")
        if own.get("absent_volumes"):
            entry["absent_volumes"] = _container_paths(f"{where}.absent_volumes", own["absent_volumes"])
            wanted = (entry.get("docker") or {}).get("volumes", [])
            both = sorted(v for v in wanted if volume_target(str(v)) in entry["absent_volumes"])
            if both:
                raise RunnerConfigError(f"{where} asks both to mount {', '.join(both)} and to mount nothing there")
        if own.get("mounts"):
            entry["mounts"] = list(own["mounts"])
            targets = {volume_target(mount): mount for mount in entry["mounts"]}
            doubled = sorted(str(v) for v in shared_volumes or [] if targets.get(volume_target(str(v)), v) != v)
            if doubled:
                raise RunnerConfigError(f"{where}: volumes has {', '.join(doubled)}, where the runner's build mode mounts"
                                        f" {', '.join(targets[volume_target(v)] for v in doubled)}; Docker refuses two"
                                        " mounts at one path")
        checked[str(name)] = entry
    return checked


def check_runner_tokens(runner_tokens: Any) -> dict[str, str]:
    checked = {}
    for name, token in (runner_tokens or {}).items():
        # The message names the runner, never the value.
        if not isinstance(token, str) or not token.strip():
            raise RunnerConfigError(f"runner_tokens[{name!r}] must be a runner authentication token (a non-empty string)")
        checked[str(name)] = token
    return checked


def remove_runners(document, names: list[str]) -> list[str]:
    """Remove every [[runners]] entry named in NAMES (a name given twice in config.toml goes twice); returns the names
    removed, in file order. Entries of other names are never touched."""
    runners = document.get("runners")
    if not runners or not names:
        return []
    removed = []
    for index in reversed(range(len(runners))):
        name = str(runners[index].get("name", ""))
        if name in names:
            del runners[index]
            removed.insert(0, name)
    if not len(runners):
        del document["runners"]
    return _unique(removed)


def apply_tokens(path: str, document, tokens: dict[str, str]) -> list[str]:
    """Write each runner's authentication token where config.toml holds another; returns the runners whose token changed.

    A new token is written as GitLab Runner writes one it did not obtain itself: its obtained and expiry times unknown
    (the zero time). Kept, the old token's times would have the runner reset the new token on the old one's schedule
    (at 3/4 of its lifetime, often already past), leaving the inventory with a token GitLab has revoked.
    """
    changed = []
    for name, token in tokens.items():
        entries = [r for r in document.get("runners", []) if str(r.get("name", "")) == name]
        if len(entries) > 1:
            raise RunnerConfigError(f"{path} has {len(entries)} runners named {name}; one token cannot be given to"
                                    " all of them: remove the duplicates (absent_runners removes every entry of a name)")
        runner = entries[0]
        if isinstance(_plain(runner.get("token")), str) and _plain(runner["token"]) == token:
            continue
        _set(runner, "token", token)
        for key in ("token_obtained_at", "token_expires_at"):
            _set(runner, key, UNKNOWN_TIME)
        changed.append(name)
    return changed


def render(document, newline: str = "\n") -> str:
    text = _tomlkit().dumps(document)
    if newline == "\r\n":
        # tomlkit keeps the file's own line ends but writes "\n" after what it adds; a CRLF file stays CRLF.
        text = text.replace("\r\n", "\n").replace("\n", "\r\n")
    return text


@dataclass(frozen=True)
class RunnerPlanDetails:
    changed_runners: list[str]
    runner_names: list[str]
    secrets: set[str]
    removed_runners: list[str]
    token_updated_runners: list[str]


def _check_names(path: str, document, settings: dict, absent: list[str], per_runner: dict, tokens: dict) -> None:
    """Refuse a request that names a runner both to remove and to keep, or configures one the file does not hold."""
    kept = [*(settings.get("runners") or []), *per_runner, *tokens]
    both = _unique(name for name in kept if name in absent)
    if both:
        raise RunnerConfigError(f"{', '.join(both)} cannot be both removed (absent_runners) and configured (runners,"
                                " runner_settings or runner_tokens)")
    known = runner_names(document)
    unknown = _unique(name for name in [*per_runner, *tokens] if name not in known)
    if unknown:
        raise RunnerConfigError(f"{path} has no runner named {', '.join(unknown)} to configure (it has:"
                                f" {', '.join(known) or 'none'}); register it first")


def plan_runner_update(path: str, before: FileState, settings: dict) -> Plan[RunnerPlanDetails]:
    if not before.exists:
        raise RunnerConfigError(f"{path} does not exist; register a runner first (gitlab-runner register)")
    document = parse(path, before.content)
    shown_before, secrets = redact(document)
    tokens = check_runner_tokens(settings.get("runner_tokens"))
    secrets |= set(tokens.values())
    per_runner = check_runner_settings(settings.get("runner_settings"), settings.get("dind_daemon_config"),
                                       settings.get("volumes"))
    if settings.get("docker"):
        settings = dict(settings, docker=check_docker_settings("docker", settings["docker"]))
    if settings.get("environment"):
        settings = dict(settings, environment=check_environment("environment", settings["environment"]))
    absent = _unique(str(name) for name in settings.get("absent_runners") or [])
    removed = remove_runners(document, absent)
    _check_names(path, document, settings, absent, per_runner, tokens)
    runners = select_runners(path, document, settings.get("runners"))
    changed_runners = apply_settings(document, runners, settings, per_runner)
    token_updated = apply_tokens(path, document, tokens)
    newline = "\r\n" if b"\r\n" in before.content else "\n"
    content = render(document, newline).encode("utf-8")
    shown_after, secrets_after = redact(document)
    for runner in shown_after.get("runners", []):
        if str(runner.get("name", "")) in token_updated:
            # The diff shows that a token changed, never which.
            runner["token"] = f"{REDACTED} (new token)"
    return Plan(
        content=content,
        changed=content != before.content,
        shown_before=render(shown_before),
        shown_after=render(shown_after),
        details=RunnerPlanDetails(_unique(changed_runners + token_updated), runner_names(document), secrets | secrets_after,
                                  removed, token_updated),
    )
