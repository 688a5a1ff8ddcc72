#!/usr/bin/env bash
# Run the test suite again on the Docker image's Node (24), whatever Node runs the rest of CI.
#
#   scripts/test-image-node.sh [vitest args...]
#
# The Node binary is the npm registry's node-linux-<arch> package (what the `node` package installs
# underneath, and what scripts/docker/base-image.sh puts in the stand-in for node:24-bookworm-slim),
# at the version base-image.sh pins, so this runs the very binary the image runs. Its tarball is
# fetched once with `npm pack` into the cache base-image.sh also uses, and unpacked once beside it:
# a warm run starts at once. The compiled dist/ (what the worker threads load) is rebuilt by this Node
# before the tests, and that Node is first on PATH and is process.execPath, so every process the
# suite spawns runs on it too.
#
# Environment:
#   XENT_IMAGE_NODE_VERSION  the node-linux-<arch> version (default: base-image.sh's pin; must be 24.x);
#                            not NODE_VERSION, which Node's own images set to the Node they run
#   XENT_CACHE_DIR           cache directory (default /var/cache/xent-docker, as base-image.sh)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
XENT_CACHE_DIR="${XENT_CACHE_DIR:-/var/cache/xent-docker}"
MAJOR=24

log() { echo "[test-image-node] $*" >&2; }

NODE_VERSION="${XENT_IMAGE_NODE_VERSION:-$(sed -n 's/^NODE_VERSION="\${NODE_VERSION:-\([0-9.]*\)}"$/\1/p' "$ROOT/scripts/docker/base-image.sh")}"
if [[ "$NODE_VERSION" != "$MAJOR".* ]]; then
  log "the version must be $MAJOR.x, the image's major (got '${NODE_VERSION}')"
  exit 1
fi
case "$(uname -m)" in
  x86_64) ARCH=x64 ;;
  aarch64) ARCH=arm64 ;;
  *) log "no node-linux package for $(uname -m)"; exit 1 ;;
esac
PKG="node-linux-$ARCH"
DIR="$XENT_CACHE_DIR/$PKG-$NODE_VERSION"
NODE="$DIR/bin/node"

if [[ ! -x "$NODE" ]] || [[ "$("$NODE" --version 2>/dev/null)" != "v$NODE_VERSION" ]]; then
  packs="$XENT_CACHE_DIR/npm-pack"
  tgz="$packs/$PKG-$NODE_VERSION.tgz"
  mkdir -p "$packs"
  if [[ ! -s "$tgz" ]]; then
    log "npm pack $PKG@$NODE_VERSION"
    (cd "$packs" && npm pack --silent "$PKG@$NODE_VERSION" >/dev/null)
  fi
  # Unpack beside the final place, then move it in: an interrupted run leaves no half tree behind.
  tmp="$(mktemp -d "$XENT_CACHE_DIR/.unpack.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  tar -xzf "$tgz" -C "$tmp" || { rm -f "$tgz"; log "$tgz is damaged: removed, run again"; exit 1; }
  [[ -x "$tmp/package/bin/node" ]] || { log "$tgz has no bin/node"; exit 1; }
  rm -rf "$DIR"
  mv "$tmp/package" "$DIR"
  rm -rf "$tmp"
  trap - EXIT
fi
got="$("$NODE" --version)"
[[ "$got" == "v$NODE_VERSION" ]] || { log "$NODE says $got, expected v$NODE_VERSION"; exit 1; }

cd "$ROOT"
export PATH="$DIR/bin:$PATH"
log "node $got: build, then the suite"
node node_modules/typescript/bin/tsc -p tsconfig.build.json
exec node node_modules/vitest/vitest.mjs run "$@"
