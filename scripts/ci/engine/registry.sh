#!/usr/bin/env bash
# registry.sh - Debian's docker-registry on 127.0.0.1:5000 (loopback only), with
# deletes enabled, for the push and registry-cache tests.
set -euo pipefail
# shellcheck source=scripts/ci/lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

registry_up() { curl -fsS --max-time 3 "$REGISTRY_URL/v2/_catalog" >/dev/null 2>&1; }

if pid=$(live_pid "$REGISTRY_PIDFILE" "$REGISTRY_BIN"); then
  wait_until 30 1 "" registry_up \
    || { show_log_tail "$REGISTRY_LOG"; die "our registry (pid $pid) is running but $REGISTRY_URL/v2/_catalog fails"; }
  log "registry already running (pid $pid)"
  exit 0
fi
if registry_up; then
  log "using a registry at $REGISTRY_URL not started by this script"
  exit 0
fi

mkdir -p "$REGISTRY_DIR/data"
cat >"$REGISTRY_DIR/config.yml" <<YAML
version: 0.1
log:
  level: info
  fields:
    service: fate-builder-registry
storage:
  filesystem:
    rootdirectory: $REGISTRY_DIR/data
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: $REGISTRY_ADDR
  secret: $(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
  headers:
    X-Content-Type-Options: [nosniff]
YAML
log "starting registry on $REGISTRY_ADDR (log: $REGISTRY_LOG)"
start_detached "$REGISTRY_PIDFILE" "$REGISTRY_LOG" "$REGISTRY_BIN" serve "$REGISTRY_DIR/config.yml"
pid=$(cat "$REGISTRY_PIDFILE")
rc=0
wait_until 60 0.5 "$pid" registry_up || rc=$?
[ "$rc" != 2 ] || { show_log_tail "$REGISTRY_LOG"; die "docker-registry exited during startup (is $REGISTRY_ADDR taken?)"; }
[ "$rc" = 0 ] || { show_log_tail "$REGISTRY_LOG"; die "registry did not answer $REGISTRY_URL/v2/_catalog within 30s"; }
