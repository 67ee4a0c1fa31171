"""The buildkit role's certificates for real (community.crypto, openssl to check): issued by the fleet's CA, private,
left alone while valid, re-issued before they expire."""
from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(REPO, ".venv", "bin")

PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  vars:
    buildkit_ca_dir: {root}/ca
    # The CA the task files sign with: the fleet's here, as the role passes it (a domain's is another directory).
    buildkit_cert_ca_dir: {root}/ca
    buildkit_tls_dir: {root}/tls
    buildkit_cert_days: {days}
    buildkit_cert_renew_days: 30
  tasks:
    - ansible.builtin.include_role:
        name: multiarch.buildhost.buildkit
        tasks_from: ca.yml
    - ansible.builtin.file:
        path: {root}/tls/server
        state: directory
        mode: "0700"
    - ansible.builtin.include_role:
        name: multiarch.buildhost.buildkit
        tasks_from: certificate.yml
      vars:
        buildkit_cert_dir: {root}/tls/server
        buildkit_cert_group: root
        buildkit_cert_key_mode: "0600"
        buildkit_cert_common_name: node-01
        buildkit_cert_usage: serverAuth
        buildkit_cert_names: [DNS:node-01, IP:127.0.0.1]
"""


def converge(root, days: int) -> str:
    playbook = os.path.join(root, f"play-{days}.yml")
    with open(playbook, "w") as handle:
        handle.write(PLAYBOOK.format(root=root, days=days))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, ".collection"),
               ANSIBLE_PYTHON_INTERPRETER=sys.executable, ANSIBLE_NOCOLOR="1")
    ran = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-c", "local", "-i", "localhost,", playbook],
                         capture_output=True, text=True, env=env, check=False)
    assert ran.returncode == 0, ran.stdout[-3000:]
    return ran.stdout


def fingerprint(root) -> str:
    return subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in", f"{root}/tls/server/cert.pem"],
                          capture_output=True, text=True, check=True).stdout


@pytest.fixture
def root(tmp_path):
    return str(tmp_path)


def test_a_certificate_is_issued_by_the_ca_reissued_before_it_expires_then_left_alone(root):
    # Issued for 20 days, it has fewer than buildkit_cert_renew_days (30) left from the start.
    converge(root, days=20)
    short = fingerprint(root)
    verified = subprocess.run(["openssl", "verify", "-CAfile", f"{root}/ca/ca.pem", f"{root}/tls/server/cert.pem"],
                              capture_output=True, text=True, check=False)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert stat.S_IMODE(os.stat(f"{root}/tls/server/key.pem").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(f"{root}/ca/ca.key").st_mode) == 0o600
    text = subprocess.run(["openssl", "x509", "-noout", "-text", "-in", f"{root}/tls/server/cert.pem"],
                          capture_output=True, text=True, check=True).stdout
    assert "DNS:node-01" in text and "IP Address:127.0.0.1" in text and "TLS Web Server Authentication" in text

    converge(root, days=90)
    renewed = fingerprint(root)
    assert renewed != short, "a certificate about to expire must be re-issued"

    again = converge(root, days=90)
    assert fingerprint(root) == renewed, "a valid certificate must be left alone"
    assert "changed=0" in again, again[-1500:]
