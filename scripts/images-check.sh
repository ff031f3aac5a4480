#!/usr/bin/env bash
# The images of `make images`, run as production runs them, against the local
# stack, every container on the host network:
#   1. each image was built from the sources as they are (its
#      org.opencontainers.image.revision label), is at most 60 MB
#      (IMAGE_MAX_BYTES), keeps its HEALTHCHECK (docker format), and names a
#      numeric, non-root USER; it has no shell and no package manager;
#   2. order-api and both workers (procesamiento, logistica: one image, the
#      role from WORKER_ROLE) start, hardened as ECS runs them (read-only root
#      filesystem, no capabilities, no-new-privileges) and with the binary as
#      PID 1 as Elastic Beanstalk runs them, and answer GET /health/ready 200;
#      each process runs as uid 65532 (read from /proc, outside the container);
#   3. `podman healthcheck run` passes in each; the same probe inside a
#      container fails when pointed at a port where nothing listens;
#   4. an order POSTed to the API container is recorded by both worker
#      containers (estado PROCESADO and envio PROGRAMADO), and each worker
#      container's log has the order's `event applied` line; then
#      scripts/smoke.sh (the deployment workflow's smoke test) passes against
#      the API container;
#   5. `podman stop --time 30` (ECS's stopTimeout) exits 0 within 30 s for each
#      container, and the container exits 0: SIGTERM reached the binary as PID
#      1 and it shut down cleanly, with no SIGKILL.
#
# Needs the local stack and its environment (.local/stack.env loaded:
# scripts/test.sh does that). The workers consume the stack's own queues, so
# nothing else may consume them meanwhile. Containers are named
# ecx-check-<pid>-*, logs kept in .local/log/container-*.log, all removed at exit.
#
# Environment: IMAGE_TAG (dev), IMAGE_MAX_BYTES (60000000).
# Usage: scripts/images-check.sh
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

log() { printf 'images-check: %s\n' "$*" >&2; }
die() {
  printf 'images-check: FAIL: %s\n' "$*" >&2
  exit 1
}

TAG=${IMAGE_TAG:-dev}
MAX_BYTES=${IMAGE_MAX_BYTES:-60000000}
API_IMAGE=localhost/ecomexpress/order-api:$TAG
WORKER_IMAGE=localhost/ecomexpress/sqs-worker:$TAG
LOG_DIR=$ROOT/.local/log
PREFIX=ecx-check-$$
mkdir -p "$LOG_DIR"

for var in SNS_TOPIC_ARN ORDERS_TABLE PROCESAMIENTO_QUEUE_URL PROCESAMIENTO_DLQ_URL \
  PROCESAMIENTO_EXPRESS_QUEUE_URL PROCESAMIENTO_EXPRESS_DLQ_URL LOGISTICA_QUEUE_URL LOGISTICA_DLQ_URL \
  LOGISTICA_EXPRESS_QUEUE_URL LOGISTICA_EXPRESS_DLQ_URL AWS_ENDPOINT_URL_SQS; do
  [[ -n ${!var:-} ]] || die "$var unset: run make stack-up and load .local/stack.env"
done
command -v podman >/dev/null || die "podman not found (make images installs it)"

CONTAINERS=()
# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
  local c
  for c in "${CONTAINERS[@]}"; do
    podman logs "$c" >"$LOG_DIR/container-${c#"$PREFIX"-}.log" 2>&1 || true
    podman rm --force --time 0 "$c" >/dev/null 2>&1 || true
  done
}
trap cleanup EXIT

# ---------------------------------------------------------------------------
# 1. the images themselves
# ---------------------------------------------------------------------------
REVISION=$(source_revision)
for image in "$API_IMAGE" "$WORKER_IMAGE"; do
  podman image exists "$image" || die "$image not built (make images)"
  built_from=$(podman image inspect --format '{{index .Labels "org.opencontainers.image.revision"}}' "$image")
  [[ $built_from == "$REVISION" ]] ||
    die "$image was built from revision '$built_from', the sources are at $REVISION: make images"
  size=$(podman image inspect --format '{{.Size}}' "$image")
  ((size <= MAX_BYTES)) || die "$image is $size bytes, over $MAX_BYTES"
  user=$(podman image inspect --format '{{.Config.User}}' "$image")
  [[ $user =~ ^[0-9]+(:[0-9]+)?$ ]] || die "$image runs as '$user': not a numeric uid[:gid]"
  ((${user%%:*} != 0)) || die "$image runs as root ($user)"
  health=$(podman image inspect --format '{{json .HealthCheck}}' "$image")
  [[ $health == *'"Test":["CMD",'* ]] || die "$image has no HEALTHCHECK ($health): built without --format docker?"
  # Distroless: no shell to exec into, no package manager (the image's files, read from outside).
  root=$(podman image mount "$image")
  found=()
  for prog in bin/sh bin/bash bin/dash usr/bin/sh usr/bin/bash usr/bin/apt-get usr/bin/dpkg; do
    [[ -e $root/$prog || -L $root/$prog ]] && found+=("/$prog")
  done
  podman image unmount "$image" >/dev/null
  ((${#found[@]} == 0)) || die "$image has ${found[*]}"
  log "$image: $(awk -v b="$size" 'BEGIN {printf "%.1f MB", b / 1e6}') (limit $((MAX_BYTES / 1000000)) MB), USER $user, HEALTHCHECK $(podman image inspect --format '{{json .HealthCheck.Test}}' "$image")"
done

# ---------------------------------------------------------------------------
# 2. three containers on the host network, against the local stack
# ---------------------------------------------------------------------------
# The stack's credentials, region and endpoints, passed by name (values from here).
AWS_ENV=()
for var in AWS_REGION AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_EC2_METADATA_DISABLED \
  AWS_ENDPOINT_URL_SNS AWS_ENDPOINT_URL_SQS AWS_ENDPOINT_URL_STS AWS_ENDPOINT_URL_DYNAMODB; do
  [[ -n ${!var:-} ]] && AWS_ENV+=(-e "$var")
done

# podman's own complaints (no systemd here to schedule the periodic
# healthcheck timers) go to a log, shown when a podman command fails.
PODMAN_LOG=$LOG_DIR/images-check-podman.log
: >"$PODMAN_LOG"
quiet_podman() {
  podman "$@" 2>>"$PODMAN_LOG" || {
    local rc=$?
    tail -n 20 "$PODMAN_LOG" >&2
    return "$rc"
  }
}

# run NAME IMAGE ARGS...: a detached container, named $PREFIX-NAME, hardened
# as the ECS task definitions run it (infra/modules/ecs-service): read-only
# root filesystem with no tmpfs anywhere, every capability dropped, no
# privilege escalation; the image's own user, entrypoint and HEALTHCHECK; and,
# as on Elastic Beanstalk's Docker platform, no init: the binary is PID 1.
run() {
  local name=$PREFIX-$1 image=$2
  shift 2
  quiet_podman run --detach --name "$name" --network host --pull=never "${PODMAN_FLAGS[@]}" \
    --read-only --read-only-tmpfs=false --cap-drop=all --security-opt=no-new-privileges \
    "${AWS_ENV[@]}" -e ORDERS_TABLE "$@" "$image" >/dev/null
  CONTAINERS+=("$name")
}

API_PORT=$(free_port)
PROC_PORT=$(free_port)
LOGI_PORT=$(free_port)
run api "$API_IMAGE" -e HOST=127.0.0.1 -e PORT="$API_PORT" -e SNS_TOPIC_ARN
run procesamiento "$WORKER_IMAGE" -e WORKER_ROLE=procesamiento -e HEALTH_PORT="$PROC_PORT" \
  -e SQS_QUEUE_URL="$PROCESAMIENTO_QUEUE_URL" -e SQS_DLQ_URL="$PROCESAMIENTO_DLQ_URL" \
  -e SQS_EXPRESS_QUEUE_URL="$PROCESAMIENTO_EXPRESS_QUEUE_URL" -e SQS_EXPRESS_DLQ_URL="$PROCESAMIENTO_EXPRESS_DLQ_URL"
run logistica "$WORKER_IMAGE" -e WORKER_ROLE=logistica -e HEALTH_PORT="$LOGI_PORT" \
  -e SQS_QUEUE_URL="$LOGISTICA_QUEUE_URL" -e SQS_DLQ_URL="$LOGISTICA_DLQ_URL" \
  -e SQS_EXPRESS_QUEUE_URL="$LOGISTICA_EXPRESS_QUEUE_URL" -e SQS_EXPRESS_DLQ_URL="$LOGISTICA_EXPRESS_DLQ_URL"
declare -A PORT_OF=([api]=$API_PORT [procesamiento]=$PROC_PORT [logistica]=$LOGI_PORT)
NAMES=(api procesamiento logistica)

# wait_ready NAME: GET /health/ready answers 200 within 60 s, the container still running.
wait_ready() {
  local name=$1 c=$PREFIX-$1 port=${PORT_OF[$1]} t0
  t0=$(date +%s%N)
  for _ in {1..120}; do
    [[ $(podman inspect --format '{{.State.Running}}' "$c") == true ]] || {
      podman logs "$c" 2>&1 | tail -n 20 >&2
      die "$name exited during start-up (exit $(podman inspect --format '{{.State.ExitCode}}' "$c"))"
    }
    curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$port/health/ready" 2>/dev/null && {
      log "$name ready on 127.0.0.1:$port (waited $((($(date +%s%N) - t0) / 1000000)) ms)"
      return 0
    }
    sleep 0.5
  done
  podman logs "$c" 2>&1 | tail -n 20 >&2
  die "$name: /health/ready did not answer 200 within 60 s"
}
for name in "${NAMES[@]}"; do
  wait_ready "$name"
  pid=$(podman inspect --format '{{.State.Pid}}' "$PREFIX-$name")
  uid=$(awk '/^Uid:/ {print $2 ":" $3 ":" $4 ":" $5}' "/proc/$pid/status")
  [[ $uid == 65532:65532:65532:65532 ]] || die "$name's process runs with uids $uid (real:effective:saved:fs), expected 65532"
  log "$name: PID 1 in its container is $(tr '\0' ' ' <"/proc/$pid/cmdline")(uid 65532)"
done

# ---------------------------------------------------------------------------
# 3. the images' HEALTHCHECK
# ---------------------------------------------------------------------------
for name in "${NAMES[@]}"; do
  out=$(podman healthcheck run "$PREFIX-$name" 2>&1) || die "podman healthcheck run $name failed: ${out:-<no output>}"
  log "podman healthcheck run $name: passed${out:+ ($out)}"
done
# The probe can fail: the worker's own binary, inside its container, pointed at a closed port.
closed=$(free_port)
if out=$(podman exec -e HEALTH_PORT="$closed" "$PREFIX-procesamiento" /usr/local/bin/sqs-worker healthcheck 2>&1); then
  die "the worker's healthcheck passed against closed port $closed"
fi
log "the same probe at closed port $closed fails: $out"

# ---------------------------------------------------------------------------
# 4. an order through the containers
# ---------------------------------------------------------------------------
body=$(python3 -c 'import json, uuid; print(json.dumps({
  "clienteId": str(uuid.uuid4()), "moneda": "CLP",
  "items": [{"sku": "SKU-IMG-1", "cantidad": 2, "precioUnitario": "10000.50"}],
  "total": "20001.00",
  "direccionEnvio": {"calle": "Av. Providencia 1234", "ciudad": "Santiago", "region": "RM",
                     "codigoPostal": "7500000", "pais": "CL"}}))')
answer=$(curl -sS --max-time 10 -w '\n%{http_code}' -X POST "http://127.0.0.1:$API_PORT/api/pedidos" \
  -H 'Content-Type: application/json' -d "$body")
code=${answer##*$'\n'}
[[ $code == 202 ]] || die "POST /api/pedidos answered $code: ${answer%$'\n'*}"
pedido=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["pedidoId"])' "${answer%$'\n'*}")
log "order $pedido accepted (202) by the API container"

state=""
for _ in {1..120}; do
  state=$(curl -fsS --max-time 5 "http://127.0.0.1:$API_PORT/api/pedidos/$pedido" || true)
  if python3 -c '
import json, sys
s = json.loads(sys.argv[1])
sys.exit(0 if s.get("estado") == "PROCESADO" and (s.get("envio") or {}).get("estado") == "PROGRAMADO" else 1)
' "$state" 2>/dev/null; then
    break
  fi
  state=""
  sleep 0.5
done
[[ -n $state ]] || die "order $pedido not recorded by both workers within 60 s (last state: $(curl -sS "http://127.0.0.1:$API_PORT/api/pedidos/$pedido"))"
log "order $pedido recorded by both workers: $state"
for name in procesamiento logistica; do
  podman logs "$PREFIX-$name" 2>&1 | grep "\"pedido_id\":\"$pedido\"" | grep -q '"outcome":"applied"' ||
    die "$name's container log has no applied line for $pedido"
done
log "both worker containers logged the order as applied"
# The deployment workflow's smoke test (.github/workflows/deploy.yml runs it
# through the ALB), here against the API container: the same script, tested.
bash "$ROOT/scripts/smoke.sh" "http://127.0.0.1:$API_PORT" || die "scripts/smoke.sh against the API container failed"

# ---------------------------------------------------------------------------
# 5. podman stop: SIGTERM to PID 1, clean exit well before ECS's 30 s
# ---------------------------------------------------------------------------
for name in "${NAMES[@]}"; do
  c=$PREFIX-$name
  t0=$(date +%s%N)
  quiet_podman stop --time 30 "$c" >/dev/null || die "podman stop $name exited non-zero"
  ms=$((($(date +%s%N) - t0) / 1000000))
  rc=$(podman inspect --format '{{.State.ExitCode}}' "$c")
  ((ms < 30000)) || die "podman stop $name took ${ms} ms (30 s or more)"
  [[ $rc == 0 ]] || die "$name exited $rc after SIGTERM (137 = killed after the 30 s)"
  log "podman stop $name: ${ms} ms, container exit code 0"
done

log "all container checks passed"
