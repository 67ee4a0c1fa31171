#!/usr/bin/env bash
# Start or stop a plain local registry (Debian's docker-registry, distribution 2.8) on 127.0.0.1:5000.
# Debian's own config enables htpasswd auth against a directory (every push gets 401), so we write our own.
set -euo pipefail
ADDR=${LAB_REGISTRY_ADDR:-127.0.0.1:5000}
STATE=${LAB_STATE:-/var/lib/multiarch-lab}/registry
PIDFILE=/run/multiarch-lab/registry.pid

alive() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

case "${1:-up}" in
  up)
    command -v docker-registry >/dev/null || { apt-get update -q >/dev/null; DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker-registry >/dev/null; }
    mkdir -p "$STATE/data" /run/multiarch-lab
    cat > "$STATE/config.yml" <<YAML
version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: $STATE/data}
  delete: {enabled: true}
http: {addr: $ADDR}
YAML
    if ! alive; then
      nohup docker-registry serve "$STATE/config.yml" >"$STATE/registry.log" 2>&1 &
      echo $! > "$PIDFILE"
    fi
    for _ in $(seq 50); do curl -fsS "http://$ADDR/v2/" >/dev/null 2>&1 && break; sleep 0.2; done
    curl -fsS "http://$ADDR/v2/" >/dev/null || { cat "$STATE/registry.log" >&2; exit 1; }
    echo "[lab-registry] serving on $ADDR"
    ;;
  down)
    if alive; then kill "$(cat "$PIDFILE")"; fi
    rm -f "$PIDFILE"
    ;;
  *) echo "usage: $0 [up|down]" >&2; exit 2 ;;
esac
