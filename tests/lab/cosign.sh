#!/usr/bin/env bash
# Unpack Debian trixie's cosign (a static Go binary) into the lab prefix, as engine.sh unpacks Docker 26: installing it
# with apt is not possible on bookworm, and apt-get download + dpkg -x needs none of its dependencies. Idempotent: when
# the binary is there it only prints its version. Needs the trixie apt source that engine.sh adds (pinned at 100).
set -euo pipefail
LAB_PREFIX=${LAB_PREFIX:-/opt/multiarch-lab}
COSIGN=$LAB_PREFIX/usr/bin/cosign
export DEBIAN_FRONTEND=noninteractive

log() { printf '[lab-cosign] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

if [ ! -x "$COSIGN" ]; then
  [ -f /etc/apt/sources.list.d/multiarch-lab-trixie.list ] || die "no trixie apt source: run tests/lab/engine.sh up first"
  dl=$(mktemp -d)
  trap 'rm -rf "$dl"' EXIT
  log "unpacking cosign from Debian trixie into $LAB_PREFIX"
  if ! (cd "$dl" && apt-get download -q cosign/trixie >/dev/null 2>&1); then
    apt-get update -q >/dev/null   # the lists may predate cosign's upload
    (cd "$dl" && apt-get download -q cosign/trixie >/dev/null) || die "apt-get download cosign/trixie failed"
  fi
  mkdir -p "$LAB_PREFIX"
  dpkg -x "$dl"/cosign_*.deb "$LAB_PREFIX"
  [ -x "$COSIGN" ] || die "the cosign package has no usr/bin/cosign"
fi
# On PATH, as engine.sh links the docker CLI: the modules look cosign up there. An existing cosign is left alone.
[ -e /usr/local/bin/cosign ] || ln -s "$COSIGN" /usr/local/bin/cosign
# Debian builds it without a version stamp (GitVersion: devel), so the package's changelog names the version.
pkg=$(zcat "$LAB_PREFIX/usr/share/doc/cosign/changelog.Debian.gz" 2>/dev/null | sed -n '1s/^cosign (\([^)]*\)).*/\1/p')
"$COSIGN" version >/dev/null 2>&1 || die "$COSIGN does not run"
echo "cosign ${pkg:-unknown} (Debian trixie) at $COSIGN"
