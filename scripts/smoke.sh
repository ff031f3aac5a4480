#!/usr/bin/env bash
# Smoke test of a deployed order pipeline through its front door (the ALB in
# production, the API container in scripts/images-check.sh): POST one order
# with an Idempotency-Key, then poll GET /api/pedidos/{id} until procesamiento
# has recorded it (estado PROCESADO), then cancel it. The cancel does not
# guarantee the test order is never shipped: logistica may already have
# scheduled its envio (PROGRAMADO) by then; the order ends CANCELADO, and its
# clienteId (SMOKE_CLIENTE_ID) and SKU-SMOKE-1 mark it as the smoke test's for
# whoever handles shipments. Every request has a timeout, the whole run a
# deadline; any failure exits non-zero with what was seen last. A BASE_URL that
# cannot be reached fails (it never counts as a pass).
#
# The POST is retried with the same body and Idempotency-Key on a connection
# failure, a timeout, 429, a 5xx, or a 409 whose problem type is
# /problems/idempotency-key-in-progress (the first attempt, cut off by our
# timeout, is still running on the API: crates/order-api/src/error.rs); the
# API's retry contract records the order once. Any other 409 fails.
#
# Usage: scripts/smoke.sh BASE_URL        (e.g. https://pedidos.internal.example.com)
# Environment:
#   SMOKE_DEADLINE_SECS         overall deadline (default 180)
#   SMOKE_REQUEST_TIMEOUT_SECS  per request, curl --max-time (default 10)
#   SMOKE_CONNECT_TIMEOUT_SECS  per request, curl --connect-timeout (default 5)
#   SMOKE_CA_BUNDLE             CA file for an internal certificate (curl --cacert)
#   SMOKE_CLIENTE_ID            clienteId of the test order (default: a fixed
#                               UUID the shop can recognise as the smoke test)
set -euo pipefail

log() { printf 'smoke: %s\n' "$*" >&2; }
die() {
  printf 'smoke: FAIL: %s\n' "$*" >&2
  exit 1
}

[[ $# -eq 1 && -n $1 ]] || {
  echo "usage: $0 BASE_URL" >&2
  exit 2
}
BASE_URL=${1%/}
[[ $BASE_URL =~ ^https?://[^/]+$ ]] || die "BASE_URL must be http(s)://host[:port] with no path, got '$1'"
for tool in curl python3; do
  command -v "$tool" >/dev/null || die "$tool not found"
done

DEADLINE_SECS=${SMOKE_DEADLINE_SECS:-180}
REQUEST_TIMEOUT=${SMOKE_REQUEST_TIMEOUT_SECS:-10}
CONNECT_TIMEOUT=${SMOKE_CONNECT_TIMEOUT_SECS:-5}
CLIENTE_ID=${SMOKE_CLIENTE_ID:-00000000-0000-4000-8000-00000000501e}
for v in DEADLINE_SECS REQUEST_TIMEOUT CONNECT_TIMEOUT; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive whole number of seconds, got '${!v}'"
done
END=$((SECONDS + DEADLINE_SECS))

CURL=(curl -sS --max-time "$REQUEST_TIMEOUT" --connect-timeout "$CONNECT_TIMEOUT" -H 'Accept: application/json')
[[ -z ${SMOKE_CA_BUNDLE:-} ]] || CURL+=(--cacert "$SMOKE_CA_BUNDLE")

# request METHOD PATH [BODY]: sets CODE (000 when nothing answered) and BODY
# (the response, or curl's error).
CODE="" BODY=""
request() {
  local method=$1 path=$2 data=${3:-} out err rc=0
  local args=(-X "$method" -w '\n%{http_code}' "$BASE_URL$path")
  [[ -z $data ]] || args+=(-H 'Content-Type: application/json' -H "Idempotency-Key: \"$IDEMPOTENCY_KEY\"" --data-binary "$data")
  err=$(mktemp)
  out=$("${CURL[@]}" "${args[@]}" 2>"$err") || rc=$?
  if ((rc != 0)); then
    CODE=000
    BODY="curl exit $rc: $(tr '\n' ' ' <"$err")"
  else
    CODE=${out##*$'\n'}
    BODY=${out%$'\n'*}
  fi
  rm -f "$err"
}

remaining() { echo $((END - SECONDS)); }

json_field() { python3 -c 'import json, sys
try:
    v = json.loads(sys.argv[1])
    for k in sys.argv[2:]:
        v = (v or {}).get(k)
    print("" if v is None else v)
except ValueError:
    print("")' "$@"; }

IDEMPOTENCY_KEY=smoke-$(python3 -c 'import uuid; print(uuid.uuid4())')
ORDER=$(CLIENTE_ID=$CLIENTE_ID python3 -c 'import json, os; print(json.dumps({
  "clienteId": os.environ["CLIENTE_ID"], "moneda": "CLP",
  "items": [{"sku": "SKU-SMOKE-1", "cantidad": 1, "precioUnitario": "1000"}],
  "total": "1000",
  "direccionEnvio": {"calle": "Smoke test 1", "ciudad": "Santiago", "region": "RM",
                     "codigoPostal": "7500000", "pais": "CL"}}))')

# 1. POST the order (retried on the answers the API's contract says to retry).
log "POST $BASE_URL/api/pedidos (Idempotency-Key $IDEMPOTENCY_KEY, deadline ${DEADLINE_SECS}s)"
attempt=0
while :; do
  attempt=$((attempt + 1))
  request POST /api/pedidos "$ORDER"
  case $CODE in
  2??) break ;;
  409)
    [[ $(json_field "$BODY" type) == */problems/idempotency-key-in-progress ]] ||
      die "POST /api/pedidos answered HTTP 409: ${BODY:0:500}"
    (($(remaining) > 2)) || die "POST /api/pedidos: still in progress (HTTP 409) after ${DEADLINE_SECS}s ($attempt attempts): ${BODY:0:500}"
    log "POST attempt $attempt: HTTP 409, the earlier attempt is still in progress; retrying with the same Idempotency-Key"
    sleep 2
    ;;
  000 | 429 | 5??)
    (($(remaining) > 2)) || die "POST /api/pedidos: no 2xx within ${DEADLINE_SECS}s ($attempt attempts); last: HTTP $CODE $BODY$([[ $CODE == 000 ]] && echo " (is $BASE_URL reachable from this runner? an internal ALB only answers inside its VPC)")"
    log "POST attempt $attempt: HTTP $CODE ${BODY:0:200}; retrying with the same Idempotency-Key"
    sleep 2
    ;;
  *) die "POST /api/pedidos answered HTTP $CODE: ${BODY:0:500}" ;;
  esac
done
PEDIDO=$(json_field "$BODY" pedidoId)
[[ -n $PEDIDO ]] || die "POST /api/pedidos answered $CODE without a pedidoId: ${BODY:0:500}"
log "order $PEDIDO accepted (HTTP $CODE, estado $(json_field "$BODY" estado))"

# 2. Poll until procesamiento has recorded it.
estado="" last=""
while :; do
  request GET "/api/pedidos/$PEDIDO"
  last="HTTP $CODE ${BODY:0:500}"
  if [[ $CODE == 200 ]]; then
    estado=$(json_field "$BODY" estado)
    [[ $estado != PROCESADO ]] || break
    [[ $estado != CANCELADO ]] || die "order $PEDIDO is CANCELADO, expected PROCESADO: $last"
  fi
  (($(remaining) > 1)) || die "order $PEDIDO not PROCESADO within ${DEADLINE_SECS}s; last GET: $last"
  sleep 1
done
log "order $PEDIDO is PROCESADO after $((DEADLINE_SECS - $(remaining)))s (envio: $(json_field "$BODY" envio estado))"

# 3. Cancel the test order (it may already be PROGRAMADO by logistica: the
#    cancel marks it CANCELADO, it does not undo a scheduled envio).
IDEMPOTENCY_KEY=$IDEMPOTENCY_KEY-cancel
request POST "/api/pedidos/$PEDIDO/cancelacion" '{"motivo":"smoke test"}'
[[ $CODE == 2?? ]] || die "POST /api/pedidos/$PEDIDO/cancelacion answered HTTP $CODE: ${BODY:0:500} (cancel the test order by hand)"
log "order $PEDIDO cancelled (HTTP $CODE)"
log "passed: $BASE_URL took an order and processed it"
