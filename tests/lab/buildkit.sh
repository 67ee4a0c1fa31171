#!/usr/bin/env bash
# Build a BuildKit image (buildkitd + buildctl) from Debian trixie's docker.io SOURCE package and push it to
# the lab registry. No moby/buildkit image can be pulled here and no Debian package ships buildkitd, but
# docker.io's source carries BuildKit as its orig-buildkit component and Debian has the rest as golang-*-dev.
#
#   trixie minbase chroot (deb-src) -> apt-get build-dep docker.io + runc -> source (orig tarballs + debian
#   patches) -> GOPATH-mode go build of ./cmd/buildkitd ./cmd/buildctl -> image FROM scratch -> push
#
# The result is keyed on this file's hash plus the docker.io source version. Reuse order: the image in the
# registry, then the local image, then the cached binaries (/var/cache/multiarch-lab/buildkit/<key>/), then a
# full build. Every step is idempotent and safe to re-run after an interruption. The last line printed is the
# image reference, which is also written to /var/lib/multiarch-lab/buildkit-image.
set -euo pipefail
REGISTRY=${LAB_REGISTRY_ADDR:-127.0.0.1:5000}
CACHE=${LAB_CACHE:-/var/cache/multiarch-lab}
STATE=${LAB_STATE:-/var/lib/multiarch-lab}
MIRROR=${LAB_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=trixie
CHROOT=$CACHE/buildkit-chroot
REPO=moby/buildkit
LABEL_KEY=lab.multiarch.buildkit.key
RECIPE_HASH=$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-12)
export DEBIAN_FRONTEND=noninteractive

log() { printf '[lab-buildkit] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
now() { date +%s.%N; }
T_ALL=$(now)
stage() { STAGE=$1; T_STAGE=$(now); }
done_stage() { log "$(awk -v a="$T_STAGE" -v b="$(now)" -v s="$STAGE" -v w="$*" 'BEGIN { printf "stage %-9s %6.1fs  %s", s, b - a, w }')"; }

mkdir -p "$CACHE" "$STATE"
exec 9>"$CACHE/buildkit.lock"
flock 9   # one run at a time: the chroot and the cache are shared

# --- chroot helpers ------------------------------------------------------------------------------------
in_chroot() {
  chroot "$CHROOT" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
}
unmount_under() {  # every mount below $1, deepest first (an interrupted debootstrap leaves proc/sys mounted)
  local m
  for m in $(awk -v d="$1/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts | sort -r); do umount -l "$m" || true; done
}
cleanup() { unmount_under "$CHROOT"; rm -rf --one-file-system "${TMP_DIRS[@]}"; }
TMP_DIRS=()
trap cleanup EXIT
prepare_chroot() {  # mounts and DNS for apt and go inside the chroot
  mountpoint -q "$CHROOT/proc" || mount -t proc proc "$CHROOT/proc"
  rm -f "$CHROOT/etc/resolv.conf"; cp -L /etc/resolv.conf "$CHROOT/etc/resolv.conf"
}
ensure_chroot() {
  [ -f "$CHROOT/.lab-ready" ] && { prepare_chroot; return 0; }
  local tmp=$CHROOT.tmp
  unmount_under "$tmp"; rm -rf --one-file-system "$tmp"
  log "debootstrap --variant=minbase $SUITE $CHROOT"
  debootstrap --variant=minbase "$SUITE" "$tmp" "$MIRROR" >"$CACHE/buildkit-debootstrap.log" 2>&1 \
    || { tail -20 "$CACHE/buildkit-debootstrap.log" >&2; unmount_under "$tmp"; die "debootstrap failed"; }
  unmount_under "$tmp"
  printf 'deb %s %s main\ndeb-src %s %s main\n' "$MIRROR" "$SUITE" "$MIRROR" "$SUITE" > "$tmp/etc/apt/sources.list"
  rm -f "$tmp/etc/apt/sources.list.d/debian.sources"
  # downloads land in root-owned directories: let apt fetch as root instead of warning about _apt.
  echo 'APT::Sandbox::User "root";' > "$tmp/etc/apt/apt.conf.d/99lab-sandbox"
  touch "$tmp/.lab-ready"
  unmount_under "$CHROOT"; rm -rf --one-file-system "$CHROOT"; mv "$tmp" "$CHROOT"
  prepare_chroot
  in_chroot apt-get update -q >/dev/null
}

# --- inputs --------------------------------------------------------------------------------------------
# The docker.io source version: from the host's trixie lists (engine.sh adds them, pinned low); a binNMU
# names its source version in "Source: docker.io (VERSION)". Without them, from the chroot's deb-src lists.
# apt-cache takes seconds here (no pkgcache, lz4 lists), so the answer is kept until those lists change.
source_version() {
  local rec v sig memo=$CACHE/buildkit/.source-version
  sig=$(stat -c '%n %s %Y' /var/lib/apt/lists/*_dists_"${SUITE}"_main_binary-"$(dpkg --print-architecture)"_Packages* 2>/dev/null | md5sum | cut -c1-16)
  if [ -f "$memo" ] && [ "$(cut -d' ' -f1 "$memo")" = "$sig" ]; then cut -d' ' -f2 "$memo"; return 0; fi
  rec=$(apt-cache show "docker.io/$SUITE" 2>/dev/null | sed '/^$/q') || true
  v=$(sed -n 's/^Source: docker\.io (\(.*\))$/\1/p' <<<"$rec")
  [ -n "$v" ] || v=$(sed -n 's/^Version: //p' <<<"$rec")
  if [ -n "$v" ]; then mkdir -p "${memo%/*}"; echo "$sig $v" > "$memo"; fi
  if [ -z "$v" ]; then
    ensure_chroot
    v=$(in_chroot apt-cache showsrc --only-source docker.io | sed -n 's/^Version: //p' | sort -V | tail -1)
  fi
  [ -n "$v" ] || die "cannot find the docker.io source version in Debian $SUITE"
  echo "$v"
}

# --- registry and local image --------------------------------------------------------------------------
ACCEPT='application/vnd.oci.image.index.v1+json,application/vnd.docker.distribution.manifest.list.v2+json,application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json'
registry_key() {  # the recipe key label of $REGISTRY/$REPO:$1 (linux/amd64), or nothing
  local m d
  m=$(curl -fsS -H "Accept: $ACCEPT" "http://$REGISTRY/v2/$REPO/manifests/$1" 2>/dev/null) || return 0
  d=$(jq -r '[.manifests[]? | select(.platform.os == "linux" and .platform.architecture == "amd64")][0].digest // empty' <<<"$m")
  if [ -n "$d" ]; then m=$(curl -fsS -H "Accept: $ACCEPT" "http://$REGISTRY/v2/$REPO/manifests/$d") || return 0; fi
  d=$(jq -r '.config.digest // empty' <<<"$m"); [ -n "$d" ] || return 0
  curl -fsS "http://$REGISTRY/v2/$REPO/blobs/$d" | jq -r --arg k "$LABEL_KEY" '.config.Labels[$k] // empty'
}
registry_tag_for_key() {  # a tag in the registry carrying this key (the cache directory may be gone)
  local t
  for t in $(curl -fsS "http://$REGISTRY/v2/$REPO/tags/list" 2>/dev/null | jq -r '.tags[]?'); do
    [ "$(registry_key "$t")" = "$1" ] && { echo "$t"; return 0; }
  done
  return 0
}
local_key() { docker image inspect --format "{{index .Config.Labels \"$LABEL_KEY\"}}" "$1" 2>/dev/null || true; }
local_tag_for_key() {
  docker images --filter "label=$LABEL_KEY=$1" --format '{{.Repository}}:{{.Tag}}' | sed -n "s|^\(docker.io/\)\{0,1\}$REPO:||p" | head -1
}

# --- source --------------------------------------------------------------------------------------------
# Unpack a tarball into $2 the way dpkg-source does: a single top-level directory is stripped.
unpack_into() {
  local x; x=$(mktemp -d "$2.x.XXXXXX")
  tar -C "$x" -xf "$1"
  local top=("$x"/* "$x"/.[!.]*); local n=0 e
  for e in "${top[@]}"; do [ -e "$e" ] && n=$((n + 1)); done
  mkdir -p "$2"
  if [ "$n" -eq 1 ] && [ -d "${top[0]}" ]; then (shopt -s dotglob; mv "${top[0]}"/* "$2"/); else (shopt -s dotglob; mv "$x"/* "$2"/); fi
  rm -rf "$x"
}
fetch_source() {  # -> $CHROOT/build/src/$SRC_VERSION (patched tree), idempotent
  local dst=$CHROOT/build/src/$SRC_VERSION dl=$CHROOT/build/dl/$SRC_VERSION
  [ -f "$dst/.lab-ready" ] && return 0
  mkdir -p "$dl"
  # The .dsc may 404 on the mirror (seen here): apt then fails but keeps every other file it fetched
  # and checked, and the orig tarballs plus the debian tarball are all the build needs.
  in_chroot sh -c "cd /build/dl/$SRC_VERSION && apt-get source -q --download-only docker.io=$SRC_VERSION" >"$dl.log" 2>&1 \
    || log "apt-get source reported errors (e.g. a missing .dsc): $(grep -m1 '^E:' "$dl.log" || true)"
  local f need
  need=$(in_chroot apt-get source -q --print-uris docker.io="$SRC_VERSION" | sed -n "s/^'[^']*' \([^ ]*\) .*/\1/p" | grep -v '\.dsc$')
  [ -n "$need" ] || die "apt knows no source files for docker.io=$SRC_VERSION"
  for f in $need; do [ -s "$dl/$f" ] || die "could not download $f (see $dl.log)"; done
  local tmp=$dst.tmp; rm -rf "$tmp"; mkdir -p "$tmp"
  local upstream=${SRC_VERSION%-*}; upstream=${upstream#*:}
  unpack_into "$dl/docker.io_$upstream.orig.tar.xz" "$tmp"
  for f in "$dl"/docker.io_"$upstream".orig-*.tar.*; do
    local comp=${f##*.orig-}; comp=${comp%%.tar*}
    unpack_into "$f" "$tmp/$comp"
  done
  tar -C "$tmp" -xf "$dl"/docker.io_"${SRC_VERSION#*:}".debian.tar.*
  local p opt
  while read -r p opt; do
    case "$p" in ''|'#'*) continue ;; esac
    patch -d "$tmp" -s -f --no-backup-if-mismatch "${opt:--p1}" -i "debian/patches/$p" || die "patch $p does not apply"
  done < "$tmp/debian/patches/series"
  touch "$tmp/.lab-ready"
  rm -rf "$dst"; mv "$tmp" "$dst"
}
buildkit_version() {  # debian/get-orig-source.sh takes the buildkit component at engine/vendor.mod's revision
  local v
  v=$(awk '$1 == "github.com/moby/buildkit" { print $2; exit }' "$CHROOT/build/src/$SRC_VERSION/engine/vendor.mod")
  [ -n "$v" ] || die "no github.com/moby/buildkit line in engine/vendor.mod"
  echo "${v//+/_}"  # a tag has no '+'
}
go_build() {  # GOPATH-mode build as dh-golang does it -> $1/buildkitd, $1/buildctl
  local b=/build/go/$SRC_VERSION out=$1
  rm -rf "$CHROOT$b"; mkdir -p "$CHROOT$b/src/github.com/moby" "$CHROOT$b/src/github.com/docker" "$CHROOT$b/out"
  cp -al "$CHROOT/build/src/$SRC_VERSION/buildkit" "$CHROOT$b/src/github.com/moby/buildkit"
  cp -al "$CHROOT/build/src/$SRC_VERSION/engine" "$CHROOT$b/src/github.com/docker/docker"
  local ld="-s -w -X github.com/moby/buildkit/version.Version=$BK_VERSION -X github.com/moby/buildkit/version.Revision=debian-$SRC_VERSION"
  in_chroot env GO111MODULE=off CGO_ENABLED=0 GOPATH="$b:/usr/share/gocode" GOTOOLCHAIN=local GOPROXY=off \
    GOCACHE=/root/.cache/go-build sh -c "cd $b/src/github.com/moby/buildkit && \
      go build -o $b/out/ -tags 'osusergo netgo' -ldflags '$ld' ./cmd/buildkitd ./cmd/buildctl" \
    >"$CACHE/buildkit-go-build.log" 2>&1 || { tail -30 "$CACHE/buildkit-go-build.log" >&2; die "go build failed"; }
  cp "$CHROOT$b/out/buildkitd" "$CHROOT$b/out/buildctl" "$out/"
  rm -rf "$CHROOT$b"
}

# --- image ---------------------------------------------------------------------------------------------
copy_libs() {  # $1: image rootfs, $2: a program in the chroot -> its shared libraries, resolved in the chroot, under /usr
  local lib real
  for lib in $(in_chroot ldd "$2" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
    real=$(in_chroot readlink -f "$lib")
    case "$lib" in /usr/*) ;; *) lib=/usr$lib ;; esac
    [ -e "$1$lib" ] || install -D -m 0755 "$CHROOT$real" "$1$lib"
  done
}
make_context() {  # $1: directory that gets Dockerfile + rootfs/ (binaries already in $1/rootfs/usr/bin)
  local r=$1/rootfs d
  mkdir -p "$r/usr/bin" "$r/usr/lib" "$r/usr/lib64" "$r/etc/buildkit" "$r/etc/ssl/certs" "$r/var/lib/buildkit" "$r/run" "$r/tmp" "$r/root"
  chmod 1777 "$r/tmp"
  for d in bin sbin lib lib64; do ln -sfn "usr/$d" "$r/$d"; done; ln -sfn bin "$r/usr/sbin"
  # Debian's runc (cgo, libseccomp) with the chroot's own shared libraries, resolved inside the chroot.
  local runc plugin tool
  runc=$(in_chroot sh -c 'command -v runc') || die "runc is missing in the chroot"
  cp "$CHROOT$(in_chroot readlink -f "$runc")" "$r/usr/bin/runc"
  copy_libs "$r" "$runc"
  # Build steps get a network namespace of their own (buildkitd --oci-worker-net bridge, as the buildkit role runs
  # it): BuildKit v0.13's bridge mode needs the CNI plugins in /opt/cni/bin and iptables for the masquerade, which
  # upstream's image carries. Debian's containernetworking-plugins and iptables (nft backend) stand in for them.
  in_chroot sh -c 'dpkg -s containernetworking-plugins iptables >/dev/null 2>&1' \
    || in_chroot apt-get install -y -q --no-install-recommends containernetworking-plugins iptables >/dev/null \
    || die "installing containernetworking-plugins and iptables in the chroot failed"
  mkdir -p "$r/opt/cni/bin"
  for plugin in bridge host-local loopback firewall; do
    install -m 0755 "$CHROOT/usr/lib/cni/$plugin" "$r/opt/cni/bin/$plugin"
    copy_libs "$r" "/usr/lib/cni/$plugin"
  done
  install -m 0755 "$CHROOT$(in_chroot readlink -f /usr/sbin/xtables-nft-multi)" "$r/usr/bin/xtables-nft-multi"
  copy_libs "$r" /usr/sbin/xtables-nft-multi
  for tool in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
    ln -sfn xtables-nft-multi "$r/usr/bin/$tool"
  done
  local xt; xt=$(in_chroot sh -c 'ls -d /usr/lib/*/xtables')
  mkdir -p "$r$xt"
  for plugin in "$CHROOT$xt"/*.so; do
    install -m 0644 "$plugin" "$r$xt/"
    copy_libs "$r" "$xt/$(basename "$plugin")"
  done
  cp "$CHROOT$(in_chroot readlink -f /etc/ssl/certs/ca-certificates.crt)" "$r/etc/ssl/certs/ca-certificates.crt"
  printf 'root:x:0:0:root:/root:/usr/sbin/nologin\n' > "$r/etc/passwd"
  printf 'root:x:0:\n' > "$r/etc/group"
  cat > "$1/Dockerfile" <<'EOF'
FROM scratch
COPY rootfs/ /
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
VOLUME /var/lib/buildkit
ENTRYPOINT ["buildkitd"]
EOF
}
build_image() {
  docker build -q --provenance=false --sbom=false \
    --label "$LABEL_KEY=$KEY" --label "org.opencontainers.image.version=$BK_VERSION" \
    --label "org.opencontainers.image.title=buildkit" \
    --label "org.opencontainers.image.description=BuildKit $BK_VERSION built from Debian $SUITE docker.io $SRC_VERSION" \
    -t "$LOCAL_REF" -t "$REF" "$KEYDIR/context" >/dev/null
  # smoke test before anything is pushed: both binaries and runc start in the image
  docker run --rm "$REF" --version >&2
  docker run --rm --entrypoint buildctl "$REF" --version >&2
  docker run --rm --entrypoint runc "$REF" --version | head -1 >&2
  docker run --rm --entrypoint iptables "$REF" --version >&2
  # a CNI plugin called by hand only says what it is, and may exit non-zero doing so: this proves its libraries load
  { docker run --rm --entrypoint /opt/cni/bin/bridge "$REF" 2>&1 || true; } | grep -q 'CNI bridge plugin' \
    || die "the CNI bridge plugin does not start in $REF"
}

# --- main ----------------------------------------------------------------------------------------------
missing=()
for p in debootstrap curl jq patch xz-utils; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
curl -fsS "http://$REGISTRY/v2/" >/dev/null 2>&1 || die "no registry on $REGISTRY: run tests/lab/registry.sh up first"
docker info >/dev/null 2>&1 || die "no Docker engine: run tests/lab/engine.sh up first"

stage inputs
SRC_VERSION=$(source_version)
KEY=$SRC_VERSION-$RECIPE_HASH
KEYDIR=$CACHE/buildkit/$KEY
BK_VERSION=
[ -f "$KEYDIR/complete" ] && BK_VERSION=$(cat "$KEYDIR/buildkit-version")
[ -n "$BK_VERSION" ] || BK_VERSION=$(registry_tag_for_key "$KEY")
[ -n "$BK_VERSION" ] || BK_VERSION=$(local_tag_for_key "$KEY")
done_stage "docker.io source $SRC_VERSION, recipe $RECIPE_HASH, key $KEY${BK_VERSION:+, BuildKit $BK_VERSION known}"

finish() {
  echo "$REF" > "$STATE/buildkit-image"
  log "$(awk -v a="$T_ALL" -v b="$(now)" 'BEGIN { printf "total %.1fs", b - a }')"
  echo "$REF"
  exit 0
}
set_refs() { REF=$REGISTRY/$REPO:$BK_VERSION; LOCAL_REF=$REPO:$BK_VERSION; }

if [ -n "$BK_VERSION" ]; then
  set_refs
  stage reuse
  in_reg=no; in_local=no
  [ "$(registry_key "$BK_VERSION")" = "$KEY" ] && in_reg=yes
  [ "$(local_key "$REF")" = "$KEY" ] && in_local=yes
  if [ $in_reg = yes ] && [ $in_local = yes ]; then
    docker tag "$REF" "$LOCAL_REF"
    done_stage "reused: $REF in the registry and in the engine"; finish
  elif [ $in_reg = yes ]; then
    docker pull -q "$REF" >/dev/null; docker tag "$REF" "$LOCAL_REF"
    done_stage "reused: $REF from the registry, pulled into the engine"; finish
  elif [ $in_local = yes ] || [ "$(local_key "$LOCAL_REF")" = "$KEY" ]; then
    [ $in_local = yes ] || docker tag "$LOCAL_REF" "$REF"
    docker tag "$REF" "$LOCAL_REF"; docker push -q "$REF" >/dev/null
    done_stage "reused: the engine's image, pushed to $REGISTRY"; finish
  fi
  done_stage "not in the registry nor in the engine"
fi

if [ ! -f "$KEYDIR/complete" ]; then
  stage chroot
  if [ -f "$CHROOT/.lab-ready" ]; then ensure_chroot; done_stage "reused $CHROOT"; else ensure_chroot; done_stage "debootstrapped $CHROOT"; fi

  stage build-dep
  if [ -f "$CHROOT/.lab-builddep-$SRC_VERSION" ]; then
    done_stage "reused (build-dep docker.io=$SRC_VERSION installed)"
  else
    in_chroot dpkg --configure -a   # finishes an install that an interruption cut short
    in_chroot apt-get update -q >/dev/null
    in_chroot apt-get build-dep -y -q --no-install-recommends "docker.io=$SRC_VERSION" >"$CACHE/buildkit-build-dep.log" 2>&1 \
      || { tail -20 "$CACHE/buildkit-build-dep.log" >&2; die "apt-get build-dep failed"; }
    in_chroot apt-get install -y -q --no-install-recommends runc ca-certificates >>"$CACHE/buildkit-build-dep.log" 2>&1 \
      || { tail -20 "$CACHE/buildkit-build-dep.log" >&2; die "installing runc failed"; }
    in_chroot apt-get clean
    touch "$CHROOT/.lab-builddep-$SRC_VERSION"
    done_stage "installed build-dep docker.io=$SRC_VERSION, runc ($(in_chroot go version | awk '{print $3}'))"
  fi

  stage source
  if [ -f "$CHROOT/build/src/$SRC_VERSION/.lab-ready" ]; then fetch_source; done_stage "reused the patched tree"
  else fetch_source; done_stage "downloaded and patched docker.io $SRC_VERSION"; fi
  BK_VERSION=$(buildkit_version)

  stage go-build
  tmp=$KEYDIR.tmp; TMP_DIRS+=("$tmp")
  rm -rf "$tmp"; mkdir -p "$tmp/context/rootfs/usr/bin"
  go_build "$tmp/context/rootfs/usr/bin"
  done_stage "buildkitd $(du -m "$tmp/context/rootfs/usr/bin/buildkitd" | cut -f1) MB, buildctl $(du -m "$tmp/context/rootfs/usr/bin/buildctl" | cut -f1) MB"

  stage context
  make_context "$tmp/context"
  echo "$BK_VERSION" > "$tmp/buildkit-version"
  echo "$SRC_VERSION" > "$tmp/source-version"
  touch "$tmp/complete"
  rm -rf "$KEYDIR"; mkdir -p "$CACHE/buildkit"; mv "$tmp" "$KEYDIR"
  # older keys and source versions are dead weight (75 MB and ~200 MB each)
  find "$CACHE/buildkit" "$CHROOT/build/src" "$CHROOT/build/dl" -mindepth 1 -maxdepth 1 \
    ! -name "$KEY" ! -name "$SRC_VERSION" ! -name "$SRC_VERSION.log" ! -name .source-version -exec rm -rf {} +
  done_stage "$KEYDIR ($(du -sm "$KEYDIR" | cut -f1) MB)"
  FROM_CACHE=no
else
  BK_VERSION=$(cat "$KEYDIR/buildkit-version")
  FROM_CACHE=yes
fi

set_refs
stage image
build_image
done_stage "$( [ $FROM_CACHE = yes ] && echo "built from the cached binaries in $KEYDIR" || echo built) -> $LOCAL_REF, $REF"
stage push
docker push -q "$REF" >/dev/null
[ "$(registry_key "$BK_VERSION")" = "$KEY" ] || die "the registry does not serve $REF with key $KEY after the push"
done_stage "pushed $REF"
finish
