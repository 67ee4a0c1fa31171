# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""O(cache_per_platform): one build per platform, each with its own registry cache, joined into one index.

With one BuildKit node per platform (a remote or multi-node builder) a single multi-platform build lets every node
export its cache to the same ref, and the last one to finish overwrites the others'. Giving each platform its own
ref, and its own build pushed by digest, keeps every platform's cache. This file only plans (commands and refs);
_build_run runs them.
"""
from __future__ import annotations

import csv
import io
import re

from ansible_collections.multiarch.buildhost.plugins.module_utils._build import BuildCommand, build_command
from ansible_collections.multiarch.buildhost.plugins.module_utils._errors import BuildhostError

MAX_TAG_LENGTH = 128  # the distribution spec's limit
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def platform_suffix(platform: str) -> str:
    """The tag suffix for PLATFORM: V(linux/arm/v7) -> C(linux-arm-v7)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", platform.strip().strip("/")).strip("-.")


def _split_tag(name: str) -> tuple[str, str | None]:
    """(repository, tag) of an image name without digest; no tag when the only ':' is a registry port's."""
    repository, colon, tag = name.rpartition(":")
    if not colon or "/" in tag:
        return name, None
    return repository, tag


def platform_ref(ref: str, platform: str) -> str:
    """REF with the platform appended to its tag; a ref without a tag is C(latest), as everywhere in Docker."""
    if "@" in ref:
        raise BuildhostError(f"cache_per_platform: the cache ref {ref} is pinned by digest; give it a tag to append"
                             f" -{platform_suffix(platform)} to")
    repository, tag = _split_tag(ref)
    derived = f"{tag or 'latest'}-{platform_suffix(platform)}"
    if len(derived) > MAX_TAG_LENGTH or not _TAG.match(derived):
        raise BuildhostError(f"cache_per_platform: the per-platform cache tag {derived!r} (from {ref}) is not a valid tag")
    return f"{repository}:{derived}"


def _fields(entry: str) -> list[str]:
    # buildx reads a cache entry as one CSV record (so a value may be quoted); read it the same way.
    return next(csv.reader([entry]), [])


def _joined(fields: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(fields)
    return out.getvalue()


def platform_cache_entry(entry: str, platform: str) -> str:
    """ENTRY for PLATFORM's own build: a C(type=registry) entry's C(ref) gets the platform suffix; any other entry
    (a bare image reference, C(type=inline), C(type=local), ...) is returned as it is."""
    fields = _fields(entry)
    pairs = [field.partition("=") for field in fields]
    if ("type", "=", "registry") not in [(key.strip().lower(), sep, value.strip()) for key, sep, value in pairs]:
        return entry
    if not any(key.strip() == "ref" for key, sep, value in pairs):
        return entry
    return _joined([f"{key}={platform_ref(value.strip(), platform)}" if key.strip() == "ref" else f"{key}{sep}{value}"
                    for key, sep, value in pairs])


def platform_params(params: dict, platform: str) -> dict:
    """PARAMS for a build of PLATFORM alone, with every registry cache entry given PLATFORM's own ref."""
    return dict(params, platforms=[platform],
                cache_from=[platform_cache_entry(entry, platform) for entry in params.get("cache_from") or []],
                cache_to=[platform_cache_entry(entry, platform) for entry in params.get("cache_to") or []])


def check_cache_per_platform(params: dict) -> None:
    """O(cache_per_platform) needs to know the platforms, and each platform's image must go to a registry to be joined."""
    if not params.get("cache_per_platform"):
        return
    if not params.get("platforms"):
        raise BuildhostError("cache_per_platform needs the platforms listed in platforms (each gets its own cache ref)")
    if len(params["platforms"]) > 1 and not params.get("push"):
        raise BuildhostError("cache_per_platform with several platforms needs push: true (each platform's image is"
                             " pushed by digest, then joined into one index in the registry)")


def splits(params: dict) -> bool:
    """Whether PARAMS ask for one build per platform (then joined by imagetools create)."""
    return bool(params.get("cache_per_platform") and params.get("push") and len(params.get("platforms") or []) > 1)


def image_repository(reference: str) -> str:
    """The repository of an image reference, without tag or digest: where each platform's image is pushed by digest."""
    return _split_tag(reference.split("@", 1)[0])[0]


def platform_build_command(params: dict, platform: str, metadata_file: str) -> BuildCommand:
    """PLATFORM's build: its own cache refs, its image pushed by digest (untagged) to the first tag's repository."""
    output = (f"type=image,name={image_repository(params['tags'][0])},push-by-digest=true,name-canonical=true,"
              "push=true")
    return build_command(dict(platform_params(params, platform), tags=[], push=False), metadata_file, output=output)


def create_index_command(params: dict, digests: dict[str, str]) -> list[str]:
    """buildx imagetools create: one index under every tag, from each platform's pushed image (or index) DIGESTS."""
    repository = image_repository(params["tags"][0])
    argv = ["buildx", "imagetools", "create"]
    if params.get("builder"):
        argv += ["--builder", params["builder"]]  # its registry settings (plain-HTTP or mirror registries) apply
    for tag in params["tags"]:
        argv += ["--tag", tag]
    return argv + [f"{repository}@{digests[platform]}" for platform in params["platforms"]]
