# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the fleet's CA refuses to sign (docs: buildkit_csr_refusals.yml).

A host's root decides what its certificate request says, and community.crypto's ``ownca`` provider copies the request's
subject and extensions into the certificate. So the controller reads the request (``openssl_csr_info``) and signs it
only if it asks for exactly what the buildkit role asks for: nothing a CA, another node or another purpose could use.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

# The extensions a request may carry, by OID. Anything else (name constraints, certificate policies, policy mappings,
# inhibitAnyPolicy, AIA/CRL pointers, private extensions an unknown client could act on) is refused.
_ALLOWED_EXTENSIONS = {
    "2.5.29.15": "keyUsage",
    "2.5.29.37": "extendedKeyUsage",
    "2.5.29.17": "subjectAltName",
    "2.5.29.19": "basicConstraints",  # only CA:FALSE
    # The signer replaces these with its own (ownca_create_subject_key_identifier: always_create and
    # ownca_create_authority_key_identifier), so what the request says is never copied.
    "2.5.29.14": "subjectKeyIdentifier",
    "2.5.29.35": "authorityKeyIdentifier",
}

# Named in a refusal, so that its reader sees what the request tried.
_KNOWN_EXTENSIONS = {
    "2.5.29.30": "nameConstraints",
    "2.5.29.32": "certificatePolicies",
    "2.5.29.33": "policyMappings",
    "2.5.29.36": "policyConstraints",
    "2.5.29.54": "inhibitAnyPolicy",
    "2.5.29.31": "cRLDistributionPoints",
    "1.3.6.1.5.5.7.1.1": "authorityInfoAccess",
    "1.3.6.1.5.5.7.1.24": "TLS feature (OCSP must-staple)",
    "2.5.29.18": "issuerAltName",
    "2.5.29.9": "subjectDirectoryAttributes",
}

# openssl_csr_info spells usages as OpenSSL's long names; the role asks with the short ones.
_KEY_USAGES = {
    "digitalSignature": "Digital Signature",
    "nonRepudiation": "Non Repudiation",
    "keyEncipherment": "Key Encipherment",
    "dataEncipherment": "Data Encipherment",
    "keyAgreement": "Key Agreement",
    "keyCertSign": "Certificate Sign",
    "cRLSign": "CRL Sign",
    "encipherOnly": "Encipher Only",
    "decipherOnly": "Decipher Only",
}
_EXTENDED_KEY_USAGES = {
    "serverAuth": "TLS Web Server Authentication",
    "clientAuth": "TLS Web Client Authentication",
    "codeSigning": "Code Signing",
    "emailProtection": "E-mail Protection",
    "timeStamping": "Time Stamping",
    "OCSPSigning": "OCSP Signing",
    "anyExtendedKeyUsage": "Any Extended Key Usage",
}


def _long_names(names: Iterable[str], table: Mapping[str, str]) -> set[str]:
    return {table.get(name, name) for name in names}


def _san(name: str) -> str:
    """One spelling per name: DNS names are case-insensitive, and an IP address has many spellings (::1, 0:0::1)."""
    kind, _colon, value = name.partition(":")
    if kind == "DNS":
        return f"DNS:{value.lower().rstrip('.')}"
    if kind == "IP":
        try:
            return f"IP:{ipaddress.ip_address(value)}"
        except ValueError:
            return name
    return name


def _listed(values: Iterable[str]) -> str:
    return ", ".join(sorted(values)) or "none"


def buildkit_csr_refusals(csr_info: Mapping[str, Any], common_name: str, key_usage: list[str],
                          extended_key_usage: list[str], names: list[str] | None = None) -> list[str]:
    """The reasons not to sign a request, as ``community.crypto.openssl_csr_info`` read it; empty when it asks for
    exactly COMMON_NAME as its whole subject, the KEY_USAGE and EXTENDED_KEY_USAGE sets, the NAMES (``DNS:``/``IP:``
    subject alternative names; none when empty), is no CA, and carries no other extension."""
    if not isinstance(csr_info, Mapping) or "extensions_by_oid" not in csr_info:
        raise AnsibleFilterError("buildkit_csr_refusals expects the result of community.crypto.openssl_csr_info, got "
                                 f"{type(csr_info).__name__}")
    refusals = []
    if not csr_info.get("signature_valid"):
        refusals.append("its signature does not verify (it was not made with the key it names)")

    subject = [list(entry) for entry in csr_info.get("subject_ordered") or []]
    if subject != [["commonName", common_name]]:
        shown = "/".join(f"{key}={value}" for key, value in subject) or "empty"
        refusals.append(f"subject {shown}, expected exactly commonName={common_name}")

    constraints = csr_info.get("basic_constraints")
    if constraints not in (None, ["CA:FALSE"]):
        refusals.append(f"basicConstraints {', '.join(constraints)}: a host certificate is never a CA")

    wanted_usage = _long_names(key_usage, _KEY_USAGES)
    usage = set(csr_info.get("key_usage") or [])
    if usage != wanted_usage:
        refusals.append(f"key usage {_listed(usage)}, expected {_listed(wanted_usage)}")

    wanted_extended = _long_names(extended_key_usage, _EXTENDED_KEY_USAGES)
    extended = set(csr_info.get("extended_key_usage") or [])
    if extended != wanted_extended:
        refusals.append(f"extended key usage {_listed(extended)}, expected {_listed(wanted_extended)}")

    wanted_names = {_san(name) for name in names or []}
    san = {_san(name) for name in csr_info.get("subject_alt_name") or []}
    if san != wanted_names:
        foreign = san - wanted_names
        missing = wanted_names - san
        refusals.append("subject alternative names " + "; ".join(
            part for part in (f"not this host's: {_listed(foreign)}" if foreign else "",
                              f"missing: {_listed(missing)}" if missing else "") if part))

    unknown = sorted(set(csr_info.get("extensions_by_oid") or {}) - set(_ALLOWED_EXTENSIONS))
    if unknown:
        shown = (f"{oid} ({_KNOWN_EXTENSIONS[oid]})" if oid in _KNOWN_EXTENSIONS else oid for oid in unknown)
        refusals.append(f"extensions the role never asks for: {', '.join(shown)}")
    return refusals


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"buildkit_csr_refusals": buildkit_csr_refusals}
