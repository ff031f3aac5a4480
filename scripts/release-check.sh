#!/usr/bin/env bash
# Checks the release binaries the container images carry, outside any
# container:
#   1. Dockerfile.api and Dockerfile.worker share their builder stage word for
#      word (so one build serves both images), and its `cargo chef cook` and
#      `cargo build` lines are the expected ones (the workspace release
#      profile: thin LTO, 4 codegen units, stripped, panic = abort);
#   2. `<bin> --version` prints the workspace version, which is also the
#      Dockerfiles' default org.opencontainers.image.version label;
#   3. `<bin> healthcheck` (the images' HEALTHCHECK) exits 1 with a clear message
#      when nothing listens, 1 on a non-200 answer, 0 when GET /health/live
#      answers 200 (a python3 stand-in server on 127.0.0.1); for sqs-worker,
#      HEALTH_PORT wins over PORT;
#   4. the binaries need no shared library beyond what the distroless `cc`
#      runtime image has (glibc, libgcc_s);
# and prints the binaries' sizes.
#
# The binaries: copied out of localhost/ecomexpress/{order-api,sqs-worker}:$IMAGE_TAG
# (`make images`) when both images exist, so nothing is compiled twice; with
# RELEASE_BINARIES=images (what `make test` sets) a missing image is an error.
# Otherwise (RELEASE_BINARIES=cargo, or no podman) they are built here with
# the Dockerfiles' own `cargo build` line (~9 min cold on 2 cores).
# Needs python3 (and podman or cargo); starts nothing but its own python3
# servers, which it stops on exit.
# Usage: scripts/release-check.sh
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

BINS=(order-api sqs-worker)
declare -A DOCKERFILE=([order-api]=Dockerfile.api [sqs-worker]=Dockerfile.worker)

log() { printf 'release-check: %s\n' "$*" >&2; }
die() {
  printf 'release-check: FAIL: %s\n' "$*" >&2
  exit 1
}

command -v cargo >/dev/null || die "cargo not found"
command -v python3 >/dev/null || die "python3 not found"

SERVER_PIDS=()
WORK=$(mktemp -d)
# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
  local pid
  for pid in "${SERVER_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

START=$SECONDS
VERSION=$(workspace_version)

# ---------------------------------------------------------------------------
# 1. the Dockerfiles' shared builder stage, then the binaries
# ---------------------------------------------------------------------------
builder_stage() { sed -n '/^# ---- chef/,/^# ---- runtime/p' "$1"; }
for df in Dockerfile.api Dockerfile.worker; do
  [[ -f $df ]] || die "missing $df"
done
[[ -n $(builder_stage Dockerfile.api) ]] || die "Dockerfile.api has no '# ---- chef' .. '# ---- runtime' builder stage"
diff <(builder_stage Dockerfile.api) <(builder_stage Dockerfile.worker) >&2 ||
  die "Dockerfile.api and Dockerfile.worker build differently (the builder stage must be the same text in both)"
want_build="cargo build --release --locked -p order-api -p sqs-worker"
want_cook="cargo chef cook --release --locked -p order-api -p sqs-worker --recipe-path recipe.json"
got_build=$(sed -n 's/^RUN \(cargo build .*\)$/\1/p' Dockerfile.api)
got_cook=$(sed -n 's/^RUN \(cargo chef cook .*\)$/\1/p' Dockerfile.api)
[[ $got_build == "$want_build" ]] ||
  die "the images build with '${got_build:-<no RUN cargo build line>}', expected '$want_build'"
[[ $got_cook == "$want_cook" ]] ||
  die "the images cook with '${got_cook:-<no RUN cargo chef cook line>}', expected '$want_cook'"
for bin in "${BINS[@]}"; do
  df=${DOCKERFILE[$bin]}
  got_version=$(sed -n 's/^ARG VERSION=\(.*\)$/\1/p' "$df")
  [[ $got_version == "$VERSION" ]] ||
    die "$df labels the image version '${got_version}', the workspace is at $VERSION (update ARG VERSION)"
  # The builder stage copies both binaries to /app/bin/ from target/release
  # (native build) or target/<triple>/release (cross build).
  grep -q "^COPY --from=builder /app/bin/$bin /usr/local/bin/$bin\$" "$df" ||
    die "$df does not copy /app/bin/$bin into the runtime stage"
done
log "Dockerfile.api and Dockerfile.worker share one builder stage with the expected commands (version $VERSION)"

TAG=${IMAGE_TAG:-dev}
MODE=${RELEASE_BINARIES:-}
if [[ -z $MODE ]]; then
  MODE=cargo
  if command -v podman >/dev/null; then
    podman image exists "localhost/ecomexpress/order-api:$TAG" &&
      podman image exists "localhost/ecomexpress/sqs-worker:$TAG" && MODE=images
  fi
fi
BIN_DIR=$WORK/bin
mkdir -p "$BIN_DIR"
case $MODE in
  images)
    for bin in "${BINS[@]}"; do
      image=localhost/ecomexpress/$bin:$TAG
      podman image exists "$image" 2>/dev/null || die "$image not built (make images)"
      ctr=$(podman create --pull=never "$image")
      podman cp "$ctr:/usr/local/bin/$bin" "$BIN_DIR/$bin" || {
        podman rm -f "$ctr" >/dev/null 2>&1
        die "could not copy /usr/local/bin/$bin out of $image"
      }
      podman rm -f "$ctr" >/dev/null 2>&1
      log "$bin copied out of $image ($(podman image inspect --format '{{index .Labels "org.opencontainers.image.revision"}}' "$image"))"
    done
    ;;
  cargo)
    log "$ $want_build"
    s=$SECONDS
    read -ra build_cmd <<<"$want_build"
    "${build_cmd[@]}"
    log "built in $((SECONDS - s)) s"
    target_dir=$(cargo metadata --format-version 1 --no-deps --locked |
      python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
    for bin in "${BINS[@]}"; do cp "$target_dir/release/$bin" "$BIN_DIR/"; done
    ;;
  *) die "RELEASE_BINARIES=$MODE: expected images or cargo" ;;
esac

# ---------------------------------------------------------------------------
# 2. --version
# ---------------------------------------------------------------------------
for bin in "${BINS[@]}"; do
  exe="$BIN_DIR/$bin"
  [[ -x $exe ]] || die "$exe was not built"
  out=$("$exe" --version)
  [[ $out == "$bin $VERSION" ]] || die "$bin --version printed '$out', expected '$bin $VERSION'"
  log "$bin --version: $out"
done

# ---------------------------------------------------------------------------
# 3. healthcheck
# ---------------------------------------------------------------------------
# start_server STATUS: answers STATUS to GET /health/live (404 elsewhere) on a
# free 127.0.0.1 port; sets SERVER_PORT.
start_server() {
  local status=$1 portfile="$WORK/port-$1"
  python3 - "$status" "$portfile" <<'EOF' &
import http.server, os, sys

status, portfile = int(sys.argv[1]), sys.argv[2]

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        code = status if self.path == "/health/live" else 404
        body = b'{"status":"stand-in"}'
        try:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the probe reads the status line and hangs up: expected

    def log_message(self, *args):
        pass

class Server(http.server.HTTPServer):
    def handle_error(self, request, client_address):
        pass

server = Server(("127.0.0.1", 0), Handler)
tmp = portfile + ".tmp"
with open(tmp, "w") as fh:
    fh.write(str(server.server_address[1]))
os.replace(tmp, portfile)
server.serve_forever()
EOF
  SERVER_PIDS+=("$!")
  for _ in {1..100}; do
    [[ -s $portfile ]] && break
    kill -0 "$!" 2>/dev/null || die "the stand-in HTTP server ($status) exited"
    sleep 0.1
  done
  [[ -s $portfile ]] || die "the stand-in HTTP server ($status) did not start within 10 s"
  SERVER_PORT=$(<"$portfile")
}

# expect_health WANT_RC WANT_MESSAGE LABEL ENV... -- BIN: runs `BIN healthcheck`
# with ENV (and PORT/HEALTH_PORT removed from the inherited environment).
expect_health() {
  local want_rc=$1 want_msg=$2 label=$3 rc=0 err
  shift 3
  local envs=()
  while [[ $1 != -- ]]; do
    envs+=("$1")
    shift
  done
  local bin=$2
  err=$(env -u PORT -u HEALTH_PORT "${envs[@]}" "$BIN_DIR/$bin" healthcheck 2>&1) || rc=$?
  if ((rc != want_rc)); then
    die "$bin healthcheck ($label) exited $rc, expected $want_rc; output: ${err:-<none>}"
  fi
  if [[ -n $want_msg && $err != *"$want_msg"* ]]; then
    die "$bin healthcheck ($label): expected a message containing '$want_msg', got: ${err:-<none>}"
  fi
  log "$bin healthcheck, $label: exit $rc${err:+ ($err)}"
}

CLOSED=$(free_port)
start_server 200
OK_PORT=$SERVER_PORT
start_server 503
BAD_PORT=$SERVER_PORT

for bin in "${BINS[@]}"; do
  var=PORT
  [[ $bin == sqs-worker ]] && var=HEALTH_PORT
  expect_health 1 "$bin healthcheck failed: connect 127.0.0.1:$CLOSED" "$var=$CLOSED, nothing listening" \
    "$var=$CLOSED" -- "$bin"
  expect_health 1 "unexpected answer: HTTP/1.0 503" "$var=$BAD_PORT answers 503" \
    "$var=$BAD_PORT" -- "$bin"
  expect_health 0 "" "$var=$OK_PORT answers 200" \
    "$var=$OK_PORT" -- "$bin"
done
# sqs-worker: HEALTH_PORT wins over PORT, PORT is the fallback.
expect_health 1 "connect 127.0.0.1:$CLOSED" "HEALTH_PORT=$CLOSED wins over PORT=$OK_PORT" \
  "HEALTH_PORT=$CLOSED" "PORT=$OK_PORT" -- sqs-worker
expect_health 0 "" "no HEALTH_PORT, PORT=$OK_PORT" \
  "PORT=$OK_PORT" -- sqs-worker

# ---------------------------------------------------------------------------
# 4. shared libraries vs the distroless cc runtime (glibc + libgcc_s only)
# ---------------------------------------------------------------------------
if command -v ldd >/dev/null; then
  for bin in "${BINS[@]}"; do
    libs=$(ldd "$BIN_DIR/$bin" | awk '{print $1}' | sed 's|.*/||' | sort -u | tr '\n' ' ')
    for lib in $libs; do
      case $lib in
        linux-vdso.so.* | ld-linux*.so.* | libc.so.* | libm.so.* | libgcc_s.so.* | libpthread.so.* | libdl.so.* | librt.so.*) ;;
        *) die "$bin links $lib, which gcr.io/distroless/cc-debian12 does not ship" ;;
      esac
    done
    log "$bin shared libraries: $libs(all in distroless cc)"
  done
else
  log "ldd not found: shared-library check skipped"
fi

# ---------------------------------------------------------------------------
# sizes and times
# ---------------------------------------------------------------------------
echo
printf '%-11s %12s %9s\n' binary bytes MiB
for bin in "${BINS[@]}"; do
  bytes=$(stat -c %s "$BIN_DIR/$bin")
  printf '%-11s %12d %9.1f\n' "$bin" "$bytes" "$(python3 -c "print($bytes / 1048576)")"
done
echo
log "all release checks passed in $((SECONDS - START)) s"
