#!/usr/bin/env bash
# Static busybox root filesystems for amd64, arm64 and riscv64, taken from Debian's packages.
# No registry is reachable, so the example app's base image is built FROM scratch on these.
set -euo pipefail
OUT=${LAB_ROOTFS:-/var/lib/multiarch-lab/rootfs}
ARCHES=(amd64 arm64 riscv64)
missing=()
for a in "${ARCHES[@]}"; do [ -x "$OUT/$a/bin/busybox" ] || missing+=("$a"); done
[ ${#missing[@]} -eq 0 ] && { echo "[lab-rootfs] $OUT is current"; exit 0; }

# riscv64 is a release architecture from trixie on: download every architecture from trixie (pinned low by engine.sh).
[ -f /etc/apt/sources.list.d/multiarch-lab-trixie.list ] || { echo "run tests/lab/engine.sh first" >&2; exit 1; }
for a in "${missing[@]}"; do dpkg --print-foreign-architectures | grep -qx "$a" || [ "$a" = "$(dpkg --print-architecture)" ] || dpkg --add-architecture "$a"; done
apt-get update -q >/dev/null 2>&1 || apt-get update -q >/dev/null
dl=$(mktemp -d)
for a in "${missing[@]}"; do
  (cd "$dl" && apt-get download -q "busybox-static:$a/trixie" >/dev/null)
  x=$(mktemp -d); dpkg -x "$dl"/busybox-static_*_"$a".deb "$x"; rm -f "$dl"/*.deb
  mkdir -p "$OUT/$a/bin"; cp "$x/usr/bin/busybox" "$OUT/$a/bin/busybox"; rm -rf "$x"
done
rm -rf "$dl"
echo "[lab-rootfs] busybox for ${missing[*]} in $OUT"
