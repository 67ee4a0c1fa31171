"""Search a Molecule scenario's -vvv log for every secret the scenarios hand to the collection.

    python tests/leaks/scan_log.py SCENARIO LOG

`make molecule-<scenario>` runs the scenario with ANSIBLE_VERBOSITY=3 and ANSIBLE_DIFF_ALWAYS=1 into LOG, then calls
this. Every log is searched for every known secret, in each form it can take (as given, and base64 of "user:password"
as config.json's `auths` stores it). A scan only counts when the log shows the secret-handling tasks ran at -vvv with
diffs on (the scenario's proof patterns): a log of a run that never logged in cannot prove that login hides its
password. Exit status 1 on a leak or a missing proof, 2 on bad usage.
"""
from __future__ import annotations

import base64
import glob
import os
import re
import sys
from dataclasses import dataclass

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUNNER_FIXTURE = "tests/fixtures/gitlab-runner/several-runners.toml"
LIFECYCLE_FIXTURE = "tests/fixtures/gitlab-runner/lifecycle.toml"


@dataclass(frozen=True)
class Secret:
    value: str
    # The file that hands the secret to the scenario: a secret renamed there fails the scan instead of dropping out.
    source: str
    # Registry passwords: docker login stores base64("user:password") under config.json's auths.
    username: str = ""

    def forms(self) -> dict[str, str]:
        """Each way the secret can be written down, by name (the report names the form, never the value)."""
        forms = {"plain": self.value}
        if self.username:
            forms["base64 user:password"] = base64.b64encode(f"{self.username}:{self.value}".encode()).decode()
        return forms


@dataclass(frozen=True)
class Scenario:
    secrets: tuple[Secret, ...] = ()
    # Regular expressions the log must match, proving the secret-handling paths ran with -vvv and diffs.
    proof: tuple[str, ...] = ()
    # Private keys the scenario made (PEM files under the repository, found by this glob after the run): every
    # base64 line of their bodies is a secret. None found is a missing proof.
    key_files: str = ""


def key_secrets(pattern: str, repo: str = REPO) -> list[Secret]:
    """The private part of every key PATTERN finds: the PEM lines that carry the private scalar, and the scalar in
    hex and decimal. The other lines of an EC key carry its public point, which modules rightly print."""
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    found = []
    for path in sorted(glob.glob(os.path.join(repo, pattern), recursive=True)):
        source = os.path.relpath(path, repo)
        with open(path, "rb") as handle:
            pem = handle.read()
        lines = [line.strip().decode() for line in pem.splitlines() if line.strip() and not line.startswith(b"-----")]
        der = base64.b64decode("".join(lines))
        numbers = load_pem_private_key(pem, password=None).private_numbers()
        scalar = numbers.private_value
        raw = scalar.to_bytes((scalar.bit_length() + 7) // 8, "big")
        start = der.find(raw)
        offset = 0
        for line in lines:
            size = len(base64.b64decode(line))
            if start < 0 or (offset < start + len(raw) and offset + size > start):
                found.append(Secret(line, source))
            offset += size
        found += [Secret(raw.hex(), source), Secret(str(scalar), source)]
    return found


VERBOSE_PROOF = (r"ESTABLISH DOCKER CONNECTION FOR USER", r'"invocation": \{')
RUNNER_SECRETS = (
    Secret("glrt-t1_SECRETdockerRunnerToken", RUNNER_FIXTURE),
    Secret("glrt-t2_SECRETshellRunnerToken", RUNNER_FIXTURE),
    Secret("glrt-t3_SECRETbareRunnerToken", RUNNER_FIXTURE),
    Secret("s3cr3tKEYexample", RUNNER_FIXTURE),
)
RUNNER_PROOF = (r"TASK \[multiarch\.buildhost\.gitlab_runner : Allow privileged Docker-in-Docker",
                r"--- before: /etc/gitlab-runner/config\.toml")
LOGIN_PROOF = (r"TASK \[multiarch\.buildhost\.build : Log in to the registry",
               r"the output has been hidden due to the fact that 'no_log: true'")

SCENARIOS = {
    "build": Scenario(
        secrets=(Secret("s3cret-Pa55", "molecule/build/molecule.yml", username="ci"),
                 # The proxy's password: in the proxy URL of every place multiarch_proxy reaches, and base64 of
                 # "user:password" as Proxy-Authorization sends it.
                 Secret("proxy-Pa55-leakcheck", "molecule/build/molecule.yml", username="mbh")),
        proof=LOGIN_PROOF + (r"TASK \[multiarch\.buildhost\.docker : Write the proxy settings, for root only",
                             r"TASK \[multiarch\.buildhost\.docker : Enable the experimental CLI for the build user")),
    "config": Scenario(
        secrets=(Secret("cfg-Pa55-leakcheck", "molecule/config/prepare.yml", username="robot"),
                 Secret("c2VjcmV0", "molecule/config/verify.yml")),
        proof=(r"--- before: /home/builder/\.docker/config\.json", r'"auths"')),
    "default": Scenario(
        secrets=(Secret("default-scenario-pass", "molecule/default/molecule.yml", username="ci"), *RUNNER_SECRETS),
        proof=LOGIN_PROOF + RUNNER_PROOF),
    "gitlab_runner": Scenario(
        secrets=(*RUNNER_SECRETS, Secret("glrt-scenarioRegistrationToken", "molecule/gitlab_runner/molecule.yml"),
                 # The token reset in GitLab that the role writes over the fixture's, and the runner it unregisters.
                 Secret("glrt-t1_ROTATEDdockerRunnerToken", "molecule/gitlab_runner/molecule.yml"),
                 Secret("glrt-t4_SECRETretiredRunnerToken", LIFECYCLE_FIXTURE),
                 # Registered for real in the scenario: it reached the log through the environment keyword before.
                 Secret("glrt-unprivilegedBuildkitToken", "molecule/gitlab_runner/molecule.yml"),
                 # The proxy's password, in every docker runner's job environment (multiarch_proxy).
                 Secret("runner-proxy-Pa55", "molecule/gitlab_runner/molecule.yml", username="mbh")),
        proof=RUNNER_PROOF + (r"TASK \[multiarch\.buildhost\.gitlab_runner : Register each missing runner",)),
    "buildkit": Scenario(
        secrets=(Secret("buildkit-scenario-pass", "molecule/buildkit/molecule.yml", username="ci"),),
        proof=LOGIN_PROOF),
    "buildx": Scenario(),
    # The fleet's CA key (controller) and each host's server and client keys (fetched by verify.yml).
    # The build arguments of the victim builds that a job of another trust domain tries to read.
    "fleet": Scenario(
        secrets=(Secret("fleet-victim-BuildArg-s3cret", "molecule/fleet/molecule.yml"),
                 Secret("team-b-victim-BuildArg-s3cret", "molecule/fleet/verify.yml")),
        proof=(r"TASK \[multiarch\.buildhost\.buildkit : Make the private key",
               r"TASK \[multiarch\.buildhost\.buildkit : Sign it with the CA"),
        key_files="build/fleet-pki/**/*.key"),
    "docker": Scenario(),
    "qemu": Scenario(),
    # A dry run on a fresh host: no registry login, no runner token.
    "check": Scenario(),
}


def all_secrets() -> list[Secret]:
    seen: dict[str, Secret] = {}
    for scenario in SCENARIOS.values():
        for secret in scenario.secrets:
            seen.setdefault(secret.value, secret)
    return list(seen.values())


def stale_secrets(repo: str = REPO) -> list[str]:
    """Secrets whose source file no longer holds them: the scan would search for a value nobody uses."""
    stale = []
    for secret in all_secrets():
        with open(os.path.join(repo, secret.source), encoding="utf-8") as handle:
            if secret.value not in handle.read():
                stale.append(f"{secret.value!r} is not in {secret.source}")
    return stale


ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
# Molecule frames Ansible's output ("  │ ") and folds long lines; a secret folded across two lines must still be found.
FRAME_AND_SPACE = re.compile(r"[\s│]+")


def leaks(plain: str, secrets: list[Secret]) -> list[str]:
    """One line per secret form found in PLAIN (the log without colours), with where: secrets hold no whitespace, so
    the text is also searched with Molecule's frame and all whitespace taken out."""
    squeezed = FRAME_AND_SPACE.sub("", plain)
    found = []
    for secret in secrets:
        for kind, form in secret.forms().items():
            position = plain.find(form)
            if position >= 0:
                where = f"line {plain.count(chr(10), 0, position) + 1}"
            elif form in squeezed:
                where = "folded across lines"
            else:
                continue
            found.append(f"{where}: the {kind} form of a secret from {secret.source}")
    return found


def missing_proof(plain: str, scenario: Scenario) -> list[str]:
    # One line, frames dropped: a task name folded by Molecule still matches its pattern.
    joined = re.sub(r"\s*\n\s*(│\s*)*", " ", plain)
    return [pattern for pattern in VERBOSE_PROOF + scenario.proof if not re.search(pattern, joined)]


def scan(scenario_name: str, text: str) -> tuple[list[str], list[str], int]:
    """(leaks, missing proof patterns, number of forms searched)."""
    scenario = SCENARIOS[scenario_name]
    keys = key_secrets(scenario.key_files) if scenario.key_files else []
    secrets = all_secrets() + keys
    forms = sum(len(secret.forms()) for secret in secrets)
    plain = ANSI_ESCAPE.sub("", text)
    missing = missing_proof(plain, scenario)
    if scenario.key_files and not keys:
        missing.append(f"no private key matched {scenario.key_files}")
    return leaks(plain, secrets), missing, forms


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[1] not in SCENARIOS:
        print(f"usage: {argv[0]} {{{','.join(sorted(SCENARIOS))}}} LOG", file=sys.stderr)
        return 2
    stale = stale_secrets()
    if stale:
        print("secret scan: the list of secrets is out of date:\n  " + "\n  ".join(stale))
        return 1
    with open(argv[2], encoding="utf-8", errors="replace") as handle:
        text = handle.read()
    found, missing, forms = scan(argv[1], text)
    lines = text.count("\n")
    print(f"secret scan ({argv[1]}): {forms} secret forms searched in {lines} lines of -vvv output, "
          f"{len(found)} leaks, {len(missing)} missing proofs")
    for line in found:
        print(f"  LEAK {line}")
    for pattern in missing:
        print(f"  the log does not show /{pattern}/: the secret-handling path did not run as expected")
    return 1 if found or missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
