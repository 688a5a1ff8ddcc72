#!/usr/bin/env bash
# Start or stop a private Docker engine for CI and local smoke tests.
#
#   scripts/docker/dockerd.sh start   # prints `export DOCKER_HOST=...` on stdout
#   scripts/docker/dockerd.sh stop    # kills exactly the dockerd this script started (by PID)
#   scripts/docker/dockerd.sh status
#
# No Docker engine runs on these machines by default. This installs Debian's docker.io when dockerd
# is missing and starts it as root with its own data root, exec root, pid file and unix socket, so it
# never touches a system engine. It runs without iptables rules and without the default bridge: the
# sandbox has no use for NAT, and builds and containers use host networking instead (loopback only).
#
# Environment:
#   XENT_DOCKER_DIR   state directory (default /var/lib/xent-docker); data/ is kept between runs so
#                     the stand-in base image and build cache survive, exec/ and the socket do not.
#   DOCKERD_TIMEOUT   seconds to wait for the engine to answer (default 60)
set -euo pipefail

XENT_DOCKER_DIR="${XENT_DOCKER_DIR:-/var/lib/xent-docker}"
DATA_ROOT="$XENT_DOCKER_DIR/data"
# exec-root holds the runtime state and containerd's socket: keep the path short (unix socket
# paths are limited to 108 bytes) and on a local file system.
EXEC_ROOT="${XENT_DOCKER_EXEC_ROOT:-/run/xent-docker}"
PIDFILE="$XENT_DOCKER_DIR/dockerd.pid"
SOCKET="$XENT_DOCKER_DIR/docker.sock"
LOGFILE="$XENT_DOCKER_DIR/dockerd.log"
TIMEOUT="${DOCKERD_TIMEOUT:-60}"
DOCKER_HOST_URI="unix://$SOCKET"

log() { echo "[dockerd.sh] $*" >&2; }

need_root() {
  if [[ "$(id -u)" != 0 ]]; then
    log "must run as root (dockerd needs it)"
    exit 1
  fi
}

# The docker.io package ships the daemon and a matching client (/usr/bin/docker). A newer client
# may sit earlier on PATH; the matching one is what the other scripts use.
ensure_installed() {
  if [[ ! -x /usr/sbin/dockerd || ! -x /usr/bin/docker ]]; then
    log "installing docker.io from Debian"
    export DEBIAN_FRONTEND=noninteractive
    mkdir -p "$XENT_DOCKER_DIR"
    if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends docker.io; } >"$XENT_DOCKER_DIR/apt.log" 2>&1; then
      log "installing docker.io failed; last lines:"
      tail -n 20 "$XENT_DOCKER_DIR/apt.log" >&2
      exit 1
    fi
  fi
}

running_pid() {
  [[ -f "$PIDFILE" ]] || return 1
  local pid
  pid="$(cat "$PIDFILE" 2>/dev/null || true)"
  [[ -n "$pid" ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  # Make sure the PID is still a dockerd (not a recycled PID).
  [[ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" == dockerd ]] || return 1
  echo "$pid"
}

answers() {
  DOCKER_HOST="$DOCKER_HOST_URI" /usr/bin/docker version --format '{{.Server.Version}}' >/dev/null 2>&1
}

start() {
  need_root
  ensure_installed
  if pid="$(running_pid)" && answers; then
    log "already running (pid $pid)"
    echo "export DOCKER_HOST=$DOCKER_HOST_URI"
    return 0
  fi
  mkdir -p "$DATA_ROOT" "$EXEC_ROOT"
  # A previous run that died hard may have left a stale pid file or socket behind.
  rm -f "$PIDFILE" "$SOCKET"

  log "starting dockerd (data-root $DATA_ROOT, exec-root $EXEC_ROOT, socket $SOCKET)"
  # setsid: own session, so a Ctrl-C or the caller's process group does not take it down mid-build;
  # it is stopped only through `stop`, by PID.
  setsid /usr/sbin/dockerd \
    --data-root "$DATA_ROOT" \
    --exec-root "$EXEC_ROOT" \
    --pidfile "$PIDFILE" \
    --host "$DOCKER_HOST_URI" \
    --iptables=false \
    --ip6tables=false \
    --ip-forward=false \
    --ip-masq=false \
    --bridge=none \
    --storage-driver=overlay2 \
    --log-level=warn \
    >"$LOGFILE" 2>&1 </dev/null &
  local launched=$!

  local deadline=$((SECONDS + TIMEOUT))
  until answers; do
    if ! kill -0 "$launched" 2>/dev/null; then
      log "dockerd exited during start-up; last log lines:"
      tail -n 30 "$LOGFILE" >&2 || true
      exit 1
    fi
    if ((SECONDS >= deadline)); then
      log "dockerd did not answer within ${TIMEOUT}s; last log lines:"
      tail -n 30 "$LOGFILE" >&2 || true
      kill "$launched" 2>/dev/null || true
      exit 1
    fi
    sleep 0.2
  done
  log "dockerd answers (pid $(cat "$PIDFILE"), server $(DOCKER_HOST="$DOCKER_HOST_URI" /usr/bin/docker version --format '{{.Server.Version}}'))"
  echo "export DOCKER_HOST=$DOCKER_HOST_URI"
}

stop() {
  local pid
  if ! pid="$(running_pid)"; then
    log "not running"
    rm -f "$PIDFILE"
    return 0
  fi
  log "stopping dockerd (pid $pid)"
  # dockerd stops its containers and the containerd it supervises on SIGTERM.
  local containerd_pid
  containerd_pid="$(cat "$EXEC_ROOT/containerd/containerd.pid" 2>/dev/null || true)"
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + 30))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      log "dockerd (pid $pid) did not stop in 30s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      if [[ -n "$containerd_pid" && "$(cat "/proc/$containerd_pid/comm" 2>/dev/null || true)" == containerd ]]; then
        kill -KILL "$containerd_pid" 2>/dev/null || true
      fi
      break
    fi
    sleep 0.2
  done
  # dockerd leaves its network-namespace bind mount behind; unmount whatever is left under the
  # exec root (deepest first) so the directory can be removed.
  local m
  awk -v root="$EXEC_ROOT/" 'index($2, root) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
  rm -f "$PIDFILE" "$SOCKET"
  log "stopped"
}

status() {
  if pid="$(running_pid)" && answers; then
    echo "running (pid $pid) at $DOCKER_HOST_URI"
  else
    echo "not running"
    return 1
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
