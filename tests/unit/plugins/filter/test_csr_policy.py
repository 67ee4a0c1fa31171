"""What the fleet's CA refuses to sign: real requests made with cryptography, read by community.crypto's own
openssl_csr_info code (the module the role runs and this filter share it), then judged by buildkit_csr_refusals."""
from __future__ import annotations

import ipaddress

import pytest
from ansible.errors import AnsibleFilterError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ansible_collections.community.crypto.plugins.filter.openssl_csr_info import openssl_csr_info_filter
from ansible_collections.multiarch.buildhost.plugins.filter.csr_policy import buildkit_csr_refusals

SERVER_NAMES = ["DNS:node-01", "DNS:localhost", "IP:127.0.0.1"]
KEY = ec.generate_private_key(ec.SECP256R1())
ONLY_SIGNS = dict(digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
                  key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False)


def _san(name: str) -> x509.GeneralName:
    kind, _colon, value = name.partition(":")
    return x509.IPAddress(ipaddress.ip_address(value)) if kind == "IP" else x509.DNSName(value)


def request(common_name="node-01", names=tuple(SERVER_NAMES), usage=ExtendedKeyUsageOID.SERVER_AUTH, key_usage=None,
            subject=None, extra=()) -> dict:
    """What openssl_csr_pipe makes for the role's server certificate, changed as asked, read by openssl_csr_info."""
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        subject or x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName([_san(name) for name in names]), critical=False)
    builder = builder.add_extension(x509.KeyUsage(**dict(ONLY_SIGNS, **(key_usage or {}))), critical=False)
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage] if not isinstance(usage, list) else usage),
                                        critical=False)
    for extension, critical in extra:
        builder = builder.add_extension(extension, critical=critical)
    pem = builder.sign(KEY, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()
    return openssl_csr_info_filter(pem)


def server_refusals(info: dict) -> list[str]:
    return buildkit_csr_refusals(info, "node-01", ["digitalSignature"], ["serverAuth"], SERVER_NAMES)


def test_the_request_the_role_makes_is_signed():
    assert server_refusals(request()) == []


def test_a_client_request_without_names_is_signed():
    info = request(common_name="buildx@node-01", names=(), usage=ExtendedKeyUsageOID.CLIENT_AUTH)
    assert buildkit_csr_refusals(info, "buildx@node-01", ["digitalSignature"], ["clientAuth"], []) == []


def test_names_are_compared_as_names_not_as_spellings():
    info = request(names=("DNS:Node-01", "IP:127.0.0.1", "DNS:localhost"))
    assert buildkit_csr_refusals(info, "node-01", ["Digital Signature"], ["serverAuth"],
                                 ["DNS:node-01.", "DNS:localhost", "IP:127.0.0.1"]) == []
    v6 = request(names=("DNS:node-01", "IP:fd00::1"))
    assert buildkit_csr_refusals(v6, "node-01", ["digitalSignature"], ["serverAuth"],
                                 ["DNS:node-01", "IP:fd00:0:0::1"]) == []


def test_a_ca_request_is_refused():
    refusals = server_refusals(request(extra=[(x509.BasicConstraints(ca=True, path_length=None), True)]))
    assert refusals == ["basicConstraints CA:TRUE: a host certificate is never a CA"]


def test_a_request_that_says_it_is_no_ca_is_signed():
    assert server_refusals(request(extra=[(x509.BasicConstraints(ca=False, path_length=None), True)])) == []


def test_certificate_signing_is_refused():
    refusals = server_refusals(request(key_usage={"key_cert_sign": True, "crl_sign": True}))
    assert refusals == ["key usage CRL Sign, Certificate Sign, Digital Signature, expected Digital Signature"]


def test_key_encipherment_is_refused_because_the_role_never_asks_for_it():
    assert server_refusals(request(key_usage={"key_encipherment": True})) == [
        "key usage Digital Signature, Key Encipherment, expected Digital Signature"]


def test_a_request_without_key_usage_is_refused_since_it_would_allow_every_usage():
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "node-01")])).add_extension(
        x509.SubjectAlternativeName([_san(name) for name in SERVER_NAMES]), critical=False).add_extension(
        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    info = openssl_csr_info_filter(builder.sign(KEY, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode())
    assert server_refusals(info) == ["key usage none, expected Digital Signature"]


@pytest.mark.parametrize("usage, shown", [
    ([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
     "TLS Web Client Authentication, TLS Web Server Authentication"),
    ([ExtendedKeyUsageOID.CODE_SIGNING], "Code Signing"),
    ([ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE], "Any Extended Key Usage"),
    (None, "none"),
])
def test_any_other_extended_key_usage_is_refused(usage, shown):
    assert server_refusals(request(usage=usage)) == [
        f"extended key usage {shown}, expected TLS Web Server Authentication"]


def test_a_server_request_for_client_authentication_is_refused():
    assert server_refusals(request(usage=ExtendedKeyUsageOID.CLIENT_AUTH)) == [
        "extended key usage TLS Web Client Authentication, expected TLS Web Server Authentication"]


def test_another_nodes_name_is_refused():
    refusals = server_refusals(request(names=(*SERVER_NAMES, "DNS:node-02")))
    assert refusals == ["subject alternative names not this host's: DNS:node-02"]


def test_a_wildcard_or_a_missing_name_is_refused():
    refusals = server_refusals(request(names=("DNS:*", "DNS:node-01", "IP:127.0.0.1")))
    assert refusals == ["subject alternative names not this host's: DNS:*; missing: DNS:localhost"]


def test_a_client_certificate_with_names_is_refused():
    info = request(common_name="buildx@node-01", names=("DNS:node-02",), usage=ExtendedKeyUsageOID.CLIENT_AUTH)
    assert buildkit_csr_refusals(info, "buildx@node-01", ["digitalSignature"], ["clientAuth"], []) == [
        "subject alternative names not this host's: DNS:node-02"]


def test_another_common_name_is_refused():
    assert server_refusals(request(common_name="node-02")) == [
        "subject commonName=node-02, expected exactly commonName=node-01"]


def test_more_than_a_common_name_in_the_subject_is_refused():
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "fleet"),
                         x509.NameAttribute(NameOID.COMMON_NAME, "node-01")])
    assert server_refusals(request(subject=subject)) == [
        "subject organizationName=fleet/commonName=node-01, expected exactly commonName=node-01"]


@pytest.mark.parametrize("extension, shown", [
    (x509.NameConstraints(permitted_subtrees=[x509.DNSName("node-01")], excluded_subtrees=None),
     "2.5.29.30 (nameConstraints)"),
    (x509.CertificatePolicies([x509.PolicyInformation(x509.ObjectIdentifier("2.5.29.32.0"), None)]),
     "2.5.29.32 (certificatePolicies)"),
    (x509.PolicyConstraints(require_explicit_policy=None, inhibit_policy_mapping=0), "2.5.29.36 (policyConstraints)"),
    (x509.InhibitAnyPolicy(0), "2.5.29.54 (inhibitAnyPolicy)"),
    (x509.TLSFeature([x509.TLSFeatureType.status_request]), "1.3.6.1.5.5.7.1.24 (TLS feature (OCSP must-staple))"),
    (x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"), b"\x05\x00"), "1.3.6.1.4.1.99999.1"),
])
def test_an_extension_the_role_never_asks_for_is_refused(extension, shown):
    assert server_refusals(request(extra=[(extension, True)])) == [f"extensions the role never asks for: {shown}"]


def test_key_identifiers_in_the_request_pass_because_the_signer_makes_its_own():
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    extra = [(x509.SubjectKeyIdentifier.from_public_key(other), False),
             (x509.AuthorityKeyIdentifier.from_issuer_public_key(other), False)]
    assert server_refusals(request(extra=extra)) == []


def test_every_reason_is_given_at_once():
    info = request(common_name="node-02", names=("DNS:node-02",), key_usage={"key_cert_sign": True},
                   extra=[(x509.BasicConstraints(ca=True, path_length=0), True)])
    refusals = server_refusals(info)
    assert len(refusals) == 4
    assert refusals[1] == "basicConstraints CA:TRUE, pathlen:0: a host certificate is never a CA"


def test_a_request_whose_signature_does_not_verify_is_refused():
    info = dict(request(), signature_valid=False)
    assert server_refusals(info) == ["its signature does not verify (it was not made with the key it names)"]


def test_anything_but_openssl_csr_info_output_fails_clearly():
    with pytest.raises(AnsibleFilterError, match="openssl_csr_info"):
        buildkit_csr_refusals("-----BEGIN CERTIFICATE REQUEST-----", "node-01", ["digitalSignature"], ["serverAuth"])
