#!/usr/bin/env bash
# Rebuild the uname-m probes from src/ with Debian's cross binutils (binutils-<triplet> packages).
# The probes are committed (a few hundred bytes each) so hosts need no cross toolchain to verify emulation.
set -euo pipefail
cd "$(dirname "$0")"
declare -A TRIPLET=([aarch64]=aarch64-linux-gnu [arm]=arm-linux-gnueabihf [riscv64]=riscv64-linux-gnu
                    [ppc64le]=powerpc64le-linux-gnu [s390x]=s390x-linux-gnu)
for arch in "${!TRIPLET[@]}"; do
  t=${TRIPLET[$arch]}
  "$t-as" -o "/tmp/probe-$arch.o" "src/$arch.S"
  "$t-ld" -static -s -o "uname-m-$arch" "/tmp/probe-$arch.o"
  rm -f "/tmp/probe-$arch.o"
done
