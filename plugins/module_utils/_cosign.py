# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one place that runs cosign: signing and verifying image digests with a key pair, offline.

The private key's password reaches cosign only through COSIGN_PASSWORD in its environment, never in its argv, and
every message that leaves here has the password (and whatever else is registered as a secret) masked. Without a
transparency log (an offline lab, a private registry) signatures are uploaded with --tlog-upload=false and checked
with --insecure-ignore-tlog=true: what is proven is that the holder of the key signed that exact digest.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.multiarch.buildhost.plugins.module_utils._docker_cli import inherited_by_another_user
from ansible_collections.multiarch.buildhost.plugins.module_utils._errors import BuildhostError
from ansible_collections.multiarch.buildhost.plugins.module_utils._owner import Owner
from ansible_collections.multiarch.buildhost.plugins.module_utils._redact import mask

PASSWORD_VARIABLE = "COSIGN_PASSWORD"
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_PEM = re.compile(r"-----BEGIN ([A-Z ]+)-----(.*?)-----END \1-----", re.S)


class CosignError(BuildhostError):
    pass


def repository_of(image: str) -> str:
    """The repository of an image reference, without its tag or digest: ``reg:5000/team/app:1@sha256:..`` ->
    ``reg:5000/team/app``. A ':' after the last '/' starts a tag; one before it is a registry's port."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)
    if ":" in last[-1]:
        name = name[:len(name) - len(last[-1])] + last[-1].split(":", 1)[0]
    return name


def digest_reference(image: str, digest: str) -> str:
    """``REPOSITORY@DIGEST``: what is signed and verified, so that a tag moving in between changes nothing."""
    if not isinstance(digest, str) or not _DIGEST.match(digest):
        raise CosignError(f"{digest!r} is not a sha256 digest")
    return f"{repository_of(image)}@{digest}"


def key_fingerprint(pem: str) -> str:
    """``sha256:<hex>`` of the public key's DER (the base64 body of its PEM block), as ``openssl pkey -pubin
    -outform DER | sha256sum`` prints it; of the text itself when it holds no PEM block."""
    match = _PEM.search(pem)
    if match:
        try:
            der = base64.b64decode("".join(match.group(2).split()), validate=True)
        except ValueError as exc:
            raise CosignError(f"the public key's PEM block is not base64: {exc}") from exc
        return "sha256:" + hashlib.sha256(der).hexdigest()
    return "sha256:" + hashlib.sha256(pem.encode("utf-8")).hexdigest()


def cosign_reason(out: str, err: str) -> str:
    """cosign's own reason for a failure: its ``Error:`` line, else the last line that is not a warning."""
    lines = [line.strip() for line in (err or "").splitlines() + (out or "").splitlines() if line.strip()]
    for line in lines:
        if line.startswith("Error:"):
            return line[len("Error:"):].strip()
    for line in reversed(lines):
        if not line.startswith("WARNING"):
            prefix = "error during command execution:"
            return (line[len(prefix):] if line.startswith(prefix) else line).strip()
    return "cosign gave no reason"


def verdict(digest: str, rc: int, out: str, err: str) -> dict[str, Any]:
    """{verified, error} from a ``cosign verify`` of ``REPO@DIGEST``.

    Verified only when cosign succeeded and one of the signed payloads it printed names DIGEST: an exit code alone is
    not taken as proof of which image was checked.
    """
    if rc != 0:
        return {"verified": False, "error": cosign_reason(out, err)}
    try:
        payloads = json.loads(out)
    except ValueError:
        return {"verified": False, "error": f"cosign verify succeeded but printed no JSON: {out[:200]!r}"}
    signed = set()
    for payload in payloads if isinstance(payloads, list) else []:
        critical = payload.get("critical") if isinstance(payload, dict) else None
        image = critical.get("image") if isinstance(critical, dict) else None
        if isinstance(image, dict):
            signed.add(image.get("docker-manifest-digest"))
    if digest not in signed:
        return {"verified": False, "error": f"cosign's verified payloads name {sorted(str(d) for d in signed)}, not {digest}"}
    return {"verified": True, "error": None}


@dataclass
class Cosign:
    """Runs ``cosign`` (BINARY) as OWNER, with their registry credentials (DOCKER_CONFIG)."""

    binary: str
    owner: Owner | None = None
    allow_http_registry: bool = False
    secrets: set[str] = field(default_factory=set)  # masked in every message

    def _registry_flags(self) -> list[str]:
        return ["--allow-http-registry"] if self.allow_http_registry else []

    def sign_argv(self, reference: str, key: str) -> list[str]:
        return [self.binary, "sign", "--key", key, "--tlog-upload=false", "--yes", *self._registry_flags(), reference]

    def verify_argv(self, reference: str, public_key: str) -> list[str]:
        return [self.binary, "verify", "--key", public_key, "--insecure-ignore-tlog=true", "--output", "json",
                *self._registry_flags(), reference]

    def public_key_argv(self, key: str) -> list[str]:
        return [self.binary, "public-key", "--key", key]

    def environment(self, password: str | None = None) -> dict[str, str]:
        """The process's environment: the password only when given, and never an inherited one."""
        identity = self.owner.process_identity() if self.owner is not None else {}
        if identity:
            env = inherited_by_another_user(dict(os.environ))
            env.update(self.owner.process_environment())
        else:
            env = {key: value for key, value in os.environ.items() if not key.startswith("COSIGN_")}
        if self.owner is not None:
            env["DOCKER_CONFIG"] = self.owner.docker_config_dir
        env.update(LC_ALL="C", LANG="C")
        if password is not None:
            env[PASSWORD_VARIABLE] = password
        return env

    def run(self, argv: list[str], password: str | None = None) -> tuple[int, str, str]:
        identity = self.owner.process_identity() if self.owner is not None else {}
        if identity:
            identity = dict(identity, start_new_session=True, cwd=self.owner.home)
        try:
            done = subprocess.run(argv, capture_output=True, stdin=subprocess.DEVNULL, check=False, text=True,
                                  errors="replace", env=self.environment(password), **identity)
        except OSError as exc:
            raise CosignError(f"cosign {argv[1]} could not be started: {exc.strerror}") from exc
        return done.returncode, self.masked(done.stdout), self.masked(done.stderr)

    def masked(self, text: str) -> str:
        return mask(text or "", self.secrets)

    def public_key(self, key: str, password: str) -> str:
        """The PEM public key of the private KEY, which proves the password opens it before anything is signed."""
        rc, out, err = self.run(self.public_key_argv(key), password)
        if rc != 0 or "PUBLIC KEY" not in out:
            raise CosignError(f"cosign cannot open the private key {key}: {cosign_reason(out, err)}")
        return out

    def sign(self, reference: str, key: str, password: str) -> None:
        rc, out, err = self.run(self.sign_argv(reference, key), password)
        if rc != 0:
            raise CosignError(f"cosign sign {reference} failed (rc={rc}): {cosign_reason(out, err)}")

    def verify(self, reference: str, public_key: str) -> dict[str, Any]:
        """{verified, error} for REFERENCE (``REPO@DIGEST``) against PUBLIC_KEY; a failure is a verdict, not an error."""
        rc, out, err = self.run(self.verify_argv(reference, public_key))
        return verdict(reference.rsplit("@", 1)[-1], rc, out, err)


def read_public_key(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise CosignError(f"cannot read the public key {path}: {exc}") from exc


def private_key_secrets(path: str) -> set[str]:
    """The private key file's text, to be masked wherever it could show; empty when it cannot be read here."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError):
        return set()
    return {text.strip()} if text.strip() else set()
