#!/usr/bin/env bash
# Build the Debian systemd test-host images with debootstrap (no registry is reachable).
# Each image is tagged with a hash of this recipe, so it is rebuilt only when the recipe changes;
# `localhost/multiarch-lab-debian:<release>` always points at the current build.
set -euo pipefail
RELEASES=("$@"); [ ${#RELEASES[@]} -gt 0 ] || RELEASES=(12 13)
RECIPE_HASH=$(sha256sum "$0" | cut -c1-12)
PACKAGES=systemd,systemd-sysv,python3,python3-apt,ca-certificates,iproute2,procps,sudo

codename() { case "$1" in 12) echo bookworm ;; 13) echo trixie ;; *) echo "unknown Debian release $1" >&2; exit 2 ;; esac; }

build() {
  local release=$1 tag="localhost/multiarch-lab-debian:$1-$RECIPE_HASH"
  if docker image inspect "$tag" >/dev/null 2>&1; then
    echo "[lab-images] $tag is current"
  else
    echo "[lab-images] debootstrapping Debian $release ($(codename "$release"))"
    local root; root=$(mktemp -d /var/tmp/multiarch-lab-root.XXXXXX)
    debootstrap --variant=minbase --include="$PACKAGES" "$(codename "$release")" "$root" http://deb.debian.org/debian >"$root.log" 2>&1 \
      || { tail -20 "$root.log" >&2; exit 1; }
    # systemd-binfmt flushes the kernel-global binfmt_misc table when it starts and stops, which would
    # wipe the controller's and the other hosts' handlers: masked here, unmasked only by the test that
    # proves persistence. systemd-modules-load cannot work in a container.
    for unit in systemd-binfmt.service systemd-modules-load.service; do ln -sf /dev/null "$root/etc/systemd/system/$unit"; done
    # Ship no package lists (they go stale) and date the empty lists directory to the epoch, so apt's
    # cache_valid_time sees an old cache, as on a host that has not run apt-get update in a while.
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/*
    mkdir -p "$root"/var/lib/apt/lists/partial
    touch -d @0 "$root"/var/lib/apt/lists
    tar -C "$root" -c . | docker import -c 'CMD ["/lib/systemd/systemd"]' -c 'ENV container=docker' - "$tag" >/dev/null
    rm -rf "$root" "$root.log"
  fi
  docker tag "$tag" "localhost/multiarch-lab-debian:$release"
}

for r in "${RELEASES[@]}"; do build "$r"; done
