#!/usr/bin/env bash
# Build the real xent image and check it for real, on this machine, with a private Docker engine.
#
#   scripts/docker-smoke.sh
#
# Steps: start dockerd (scripts/docker/dockerd.sh), build the stand-in base image if it is absent
# or stale (scripts/docker/base-image.sh), remove the old xent:ci tag, build the image with the
# legacy builder, run it on a loopback port with a read-only root file system and no capabilities,
# then check:
#   - POST /cost scores a real request and returns the right number;
#   - GET /healthz, /readyz and /metrics answer;
#   - the container's health status turns `healthy` (the image's own HEALTHCHECK command);
#   - the service runs as uid 1000 (not root), as PID 1 `node`, with NODE_ENV=production;
#   - `docker stop` ends it well under its 10 s grace period, with exit code 0 (graceful);
# and report the image size. Exits non-zero on any failed check; always removes its container and
# stops the dockerd it started (by PID). The last line reads `docker-smoke: N passed, N failed`.
#
# Environment:
#   XENT_BUILD_CONTEXT  directory to build (default: the repository root)
#   XENT_IMAGE          tag to build (default xent:ci)
#   XENT_STOP_LIMIT_S   most seconds `docker stop` may take (default 5)
#   XENT_SMOKE_SKIP     comma-separated check names to skip, for local debugging only (CI sets none)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CONTEXT="$(cd "${XENT_BUILD_CONTEXT:-$ROOT}" && pwd)"
IMAGE="${XENT_IMAGE:-xent:ci}"
STOP_LIMIT_S="${XENT_STOP_LIMIT_S:-5}"
SKIP=",${XENT_SMOKE_SKIP:-},"
DOCKERD_SH="$ROOT/scripts/docker/dockerd.sh"
BASE_SH="$ROOT/scripts/docker/base-image.sh"
DOCKER=/usr/bin/docker # Debian's client, matching Debian's dockerd (a newer client may be first on PATH)
export DOCKER_BUILDKIT=0 # the legacy builder: BuildKit would try to pull its frontend and base images

PASSED=0
FAILED=0
CONTAINER=""
STARTED_DOCKERD=0
WORK="$(mktemp -d "${TMPDIR:-/tmp}/xent-smoke.XXXXXX")"
T_START="$(date +%s.%N)"

log() { echo "[docker-smoke] $*" >&2; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="${2:-$(now)}" 'BEGIN { printf "%.1f", b - a }'; }
pass() { PASSED=$((PASSED + 1)); echo "  ok    $*"; }
fail() { FAILED=$((FAILED + 1)); echo "  FAIL  $*"; }
skipped() { [[ "$SKIP" == *",$1,"* ]] && { echo "  skip  $1 (XENT_SMOKE_SKIP)"; return 0; }; return 1; }

cleanup() {
  local rc=$?
  set +e
  if [[ -n "$CONTAINER" ]]; then
    if ((rc != 0 || FAILED > 0)); then
      log "container logs (last 40 lines):"
      $DOCKER logs --tail 40 "$CONTAINER" >&2 2>&1
    fi
    $DOCKER rm -f "$CONTAINER" >/dev/null 2>&1
  fi
  # Drop images left dangling by rebuilds so the engine's data root does not grow run after run.
  if ((STARTED_DOCKERD == 1)); then
    $DOCKER image prune -f >/dev/null 2>&1
    "$DOCKERD_SH" stop
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- engine and base image -------------------------------------------------------------------------

t0="$(now)"
if "$DOCKERD_SH" status >/dev/null 2>&1; then
  log "using the dockerd that is already running (it is left running)"
else
  STARTED_DOCKERD=1
fi
# (assigned first: a failing command substitution inside eval would not stop the script)
DOCKERD_ENV="$("$DOCKERD_SH" start)"
eval "$DOCKERD_ENV"
export DOCKER_HOST
T_DOCKERD="$(secs "$t0")"

t0="$(now)"
"$BASE_SH"
T_BASE="$(secs "$t0")"

# --- build -----------------------------------------------------------------------------------------

t0="$(now)"
# A stale tag must not pass for a fresh build: remove the tags before building. The images behind
# them are the legacy builder's cache, though (the top layer of each stage too), so they are first
# parked under a -cache tag, which is dropped once the new build is in.
untag() { # tag...
  local t
  for t in "$@"; do
    if $DOCKER image inspect "$t" >/dev/null 2>&1; then
      $DOCKER tag "$t" "$t-cache"
      $DOCKER rmi --no-prune "$t" >/dev/null
    fi
  done
}
drop_cache_tags() { # tag...
  local t
  for t in "$@"; do $DOCKER rmi --no-prune "$t-cache" >/dev/null 2>&1 || true; done
}
untag "$IMAGE" "$IMAGE-build-stage"
if $DOCKER image inspect "$IMAGE" >/dev/null 2>&1; then
  log "could not remove the old $IMAGE tag"
  exit 1
fi
log "building $IMAGE from $CONTEXT (legacy builder, host network)"
# The build stage is tagged too, so its layers (npm ci above all) are not dangling and survive the
# clean-up's prune as cache for the next run; the second build reuses them.
for target in build runtime; do
  tag="$IMAGE"
  [[ "$target" == build ]] && tag="$IMAGE-build-stage"
  if ! $DOCKER build --network host --force-rm --target "$target" -t "$tag" "$CONTEXT" >"$WORK/build-$target.log" 2>&1; then
    log "docker build (stage $target) FAILED; first error lines, then the last 30 lines:"
    grep -m 15 -iE 'error|err!' "$WORK/build-$target.log" >&2 || true
    echo "..." >&2
    tail -n 30 "$WORK/build-$target.log" >&2
    exit 1
  fi
done
$DOCKER image inspect "$IMAGE" >/dev/null # the tag must exist now
drop_cache_tags "$IMAGE" "$IMAGE-build-stage"
T_BUILD="$(secs "$t0")"
steps="$(grep -c '^Step ' "$WORK/build-runtime.log" || true)"
cached="$(grep -c 'Using cache' "$WORK/build-runtime.log" || true)"
log "built $IMAGE in ${T_BUILD}s (final pass: $cached of $steps steps from cache)"
if [[ -n "${XENT_SMOKE_KEEP_LOGS:-}" ]]; then cp "$WORK"/build-*.log "$XENT_SMOKE_KEEP_LOGS"/; fi

# --- run -------------------------------------------------------------------------------------------

PORT="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
BASE="http://127.0.0.1:$PORT"
CONTAINER="xent-smoke-$$"
t0="$(now)"
# Host networking (the private engine has no bridge), bound to loopback only. Run the way the
# Kubernetes manifests do: read-only root file system with a /tmp tmpfs, no capabilities.
$DOCKER run -d --name "$CONTAINER" --network host \
  -e PORT="$PORT" -e HOST=127.0.0.1 -e LOG_LEVEL=warn \
  --read-only --tmpfs /tmp:rw,size=64m \
  --cap-drop ALL --security-opt no-new-privileges \
  --health-interval 1s --health-timeout 3s --health-retries 3 --health-start-period 20s \
  "$IMAGE" >/dev/null
log "container $CONTAINER on $BASE"

# http METHOD PATH [BODY] -> prints "STATUS<TAB>BODY"; never fails the shell.
http() {
  node -e '
    const [method, url, body] = process.argv.slice(1);
    fetch(url, { method, signal: AbortSignal.timeout(5000),
      ...(body ? { body, headers: { "content-type": "application/json" } } : {}) })
      .then(async (r) => console.log(r.status + "\t" + (await r.text()).replace(/\n/g, "\\n")))
      .catch((e) => console.log("000\t" + e.message));
  ' "$1" "$BASE$2" "${3:-}"
}

running() { [[ "$($DOCKER inspect -f '{{.State.Running}}' "$CONTAINER" 2>/dev/null)" == true ]]; }

# Wait for the service to answer at all (the container may also exit early: report that).
deadline=$((SECONDS + 60))
until [[ "$(http GET /healthz | cut -f1)" == 200 ]]; do
  if ! running; then
    fail "container exited before answering (exit code $($DOCKER inspect -f '{{.State.ExitCode}}' "$CONTAINER"))"
    exit 1
  fi
  if ((SECONDS >= deadline)); then
    fail "GET /healthz did not answer 200 within 60 s"
    exit 1
  fi
  sleep 0.2
done
T_UP="$(secs "$t0")"
log "answering after ${T_UP}s"

echo "checks:"
r="$(http GET /healthz)"
if [[ "${r%%$'\t'*}" == 200 && "${r#*$'\t'}" == *'"status":"ok"'* ]]; then pass "GET /healthz -> 200 {\"status\":\"ok\"}"; else fail "GET /healthz -> $r"; fi

deadline=$((SECONDS + 30))
until [[ "$(http GET /readyz | cut -f1)" == 200 ]] || ((SECONDS >= deadline)); do sleep 0.2; done
r="$(http GET /readyz)"
if [[ "${r%%$'\t'*}" == 200 ]]; then pass "GET /readyz -> 200"; else fail "GET /readyz -> $r"; fi

if ! skipped metrics; then
  r="$(http GET /metrics)"
  if [[ "${r%%$'\t'*}" == 200 && "$r" == *'# TYPE '* ]]; then pass "GET /metrics -> 200, Prometheus text"; else fail "GET /metrics -> ${r:0:200}"; fi
fi

# A real scoring request; the expected value is computed here independently (mean of -log softmax).
BODY='{"logits": [[2,1,0.1],[0.5,2.5,0.3]], "labels": [0,1]}'
r="$(http POST /cost "$BODY")"
verdict="$(node -e '
  const [raw, body] = process.argv.slice(1);
  const tab = raw.indexOf("\t");
  const status = Number(raw.slice(0, tab));
  const { logits, labels } = JSON.parse(body);
  const expected = logits.map((z, i) => {
    const m = Math.max(...z);
    return m + Math.log(z.reduce((s, v) => s + Math.exp(v - m), 0)) - z[labels[i]];
  }).reduce((a, b) => a + b, 0) / logits.length;
  let got;
  try { got = JSON.parse(raw.slice(tab + 1)).cost; } catch { got = undefined; }
  const ok = status === 200 && typeof got === "number" && Math.abs(got - expected) <= 1e-12 * Math.max(1, Math.abs(expected));
  console.log((ok ? "ok" : "bad") + " status=" + status + " cost=" + got + " expected=" + expected);
' "$r" "$BODY")"
if [[ "$verdict" == ok* ]]; then pass "POST /cost -> ${verdict#ok }"; else fail "POST /cost -> ${verdict#bad } (response: ${r:0:300})"; fi

# The image's own HEALTHCHECK command must turn the container healthy.
t0="$(now)"
deadline=$((SECONDS + 60))
health=""
while ((SECONDS < deadline)); do
  health="$($DOCKER inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$CONTAINER")"
  [[ "$health" == healthy || "$health" == unhealthy || "$health" == none ]] && break
  sleep 0.5
done
if [[ "$health" == healthy ]]; then
  pass "health status healthy after $(secs "$t0")s (image HEALTHCHECK)"
else
  fail "health status is '$health', not healthy"
  $DOCKER inspect -f '{{json .State.Health}}' "$CONTAINER" >&2 || true
fi

# Not root: the image's user, the uid inside, and the uid the kernel sees for the host process.
cfg_user="$($DOCKER inspect -f '{{.Config.User}}' "$CONTAINER")"
uid_in="$($DOCKER exec "$CONTAINER" id -u 2>/dev/null || echo '?')"
host_pid="$($DOCKER inspect -f '{{.State.Pid}}' "$CONTAINER")"
uid_host="$(awk '/^Uid:/ { print $2 }' "/proc/$host_pid/status" 2>/dev/null || echo '?')"
pid1="$($DOCKER exec "$CONTAINER" sh -c 'tr "\\0" " " </proc/1/cmdline' 2>/dev/null || echo '?')"
if [[ "$cfg_user" == node && "$uid_in" == 1000 && "$uid_host" == 1000 ]]; then
  pass "runs as non-root: USER $cfg_user, uid $uid_in inside, uid $uid_host on the host"
else
  fail "user: USER '$cfg_user', uid inside '$uid_in', host uid '$uid_host' (want node/1000/1000)"
fi
if [[ "$pid1" == "node "* ]]; then pass "PID 1 is '${pid1% }' (node receives SIGTERM directly)"; else fail "PID 1 is '$pid1', not node"; fi
node_env="$($DOCKER exec "$CONTAINER" printenv NODE_ENV 2>/dev/null || true)"
if [[ "$node_env" == production ]]; then pass "NODE_ENV=production"; else fail "NODE_ENV is '$node_env'"; fi

# docker stop: SIGTERM, then SIGKILL after 10 s. A graceful shutdown ends well before that, with 0.
t0="$(now)"
$DOCKER stop -t 10 "$CONTAINER" >/dev/null
T_STOP="$(secs "$t0")"
exit_code="$($DOCKER inspect -f '{{.State.ExitCode}}' "$CONTAINER")"
if awk -v t="$T_STOP" -v lim="$STOP_LIMIT_S" 'BEGIN { exit !(t < lim) }'; then
  pass "docker stop took ${T_STOP}s (limit ${STOP_LIMIT_S}s of the 10s grace)"
else
  fail "docker stop took ${T_STOP}s (limit ${STOP_LIMIT_S}s): SIGTERM not handled?"
fi
if [[ "$exit_code" == 0 ]]; then pass "exit code 0 after SIGTERM"; else fail "exit code $exit_code after SIGTERM (want 0)"; fi

# --- report ----------------------------------------------------------------------------------------

size="$($DOCKER image inspect -f '{{.Size}}' "$IMAGE")"
base_size="$($DOCKER image inspect -f '{{.Size}}' node:24-bookworm-slim)"
mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1e6 }'; }
echo "image: $IMAGE $(mb "$size") (base node:24-bookworm-slim stand-in $(mb "$base_size"), app layers $(mb $((size - base_size))))"
echo "times: dockerd ${T_DOCKERD}s, base image ${T_BASE}s, build ${T_BUILD}s, start-to-answer ${T_UP}s, stop ${T_STOP}s, total $(secs "$T_START")s"
echo "docker-smoke: $PASSED passed, $FAILED failed"
((FAILED == 0))
