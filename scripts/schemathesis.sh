#!/usr/bin/env bash
# Property-based fuzzing of order-api from its own /openapi.json (schemathesis):
# positive and negative requests for every operation; fails on any 5xx, any
# status/content type/header/body not in the schema, and any schema-invalid
# request that was not rejected.
#
# Runs the debug order-api that `cargo test --workspace` built, against the
# local stack (the environment of .local/stack.env must be loaded: scripts/test.sh
# does that). Installs schemathesis, pinned, into .local/st-venv.
#
# Environment: ST_MAX_EXAMPLES (per operation, default 40), ST_PORT (free port).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
REQS=tools/schemathesis-requirements.txt
VENV=.local/st-venv
STAMP=$VENV/.requirements.sha256
API=${ORDER_API_BIN:-target/debug/order-api}
MAX_EXAMPLES=${ST_MAX_EXAMPLES:-40}

[[ -n ${SNS_TOPIC_ARN:-} && -n ${ORDERS_TABLE:-} ]] ||
  { echo "schemathesis: SNS_TOPIC_ARN/ORDERS_TABLE unset: run make stack-up and load .local/stack.env" >&2; exit 1; }
[[ -x $API ]] || { echo "schemathesis: $API not built (cargo build -p order-api)" >&2; exit 1; }

want=$(sha256sum "$REQS" | cut -d' ' -f1)
if [[ ! -x $VENV/bin/schemathesis || $(cat "$STAMP" 2>/dev/null) != "$want" ]]; then
  echo "schemathesis: installing $REQS into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$REQS"
  echo "$want" >"$STAMP"
fi

port=${ST_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
log=.local/log/schemathesis-api.log
mkdir -p .local/log
HOST=127.0.0.1 PORT=$port RUST_LOG=warn "$API" >"$log" 2>&1 &
api_pid=$!
trap 'kill $api_pid 2>/dev/null || true; wait $api_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$port/health/ready" >/dev/null ||
  { echo "schemathesis: order-api not ready; its log:" >&2; tail -20 "$log" >&2; exit 1; }

# One worker: hypothesis' coverage phase is not thread-safe (it crashed with -w 2).
"$VENV/bin/schemathesis" run "http://127.0.0.1:$port/openapi.json" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,negative_data_rejection,unsupported_method \
  --max-examples "$MAX_EXAMPLES" --workers 1 --generation-deterministic \
  --report junit --report-dir .local/schemathesis --no-color
