#!/usr/bin/env bash
# `make images`: builds the two container images with podman from Dockerfile.api
# and Dockerfile.worker as they ship:
#
#   localhost/ecomexpress/order-api:dev     (IMAGE_TAG, default dev)
#   localhost/ecomexpress/sqs-worker:dev
#
# No registry is reachable here, so the bases are made locally first
# (scripts/image-bases.sh: Debian 12 + this machine's Rust toolchain for the
# builder, a distroless cc-debian12:nonroot equivalent for the runtime) and
# passed in as the RUST_IMAGE / RUNTIME_IMAGE build arguments; --pull=never, so
# nothing is fetched but crates. --format docker keeps the HEALTHCHECK (the OCI
# image format has no field for it). --platform linux/amd64: the local bases
# are this machine's (x86_64 toolchain, amd64 packages), the platform of the
# ECS tasks and Beanstalk instances by default; the Dockerfiles' Rust stages
# run on $BUILDPLATFORM, here the same, so this is the native path (no cross
# toolchain is installed).
#
# Both Dockerfiles share their builder stage word for word, so the second build
# takes its binary from the first's layer cache; the dependency layer (cargo
# chef cook) stays cached until Cargo.toml/Cargo.lock change, so a code change
# recompiles only the workspace crates. The images are labelled with the
# workspace version, the commit (with -dirty when the work tree has changes)
# and the commit's time.
#
# Installs podman, runc and mmdebstrap from Debian when missing (needs root).
# podman runs here with PODMAN_FLAGS (scripts/lib.sh): runc rather than crun,
# and ulimits within this sandbox's hard limits.
#
# Environment: IMAGE_TAG (dev). Usage: scripts/images.sh
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

log() { printf 'images: %s\n' "$*" >&2; }
die() {
  printf 'images: FAIL: %s\n' "$*" >&2
  exit 1
}

TAG=${IMAGE_TAG:-dev}
LOG_DIR=$ROOT/.local/log
mkdir -p "$LOG_DIR"

ensure_podman
mapfile -t BASES < <(bash scripts/image-bases.sh)
((${#BASES[@]} == 2)) || die "scripts/image-bases.sh did not name two bases"

VERSION=$(workspace_version)
REVISION=$(source_revision)
CREATED=$(git log -1 --format=%cI 2>/dev/null || echo unknown)

# build NAME DOCKERFILE
build() {
  local name=$1 dockerfile=$2 image="localhost/ecomexpress/$1:$TAG" s=$SECONDS
  log "podman build -f $dockerfile -t $image  (log .local/log/image-$name.log)"
  podman build "${PODMAN_FLAGS[@]}" --platform linux/amd64 --format docker --pull=never --layers \
    --build-arg RUST_IMAGE="${BASES[0]}" --build-arg RUNTIME_IMAGE="${BASES[1]}" \
    --build-arg VERSION="$VERSION" --build-arg REVISION="$REVISION" --build-arg CREATED="$CREATED" \
    --label org.opencontainers.image.version="$VERSION" \
    --label org.opencontainers.image.revision="$REVISION" \
    --label org.opencontainers.image.created="$CREATED" \
    -f "$dockerfile" -t "$image" . >"$LOG_DIR/image-$name.log" 2>&1 || {
    tail -n 40 "$LOG_DIR/image-$name.log" >&2
    die "podman build of $image failed (log .local/log/image-$name.log)"
  }
  log "$image built in $((SECONDS - s))s: $(podman image inspect --format '{{.Size}}' "$image" | awk '{printf "%.1f MB", $1 / 1e6}')"
}

START=$SECONDS
build order-api Dockerfile.api
build sqs-worker Dockerfile.worker
log "both images built in $((SECONDS - START))s (version $VERSION, revision $REVISION)"
