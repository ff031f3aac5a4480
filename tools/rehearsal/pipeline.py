"""The pipeline on the rehearsal stack: order-api, its outbox relay
(`order-api relay`) and both workers as processes started exactly as their
registered task definitions say (taskdefs.json: binary, command and
environment; only the overrides of taskdefs.OVERRIDES added, among them the
rehearsal principals' credentials from env/*.env), driven over HTTP and
checked in DynamoDB and the DLQs with the admin credentials. A stand-in for
the collector sidecar per process receives its OTLP exports; where the task
definitions' sampler records every trace, each process must have exported
(`trace_export_problems`), otherwise the log says that check is not made.

Usage: python pipeline.py --bin-dir DIR --log-dir DIR
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import taskdefs
from common import admin, die, endpoint, log, read_json, state_dir

ORDERS = 3
READY_TIMEOUT = 30
EFFECT_TIMEOUT = 45

CHECKED: list[str] = []


def checked(what: str) -> None:
    CHECKED.append(what)
    log(f"ok: {what}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_env(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        k, _, v = line.partition("=")
        env[k] = shlex.split(v)[0] if v else ""
    return env


class OtlpSink:
    """Stands in for one task's collector sidecar (infra/modules/ecs-service/otel.tf):
    accepts OTLP/HTTP exports on a loopback port and counts them per path, so
    the service exports as on ECS instead of failing to connect, and what it
    exported is known per process."""

    def __init__(self) -> None:
        counts: dict[str, int] = {}
        self.counts = counts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                counts[self.path] = counts.get(self.path, 0) + 1
                # An empty ExportTraceServiceResponse: full success.
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Service:
    """One service process, run as its task definition says (`spec`, an entry
    of taskdefs.json) with the rehearsal overrides `extra` added to the
    principal's credentials and the common overrides."""

    def __init__(self, name: str, spec: dict, extra: dict[str, str], port: int, log_dir: Path, bin_dir: Path):
        self.name = name
        self.port = port
        self.spec = spec
        # Its own sidecar stand-in, as each task has its own collector.
        self.otlp = OtlpSink()
        label = spec["label"]
        overrides = read_env(state_dir() / "env" / f"{label}.env")
        overrides["AWS_ENDPOINT_URL"] = endpoint()
        # The services' own AWS calls feed the permission contract too.
        if os.environ.get("REHEARSAL_CALLS_DIR"):
            overrides["AWS_CALL_RECORD_DIR"] = os.environ["REHEARSAL_CALLS_DIR"]
        if "OTEL_EXPORTER_OTLP_ENDPOINT" in spec["environment"]:
            overrides["OTEL_EXPORTER_OTLP_ENDPOINT"] = self.otlp.url
        if os.environ.get("REHEARSAL_RUST_LOG"):
            overrides["RUST_LOG"] = os.environ["REHEARSAL_RUST_LOG"]
        overrides |= extra
        # Nothing of the caller's environment (e.g. test.sh's LocalStack
        # endpoints) but PATH reaches the process.
        try:
            argv, env, rows = taskdefs.resolve(spec, bin_dir, overrides, dict(os.environ))
        except taskdefs.TaskDefError as e:
            die(f"starting {name}: {e}")
        log(f"{name} runs as its task definition says; where each variable comes from:\n{taskdefs.provenance_table(spec, argv, rows)}")
        self.log_path = log_dir / f"rehearsal-{name}.log"
        self.log_file = open(self.log_path, "w")
        self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=self.log_file, stderr=subprocess.STDOUT)
        run = state_dir() / "run"
        run.mkdir(exist_ok=True)
        (run / f"{name}.pid").write_text(f"{self.proc.pid}\n")
        log(f"started {name} (pid {self.proc.pid}, port {port}, log {self.log_path})")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def ready_failure(self) -> str:
        """What to say when the service never became ready."""
        e = self.spec["environment"]
        shown = {k: e[k] for k in ("WORKER_ROLE", "SQS_QUEUE_URL", "SQS_DLQ_URL", "SNS_TOPIC_ARN", "ORDERS_TABLE") if k in e}
        return (
            f"service {self.spec['service']} (task definition {self.spec['taskDefinitionArn']}) started with its "
            f"task definition's {shown} never became ready; log tail:\n" + "\n".join(line[:400] for line in self.tail(12).splitlines())
        )

    def tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.alive():
            self.proc.kill()
            self.proc.wait()
        (state_dir() / "run" / f"{self.name}.pid").unlink(missing_ok=True)
        self.otlp.close()


def http(method: str, url: str, body=None, timeout: float = 10, headers: dict | None = None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            return r.status, dict(r.headers), json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = raw.decode(errors="replace")
        return e.code, dict(e.headers), parsed


def order_request(pedido_id: str, n: int, prioridad: str | None = None) -> dict:
    # crates/testkit/src/lib.rs order_request, with a per-order quantity;
    # prioridad (EXPRESS | ESTANDAR) only when given (the API's default is
    # ESTANDAR).
    extra = {} if prioridad is None else {"prioridad": prioridad}
    return extra | {
        "pedidoId": pedido_id,
        "clienteId": "6f1c2a52-4a43-4c49-9d1c-0a0c5b1e8b11",
        "moneda": "CLP",
        "items": [
            {"sku": "SKU-001", "cantidad": 2, "precioUnitario": "10000.50"},
            {"sku": "SKU-002", "cantidad": n, "precioUnitario": "5000"},
        ],
        "total": f"{20001 + 5000 * n}.00",
        "direccionEnvio": {
            "calle": "Av. Providencia 1234",
            "ciudad": "Santiago",
            "region": "RM",
            "codigoPostal": "7500000",
            "pais": "CL",
        },
    }


def wait_until(what: str, timeout: float, probe, services, describe=None):
    """Polls `probe` until it returns something truthy; on timeout, dies
    with what `describe()` (if given) says about the state reached."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        for s in services:
            if not s.alive():
                die(f"{s.name} exited (code {s.proc.returncode}) while waiting for {what}; log tail:\n{s.tail()}")
        last = probe()
        if last:
            return last
        time.sleep(0.3)
    detail = ""
    if describe is not None:
        try:
            detail = f"; state reached:\n{describe()}"
        except Exception as e:  # noqa: BLE001 - diagnostics only
            detail = f"; (could not describe the state: {e})"
    die(f"timed out after {timeout}s waiting for {what}{detail}")


def get_item(ddb, table: str, pedido_id: str) -> dict:
    return ddb.get_item(TableName=table, Key={"pedidoId": {"S": pedido_id}}, ConsistentRead=True).get("Item") or {}


def s(item: dict, name: str):
    v = item.get(name)
    return None if v is None else v.get("S", v.get("N"))


def applied(item: dict) -> set[str]:
    return set(item.get("appliedEvents", {}).get("SS", []))


def drain(sqs, url: str, wait: float = 0) -> list[dict]:
    """Every message of a queue (received with the admin key and deleted)."""
    out = []
    deadline = time.monotonic() + wait
    while True:
        msgs = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], AttributeNames=["All"], WaitTimeSeconds=0
        ).get("Messages", [])
        for m in msgs:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        out += msgs
        if not msgs and time.monotonic() >= deadline:
            return out
        if not msgs:
            time.sleep(0.3)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin-dir", required=True, help="target/debug: the images' entrypoint binaries")
    ap.add_argument("--log-dir", required=True)
    args = ap.parse_args()
    # TERM from scripts/rehearsal.sh's cleanup: stop the services (finally below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    log_dir = Path(args.log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)

    out = read_json("outputs.json")
    table = out["table_name"]
    queue_urls, dlq_urls = out["queue_urls"], out["dlq_urls"]
    ddb, sqs = admin("dynamodb"), admin("sqs")
    specs = {s["label"]: s for s in read_json("taskdefs.json")}
    bin_dir = Path(args.bin_dir)
    # The relay's own setting, as its task definition carries it.
    try:
        relay_stale_secs = int(specs["relay"]["environment"]["RELAY_STALE_SECS"])
    except (KeyError, ValueError):
        die(f"the relay's task definition has no whole RELAY_STALE_SECS: {taskdefs.masked(specs['relay']['environment'])}")

    services: list[Service] = []
    try:

        def start(name: str, label: str, port_key: str, extra: dict[str, str] | None = None) -> Service:
            port = free_port()
            extra = {port_key: str(port)} | ({"HOST": "127.0.0.1"} if label in taskdefs.HTTP_SERVICES else {}) | (extra or {})
            svc = Service(name, specs[label], extra, port, log_dir, bin_dir)
            services.append(svc)
            return svc

        api = start("order-api", "order-api", "PORT")
        # The outbox relay: the same image's `relay` command, as the relay task role.
        relay = start("relay", "relay", "PORT")
        workers = {role: start(role, role, "HEALTH_PORT") for role in taskdefs.WORKERS}

        # 1. Ready: the API probes SNS + DynamoDB, a worker its queue + DLQ.
        for svc in services:
            wait_until(
                f"{svc.name} /health/ready",
                READY_TIMEOUT,
                lambda svc=svc: _ready(svc),
                services,
                describe=svc.ready_failure,
            )
        checked(
            "order-api, the outbox relay (order-api relay), worker procesamiento and worker logistica ready (/health/ready) "
            "with only their task roles' permissions, each started with its registered task definition's command and "
            "environment (read back from ECS) plus only the rehearsal overrides (taskdefs.OVERRIDES)"
        )

        # 2. Orders through SNS -> SQS -> both workers -> DynamoDB.
        # The first order says ESTANDAR, the last EXPRESS (issue 23: SNS
        # routes it to each role's express queue), the others nothing.
        ids = [str(uuid.uuid4()) for _ in range(ORDERS)]
        lanes = {1: "ESTANDAR", ORDERS: "EXPRESS"}
        for n, pid in enumerate(ids, start=1):
            status, headers, body = http("POST", api.url("/api/pedidos"), order_request(pid, n, lanes.get(n)))
            if status != 202 or not isinstance(body, dict) or body.get("pedidoId") != pid or body.get("estado") != "RECIBIDO":
                die(f"POST /api/pedidos answered {status} {body}; order-api log:\n{api.tail()}")
            status, _, body = http("GET", api.url(f"/api/pedidos/{pid}"))
            if status != 200 or body.get("estado") not in ("RECIBIDO", "PROCESADO"):
                die(f"GET right after the 202 answered {status} {body}; order-api log:\n{api.tail()}")
        checked(
            f"POST /api/pedidos: {ORDERS} orders accepted (202, estado RECIBIDO) and shown by GET at once: "
            "intake record (dynamodb:PutItem) and sns:Publish as the API principal"
        )

        # An Idempotency-Key: the replay answers as the first request did.
        key = str(uuid.uuid4())
        keyed = order_request(str(uuid.uuid4()), 1)
        first = http("POST", api.url("/api/pedidos"), keyed, headers={"Idempotency-Key": key})
        replay = http("POST", api.url("/api/pedidos"), keyed, headers={"Idempotency-Key": key})
        if first[0] != 202 or replay[0] != 202 or first[2] != replay[2]:
            die(f"Idempotency-Key: first {first[0]} {first[2]}, replay {replay[0]} {replay[2]}; order-api log:\n{api.tail()}")
        checked("POST with an Idempotency-Key, then its replay: the same 202 answer (key record via dynamodb:UpdateItem)")

        def both_effects():
            items = {pid: get_item(ddb, table, pid) for pid in ids}
            done = all(
                s(i, "estado") == "PROCESADO"
                and s(i, "envioEstado") == "PROGRAMADO"
                and {f"procesamiento#PedidoCreado#{pid}", f"logistica#PedidoCreado#{pid}"} <= applied(i)
                for pid, i in items.items()
            )
            return items if done else None

        items = wait_until(
            "both workers' effects in DynamoDB",
            EFFECT_TIMEOUT,
            both_effects,
            services,
            describe=lambda: "\n".join(json.dumps(get_item(ddb, table, pid))[:1500] for pid in ids),
        )
        for pid, i in items.items():
            if not s(i, "envioTracking") or s(i, "clienteId") != "6f1c2a52-4a43-4c49-9d1c-0a0c5b1e8b11" or not s(i, "contenidoHash"):
                die(f"order {pid} recorded incompletely: {i}")
        checked(
            "DynamoDB: every order has estado PROCESADO (procesamiento) and envioEstado PROGRAMADO + tracking (logistica), "
            "each event recorded in appliedEvents"
        )

        # The EXPRESS order came through each role's express queue (SNS filter
        # policy prioridad EXPRESS), the others through the standard queue
        # (ESTANDAR or no prioridad): the workers count receives by lane.
        for role, w in workers.items():
            by_lane = {lane: metric_with_label(w, LANE_METRIC, lane) for lane in ("express", "standard")}
            if by_lane["express"] < 1 or by_lane["standard"] < ORDERS - 1:
                die(
                    f"worker {role}: received by lane {by_lane} for 1 EXPRESS and {ORDERS - 1} ESTANDAR orders; "
                    f"SNS did not route them through the express and standard queues. Log tail:\n{w.tail()}"
                )
        checked(
            "prioridad: the EXPRESS order reached both workers through their express queues (sqs:ReceiveMessage on "
            "<prefix>-<role>-express as the worker principal), the ESTANDAR and unmarked ones through the standard queues"
        )

        for n, pid in enumerate(ids, start=1):
            status, _, body = http("GET", api.url(f"/api/pedidos/{pid}"))
            want_total = f"{20001 + 5000 * n}.00"
            if (
                status != 200
                or body.get("estado") != "PROCESADO"
                or (body.get("envio") or {}).get("estado") != "PROGRAMADO"
                or not (body.get("envio") or {}).get("tracking")
                or body.get("total") != want_total
            ):
                die(f"GET /api/pedidos/{pid} answered {status} {body}")
        checked("GET /api/pedidos/{id}: PROCESADO with envio PROGRAMADO and tracking, totals exact (dynamodb:GetItem as the API principal)")

        # A retried POST of a processed order (same pedidoId, no key: the
        # retry an outcome-unknown answer asks for) only confirms it: 202 with
        # the same pedidoId, and nothing written to the item (no TTL re-added,
        # no new event published). Checked after the relay's deadline, so a
        # publish by the relay would have shown too.
        retried = ids[1]
        before = get_item(ddb, table, retried)
        status, _, body = http("POST", api.url("/api/pedidos"), order_request(retried, 2))
        if status != 202 or not isinstance(body, dict) or body.get("pedidoId") != retried:
            die(f"retried POST /api/pedidos answered {status} {body}")
        time.sleep(relay_stale_secs + 3)
        after = get_item(ddb, table, retried)
        if after != before:
            changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
            die(f"the retried POST of a processed order changed its item: {changed}: {before} -> {after}")
        counts = (s(after, "aplicacionesProcesamiento"), s(after, "aplicacionesLogistica"))
        if counts != ("1", "1"):
            die(f"the retried order was applied {counts} times (procesamiento, logistica)")
        checked(
            "retried POST of a processed order (same pedidoId): 202 with the same pedidoId, the item left exactly as it was "
            f"(nothing re-published, even after RELAY_STALE_SECS={relay_stale_secs}), each role's counter 1"
        )

        # The subscriptions' filter policies (eventType) keep other events
        # out of both queues: had this reached a queue, a worker would
        # dead-letter it (checked below: nothing unexpected in the DLQs).
        admin("sns").publish(
            TopicArn=out["topic_arn"],
            Message=json.dumps({"eventType": "PedidoEnviado", "note": "must be filtered out"}),
            MessageAttributes={
                "eventType": {"DataType": "String", "StringValue": "PedidoEnviado"},
                "eventVersion": {"DataType": "Number", "StringValue": "1"},
            },
        )

        # 3. Cancellation of the first order.
        cancel = ids[0]
        status, _, body = http("POST", api.url(f"/api/pedidos/{cancel}/cancelacion"), {"motivo": "ensayo de cancelacion"})
        if status != 202:
            die(f"POST /api/pedidos/{cancel}/cancelacion answered {status} {body}; order-api log:\n{api.tail()}")

        def cancelled():
            i = get_item(ddb, table, cancel)
            ok = (
                s(i, "estado") == "CANCELADO"
                and s(i, "envioEstado") == "CANCELADO"
                and {f"procesamiento#PedidoCancelado#{cancel}", f"logistica#PedidoCancelado#{cancel}"} <= applied(i)
            )
            return i if ok else None

        i = wait_until("the cancellation in DynamoDB", EFFECT_TIMEOUT, cancelled, services)
        if s(i, "motivoCancelacion") != "ensayo de cancelacion":
            die(f"cancellation recorded without its reason: {i}")
        status, _, body = http("GET", api.url(f"/api/pedidos/{cancel}"))
        if status != 200 or body.get("estado") != "CANCELADO" or (body.get("envio") or {}).get("estado") != "CANCELADO":
            die(f"GET after cancellation answered {status} {body}")
        checked("POST /api/pedidos/{id}/cancelacion: estado CANCELADO and envio CANCELADO recorded by both workers, shown by GET")

        # 3b. An order only the relay publishes: a second API process, as the
        # API principal, whose SNS endpoint refuses connections (what an API
        # task that cannot reach SNS, or dies before its publish, leaves
        # behind). It still accepts the order (DynamoDB is all intake needs);
        # the relay finds it in the outbox index and publishes it.
        dead_sns = free_port()  # nothing listens there
        cut = start("order-api-without-sns", "order-api", "PORT", {"AWS_ENDPOINT_URL_SNS": f"http://127.0.0.1:{dead_sns}"})
        wait_until("order-api-without-sns /health/live", READY_TIMEOUT, lambda: _live(cut), services)
        published_before = metric(relay, "outbox_relay_published_total")
        orphan = str(uuid.uuid4())
        status, _, body = http("POST", cut.url("/api/pedidos"), order_request(orphan, 3), timeout=20)
        if status != 202 or not isinstance(body, dict) or body.get("pedidoId") != orphan:
            die(f"POST /api/pedidos with SNS unreachable answered {status} {body}; log:\n{cut.tail()}")

        def orphan_applied():
            i = get_item(ddb, table, orphan)
            done = (
                s(i, "estado") == "PROCESADO"
                and s(i, "envioEstado") == "PROGRAMADO"
                and {f"procesamiento#PedidoCreado#{orphan}", f"logistica#PedidoCreado#{orphan}"} <= applied(i)
            )
            return i if done else None

        wait_until(
            "the relay's publish of the order the API could not publish",
            EFFECT_TIMEOUT + relay_stale_secs,
            orphan_applied,
            services,
            describe=lambda: f"item {json.dumps(get_item(ddb, table, orphan))[:1500]}\nrelay log:\n{relay.tail(15)}",
        )
        if metric(relay, "outbox_relay_published_total") <= published_before:
            die(f"the order reached both workers but the relay counted no publish; relay log:\n{relay.tail()}")
        status, _, body = http("GET", api.url(f"/api/pedidos/{orphan}"))
        if status != 200 or body.get("estado") != "PROCESADO":
            die(f"GET of the relay-published order answered {status} {body}")
        checked(
            "an order accepted (202) by an API whose SNS is unreachable was published by the relay "
            f"(after RELAY_STALE_SECS={relay_stale_secs}, outbox_relay_published_total rose) and applied by both workers: "
            "dynamodb:Query of the outbox index, BatchGetItem, UpdateItem and sns:Publish as the relay principal"
        )

        # 4. Poison messages straight into the main queues (admin key).
        poison = {
            "procesamiento": ("not json", "not_json"),
            "logistica": (
                json.dumps(
                    {
                        "eventId": str(uuid.uuid4()),
                        "eventType": "PedidoEnviado",
                        "eventVersion": 1,
                        "occurredAt": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
                        "correlationId": "rehearsal-poison",
                        "data": {"pedidoId": str(uuid.uuid4())},
                    }
                ),
                "unknown_event_type",
            ),
        }
        sent = {}
        for role, (body, _) in poison.items():
            sent[role] = sqs.send_message(QueueUrl=queue_urls[role], MessageBody=body)["MessageId"]
        for role, (body, reason) in poison.items():
            msgs = []

            def in_dlq(role=role):
                msgs.extend(drain(sqs, dlq_urls[role]))
                return [m for m in msgs if m["Body"] == poison[role][0]] or None

            found = wait_until(f"the poison message in the {role} DLQ", EFFECT_TIMEOUT, in_dlq, services)
            attrs = found[0].get("MessageAttributes", {})
            got = attrs.get("dlqReason", {}).get("StringValue")
            if got != reason:
                die(f"{role} DLQ message has dlqReason {got!r}, expected {reason!r}: {attrs}")
            if attrs.get("dlqSourceMessageId", {}).get("StringValue") != sent[role]:
                die(f"{role} DLQ message names source {attrs.get('dlqSourceMessageId')}, sent {sent[role]}")
            others = [m for m in msgs if m["Body"] != poison[role][0]]
            if others:
                die(f"{role} DLQ holds {len(others)} unexpected message(s), e.g. {others[0]['Body'][:200]} {others[0].get('MessageAttributes')}")
        checked("poison messages dead-lettered with dlqReason (not_json, unknown_event_type) and dlqSourceMessageId (sqs:SendMessage to the own DLQ); no valid order in a DLQ")

        # Nothing left behind in the main queues (every success deleted).
        def queues_empty():
            for url in [*queue_urls.values(), *out["express_queue_urls"].values()]:
                a = sqs.get_queue_attributes(
                    QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
                )["Attributes"]
                if int(a["ApproximateNumberOfMessages"]) + int(a["ApproximateNumberOfMessagesNotVisible"]):
                    return None
            return True

        wait_until("empty main queues", EFFECT_TIMEOUT, queues_empty, services)
        checked(
            "main queues, both lanes, empty afterwards: every message deleted (sqs:DeleteMessageBatch as the worker principals)"
        )
        checked("an event type outside the subscriptions' filter policies (PedidoEnviado) reached neither queue")
        for role, w in workers.items():
            for name in ("sqs_worker_messages_retried_total", "sqs_worker_poll_errors_total"):
                if metric(w, name) != 0:
                    die(f"worker {role}: {name} = {metric(w, name)} (expected 0); log tail:\n{w.tail()}")
        checked("no retried message and no poll error in either worker (/metrics)")

        # 5. SIGTERM: each exits 0 within its container's stopTimeout (after
        # it, ECS sends SIGKILL).
        t0 = time.monotonic()
        for svc in services:
            svc.proc.send_signal(signal.SIGTERM)
        for svc in services:
            limit = svc.spec["stopTimeout"]
            try:
                rc = svc.proc.wait(timeout=max(0.1, limit - (time.monotonic() - t0)))
            except subprocess.TimeoutExpired:
                die(f"{svc.name} still running {limit}s (its task definition's stopTimeout) after SIGTERM; log tail:\n{svc.tail()}")
            if rc != 0:
                die(f"{svc.name} exited with {rc} after SIGTERM; log tail:\n{svc.tail()}")
        limits = sorted({svc.spec["stopTimeout"] for svc in services})
        checked(f"SIGTERM: order-api (both processes), the relay and both workers exited 0 within their stopTimeout ({limits} s)")

        # 6. No call of the services was refused.
        denied = []
        for svc in services:
            for line in svc.log_path.read_text(errors="replace").splitlines():
                if "AccessDenied" in line or "StatusCode(403)" in line or "SignatureDoesNotMatch" in line:
                    denied.append(f"{svc.name}: {line[:400]}")
        if denied:
            die("calls of the services were refused by IAM:\n" + "\n".join(denied[:10]))
        checked("no AccessDenied/403 in any service log")

        # 7. Traces reached each process's collector stand-in (counted after
        # the SIGTERM above: the batch exporter flushes at shutdown). Every
        # process started handled an order (the API, the API without SNS,
        # the relay's publish, both workers).
        exports = {svc.name: (svc.spec["environment"], svc.otlp.counts.get(TRACES_PATH, 0)) for svc in services}
        required, problems, not_made = trace_export_problems(exports)
        if problems:
            die("OTLP trace exports missing:\n" + "\n".join(problems) + "\nlog tails:\n" + "\n".join(f"{s.name}: {s.tail(5)}" for s in services))
        if required:
            checked(f"OTLP: each of {', '.join(required)} exported its spans (POST {TRACES_PATH}) to its collector stand-in")
        for line in not_made:
            log(f"OTLP export check NOT made: {line}")
        log("OTLP exports received per process: " + ", ".join(f"{s.name} {s.otlp.counts or 'none'}" for s in services))
    finally:
        for svc in services:
            svc.kill()
            svc.log_file.close()

    (state_dir() / "checked.json").write_text(json.dumps(CHECKED, indent=2) + "\n")


TRACES_PATH = "/v1/traces"


def records_every_trace(env: dict[str, str]) -> tuple[bool, str]:
    """Whether a process with this environment exports a span for every
    trace it starts, and its sampler as shown in the log. Mirrors
    crates/shared/src/telemetry/settings.rs: tracing only with an OTLP
    endpoint and not disabled; sampler default parentbased_always_on;
    OTEL_TRACES_SAMPLER_ARG default 1."""
    if not (env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")):
        return False, "tracing off (no OTLP endpoint)"
    if env.get("OTEL_SDK_DISABLED", "").lower() == "true" or env.get("OTEL_TRACES_EXPORTER") == "none":
        return False, "tracing disabled"
    sampler = env.get("OTEL_TRACES_SAMPLER", "parentbased_always_on")
    arg = env.get("OTEL_TRACES_SAMPLER_ARG", "1")
    try:
        ratio = float(arg)
    except ValueError:
        ratio = None
    if sampler in ("always_on", "parentbased_always_on"):
        return True, sampler
    if sampler in ("traceidratio", "parentbased_traceidratio"):
        return ratio == 1.0, f"{sampler}, OTEL_TRACES_SAMPLER_ARG={arg}"
    return False, sampler


def trace_export_problems(exports: dict[str, tuple[dict[str, str], int]]) -> tuple[list[str], list[str], list[str]]:
    """(processes whose export was required, problems, why the check is not
    made for the others) from {process: (its environment, POSTs to
    /v1/traces)}. A parent-based sampler follows the caller's decision, and
    the callers here are the other processes (the pipeline sends no trace
    context): it records every trace only if they all do."""
    samplers = {name: records_every_trace(env) for name, (env, _) in exports.items()}
    everyone = all(all_on for all_on, _ in samplers.values())
    required, problems, not_made = [], [], []
    for name, (env, count) in exports.items():
        all_on, how = samplers[name]
        if all_on and (everyone or not how.startswith("parentbased")):
            required.append(name)
            if count < 1:
                problems.append(f"{name}: sampler {how} records every trace, but it sent no POST {TRACES_PATH} to its collector stand-in")
        else:
            why = how if not all_on else f"{how}, but a caller samples fewer traces"
            not_made.append(f"{name} ({why}; {count} POST {TRACES_PATH} received, a count only)")
    return required, problems, not_made


def metric(svc: Service, name: str) -> float:
    """Sum of a Prometheus sample (all label sets) on a worker's /metrics."""
    with urllib.request.urlopen(svc.url("/metrics"), timeout=5) as r:
        text = r.read().decode()
    base = name.removesuffix("_total")
    if f"# TYPE {base} " not in text and f"# TYPE {name} " not in text:
        die(f"{svc.name} /metrics has no metric {name}")
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and line[len(name) : len(name) + 1] in (" ", "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


# The worker's receives by lane (crates/sqs-worker metrics.rs).
LANE_METRIC = "sqs_worker_messages_received_by_lane_total"


def metric_with_label(svc: Service, name: str, value: str) -> float:
    """Sum of a Prometheus sample's label sets that carry the label value `value`."""
    with urllib.request.urlopen(svc.url("/metrics"), timeout=5) as r:
        text = r.read().decode()
    if f"# TYPE {name.removesuffix('_total')} " not in text and f"# TYPE {name} " not in text:
        die(f"{svc.name} /metrics has no metric {name}")
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name + "{") and f'="{value}"' in line.split("}", 1)[0]
    )


def _live(svc: Service) -> bool:
    try:
        status, _, _ = http("GET", svc.url("/health/live"), timeout=3)
        return status == 200
    except (OSError, ValueError):
        return False


def _ready(svc: Service) -> bool:
    try:
        status, _, _ = http("GET", svc.url("/health/ready"), timeout=3)
        return status == 200
    except (OSError, ValueError):
        return False


if __name__ == "__main__":
    main()
