#!/usr/bin/env bash
# `make run`: the whole pipeline on this machine.
#   1. the local stack (scripts/stack.sh up), unless it is already up;
#   2. cargo build --release of order-api (and sqs-worker when it exists and
#      takes --role);
#   3. order-api on PORT (default 8080), its outbox relay (`order-api relay`:
#      publishes what the API has not within RELAY_STALE_SECS; health and
#      metrics on RELAY_HEALTH_PORT, 8083) and, when built, two workers:
#      --role procesamiento (HEALTH_PORT 8081) and --role logistica (8082);
#   4. waits for GET /health/ready of each, prints the URLs and a sample curl.
# Ctrl-C stops every process started here (and the stack if started here).
#
# Environment: PORT (8080), HOST (127.0.0.1), READY_TIMEOUT (60 s),
# PROCESAMIENTO_HEALTH_PORT (8081), LOGISTICA_HEALTH_PORT (8082),
# RELAY_HEALTH_PORT (8083), RELAY_STALE_SECS (relay default, 10), RUST_LOG.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

PORT=${PORT:-8080}
HOST=${HOST:-127.0.0.1}
READY_TIMEOUT=${READY_TIMEOUT:-60}
PROCESAMIENTO_HEALTH_PORT=${PROCESAMIENTO_HEALTH_PORT:-8081}
LOGISTICA_HEALTH_PORT=${LOGISTICA_HEALTH_PORT:-8082}
RELAY_HEALTH_PORT=${RELAY_HEALTH_PORT:-8083}

log() { printf 'run: %s\n' "$*" >&2; }
die() {
  printf 'run: error: %s\n' "$*" >&2
  exit 1
}

PIDS=()
NAMES=()
STACK_STARTED_HERE=0

# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
  local rc=$? i pid
  trap - EXIT INT TERM
  echo >&2
  for i in "${!PIDS[@]}"; do
    pid=${PIDS[$i]}
    if kill -0 "$pid" 2>/dev/null; then
      log "stopping ${NAMES[$i]} (pid $pid)"
      kill -TERM "$pid" 2>/dev/null || true
    fi
  done
  for i in "${!PIDS[@]}"; do
    pid=${PIDS[$i]}
    for _ in {1..100}; do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "${NAMES[$i]} ignored TERM for 10 s: KILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  if ((STACK_STARTED_HERE)); then
    log "stopping the local stack started by make run"
    bash scripts/stack.sh down || true
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start NAME CMD... : runs CMD in the background, its output prefixed.
start() {
  local name=$1
  shift
  "$@" > >(sed -u "s/^/[$name] /") 2>&1 &
  PIDS+=("$!")
  NAMES+=("$name")
  log "started $name (pid $!)"
}

# 1. stack
if ! bash scripts/stack.sh status >/dev/null 2>&1; then
  STACK_STARTED_HERE=1
fi
bash scripts/stack.sh up
# shellcheck disable=SC1091 # written by scripts/stack.sh
set -a && . .local/stack.env && set +a

# 2. build
meta=$(cargo metadata --no-deps --format-version 1)
target_dir=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])' <<<"$meta")
has_worker=$(python3 -c '
import json, sys
m = json.load(sys.stdin)
print(any(p["name"] == "sqs-worker" and any("bin" in t["kind"] for t in p["targets"]) for p in m["packages"]))
' <<<"$meta")
packages=(-p order-api)
[[ $has_worker == True ]] && packages+=(-p sqs-worker)
log "cargo build --release ${packages[*]}"
cargo build --release "${packages[@]}"

api_bin="$target_dir/release/order-api"
worker_bin="$target_dir/release/sqs-worker"
[[ -x $api_bin ]] || die "$api_bin was not built"

with_workers=0
if [[ $has_worker == True && -x $worker_bin ]]; then
  # The worker prints its usage (with --role) for any unknown argument.
  worker_usage=$("$worker_bin" --help 2>&1 || true)
  [[ $worker_usage == *--role* ]] && with_workers=1
fi

# 3. processes
ports=("$PORT" "$RELAY_HEALTH_PORT")
((with_workers)) && ports+=("$PROCESAMIENTO_HEALTH_PORT" "$LOGISTICA_HEALTH_PORT")
for p in "${ports[@]}"; do
  port_open "$p" && die "port $p is already in use (another 'make run'?)"
done

start order-api env HOST="$HOST" PORT="$PORT" "$api_bin"
# Same binary and settings (topic, table, endpoints from .local/stack.env);
# PORT is its health and metrics port. RELAY_STALE_SECS passes through.
start relay env HOST="$HOST" PORT="$RELAY_HEALTH_PORT" "$api_bin" relay
if ((with_workers)); then
  # Each worker drains its express queue (issue 23) before its standard one.
  start procesamiento env -u PORT SQS_QUEUE_URL="$PROCESAMIENTO_QUEUE_URL" SQS_DLQ_URL="$PROCESAMIENTO_DLQ_URL" \
    SQS_EXPRESS_QUEUE_URL="$PROCESAMIENTO_EXPRESS_QUEUE_URL" SQS_EXPRESS_DLQ_URL="$PROCESAMIENTO_EXPRESS_DLQ_URL" \
    HEALTH_PORT="$PROCESAMIENTO_HEALTH_PORT" "$worker_bin" --role procesamiento
  start logistica env -u PORT SQS_QUEUE_URL="$LOGISTICA_QUEUE_URL" SQS_DLQ_URL="$LOGISTICA_DLQ_URL" \
    SQS_EXPRESS_QUEUE_URL="$LOGISTICA_EXPRESS_QUEUE_URL" SQS_EXPRESS_DLQ_URL="$LOGISTICA_EXPRESS_DLQ_URL" \
    HEALTH_PORT="$LOGISTICA_HEALTH_PORT" "$worker_bin" --role logistica
else
  log "note: no sqs-worker binary taking --role; running order-api alone (orders stay RECIBIDO)"
fi

# 4. readiness
ready() { [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1") == 200 ]]; }
check_alive() {
  local i
  for i in "${!PIDS[@]}"; do
    kill -0 "${PIDS[$i]}" 2>/dev/null || die "${NAMES[$i]} exited during start-up (see its output above)"
  done
}
urls=("http://127.0.0.1:$PORT/health/ready" "http://127.0.0.1:$RELAY_HEALTH_PORT/health/ready")
((with_workers)) && urls+=("http://127.0.0.1:$PROCESAMIENTO_HEALTH_PORT/health/ready" "http://127.0.0.1:$LOGISTICA_HEALTH_PORT/health/ready")
deadline=$((SECONDS + READY_TIMEOUT))
for url in "${urls[@]}"; do
  until ready "$url"; do
    check_alive
    ((SECONDS < deadline)) || die "no 200 from $url after ${READY_TIMEOUT}s"
    sleep 0.5
  done
done

API_URL="http://127.0.0.1:$PORT"
cat <<EOF

  order-api ready at $API_URL   (OpenAPI/metrics/health under the same host)
  outbox relay: http://127.0.0.1:$RELAY_HEALTH_PORT/health/ready  /metrics (outbox_oldest_pending_age_seconds, outbox_relay_published_total)
$( ((with_workers)) && echo "  workers: procesamiento http://127.0.0.1:$PROCESAMIENTO_HEALTH_PORT  logistica http://127.0.0.1:$LOGISTICA_HEALTH_PORT")

  Try it (in another terminal):

  curl -sS -i -X POST $API_URL/api/pedidos \\
    -H 'Content-Type: application/json' \\
    -d '{"clienteId":"6f1c2a52-4a43-4c49-9d1c-0a0c5b1e8b11","moneda":"CLP","items":[{"sku":"SKU-001","cantidad":2,"precioUnitario":"10000.50"},{"sku":"SKU-002","cantidad":1,"precioUnitario":"5000"}],"total":"25001.00","direccionEnvio":{"calle":"Av. Providencia 1234","ciudad":"Santiago","region":"RM","codigoPostal":"7500000","pais":"CL"}}'

  curl -sS $API_URL/api/pedidos/<pedidoId>
  make demo            # 3 orders, followed until processed

  Ctrl-C stops everything started here.

EOF

# Block until Ctrl-C or until one of the processes dies.
rc=0
wait -n "${PIDS[@]}" || rc=$?
for i in "${!PIDS[@]}"; do
  kill -0 "${PIDS[$i]}" 2>/dev/null || log "${NAMES[$i]} exited (status $rc); stopping the rest"
done
exit 1
