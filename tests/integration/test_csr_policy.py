"""The fleet's CA signs only what the buildkit role asks for, and buildkit_rotate revokes for real: real
ansible-playbook runs on localhost against a CA in a temporary directory (community.crypto, cryptography to check;
no engine, no binfmt_misc)."""
from __future__ import annotations

import ipaddress
import os
import subprocess
import sys

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(REPO, ".venv", "bin")
HOST = "mbh-node-a"          # the inventory name, which a refusal must name
OTHER_NODE = "mbh-node-b"    # another node of the fleet, whose name a compromised host would like to have
NAMES = [f"DNS:{HOST}", "IP:127.0.0.1"]

# The controller's side alone, as setup-builders.yml runs it, fed a request made here instead of on the host.
SIGN_PLAYBOOK = """
- hosts: all
  gather_facts: false
  vars:
    buildkit_ca_dir: {root}/ca
    # The CA the task files sign with: the fleet's here, as the role passes it (a domain's is another directory).
    buildkit_cert_ca_dir: {root}/ca
  tasks:
    - ansible.builtin.include_role:
        name: multiarch.buildhost.buildkit
        tasks_from: ca.yml
    - ansible.builtin.slurp:
        src: {root}/issued/cert.pem
      register: current
      failed_when: false
    - ansible.builtin.include_role:
        name: multiarch.buildhost.buildkit
        tasks_from: sign.yml
      vars:
        buildkit_csr_content: "{{{{ lookup('ansible.builtin.file', '{root}/request.csr') }}}}"
        buildkit_cert_content: "{{{{ current.content | default('') | b64decode }}}}"
        buildkit_cert_common_name: {host}
        buildkit_cert_usage: serverAuth
        buildkit_cert_names: {names}
    - ansible.builtin.copy:
        content: "{{{{ buildkit_signed.certificate }}}}"
        dest: {root}/issued/cert.pem
        mode: "0644"
"""

# The whole certificate flow, as daemon.yml runs it for a server certificate.
FLOW_PLAYBOOK = """
- hosts: all
  gather_facts: false
  vars:
    buildkit_ca_dir: {root}/ca
    # The CA the task files sign with: the fleet's here, as the role passes it (a domain's is another directory).
    buildkit_cert_ca_dir: {root}/ca
  tasks:
    - ansible.builtin.include_role:
        name: multiarch.buildhost.buildkit
        tasks_from: ca.yml
      when: with_ca | default(true) | bool
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
        buildkit_cert_common_name: {host}
        buildkit_cert_usage: serverAuth
        buildkit_cert_names: {names}
"""

# The client certificate, with the variables daemon.yml passes for it.
CLIENT_PLAYBOOK = """
- hosts: all
  gather_facts: false
  vars:
    buildkit_ca_dir: {root}/ca
    # The CA the task files sign with: the fleet's here, as the role passes it (a domain's is another directory).
    buildkit_cert_ca_dir: {root}/ca
  tasks:
    - ansible.builtin.include_role:
        name: multiarch.buildhost.buildkit
        tasks_from: ca.yml
    - ansible.builtin.file:
        path: {root}/tls/client
        state: directory
        mode: "0750"
    - ansible.builtin.include_role:
        name: multiarch.buildhost.buildkit
        tasks_from: certificate.yml
      vars:
        buildkit_cert_dir: {root}/tls/client
        buildkit_cert_group: root
        buildkit_cert_key_mode: "0640"
        buildkit_cert_common_name: buildx@{host}
        buildkit_cert_usage: clientAuth
        buildkit_cert_names: []
        buildkit_cert_issue_days: "{{{{ buildkit_client_cert_days }}}}"
        buildkit_cert_issue_renew_days: "{{{{ buildkit_client_cert_renew_days }}}}"
"""

# The CA as the role made it before it had pathlen:0 (ca.yml of 0.2.0).
OLD_CA_PLAYBOOK = """
- hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.file:
        path: {root}/ca
        state: directory
        mode: "0700"
    - community.crypto.openssl_privatekey:
        path: {root}/ca/ca.key
        type: ECC
        curve: secp256r1
        mode: "0600"
    - community.crypto.openssl_csr_pipe:
        privatekey_path: {root}/ca/ca.key
        common_name: multiarch.buildhost BuildKit CA
        use_common_name_for_san: false
        basic_constraints: ["CA:TRUE"]
        basic_constraints_critical: true
        key_usage: [keyCertSign, cRLSign]
        key_usage_critical: true
      register: csr
    - community.crypto.x509_certificate:
        path: {root}/ca/ca.pem
        csr_content: "{{{{ csr.csr }}}}"
        privatekey_path: {root}/ca/ca.key
        provider: selfsigned
        selfsigned_not_after: +3650d
        mode: "0644"
"""


def play(root: str, template: str, *args: str, ok: bool = True) -> str:
    playbook = os.path.join(root, "play.yml")
    with open(playbook, "w", encoding="utf-8") as handle:
        handle.write(template.format(root=root, host=HOST, names=NAMES))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, ".collection"), ANSIBLE_NOCOLOR="1")
    ran = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", f"{HOST},", "-c", "local",
                          "-e", f"ansible_python_interpreter={sys.executable}", playbook, *args],
                         capture_output=True, text=True, env=env, check=False, cwd=REPO)
    assert (ran.returncode == 0) == ok, ran.stdout[-4000:] + ran.stderr[-2000:]
    return ran.stdout


def recap(output: str) -> str:
    return output[output.index("PLAY RECAP"):]


def write_request(root: str, key=None, common_name: str = HOST, names=tuple(NAMES), key_cert_sign: bool = False,
                  extra=()) -> ec.EllipticCurvePrivateKey:
    """A request shaped like the one certificate.yml makes (openssl_csr_pipe), changed as asked."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    sans = [x509.IPAddress(ipaddress.ip_address(v)) if k == "IP" else x509.DNSName(v)
            for k, _colon, v in (name.partition(":") for name in names)]
    builder = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
               .add_extension(x509.SubjectAlternativeName(sans), critical=False)
               .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                            data_encipherment=False, key_agreement=False, key_cert_sign=key_cert_sign,
                                            crl_sign=False, encipher_only=False, decipher_only=False), critical=False)
               .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False))
    for extension in extra:
        builder = builder.add_extension(extension, critical=True)
    with open(os.path.join(root, "request.csr"), "wb") as handle:
        handle.write(builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
    return key


def load(path: str) -> x509.Certificate:
    with open(path, "rb") as handle:
        return x509.load_pem_x509_certificate(handle.read())


def read(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def issued_by(certificate: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(ca)
    except (ValueError, InvalidSignature):
        return False
    return True


@pytest.fixture
def root(tmp_path):
    os.mkdir(tmp_path / "issued")
    return str(tmp_path)


def test_a_request_the_role_would_make_is_signed_as_asked_and_left_alone_next_time(root):
    key = write_request(root)
    play(root, SIGN_PLAYBOOK)
    cert = load(f"{root}/issued/cert.pem")
    ca = load(f"{root}/ca/ca.pem")
    assert issued_by(cert, ca)
    assert cert.public_key().public_numbers() == key.public_key().public_numbers()
    assert cert.subject.rfc4514_string() == f"CN={HOST}"
    extensions = {extension.oid: extension.value for extension in cert.extensions}
    assert set(extensions) == {ExtensionOID.SUBJECT_ALTERNATIVE_NAME, ExtensionOID.KEY_USAGE,
                               ExtensionOID.EXTENDED_KEY_USAGE, ExtensionOID.SUBJECT_KEY_IDENTIFIER,
                               ExtensionOID.AUTHORITY_KEY_IDENTIFIER}
    assert extensions[ExtensionOID.KEY_USAGE].digital_signature and not extensions[ExtensionOID.KEY_USAGE].key_cert_sign
    assert list(extensions[ExtensionOID.EXTENDED_KEY_USAGE]) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert extensions[ExtensionOID.SUBJECT_ALTERNATIVE_NAME].get_values_for_type(x509.DNSName) == [HOST]
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0

    again = play(root, SIGN_PLAYBOOK)
    assert read(f"{root}/issued/cert.pem") == cert.public_bytes(serialization.Encoding.PEM)
    assert "changed=0" in recap(again), recap(again)


@pytest.mark.parametrize("hostile", [
    pytest.param(dict(extra=[x509.BasicConstraints(ca=True, path_length=None)]), id="CA:TRUE"),
    pytest.param(dict(names=(*NAMES, f"DNS:{OTHER_NODE}")), id="another-nodes-name"),
    pytest.param(dict(key_cert_sign=True), id="keyCertSign"),
    pytest.param(dict(common_name=OTHER_NODE, names=(f"DNS:{OTHER_NODE}",)), id="another-node-altogether"),
])
def test_a_request_for_more_than_the_hosts_certificate_is_refused_naming_the_host(root, hostile):
    write_request(root, **hostile)
    output = play(root, SIGN_PLAYBOOK, ok=False)
    assert f"Refusing to sign the certificate request of {HOST}" in output, output[-3000:]
    assert "treat the host as compromised" in output
    assert not os.path.exists(f"{root}/issued/cert.pem")


def test_each_refusal_says_what_was_wrong(root):
    write_request(root, names=(*NAMES, f"DNS:{OTHER_NODE}"), key_cert_sign=True,
                  extra=[x509.BasicConstraints(ca=True, path_length=None)])
    output = play(root, SIGN_PLAYBOOK, ok=False)
    assert "basicConstraints CA:TRUE" in output
    assert "key usage Certificate Sign, Digital Signature, expected Digital Signature" in output
    assert f"not this host's: DNS:{OTHER_NODE}" in output


def test_rotation_replaces_the_ca_and_the_hosts_key_so_old_certificates_are_worth_nothing(root):
    play(root, FLOW_PLAYBOOK)
    old_ca, old_ca_key = read(f"{root}/ca/ca.pem"), read(f"{root}/ca/ca.key")
    old_key, old_cert = read(f"{root}/tls/server/key.pem"), load(f"{root}/tls/server/cert.pem")
    assert issued_by(old_cert, load(f"{root}/ca/ca.pem"))

    play(root, FLOW_PLAYBOOK, "-e", "buildkit_rotate=true")
    new_ca, new_cert = load(f"{root}/ca/ca.pem"), load(f"{root}/tls/server/cert.pem")
    assert read(f"{root}/ca/ca.key") != old_ca_key
    assert read(f"{root}/ca/ca.pem") != old_ca
    assert read(f"{root}/tls/server/key.pem") != old_key
    assert read(f"{root}/tls/server/ca.pem") == read(f"{root}/ca/ca.pem"), "the host must trust the new CA only"
    assert issued_by(new_cert, new_ca)
    assert not issued_by(old_cert, new_ca), "a certificate of the old CA must not verify against the new one"
    host_key = serialization.load_pem_private_key(read(f"{root}/tls/server/key.pem"), None)
    assert new_cert.public_key().public_numbers() == host_key.public_key().public_numbers()

    settled = play(root, FLOW_PLAYBOOK)
    assert "changed=0" in recap(settled), recap(settled)


def test_a_ca_made_before_pathlen_is_resigned_with_its_key_and_host_certificates_keep_verifying(root):
    play(root, OLD_CA_PLAYBOOK)
    play(root, FLOW_PLAYBOOK, "-e", "with_ca=false")  # a host certificate from the old CA
    old_ca_key, old_ca = read(f"{root}/ca/ca.key"), load(f"{root}/ca/ca.pem")
    host_cert = read(f"{root}/tls/server/cert.pem")
    assert old_ca.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length is None

    play(root, FLOW_PLAYBOOK)
    new_ca = load(f"{root}/ca/ca.pem")
    assert read(f"{root}/ca/ca.key") == old_ca_key
    assert new_ca.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0
    assert new_ca.subject == old_ca.subject and new_ca.serial_number != old_ca.serial_number
    assert read(f"{root}/tls/server/cert.pem") == host_cert, "same key and subject: the host certificate stays"
    assert issued_by(load(f"{root}/tls/server/cert.pem"), new_ca)
    assert read(f"{root}/tls/server/ca.pem") == new_ca.public_bytes(serialization.Encoding.PEM)

    settled = play(root, FLOW_PLAYBOOK)
    assert "changed=0" in recap(settled), recap(settled)


def test_a_client_certificate_lives_a_week_and_is_left_alone_while_more_than_three_days_remain(root):
    play(root, CLIENT_PLAYBOOK)
    cert = load(f"{root}/tls/client/cert.pem")
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert 6.9 < lifetime.total_seconds() / 86400 <= 7.01, lifetime
    assert cert.subject.rfc4514_string() == f"CN=buildx@{HOST}"
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH]
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)

    again = play(root, CLIENT_PLAYBOOK)
    assert "changed=0" in recap(again), recap(again)
    renewed = play(root, CLIENT_PLAYBOOK, "-e", "buildkit_client_cert_renew_days=8")
    assert load(f"{root}/tls/client/cert.pem").serial_number != cert.serial_number, recap(renewed)


def test_check_mode_predicts_without_writing_and_reports_a_settled_fleet_unchanged(root):
    os.makedirs(f"{root}/tls/server")  # run.yml makes it; check mode on a fresh host cannot predict past that
    predicted = play(root, FLOW_PLAYBOOK, "--check")
    assert not os.path.exists(f"{root}/ca") and not os.listdir(f"{root}/tls/server")
    assert "changed=0" not in recap(predicted)

    play(root, FLOW_PLAYBOOK)
    before = {name: read(name) for name in (f"{root}/ca/ca.key", f"{root}/ca/ca.pem", f"{root}/tls/server/key.pem",
                                            f"{root}/tls/server/cert.pem")}
    checked = play(root, FLOW_PLAYBOOK, "--check")
    assert "changed=0" in recap(checked), recap(checked)
    rotation = play(root, FLOW_PLAYBOOK, "--check", "-e", "buildkit_rotate=true")
    assert "changed=0" not in recap(rotation)
    assert {name: read(name) for name in before} == before
