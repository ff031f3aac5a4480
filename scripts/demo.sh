#!/usr/bin/env bash
# `make demo`: against a running `make run` (API_URL, default
# http://127.0.0.1:8080), POSTs 3 sample orders and follows each one with
# GET /api/pedidos/{pedidoId} every second for up to DEMO_TIMEOUT (30) seconds,
# printing estado and envio.estado whenever they change (404 = pending: no
# worker has recorded the order yet).
set -euo pipefail

export API_URL=${API_URL:-http://127.0.0.1:8080}
export DEMO_TIMEOUT=${DEMO_TIMEOUT:-30}

if ! curl -fsS -o /dev/null --max-time 3 "$API_URL/health/ready"; then
  echo "demo: $API_URL/health/ready does not answer 200: start the pipeline with 'make run' first" >&2
  exit 1
fi

exec python3 - <<'PY'
import json
import os
import sys
import time
import urllib.error
import urllib.request

API = os.environ["API_URL"].rstrip("/")
TIMEOUT = float(os.environ["DEMO_TIMEOUT"])

ADDRESS = {
    "calle": "Av. Providencia 1234",
    "ciudad": "Santiago",
    "region": "RM",
    "codigoPostal": "7500000",
    "pais": "CL",
}
ORDERS = [
    {
        "clienteId": "6f1c2a52-4a43-4c49-9d1c-0a0c5b1e8b11",
        "moneda": "CLP",
        "items": [
            {"sku": "SKU-001", "cantidad": 2, "precioUnitario": "10000.50"},
            {"sku": "SKU-002", "cantidad": 1, "precioUnitario": "5000"},
        ],
        "total": "25001.00",
        "direccionEnvio": ADDRESS,
    },
    {
        "clienteId": "0b7d6c1e-2f3a-4b5c-8d9e-1a2b3c4d5e6f",
        "moneda": "CLP",
        "items": [{"sku": "SKU-003", "cantidad": 1, "precioUnitario": "19990"}],
        "total": "19990.00",
        "direccionEnvio": dict(ADDRESS, calle="Av. Apoquindo 4500", codigoPostal="7550000"),
    },
    {
        "clienteId": "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d",
        "moneda": "CLP",
        "items": [
            {"sku": "SKU-004", "cantidad": 3, "precioUnitario": "1500.25"},
            {"sku": "SKU-001", "cantidad": 1, "precioUnitario": "10000.50"},
        ],
        "total": "14501.25",
        "direccionEnvio": dict(ADDRESS, calle="Calle Prat 100", ciudad="Valparaiso", region="VS", codigoPostal="2340000"),
    },
]


def request(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(API + path, data=data, method=method)
    req.add_header("Accept", "application/json")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def state_of(order):
    envio = order.get("envio") or {}
    return (order.get("estado") or "?", envio.get("estado") or "-")


ids = []
for i, body in enumerate(ORDERS, 1):
    status, raw = request("POST", "/api/pedidos", body)
    if status != 202:
        print("demo: POST /api/pedidos #%d -> %d %s" % (i, status, raw.decode(errors="replace")), file=sys.stderr)
        sys.exit(1)
    resp = json.loads(raw)
    ids.append(resp["pedidoId"])
    print("POST #%d -> 202 pedidoId=%s estado=%s eventId=%s" % (i, resp["pedidoId"], resp.get("estado"), resp.get("eventId")))

print("\nfollowing the orders (every 1 s, up to %ds):" % TIMEOUT)
start = time.monotonic()
last = {pid: None for pid in ids}
stable_since = None
while True:
    elapsed = time.monotonic() - start
    changed = False
    for n, pid in enumerate(ids, 1):
        status, raw = request("GET", "/api/pedidos/" + pid)
        if status == 404:
            now = ("pending", "-")
        elif status == 200:
            now = state_of(json.loads(raw))
        else:
            now = ("HTTP %d" % status, "-")
        if now != last[pid]:
            changed = True
            last[pid] = now
            print("  t+%4.1fs  #%d %s  estado=%-22s envio.estado=%s" % (elapsed, n, pid, now[0], now[1]))
    # Done once every order has a shipment state and nothing moved for 3 s.
    if changed:
        stable_since = time.monotonic()
    elif all(s is not None and s[1] != "-" for s in last.values()) and time.monotonic() - stable_since >= 3:
        break
    if elapsed >= TIMEOUT:
        break
    time.sleep(1)

print("\nfinal:")
for n, pid in enumerate(ids, 1):
    estado, envio = last[pid]
    print("  #%d %s  estado=%s envio.estado=%s" % (n, pid, estado, envio))
PY
