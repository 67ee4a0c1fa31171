# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Converge one user's buildx builder: read it, compare it, re-create it on drift, select it, remove it."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.multiarch.buildhost.plugins.module_utils._safe_file import NewDirectory, Trust, read_file, write_file
from ansible_collections.multiarch.buildhost.plugins.module_utils._buildx import (
    Builder,
    BuildxError,
    check_nodes,
    create_commands,
    desired_builder,
    drift,
    instance_path,
    parse_inspect_text,
    parse_instance_file,
    parse_ls_json,
)
from ansible_collections.multiarch.buildhost.plugins.module_utils._buildkit_probe import LeftOut, leave_out_unreachable
from ansible_collections.multiarch.buildhost.plugins.module_utils._docker_cli import DockerCli
from ansible_collections.multiarch.buildhost.plugins.module_utils._owner import Owner

TLS_ENVIRONMENT = ("DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH")
# buildx's stored builder definition is a few KiB even with a buildkitd config inside.
MAX_INSTANCE_BYTES = 1024 * 1024


@dataclass
class BuilderManager:
    module: Any
    cli: DockerCli
    owner: Owner
    # Nodes of the last converge that did not answer and were left out (unreachable_nodes=leave_out).
    left_out: list[LeftOut] = field(default_factory=list)
    # What read() found, by name, until something is changed: the module's first read serves the converge too, and an
    # unchanged builder is not read a third time (each read is a buildx run, a fifth of a second or more).
    known: dict[str, Builder | None] = field(default_factory=dict)

    @property
    def docker_config(self) -> str:
        return self.cli.docker_config or self.owner.docker_config_dir

    # ---- reading ----
    def read(self, name: str) -> Builder | None:
        if name not in self.known:
            self.known[name] = self._read(name)
        return self.known[name]

    def forget(self) -> None:
        """After a change: the next read asks buildx again."""
        self.known.clear()

    def _read(self, name: str) -> Builder | None:
        rc, out, _err = self.cli.run(["buildx", "ls", "--format", "json"])
        if rc == 0 and out.lstrip().startswith("{"):
            reported = parse_ls_json(out).get(name)
        else:  # buildx older than 0.13 has no JSON listing
            rc, out, _err = self.cli.run(["buildx", "inspect", name])
            reported = parse_inspect_text(out) if rc == 0 else None
        if reported is None:
            return None
        # The owner controls this file: it is read without following links they could have planted.
        stored = read_file(instance_path(self.docker_config, name), MAX_INSTANCE_BYTES,
                           Trust.root_and(self.owner.uid, self.owner.gid))
        if stored.exists:
            defined = parse_instance_file(stored.content.decode("utf-8", errors="replace"))
            # The stored definition is what it was created with; the report adds status and real platforms.
            for node in defined.nodes:
                live = next((n for n in reported.nodes if n.name == node.name), None)
                if live is not None:
                    node.status, node.reported_platforms = live.status, live.reported_platforms
            return defined
        return reported

    def list_builders(self) -> list[Builder]:
        """Every builder the owner has, as buildx reports it (buildx 0.13+ lists them as JSON)."""
        rc, out, err = self.cli.run(["buildx", "ls", "--format", "json"])
        if rc != 0:
            raise BuildxError(f"docker buildx ls failed: {(err or out).strip()}")
        return list(parse_ls_json(out).values())

    def cache_usage(self, name: str) -> dict[str, str] | None:
        """``docker buildx du`` totals of a running builder, as buildx prints them (``361.2MB``)."""
        rc, out, _err = self.cli.run(["buildx", "du", "--builder", name])
        if rc != 0:
            return None
        totals = {}
        for line in out.splitlines():
            key, _sep, value = line.partition(":")
            if key.strip() in ("Reclaimable", "Total") and value.strip():
                totals[key.strip().lower()] = value.strip()
        return totals or None

    def current_name(self) -> str:
        rc, out, _err = self.cli.run(["buildx", "inspect"])
        return parse_inspect_text(out).name if rc == 0 else ""

    # ---- DinD with TLS ----
    def context_for_tls_environment(self, name: str, check_mode: bool) -> str | None:
        """buildx refuses TLS settings from the environment; a docker context carrying them is what it accepts."""
        if not any(os.environ.get(var) for var in TLS_ENVIRONMENT):
            return None
        context = f"{name}-context"
        rc, _out, _err = self.cli.run(["context", "inspect", context])
        if rc != 0 and not check_mode:
            cert_path = os.environ.get("DOCKER_CERT_PATH", os.path.join(self.docker_config, "certs"))
            host = self.cli.docker_host or os.environ.get("DOCKER_HOST", "")
            spec = f"host={host},ca={cert_path}/ca.pem,cert={cert_path}/cert.pem,key={cert_path}/key.pem"
            self.cli.checked(["context", "create", context, "--docker", spec])
        return context

    # ---- converging ----
    def ensure_present(self, params: dict, check_mode: bool) -> tuple[bool, list]:
        desired = desired_builder(params)
        if params.get("unreachable_nodes", "keep") != "keep":
            desired, self.left_out = leave_out_unreachable(desired, fail=params["unreachable_nodes"] == "fail")
        current = self.read(params["name"])
        actions = []
        if current is None:
            actions.append(f"create builder {desired.name} ({desired.driver})")
        else:
            reasons = drift(current, desired)
            if reasons:
                actions.append(f"re-create builder {desired.name}: " + "; ".join(reasons))
        if actions and not check_mode:
            if current is not None:
                rm = ["buildx", "rm", desired.name]
                if desired.driver == "docker-container" and params.get("keep_state"):
                    rm.append("--keep-state")
                self.cli.checked(rm)
            config_file = self._write_config(desired) if desired.nodes[0].config else None
            for argv in create_commands(desired, config_file, params["use"], params["bootstrap"]):
                self.cli.checked(argv)
        if params["use"] and self.current_name() != desired.name:
            if not actions:
                actions.append(f"use builder {desired.name}")
            if not check_mode:
                self.cli.checked(["buildx", "use", desired.name])
        return bool(actions), actions

    def ensure_context_builder(self, params: dict, check_mode: bool) -> tuple[bool, list]:
        """The docker driver: its builders are docker contexts; 'default' always exists."""
        name, actions = params["name"], []
        rc, _out, _err = self.cli.run(["context", "inspect", name])
        if rc != 0:
            endpoint = params.get("endpoint") or self.cli.docker_host or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
            actions.append(f"create docker context {name} for {endpoint}")
            if not check_mode:
                self.cli.checked(["context", "create", name, "--docker", f"host={endpoint}"])
        if params["use"] and self.current_name() != name:
            actions.append(f"use builder {name}")
            if not check_mode:
                # buildx selects a context's own builder only while that context is the current one.
                self.cli.checked(["context", "use", name])
                self.cli.checked(["buildx", "use", name])
        return bool(actions), actions

    def converge(self, params: dict, check_mode: bool) -> tuple[bool, list]:
        """Bring the builder PARAMS names to PARAMS' state; returns (changed, actions)."""
        if params["state"] == "absent":
            return self.ensure_absent(params["name"], params["driver"], check_mode)
        if params["driver"] == "docker":
            return self.ensure_context_builder(params, check_mode)
        # Before anything runs: buildx would take a bad node name or platform and leave a builder that cannot build.
        check_nodes(params)
        tls_context = self.context_for_tls_environment(params["name"], check_mode)
        if tls_context and not params["endpoint"]:
            params = dict(params, endpoint=tls_context)
        return self.ensure_present(params, check_mode)

    def ensure_absent(self, name: str, driver: str, check_mode: bool) -> tuple[bool, list]:
        if driver == "docker":
            if name == "default":
                raise BuildxError("the 'default' builder is the docker context itself and cannot be removed")
            rc, _out, _err = self.cli.run(["context", "inspect", name])
            if rc != 0:
                return False, []
            if not check_mode:
                self.cli.checked(["context", "rm", "--force", name])
            return True, [f"remove docker context {name}"]
        if self.read(name) is None:
            return False, []
        if not check_mode:
            self.cli.checked(["buildx", "rm", name])
        return True, [f"remove builder {name}"]

    def _write_config(self, desired: Builder) -> str:
        # The owner controls ~/.docker: the file is reached without following links they could have planted.
        path = os.path.join(self.docker_config, "buildx", "multiarch-buildhost", f"{desired.name}.buildkitd.toml")
        write_file(path, desired.nodes[0].config.encode("utf-8"), 0o644, self.owner.uid, self.owner.gid,
                   trust=Trust.root_and(self.owner.uid, self.owner.gid),
                   create=NewDirectory(0o700, self.owner.uid, self.owner.gid))
        return path
