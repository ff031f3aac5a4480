"""The services' registered task definitions, read back from moto's ECS, and
the exact process each one becomes in the rehearsal.

`python taskdefs.py` (a step of scripts/rehearsal.sh, after the apply): finds
every service of the cluster named by the terraform outputs
(ecs:ListServices + DescribeServices), reads each service's task definition
(ecs:DescribeTaskDefinition) and writes taskdefs.json: per service its task
role, the application container's environment, command, entryPoint and
stopTimeout, the image and the binary that image runs (the Dockerfile's
ENTRYPOINT, or the task definition's entryPoint), its portMappings, the
service's load balancer port and what its collector sidecar listens on and
scrapes. Fails when a service is missing or unknown, when the application
container references secrets or environment files (the rehearsal cannot
provide them), when its image or entrypoint is not one this repository
builds, or when the ports and the OTLP endpoint the task definition gives the
application disagree with what the task maps, the load balancer sends to and
the sidecar listens on or scrapes (`wiring_problems`: the rehearsal replaces
those values, so it checks them first).

`resolve()` (used by pipeline.py) turns one service into argv + environment:
the image's ENV, then the task definition's environment (as ECS does), then
ONLY the rehearsal overrides of OVERRIDES, each with its rule and reason; any
other override is an error. `provenance_table()` prints where each variable
came from.

REHEARSAL_BREAK_TASK_ENV=<service>:<KEY>=<value> (proof of the check only):
before the read-back, registers a new revision of that service's task
definition with KEY set to value (formatted with the terraform outputs, e.g.
{queue_urls[logistica]}) and points the service at it, as a wrong
`terraform apply` would; the rehearsal must then fail.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import yaml  # PyYAML: moto[server] requires it (pinned in tools/moto-requirements.txt)

from common import admin, die, log, read_json, write_json

ROOT = Path(__file__).resolve().parents[2]
# Which Dockerfile builds which image (ECR repository key): scripts/images.sh's
# `build <image> <Dockerfile>` lines are the one list of them.
IMAGES_SCRIPT = ROOT / "scripts" / "images.sh"
# The collector sidecar of infra/modules/ecs-service (otel.tf
# otel_container_name); the application container is named as the service
# (main.tf local.container_name = var.name).
COLLECTOR = "otel-collector"
SIDECARS = {COLLECTOR}
# ADOT reads its whole configuration (YAML) from this variable (otel.tf).
COLLECTOR_CONFIG_KEY = "AOT_CONFIG_CONTENT"
LOCALHOST = {"localhost", "127.0.0.1", "::1"}
# Values never printed (provenance table, error messages, logs).
SECRET_KEYS = {"AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SESSION_TOKEN"}
SECRET_PATTERN = re.compile(r"SECRET|TOKEN|PASSWORD|ACCESS_KEY", re.I)
# Where the images put their binaries (Dockerfile.* COPY ... /usr/local/bin/).
IMAGE_BIN_DIR = "/usr/local/bin/"
# ECS stops a container with SIGKILL this long after SIGTERM when the
# container definition sets no stopTimeout (Fargate default, "stopTimeout"
# in the ECS container definition reference).
DEFAULT_STOP_TIMEOUT = 30

# Terraform output `service_names` key -> rehearsal label (env/<label>.env,
# rehearsal-<label> user, .local/log/rehearsal-<label>.log).
LABELS = {"api": "order-api", "relay": "relay", "procesamiento": "procesamiento", "logistica": "logistica"}
WORKERS = ("procesamiento", "logistica")
HTTP_SERVICES = ("order-api", "relay")
# The variable each binary listens on, and its fallbacks, as the binaries
# read them: order-api (config.rs) PORT, default 8080; sqs-worker (config.rs)
# HEALTH_PORT, else PORT, default 8080.
PORT_KEYS = {"order-api": ("PORT",), "relay": ("PORT",), "procesamiento": ("HEALTH_PORT", "PORT"), "logistica": ("HEALTH_PORT", "PORT")}
DEFAULT_PORT = 8080

# How an override may touch the task definition's environment.
ADD = "add"  # the task definition must NOT set the key (e.g. credentials)
REPLACE = "replace"  # the task definition MUST set the key; its value is replaced
REPLACE_LOCALHOST = "replace-localhost"  # replaced only if set, and only a localhost URL


@dataclass(frozen=True)
class Override:
    key: str
    rule: str
    labels: tuple[str, ...]  # services it applies to
    reason: str


ALL = tuple(LABELS.values())
# The only differences between a task's environment on ECS and the process's
# here. Documented in tools/rehearsal/README.md (section "What the services
# run with"): keep the two in step.
OVERRIDES = [
    Override("AWS_ENDPOINT_URL", ADD, ALL, "every AWS call goes to the moto server (the SDK's standard endpoint setting)"),
    Override("AWS_ACCESS_KEY_ID", ADD, ALL, "the rehearsal IAM user standing in for the task role (ECS serves role credentials)"),
    Override("AWS_SECRET_ACCESS_KEY", ADD, ALL, "idem"),
    Override("AWS_CALL_RECORD_DIR", ADD, ALL, "records every AWS call for the permission contract"),
    Override("HOST", ADD, HTTP_SERVICES, "listen on loopback only (a task has its own network namespace, these processes share the host's)"),
    Override(
        "PORT",
        REPLACE,
        HTTP_SERVICES,
        "a free loopback port per process (each task has its own 8080); replaced only after wiring_problems found the "
        "task definition's value equal to the port the container maps, the load balancer sends to and the collector scrapes",
    ),
    Override("HEALTH_PORT", REPLACE, WORKERS, "idem"),
    Override(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        REPLACE_LOCALHOST,
        ALL,
        "the collector sidecar's stand-in (pipeline.py) on a free loopback port per process; replaced only after "
        "wiring_problems found the task definition's URL to be the sidecar's OTLP/HTTP receiver (host and port)",
    ),
    Override(
        "AWS_ENDPOINT_URL_SNS",
        ADD,
        ("order-api",),
        "only the second API process of step 3b: an SNS endpoint that refuses connections",
    ),
    Override("RUST_LOG", ADD, ALL, "only when REHEARSAL_RUST_LOG is set (debugging the rehearsal)"),
]
# From the machine, not from the task: PATH only (exec needs nothing else;
# HOME would let the SDK read a developer's ~/.aws).
HOST_KEYS = ("PATH",)


class TaskDefError(Exception):
    """A task definition the rehearsal cannot run as it is registered."""


def is_secret(key: str) -> bool:
    return key in SECRET_KEYS or bool(SECRET_PATTERN.search(key))


def shown(key: str, value: str | None) -> str:
    """A variable's value as every message prints it: secrets masked."""
    return "***" if value is not None and is_secret(key) else repr(value)


def masked(env: dict[str, str]) -> dict[str, str]:
    return {k: "***" if is_secret(k) else v for k, v in env.items()}


# ---------------------------------------------------------------------------
# Images: the Dockerfile's ENTRYPOINT and ENV (hand-parsed: only the final
# stage's JSON-form ENTRYPOINT and `ENV k=v` lines of this repository's two
# Dockerfiles are read; a Dockerfile parser package would add a dependency to
# the moto venv for these few lines).
# ---------------------------------------------------------------------------


def image_dockerfiles(script: str) -> dict[str, str]:
    """{image name: Dockerfile} from scripts/images.sh's `build NAME FILE` lines."""
    out = dict(re.findall(r"^build\s+(\S+)\s+(\S+)\s*$", script, re.M))
    if not out:
        raise TaskDefError(f"no `build <image> <Dockerfile>` line in {IMAGES_SCRIPT}")
    return out


def parse_dockerfile(text: str) -> tuple[list[str], dict[str, str]]:
    """(ENTRYPOINT, ENV) of the final stage."""
    joined = re.sub(r"\\\n", " ", text)
    entrypoint: list[str] | None = None
    env: dict[str, str] = {}
    for line in joined.splitlines():
        word, _, rest = line.strip().partition(" ")
        word = word.upper()
        if word == "FROM":
            entrypoint, env = None, {}
        elif word == "ENTRYPOINT":
            try:
                entrypoint = json.loads(rest)
            except ValueError as e:
                raise TaskDefError(f"ENTRYPOINT {rest!r} is not in JSON (exec) form") from e
        elif word == "ENV":
            for item in shlex.split(rest):
                k, eq, v = item.partition("=")
                if not eq:
                    raise TaskDefError(f"ENV {rest!r}: only the KEY=value form is read")
                env[k] = v
    if not entrypoint:
        raise TaskDefError("the final stage has no ENTRYPOINT")
    return entrypoint, env


def binary_of(entrypoint: list[str], where: str) -> str:
    path = entrypoint[0]
    if not path.startswith(IMAGE_BIN_DIR) or "/" in path[len(IMAGE_BIN_DIR) :]:
        raise TaskDefError(f"{where}: entrypoint {path!r} is not a binary of {IMAGE_BIN_DIR} (what the images ship)")
    return path[len(IMAGE_BIN_DIR) :]


# ---------------------------------------------------------------------------
# One container definition -> what the rehearsal runs
# ---------------------------------------------------------------------------


def app_container(service: str, containers: list[dict]) -> dict:
    apps = [c for c in containers if c["name"] == service]
    others = sorted(c["name"] for c in containers if c["name"] != service and c["name"] not in SIDECARS)
    if len(apps) != 1 or others:
        raise TaskDefError(
            f"service {service}: expected one application container named {service} (plus sidecars {sorted(SIDECARS)}), "
            f"got {[c['name'] for c in containers]}"
        )
    return apps[0]


def service_spec(label: str, service: dict, taskdef: dict, repositories: dict[str, str], images: dict[str, tuple[list[str], dict]]) -> dict:
    """The rehearsal's record of one service (taskdefs.json entry)."""
    name = service["serviceName"]
    app = app_container(name, taskdef["containerDefinitions"])
    where = f"service {name} (task definition {taskdef['taskDefinitionArn']}, container {app['name']})"
    if app.get("secrets"):
        names = ", ".join(f"{s['name']} <- {s.get('valueFrom')}" for s in app["secrets"])
        raise TaskDefError(f"{where} references secrets the rehearsal cannot provide: {names}")
    if app.get("environmentFiles"):
        raise TaskDefError(f"{where} references environment files the rehearsal cannot provide: {app['environmentFiles']}")
    env = {}
    for pair in app.get("environment") or []:
        if pair["name"] in env:
            raise TaskDefError(f"{where} sets {pair['name']} twice")
        env[pair["name"]] = pair["value"]
    repo, _, tag = app["image"].rpartition(":")
    image = next((k for k, url in repositories.items() if url == repo), None)
    if image is None or image not in images:
        raise TaskDefError(f"{where}: image {app['image']} is none of the repositories this repository builds ({repositories})")
    image_entrypoint, image_env = images[image]
    entrypoint = app.get("entryPoint") or image_entrypoint
    spec = {
        "label": label,
        "service": name,
        "serviceArn": service["serviceArn"],
        "taskDefinitionArn": taskdef["taskDefinitionArn"],
        "taskRoleArn": taskdef.get("taskRoleArn"),
        "container": app["name"],
        "image": app["image"],
        "imageName": image,
        "imageTag": tag,
        "imageEnv": image_env,
        "entryPoint": entrypoint,
        "entryPointFrom": "task definition" if app.get("entryPoint") else f"image ({image})",
        "binary": binary_of(entrypoint, where),
        "command": app.get("command") or [],
        "environment": env,
        "stopTimeout": app.get("stopTimeout") or DEFAULT_STOP_TIMEOUT,
        "containerPorts": sorted({m["containerPort"] for m in app.get("portMappings") or [] if m.get("containerPort")}),
        # The port ECS registers the task's IP on in the target group (the
        # ALB's traffic port; its health check uses "traffic-port"). ECS API
        # LoadBalancer.containerPort: "This port must correspond to a
        # containerPort in the task definition the tasks in the service are using".
        "loadBalancerPorts": sorted(
            {lb["containerPort"] for lb in service.get("loadBalancers") or [] if lb.get("containerName") == app["name"]}
        ),
        "collector": collector_of(where, taskdef["containerDefinitions"]),
    }
    problems = wiring_problems(spec)
    if problems:
        raise TaskDefError(f"{where}: " + "; ".join(problems))
    return spec


def collector_of(where: str, containers: list[dict]) -> dict | None:
    """What the collector sidecar listens on (OTLP/HTTP receiver) and scrapes
    (Prometheus targets), read from its configuration; None without one."""
    sidecar = next((c for c in containers if c["name"] == COLLECTOR), None)
    if sidecar is None:
        return None
    raw = next((p["value"] for p in sidecar.get("environment") or [] if p["name"] == COLLECTOR_CONFIG_KEY), None)
    if raw is None:
        raise TaskDefError(f"{where}: the {COLLECTOR} sidecar has no {COLLECTOR_CONFIG_KEY}")
    try:
        config = yaml.safe_load(raw) or {}
    except yaml.YAMLError as e:
        raise TaskDefError(f"{where}: the {COLLECTOR} sidecar's {COLLECTOR_CONFIG_KEY} is not YAML: {e}") from e
    receivers = config.get("receivers") or {}
    protocols = (receivers.get("otlp") or {}).get("protocols") or {}
    # An `http:` protocol without endpoint listens on the receiver's default,
    # localhost:4318 (OTLP/HTTP's registered port).
    otlp_http = (protocols["http"] or {}).get("endpoint", "localhost:4318") if "http" in protocols else None
    targets = []
    for job in ((receivers.get("prometheus") or {}).get("config") or {}).get("scrape_configs") or []:
        for sc in job.get("static_configs") or []:
            targets += [{"target": t, "path": job.get("metrics_path", "/metrics")} for t in sc.get("targets") or []]
    return {"otlpHttp": otlp_http, "scrapeTargets": targets}


def _host_port(hostport: str) -> tuple[str, int | None]:
    host, _, port = hostport.rpartition(":")
    return host.strip("[]"), int(port) if port.isdigit() else None


def wiring_problems(spec: dict) -> list[str]:
    """Where the task definition's listening port or OTLP endpoint disagrees
    with the rest of the task: checked before the rehearsal replaces them (a
    replaced value would otherwise hide the mistake, and on ECS the target
    group, the health check or the collector would find nothing there)."""
    label, env, image_env = spec["label"], spec["environment"], spec["imageEnv"]
    problems = []
    keys = PORT_KEYS[label]
    key, value, source = keys[0], str(DEFAULT_PORT), f"unset, {keys[0]} defaults to {DEFAULT_PORT}"
    for k in keys:
        if k in env:
            key, value, source = k, env[k], "task definition"
            break
        if k in image_env:
            key, value, source = k, image_env[k], f"image ENV ({spec['imageName']})"
            break
    port = int(value) if value.isdigit() else None
    if port is None:
        problems.append(f"{key}={shown(key, value)} ({source}) is not a port number")
    peers = [(p, "portMappings containerPort") for p in spec["containerPorts"]]
    peers += [(p, "the load balancer's containerPort (target group traffic port, health check traffic-port)") for p in spec["loadBalancerPorts"]]
    for t in (spec["collector"] or {}).get("scrapeTargets", []):
        host, tport = _host_port(t["target"])
        if host in LOCALHOST:
            peers.append((tport, f"the collector's Prometheus scrape target {t['target']}{t['path']} (otel_sidecar.metrics_port)"))
    for peer, what in peers:
        if port is not None and peer != port:
            problems.append(f"{key}={value} ({source}) but {what} is {peer}")

    for okey in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        url = env.get(okey)
        if url is None:
            continue
        receiver = (spec["collector"] or {}).get("otlpHttp")
        if receiver is None:
            problems.append(f"{okey}={url!r} but the task has no {COLLECTOR} sidecar with an OTLP/HTTP receiver")
            continue
        # The OTLP exporter spec: the endpoint's scheme, host, port and path
        # are honoured; a URL without a port means the scheme's (80/443), not
        # OTLP/HTTP's 4318 (only the unset variable defaults to
        # http://localhost:4318).
        try:
            u = urlsplit(url)
            uport = u.port or {"http": 80, "https": 443}.get(u.scheme)
        except ValueError as e:
            problems.append(f"{okey}={url!r} is not a URL: {e}")
            continue
        rhost, rport = _host_port(receiver)
        if u.scheme != "http" or u.hostname not in LOCALHOST or uport != rport or rhost not in LOCALHOST | {"0.0.0.0", ""}:
            problems.append(
                f"{okey}={url!r} (task definition) but the {COLLECTOR} sidecar's OTLP/HTTP receiver listens on {receiver} "
                f"(plain http on the task's localhost, port {rport})"
            )
    return problems


def resolve(spec: dict, bin_dir: Path, overrides: dict[str, str], host_env: dict[str, str]) -> tuple[list[str], dict[str, str], list[tuple[str, str, str]]]:
    """(argv, environment, provenance rows (key, source, value shown)) of a
    service: image ENV < task definition environment < the allowed overrides."""
    label = spec["label"]
    task_env = spec["environment"]
    rules = {o.key: o for o in OVERRIDES}
    problems = []
    for key, value in overrides.items():
        rule = rules.get(key)
        if rule is None or label not in rule.labels:
            problems.append(f"{key}: not an allowed rehearsal override for {label} (taskdefs.OVERRIDES)")
        elif rule.rule == ADD and key in task_env:
            problems.append(f"{key}: the task definition sets it ({shown(key, task_env[key])}); the rehearsal would hide that value")
        elif rule.rule == REPLACE and key not in task_env:
            problems.append(f"{key}: the task definition does not set it, and it must")
        elif rule.rule == REPLACE_LOCALHOST and not re.match(r"^https?://(localhost|127\.0\.0\.1)(:\d+)?/?$", task_env.get(key, "")):
            problems.append(f"{key}: replaced only where the task definition points at its sidecar on localhost, it has {shown(key, task_env.get(key))}")
    problems += wiring_problems(spec)
    if problems:
        raise TaskDefError(f"service {spec['service']}: " + "; ".join(problems))
    env: dict[str, str] = {}
    rows = []
    for k in HOST_KEYS:
        if k in host_env:
            env[k] = host_env[k]
    for k, v in spec["imageEnv"].items():
        env[k] = v
    for k, v in task_env.items():
        env[k] = v
    env |= overrides
    for k in sorted(env):
        if k in overrides:
            src = "override (was task definition)" if k in task_env else "override"
        elif k in task_env:
            src = "task definition" + (" (over image ENV)" if k in spec["imageEnv"] else "")
        elif k in spec["imageEnv"]:
            src = f"image ENV ({spec['imageName']})"
        else:
            src = "host"
        rows.append((k, src, "***" if is_secret(k) else env[k]))
    argv = [str(bin_dir / spec["binary"]), *spec["entryPoint"][1:], *spec["command"]]
    return argv, env, rows


def provenance_table(spec: dict, argv: list[str], rows: list[tuple[str, str, str]]) -> str:
    w = max(len(k) for k, _, _ in rows)
    s = max(len(src) for _, src, _ in rows)
    lines = [
        f"{spec['label']}: task definition {spec['taskDefinitionArn'].rsplit('/', 1)[-1]}, container {spec['container']}",
        f"    argv: {shlex.join(argv)}  (entrypoint from the {spec['entryPointFrom']}, command {spec['command']} from the task definition)",
    ]
    lines += [f"    {k.ljust(w)}  {src.ljust(s)}  {v}" for k, src, v in rows]
    return "\n".join(lines)


def parse_break(raw: str) -> tuple[str, str, str]:
    label, sep, rest = raw.partition(":")
    key, eq, value = rest.partition("=")
    if not sep or not eq or not key or label not in ALL:
        # Only the service and key: the value may be a credential.
        raise TaskDefError(
            f"REHEARSAL_BREAK_TASK_ENV (service {label!r}, key {key!r}): expected <service>:<KEY>=<value>, service one of {', '.join(ALL)}"
        )
    return label, key, value


# ---------------------------------------------------------------------------
# Read-back from moto
# ---------------------------------------------------------------------------


def break_task_env(ecs, cluster: str, service: str, key: str, value: str) -> None:
    """Registers a revision of the service's task definition with KEY=value
    in the application container and updates the service to it."""
    arn = ecs.describe_services(cluster=cluster, services=[service])["services"][0]["taskDefinition"]
    td = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
    containers = td["containerDefinitions"]
    app = app_container(service, containers)
    app["environment"] = [p for p in app.get("environment") or [] if p["name"] != key] + [{"name": key, "value": value}]
    fields = [
        "family",
        "taskRoleArn",
        "executionRoleArn",
        "networkMode",
        "volumes",
        "placementConstraints",
        "requiresCompatibilities",
        "cpu",
        "memory",
        "runtimePlatform",
    ]
    new = ecs.register_task_definition(**{f: td[f] for f in fields if td.get(f) is not None}, containerDefinitions=containers)
    new_arn = new["taskDefinition"]["taskDefinitionArn"]
    ecs.update_service(cluster=cluster, service=service, taskDefinition=new_arn)
    log(f"DELIBERATELY BROKEN (REHEARSAL_BREAK_TASK_ENV): {service} now runs {new_arn} with {key}={shown(key, value)}")


def main() -> None:
    out = read_json("outputs.json")
    cluster = out["cluster_name"]
    names = out["service_names"]
    if set(names) != set(LABELS):
        die(f"terraform output service_names has {sorted(names)}; the rehearsal runs {sorted(LABELS)}")
    by_name = {v: LABELS[k] for k, v in names.items()}
    ecs = admin("ecs")

    raw = os.environ.get("REHEARSAL_BREAK_TASK_ENV")
    if raw:
        try:
            label, key, value = parse_break(raw)
            value = value.format_map(out)
        except (TaskDefError, KeyError, IndexError, ValueError) as e:
            die(f"REHEARSAL_BREAK_TASK_ENV: {e}")
        service = next(n for n, lab in by_name.items() if lab == label)
        break_task_env(ecs, cluster, service, key, value)

    arns = []
    for page in ecs.get_paginator("list_services").paginate(cluster=cluster):
        arns += page["serviceArns"]
    if not arns:
        die(f"cluster {cluster} has no service")
    services = []
    for i in range(0, len(arns), 10):  # DescribeServices takes at most 10
        services += ecs.describe_services(cluster=cluster, services=arns[i : i + 10])["services"]
    found = {s["serviceName"] for s in services}
    unknown = sorted(found - set(by_name))
    missing = sorted(set(by_name) - found)
    if unknown or missing:
        die(f"cluster {cluster}: services not run by the rehearsal {unknown}, services of the outputs missing {missing}")

    try:
        images = {}
        for image, dockerfile in image_dockerfiles(IMAGES_SCRIPT.read_text()).items():
            try:
                images[image] = parse_dockerfile((ROOT / dockerfile).read_text())
            except TaskDefError as e:
                raise TaskDefError(f"{dockerfile}: {e}") from e
        specs = []
        for s in sorted(services, key=lambda s: list(LABELS.values()).index(by_name[s["serviceName"]])):
            td = ecs.describe_task_definition(taskDefinition=s["taskDefinition"])["taskDefinition"]
            specs.append(service_spec(by_name[s["serviceName"]], s, td, out["ecr_repository_urls"], images))
    except TaskDefError as e:
        die(f"task definitions: {e}")
    path = write_json("taskdefs.json", specs)
    log(f"wrote {path}: the registered task definitions of {', '.join(s['service'] for s in specs)} (read back from ECS)")
    for s in specs:
        print(f"    {s['label']}: {s['taskDefinitionArn'].rsplit('/', 1)[-1]}, {s['binary']} {shlex.join(s['command'])}".rstrip())


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
