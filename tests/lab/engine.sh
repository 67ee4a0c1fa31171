#!/usr/bin/env bash
# Ensure a Docker Engine 26 (containerd image store, buildx) runs on the lab controller.
# Reuses a running engine; otherwise unpacks Debian trixie's packages into a private prefix
# (installing them with apt would drag a libc upgrade onto bookworm) and starts containerd
# and dockerd in the background with pidfiles, since the lab has no init system.
set -euo pipefail
LAB_PREFIX=${LAB_PREFIX:-/opt/multiarch-lab}
STATE=${LAB_STATE:-/var/lib/multiarch-lab}
RUN=/run/multiarch-lab
export DEBIAN_FRONTEND=noninteractive

log() { printf '[lab-engine] %s\n' "$*"; }

engine_answers() { timeout 10 docker info >/dev/null 2>&1; }

apt_base() {
  local want=(debootstrap runc tini iptables qemu-user-static docker-registry apache2-utils jq curl)
  local missing=()
  for p in "${want[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

unpack_trixie_engine() {
  [ -x "$LAB_PREFIX/usr/sbin/dockerd" ] && return 0
  log "unpacking Docker 26 from Debian trixie into $LAB_PREFIX"
  # Low pin: trixie is only a place to download from, never an upgrade source.
  echo 'deb http://deb.debian.org/debian trixie main' > /etc/apt/sources.list.d/multiarch-lab-trixie.list
  printf 'Package: *\nPin: release n=trixie\nPin-Priority: 100\n' > /etc/apt/preferences.d/multiarch-lab-trixie
  apt-get update -q >/dev/null
  local dl; dl=$(mktemp -d)
  (cd "$dl" && apt-get download -q docker.io/trixie docker-cli/trixie docker-buildx/trixie containerd/trixie >/dev/null)
  mkdir -p "$LAB_PREFIX"
  for deb in "$dl"/*.deb; do dpkg -x "$deb" "$LAB_PREFIX"; done
  rm -rf "$dl"
}

link_tools() {
  # The CLI plugin path and PATH are where the docker CLI and the tests look for them.
  mkdir -p /usr/local/lib/docker/cli-plugins
  ln -sf "$LAB_PREFIX/usr/libexec/docker/cli-plugins/docker-buildx" /usr/local/lib/docker/cli-plugins/docker-buildx
  for bin in dockerd docker-proxy; do ln -sf "$LAB_PREFIX/usr/sbin/$bin" "/usr/local/sbin/$bin"; done
  for bin in containerd containerd-shim-runc-v2 ctr; do ln -sf "$LAB_PREFIX/usr/bin/$bin" "/usr/local/sbin/$bin"; done
  [ -x /usr/local/bin/docker ] || ln -sf "$LAB_PREFIX/usr/bin/docker" /usr/local/bin/docker
  # docker.io's docker-init -> tini-static link needs the tini package (a dependency under apt): without it
  # every `docker run --init` fails, and buildx's docker-container driver always runs its container --init.
  ln -sf /usr/bin/tini-static /usr/local/sbin/docker-init
}

mount_binfmt() {
  [ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start_daemons() {
  mkdir -p "$RUN" "$STATE" /etc/docker
  if [ ! -f /etc/docker/daemon.json ]; then
    printf '{\n  "features": {"containerd-snapshotter": true},\n  "experimental": true\n}\n' > /etc/docker/daemon.json
  fi
  if ! alive "$RUN/containerd.pid"; then
    log "starting containerd"
    nohup containerd >"$STATE/containerd.log" 2>&1 &
    echo $! > "$RUN/containerd.pid"
    for _ in $(seq 50); do [ -S /run/containerd/containerd.sock ] && break; sleep 0.2; done
  fi
  if ! alive "$RUN/dockerd.pid"; then
    log "starting dockerd"
    nohup dockerd --containerd /run/containerd/containerd.sock --pidfile "$RUN/dockerd.pid" >"$STATE/dockerd.log" 2>&1 &
    for _ in $(seq 150); do engine_answers && break; sleep 0.2; done
  fi
  engine_answers || { tail -20 "$STATE/dockerd.log" >&2; log "dockerd did not answer"; exit 1; }
}

# dockerd looks docker-init up on its PATH for every container it starts, so a running dockerd picks the
# link up without a restart. Restart only a dockerd of ours that still reports no init binary.
check_init() {
  [ "$(docker info --format '{{.InitCommit.ID}}' 2>/dev/null)" != "N/A" ] && return 0
  alive "$RUN/dockerd.pid" || { log "docker-init is not on the engine's PATH"; return 1; }
  log "restarting dockerd to pick up docker-init"
  kill "$(cat "$RUN/dockerd.pid")"; for _ in $(seq 50); do alive "$RUN/dockerd.pid" || break; sleep 0.2; done
  rm -f "$RUN/dockerd.pid"
  start_daemons
  [ "$(docker info --format '{{.InitCommit.ID}}')" != "N/A" ] || { log "dockerd still finds no docker-init"; return 1; }
}

stop_daemons() {
  for d in dockerd containerd; do
    if alive "$RUN/$d.pid"; then kill "$(cat "$RUN/$d.pid")"; for _ in $(seq 50); do alive "$RUN/$d.pid" || break; sleep 0.2; done; fi
    rm -f "$RUN/$d.pid"
  done
}

case "${1:-up}" in
  up)
    apt_base
    mount_binfmt
    if engine_answers && [ ! -f "$RUN/dockerd.pid" ]; then
      log "reusing the running engine"
    else
      unpack_trixie_engine
      link_tools
      start_daemons
      check_init
    fi
    docker version --format 'engine {{.Server.Version}}, API {{.Server.APIVersion}}'
    docker buildx version
    ;;
  down) stop_daemons ;;
  *) echo "usage: $0 [up|down]" >&2; exit 2 ;;
esac
