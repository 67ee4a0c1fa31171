# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which values are secrets, and how they are masked: one rule for config.json, config.toml and build commands.

Masking works on parsed documents, never on text, so the form a secret is written in (a multi-line TOML string, an
escape, a dotted key) cannot hide it.
"""
from __future__ import annotations

import copy
import re
from typing import Any

REDACTED = "********"

# A key is secret when its name, lower-cased without '_' and '-', is one of these or contains one of the markers
# (so every spelling, such as MachineOptions' `amazonec2-secret-key`, and every prefix and suffix is caught):
# config.json's auths.<registry>.auth, runner tokens, and every object-store credential GitLab Runner knows
# (S3 AccessKey/SecretKey/SessionToken, GCS PrivateKey, Azure AccountKey, ...).
SECRET_KEYS = frozenset({"auth"})
SECRET_MARKERS = ("token", "secret", "password", "passwd", "privatekey", "accountkey", "accesskey", "credential",
                  "authorization", "authconfig")
# Beside those, a name whose last word (split on '_', '-', '.' and camelCase) is `key`/`keys` or `auth` is secret:
# API_KEY, SSH_KEY, STRIPE_KEY, NPM_AUTH, BASIC_AUTH. Words, not substrings of the squashed name, so MONKEY, tlskey
# (daemon.json's path to a TLS key), author and auth_type stay plain. A bare `key` is a lookup name far more often
# than a secret (a cache key, buildx's `key=/path/to/tls.key`), and these qualifiers name keys that are not secret.
_SECRET_LAST_WORDS = frozenset({"key", "keys", "auth"})
_PLAIN_KEY_QUALIFIERS = frozenset({"public", "cache", "sort", "primary", "foreign", "partition"})
# ...and the one-word spellings of the common ones (apikey, x-apikey, sshkey), which have no word to split on.
_SECRET_SUFFIXES = ("apikey", "sshkey")
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")

# Every secret found is masked wherever the module prints (Ansible's no_log_values, a build log), inside every string.
# A value that is a secret only by the form it stands in (a KEY=VALUE's value, a bare URL user, a number) is recorded
# only from this length on, so that `3` or `ci` does not vanish from every line of output.
MIN_FOUND_LENGTH = 4
# KEY=VALUE entries (config.toml's environment, MachineOptions' `amazonec2-secret-key=...`, `--password=...` on a
# command line, buildx's `env.API_KEY=...`) whose KEY is a secret's name.
_ASSIGNMENT = re.compile(r"^-{0,2}(?P<key>[A-Za-z_][A-Za-z0-9_.-]*)=(?P<value>.+)$", re.S)

# URL userinfo is found by a scan rather than one regular expression: a password may hold '/', '?', '#' and '@'
# unescaped (http://u:pa/ss@w@proxy:3128), and a pattern that backtracks over a long run of letters is quadratic.
_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-")
_URL_END = re.compile(r"[\s\"'<>`]")
_HOST_PORT = re.compile(r"(?:\[[0-9A-Za-z:.%]*\]|[A-Za-z0-9._~%-]*)(?::[0-9]*)?")
# A user name alone (https://user@host) is masked too: a token in its place (https://glpat-...@gitlab.example.com,
# https://ghp_...@github.com) looks exactly like one. Not in ssh URLs, which log in with a key, so their user field is
# a login name (ssh://git@host; user:password is still masked there), nor in image references, whose `@` starts a
# digest (docker-image://alpine:3.19@sha256:...). `user@host` without a scheme (scp-style git) is no URL at all.
_IMAGE_SCHEMES = frozenset({"docker-image", "oci-layout"})
_USER_ONLY_SCHEMES = frozenset({"ssh", "git+ssh", "ssh+git", "sftp"})


def _url_userinfos(text: str) -> list[str]:
    """The userinfo of each URL in TEXT (after its scheme's `://`, up to the last `@` before the host)."""
    parts = []
    separators = [m.start() for m in re.finditer("://", text)]
    for index, separator in enumerate(separators):
        start = separator
        while start > 0 and text[start - 1] in _SCHEME_CHARS:
            start -= 1
        while start < separator and not text[start].isalpha():
            start += 1
        scheme = text[start:separator].lower()
        if not scheme or scheme in _IMAGE_SCHEMES:
            continue
        # The URL ends at a space or quote, or where the next URL's scheme begins (`http://a@b,http://c@d`).
        begin = separator + 3
        end = separators[index + 1] if index + 1 < len(separators) else len(text)
        stop = _URL_END.search(text, begin, end)
        if stop:
            end = stop.start()
        elif end < len(text):
            while end > begin and text[end - 1] in _SCHEME_CHARS:
                end -= 1
        userinfo = _userinfo(text[begin:end])
        if userinfo and (":" in userinfo or (scheme not in _USER_ONLY_SCHEMES and len(userinfo) >= MIN_FOUND_LENGTH)):
            parts.append(userinfo)
    return parts


def _userinfo(rest: str) -> str | None:
    """The userinfo REST (a URL after `scheme://`) starts with, or None."""
    ats = [i for i, char in enumerate(rest) if char == "@"]
    if not ats:
        return None
    authority_end = next((i for i, char in enumerate(rest) if char in "/?#"), len(rest))
    if ats[0] > authority_end and _HOST_PORT.fullmatch(rest[:authority_end]):
        # A host, then an '@' in the path (https://registry.npmjs.org/@scope/pkg): no userinfo. When the part before
        # the first '/' is no host (`u:pa`, a port that is not a number), the '/' is inside a password.
        return None
    # The userinfo runs to the last '@' that a host[:port] follows up to the end or a '/', '?' or '#'. A path that
    # holds '@host' after real userinfo is masked with it: hiding too much is the safe way to be wrong.
    for at in reversed(ats):
        host = _HOST_PORT.match(rest, at + 1)
        if host.end() == len(rest) or rest[host.end()] in "/?#":
            return rest[:at] or None
    return rest[:ats[-1]] or None


def secret_parts(text: str) -> list[str]:
    """The secret parts of a string that is not under a secret key: URL userinfo, a secret KEY=VALUE's value."""
    parts = _url_userinfos(text)
    assignment = _ASSIGNMENT.match(text)
    if assignment and is_secret_key(assignment.group("key")) and len(assignment.group("value")) >= MIN_FOUND_LENGTH:
        parts.append(assignment.group("value"))
    return parts


def is_secret_key(key: Any) -> bool:
    name = str(key).lower().replace("_", "").replace("-", "")
    if name in SECRET_KEYS or any(marker in name for marker in SECRET_MARKERS) or name.endswith(_SECRET_SUFFIXES):
        return True
    words = [word.lower() for word in _WORD.findall(str(key))]
    if len(words) < 2 or words[-1] not in _SECRET_LAST_WORDS:
        return False
    return words[-1] == "auth" or words[-2] not in _PLAIN_KEY_QUALIFIERS


def _secret_scalar(value: Any) -> bool:
    """Whether VALUE, under a secret key, is masked: a non-empty string or a number (`token = 12345`). A boolean, a
    date or a time says nothing secret, and masking it would hide every `true` in a build log."""
    if isinstance(value, str):
        return bool(value)
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def redact(document: Any) -> tuple[Any, set[str]]:
    """A copy of DOCUMENT with every secret masked, and the set of secrets found.

    Secrets are the values under secret keys (every string and number in them, however deep: `secret_keys = ["a",
    "b"]` becomes two masks, a table under a secret key keeps its keys with every value masked), and the secret parts
    of other strings (see secret_parts). The copy is masked in place, so a tomlkit document keeps its formatting and
    renders as the file would, secrets hidden; keeping the shape keeps that rendering valid TOML.
    """
    shown = copy.deepcopy(document)
    found: set[str] = set()

    def hidden(text: str) -> str | None:
        """TEXT with its secret parts masked, or None when it holds none (so unchanged values keep their form)."""
        parts = secret_parts(text)
        found.update(parts)
        return mask(text, set(parts)) if parts else None

    def walk(node: Any, secret: bool) -> None:
        # Mappings by key, arrays by index: a string is masked where it stands, a value under a secret key whole.
        if isinstance(node, dict):
            entries = list(node.items())
        elif isinstance(node, list):
            entries = list(enumerate(node))
        else:
            return
        for key, value in entries:
            under_secret = secret or (isinstance(node, dict) and is_secret_key(key))
            if isinstance(value, (dict, list)):
                walk(value, under_secret)
            elif under_secret and _secret_scalar(value):
                # A number is recorded as it prints (str(12345)), which is how output would show it.
                if isinstance(value, str) or len(str(value)) >= MIN_FOUND_LENGTH:
                    found.add(str(value))
                node[key] = REDACTED
            elif isinstance(value, str):
                masked = hidden(str(value))
                if masked is not None:
                    node[key] = masked

    if isinstance(shown, str):
        return hidden(shown) or shown, found
    walk(shown, False)
    return shown, found


def mask(text: str, secrets: set[str]) -> str:
    """TEXT with each of SECRETS replaced, longest first so a secret inside another is not left half-shown.

    A multi-line secret (a PEM key) is also masked line by line, since logs are written a line at a time.
    """
    pieces = set(secrets)
    for secret in secrets:
        if "\n" in secret:
            pieces.update(line for line in secret.splitlines() if len(line.strip()) >= 8)
    for secret in sorted(pieces, key=len, reverse=True):
        if secret:
            text = text.replace(secret, REDACTED)
    return text
