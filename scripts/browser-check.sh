#!/usr/bin/env bash
# The API reference at /docs in a real headless browser. Chromium (Debian's
# package, installed when missing) loads http://127.0.0.1:PORT/docs/ from
# order-api; the rendered DOM must show every operation of /openapi.json
# (method and path, as Swagger UI renders them in its `opblock` elements) and
# no error about fetching the document. So it fails when Swagger UI's
# JavaScript does not load or its spec URL is wrong.
#
# Nothing may leave the machine: Chromium's only proxy is a closed loopback
# port (loopback itself is never proxied), and its net log must show every
# request of the page going to the API and every TCP connection going to
# 127.0.0.1. Chromium's own background requests (updates, accounts) die at
# that proxy.
#
# Runs the debug order-api that `cargo test --workspace` built, against the
# local stack (the environment of .local/stack.env must be loaded:
# scripts/test.sh does that). Writes .local/log/api-reference.{html,png}.
#
# Environment: ORDER_API_BIN (default target/debug/order-api), BROWSER_PORT
# (free port), BROWSER_EXTRA_FLAGS (more Chromium flags, e.g.
# --blink-settings=scriptEnabled=false to see the check fail).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
API=${ORDER_API_BIN:-target/debug/order-api}
LOG_DIR=.local/log

log() { printf 'browser-check: %s\n' "$*"; }
fail() {
  printf 'browser-check: %s\n' "$*" >&2
  exit 1
}

[[ -n ${SNS_TOPIC_ARN:-} && -n ${ORDERS_TABLE:-} ]] ||
  fail "SNS_TOPIC_ARN/ORDERS_TABLE unset: run make stack-up and load .local/stack.env"
[[ -x $API ]] || fail "$API not built (cargo build -p order-api)"

if ! command -v chromium >/dev/null 2>&1; then
  ((EUID == 0)) || fail "chromium is not installed and this is not root: apt-get install -y chromium"
  log "installing Debian's chromium"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
# The launcher's /dev/shm probe prints a shell error on some machines: keep stderr out.
log "$(chromium --version 2>/dev/null)"

mkdir -p "$LOG_DIR"
port=${BROWSER_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
origin="http://127.0.0.1:$port"
work=$(mktemp -d)
api_log=$LOG_DIR/browser-check-api.log
HOST=127.0.0.1 PORT=$port RUST_LOG=warn "$API" >"$api_log" 2>&1 &
api_pid=$!
cleanup() {
  kill "$api_pid" 2>/dev/null || true
  wait "$api_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq 1 100); do
  curl -fsS "$origin/health/live" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "$origin/health/live" >/dev/null || {
  tail -20 "$api_log" >&2
  fail "order-api did not start; its log is above"
}
curl -fsS "$origin/openapi.json" >"$work/openapi.json"

# chromium ARGS...: headless, fresh profile, nothing but loopback reachable.
browse() {
  local extra=()
  # shellcheck disable=SC2206 # word splitting of the extra flags wanted
  [[ -z ${BROWSER_EXTRA_FLAGS:-} ]] || extra=($BROWSER_EXTRA_FLAGS)
  timeout 90 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --disable-features=AutofillServerCommunication,MediaRouter,OptimizationHints,Translate \
    --proxy-server=http://127.0.0.1:9 \
    --user-data-dir="$(mktemp -d -p "$work")" --virtual-time-budget=15000 \
    "${extra[@]}" "$@" 2>>"$LOG_DIR/browser-check-chromium.log"
}

: >"$LOG_DIR/browser-check-chromium.log"
browse --log-net-log="$work/netlog.json" --dump-dom "$origin/docs/" >"$LOG_DIR/api-reference.html"
# A picture for people (not checked).
browse --window-size=1280,1600 --screenshot="$ROOT/$LOG_DIR/api-reference.png" "$origin/docs/" >/dev/null || true

python3 - "$work/openapi.json" "$LOG_DIR/api-reference.html" "$work/netlog.json" "$origin" <<'EOF'
import html
import json
import re
import sys

spec_path, dom_path, netlog_path, origin = sys.argv[1:]
spec = json.load(open(spec_path))
dom = open(dom_path, encoding="utf-8").read()
problems = []

# Every operation of the document, and these three at least, rendered as an
# opblock of its method holding its path.
expected = {
    (method.upper(), path)
    for path, item in spec.get("paths", {}).items()
    for method in item
    if method in {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
}
must = {("POST", "/api/pedidos"), ("GET", "/api/pedidos/{pedidoId}"),
        ("POST", "/api/pedidos/{pedidoId}/cancelacion")}
rendered = {
    (method.upper(), html.unescape(path))
    for method, path in re.findall(
        r'<div class="opblock opblock-(\w+)[^"]*"[^>]*>.*?data-path="([^"]*)"', dom, re.S)
}
for method, path in sorted((expected | must) - rendered):
    problems.append(f"operation {method} {path} is not rendered")

for error in ("Failed to load API definition", "Fetch error", "Could not resolve reference",
              "NetworkError", "Failed to fetch"):
    if error in dom:
        problems.append(f"the page shows {error!r}")

# The net log: what the page asked for, and where every TCP connection went.
netlog = json.load(open(netlog_path))
types = {v: k for k, v in netlog["constants"]["logEventTypes"].items()}
page_urls, browser_urls, connects = set(), set(), set()
for event in netlog["events"]:
    params = event.get("params") or {}
    kind = types.get(event["type"], "")
    if kind == "URL_REQUEST_START_JOB":
        url, initiator = params.get("url", ""), params.get("initiator", "")
        if initiator == origin or url.startswith(origin + "/"):
            page_urls.add(url)
        else:
            browser_urls.add(url)
    elif kind in ("TCP_CONNECT_ATTEMPT", "TCP_CONNECT") and "address" in params:
        connects.add(params["address"])
for url in sorted(page_urls):
    if not url.startswith(origin + "/"):
        problems.append(f"the page requested {url}, which is not the API")
for needed in ("/docs/swagger-ui-bundle.js", "/openapi.json"):
    if origin + needed not in page_urls:
        problems.append(f"the page never requested {needed}")
for address in sorted(connects):
    if not re.fullmatch(r"127\.0\.0\.1:\d+", address):
        problems.append(f"a TCP connection to {address} left the machine")

if problems:
    print("browser-check: FAILED", file=sys.stderr)
    for problem in problems:
        print(f"  - {problem}", file=sys.stderr)
    sys.exit(1)
print(f"browser-check: {len(rendered)} operations rendered "
      f"({', '.join(f'{m} {p}' for m, p in sorted(must))} among them); "
      f"{len(page_urls)} page requests, all to {origin}; "
      f"TCP connections only to {', '.join(sorted(connects)) or 'nothing'} "
      f"({len(browser_urls)} Chromium background requests stopped at the dead proxy)")
EOF
