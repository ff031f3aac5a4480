"""Unit tests of taskdefs.py (run by scripts/rehearsal.sh before the
read-back: `cd tools/rehearsal && python -m unittest test_taskdefs`)."""

from __future__ import annotations

import unittest
from pathlib import Path

import yaml

import pipeline
import taskdefs
from taskdefs import TaskDefError

REPOS = {"order-api": "1.dkr.ecr/x/order-api", "sqs-worker": "1.dkr.ecr/x/sqs-worker"}
IMAGES = {
    "order-api": (["/usr/local/bin/order-api"], {"PORT": "8080", "LOG_FORMAT": "json"}),
    "sqs-worker": (["/usr/local/bin/sqs-worker"], {"PORT": "8080", "LOG_FORMAT": "json"}),
}


def collector_config(otlp: str | None = "localhost:4318", scrape: str | None = "localhost:8080") -> str:
    """The sidecar's AOT_CONFIG_CONTENT as infra/modules/ecs-service/otel.tf writes it (receivers only)."""
    receivers = {}
    if otlp is not None:
        receivers["otlp"] = {"protocols": {"http": {"endpoint": otlp}}}
    if scrape is not None:
        receivers["prometheus"] = {
            "config": {"scrape_configs": [{"job_name": "x", "metrics_path": "/metrics", "static_configs": [{"targets": [scrape]}]}]}
        }
    return yaml.safe_dump({"receivers": receivers, "exporters": {"awsxray": {}}})


def taskdef(name: str, image: str, env: dict[str, str], collector: str | None = None, **app) -> dict:
    return {
        "taskDefinitionArn": f"arn:aws:ecs:us-east-1:1:task-definition/{name}:1",
        "taskRoleArn": f"arn:aws:iam::1:role/{name}-task",
        "containerDefinitions": [
            {"name": name, "image": f"{REPOS[image]}:v1", "environment": [{"name": k, "value": v} for k, v in env.items()]} | app,
            {
                "name": "otel-collector",
                "image": "public.ecr.aws/aws-observability/aws-otel-collector:v0.50.0",
                "environment": [{"name": "AOT_CONFIG_CONTENT", "value": collector or collector_config()}],
            },
        ],
    }


def spec(label: str, name: str, image: str, env: dict[str, str], service: dict | None = None, collector: str | None = None, **app) -> dict:
    svc = {"serviceName": name, "serviceArn": f"arn:aws:ecs:us-east-1:1:service/c/{name}"} | (service or {})
    return taskdefs.service_spec(label, svc, taskdef(name, image, env, collector, **app), REPOS, IMAGES)


API_ENV = {"PORT": "8080", "SNS_TOPIC_ARN": "arn:aws:sns:us-east-1:1:t", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://localhost:4318"}
API_PORTS = {"portMappings": [{"containerPort": 8080, "hostPort": 8080, "protocol": "tcp"}]}
API_LB = {"loadBalancers": [{"targetGroupArn": "arn:tg", "containerName": "p-api", "containerPort": 8080}]}


WORKER_ENV = {
    "WORKER_ROLE": "procesamiento",
    "SQS_QUEUE_URL": "http://moto/1/q",
    "SQS_DLQ_URL": "http://moto/1/q-dlq",
    "ORDERS_TABLE": "t",
    "HEALTH_PORT": "8080",
    "OTEL_EXPORTER_OTLP_ENDPOINT": "http://localhost:4318",
}
CREDS = {"AWS_ACCESS_KEY_ID": "AKIA", "AWS_SECRET_ACCESS_KEY": "s", "AWS_ENDPOINT_URL": "http://127.0.0.1:1"}


class ResolveTest(unittest.TestCase):
    def test_task_definition_values_reach_the_process_unchanged(self):
        s = spec("procesamiento", "p-worker-procesamiento", "sqs-worker", WORKER_ENV)
        argv, env, rows = taskdefs.resolve(
            s, Path("/t/debug"), CREDS | {"HEALTH_PORT": "4000", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}, {"PATH": "/bin", "HOME": "/root"}
        )
        self.assertEqual(argv, ["/t/debug/sqs-worker"])
        self.assertEqual(env["SQS_QUEUE_URL"], "http://moto/1/q")
        self.assertEqual(env["HEALTH_PORT"], "4000")
        self.assertEqual(env["PORT"], "8080")  # image ENV
        self.assertNotIn("HOME", env)
        sources = {k: src for k, src, _ in rows}
        self.assertEqual(sources["SQS_QUEUE_URL"], "task definition")
        self.assertEqual(sources["HEALTH_PORT"], "override (was task definition)")
        self.assertEqual(sources["PORT"], "image ENV (sqs-worker)")
        self.assertEqual(dict((k, v) for k, _, v in rows)["AWS_SECRET_ACCESS_KEY"], "***")

    def test_command_is_passed_after_the_image_entrypoint(self):
        s = spec("relay", "p-relay", "order-api", {"PORT": "8080"}, command=["relay"])
        argv, _, _ = taskdefs.resolve(s, Path("/t/debug"), CREDS, {})
        self.assertEqual(argv, ["/t/debug/order-api", "relay"])

    def test_entrypoint_of_the_task_definition_wins(self):
        s = spec("relay", "p-relay", "order-api", {}, entryPoint=["/usr/local/bin/sqs-worker", "--role", "x"], command=["y"])
        argv, _, _ = taskdefs.resolve(s, Path("/d"), {}, {})
        self.assertEqual(argv, ["/d/sqs-worker", "--role", "x", "y"])

    def test_override_of_a_key_outside_the_list_is_refused(self):
        s = spec("procesamiento", "p-w", "sqs-worker", WORKER_ENV)
        with self.assertRaisesRegex(TaskDefError, "SQS_QUEUE_URL: not an allowed rehearsal override"):
            taskdefs.resolve(s, Path("/d"), {"SQS_QUEUE_URL": "http://elsewhere"}, {})

    def test_override_for_another_service_is_refused(self):
        s = spec("procesamiento", "p-w", "sqs-worker", WORKER_ENV)
        with self.assertRaisesRegex(TaskDefError, "PORT: not an allowed rehearsal override for procesamiento"):
            taskdefs.resolve(s, Path("/d"), {"PORT": "1"}, {})

    def test_replace_needs_the_key_in_the_task_definition(self):
        env = dict(WORKER_ENV)
        del env["HEALTH_PORT"]
        s = spec("procesamiento", "p-w", "sqs-worker", env)
        with self.assertRaisesRegex(TaskDefError, "HEALTH_PORT: the task definition does not set it, and it must"):
            taskdefs.resolve(s, Path("/d"), {"HEALTH_PORT": "1"}, {})

    def test_add_refuses_a_key_the_task_definition_sets(self):
        s = spec("procesamiento", "p-w", "sqs-worker", WORKER_ENV | {"AWS_ACCESS_KEY_ID": "baked-in"})
        with self.assertRaisesRegex(TaskDefError, "AWS_ACCESS_KEY_ID: the task definition sets it"):
            taskdefs.resolve(s, Path("/d"), CREDS, {})

    def test_otlp_endpoint_replaced_only_when_it_points_at_the_sidecar(self):
        s = spec("procesamiento", "p-w", "sqs-worker", WORKER_ENV)
        s["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"] = "https://collector.example.com"  # taskdefs.json edited after the read-back
        with self.assertRaisesRegex(TaskDefError, "sidecar on localhost"):
            taskdefs.resolve(s, Path("/d"), {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}, {})

    def test_add_refusal_masks_a_baked_in_credential(self):
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            s = spec("procesamiento", "p-w", "sqs-worker", WORKER_ENV | {key: "wJalrXUtnFEMI-baked-in"})
            with self.assertRaises(TaskDefError) as e:
                taskdefs.resolve(s, Path("/d"), CREDS, {})
            self.assertIn(f"{key}: the task definition sets it (***)", str(e.exception))
            self.assertNotIn("wJalrXUtnFEMI", str(e.exception))

    def test_session_token_of_the_task_definition_is_masked_everywhere(self):
        s = spec("procesamiento", "p-w", "sqs-worker", WORKER_ENV | {"AWS_SESSION_TOKEN": "FwoGZXIvYXdzEBaked"})
        _, env, rows = taskdefs.resolve(s, Path("/d"), CREDS, {})
        self.assertEqual(env["AWS_SESSION_TOKEN"], "FwoGZXIvYXdzEBaked")  # the process gets it, the log does not
        self.assertNotIn("FwoGZXIvYXdzEBaked", taskdefs.provenance_table(s, ["/d/w"], rows))
        self.assertEqual(taskdefs.masked(s["environment"])["AWS_SESSION_TOKEN"], "***")
        self.assertEqual(taskdefs.shown("AWS_SESSION_TOKEN", "FwoGZXIvYXdzEBaked"), "***")
        with self.assertRaises(TaskDefError) as e:
            taskdefs.parse_break("nobody:AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI")
        self.assertNotIn("wJalrXUtnFEMI", str(e.exception))


class WiringTest(unittest.TestCase):
    """The ports and the OTLP endpoint of a task definition agree with the
    task before the rehearsal replaces them (taskdefs.wiring_problems)."""

    def test_wiring_as_terraform_writes_it_passes(self):
        s = spec("order-api", "p-api", "order-api", API_ENV, service=API_LB, **API_PORTS)
        self.assertEqual((s["containerPorts"], s["loadBalancerPorts"]), ([8080], [8080]))
        self.assertEqual(s["collector"]["otlpHttp"], "localhost:4318")
        spec("relay", "p-relay", "order-api", API_ENV, command=["relay"])
        spec("procesamiento", "p-w", "sqs-worker", WORKER_ENV)

    def test_api_port_differing_from_its_container_port_fails(self):
        with self.assertRaisesRegex(
            TaskDefError, r"service p-api .*PORT=8081 \(task definition\) but portMappings containerPort is 8080"
        ):
            spec("order-api", "p-api", "order-api", API_ENV | {"PORT": "8081"}, service=API_LB, collector=collector_config(scrape="localhost:8081"), **API_PORTS)

    def test_api_port_differing_from_the_load_balancer_port_fails(self):
        lb = {"loadBalancers": [{"targetGroupArn": "arn:tg", "containerName": "p-api", "containerPort": 9090}]}
        with self.assertRaisesRegex(TaskDefError, r"PORT=8080 \(task definition\) but the load balancer's containerPort .* is 9090"):
            spec("order-api", "p-api", "order-api", API_ENV, service=lb, **API_PORTS)

    def test_relay_port_differing_from_the_scraped_port_fails(self):
        with self.assertRaisesRegex(TaskDefError, r"service p-relay .*PORT=9000 \(task definition\) but the collector's Prometheus scrape target localhost:8080/metrics"):
            spec("relay", "p-relay", "order-api", API_ENV | {"PORT": "9000"}, command=["relay"])

    def test_worker_health_port_differing_from_the_scraped_port_fails(self):
        with self.assertRaisesRegex(TaskDefError, r"service p-w .*HEALTH_PORT=9000 \(task definition\) but the collector's Prometheus scrape target"):
            spec("procesamiento", "p-w", "sqs-worker", WORKER_ENV | {"HEALTH_PORT": "9000"})

    def test_worker_health_port_differing_from_a_container_port_fails(self):
        ports = {"portMappings": [{"containerPort": 8081}]}
        with self.assertRaisesRegex(TaskDefError, r"HEALTH_PORT=8080 \(task definition\) but portMappings containerPort is 8081"):
            spec("procesamiento", "p-w", "sqs-worker", WORKER_ENV, **ports)

    def test_worker_without_health_port_listens_on_port(self):
        env = {k: v for k, v in WORKER_ENV.items() if k != "HEALTH_PORT"} | {"PORT": "9001"}
        with self.assertRaisesRegex(TaskDefError, r"PORT=9001 \(task definition\) but the collector's Prometheus scrape target"):
            spec("procesamiento", "p-w", "sqs-worker", env)

    def test_otlp_endpoint_must_be_the_sidecars_host_and_port(self):
        for url in (
            "http://localhost:4317",  # the gRPC port
            "http://localhost",  # port 80
            "http://otel.internal:4318",  # another host
            "https://localhost:4318",  # the receiver speaks plain HTTP
        ):
            with self.subTest(url=url), self.assertRaisesRegex(
                TaskDefError, r"OTEL_EXPORTER_OTLP_ENDPOINT='.*' \(task definition\) but the otel-collector sidecar's OTLP/HTTP receiver listens on localhost:4318"
            ):
                spec("procesamiento", "p-w", "sqs-worker", WORKER_ENV | {"OTEL_EXPORTER_OTLP_ENDPOINT": url})
        for url in ("http://localhost:4318", "http://127.0.0.1:4318/"):
            spec("procesamiento", "p-w", "sqs-worker", WORKER_ENV | {"OTEL_EXPORTER_OTLP_ENDPOINT": url})

    def test_otlp_endpoint_without_a_receiver_fails(self):
        with self.assertRaisesRegex(TaskDefError, "no otel-collector sidecar with an OTLP/HTTP receiver"):
            spec("procesamiento", "p-w", "sqs-worker", WORKER_ENV, collector=collector_config(otlp=None))


class SpecTest(unittest.TestCase):
    def test_secrets_are_refused_by_name(self):
        with self.assertRaisesRegex(TaskDefError, r"secrets the rehearsal cannot provide: DB_PASSWORD <- arn:aws:ssm"):
            spec("order-api", "p-api", "order-api", {}, secrets=[{"name": "DB_PASSWORD", "valueFrom": "arn:aws:ssm:x"}])

    def test_environment_files_are_refused(self):
        with self.assertRaisesRegex(TaskDefError, "environment files"):
            spec("order-api", "p-api", "order-api", {}, environmentFiles=[{"type": "s3", "value": "arn:aws:s3:::b/k.env"}])

    def test_application_container_found_by_name(self):
        td = taskdef("p-api", "order-api", {})
        td["containerDefinitions"][0]["name"] = "app"
        with self.assertRaisesRegex(TaskDefError, "one application container named p-api"):
            taskdefs.service_spec("order-api", {"serviceName": "p-api", "serviceArn": "a"}, td, REPOS, IMAGES)

    def test_unknown_image_is_refused(self):
        td = taskdef("p-api", "order-api", {})
        td["containerDefinitions"][0]["image"] = "docker.io/library/nginx:1"
        with self.assertRaisesRegex(TaskDefError, "none of the repositories"):
            taskdefs.service_spec("order-api", {"serviceName": "p-api", "serviceArn": "a"}, td, REPOS, IMAGES)

    def test_stop_timeout_defaults_to_ecs_default(self):
        self.assertEqual(spec("order-api", "p-api", "order-api", {})["stopTimeout"], taskdefs.DEFAULT_STOP_TIMEOUT)
        self.assertEqual(spec("order-api", "p-api", "order-api", {}, stopTimeout=12)["stopTimeout"], 12)


class DockerfileTest(unittest.TestCase):
    def test_final_stage_entrypoint_and_env(self):
        text = 'FROM a AS b\nENV X=1\nENTRYPOINT ["/bin/no"]\nFROM c\nENV PORT=8080 \\\n    LOG_FORMAT=json\nENTRYPOINT ["/usr/local/bin/w"]\n'
        self.assertEqual(taskdefs.parse_dockerfile(text), (["/usr/local/bin/w"], {"PORT": "8080", "LOG_FORMAT": "json"}))

    def test_repository_dockerfiles_parse(self):
        root = Path(__file__).resolve().parents[2]
        images = taskdefs.image_dockerfiles((root / "scripts" / "images.sh").read_text())
        self.assertEqual(set(images), {"order-api", "sqs-worker"})
        for image, dockerfile in images.items():
            entrypoint, _ = taskdefs.parse_dockerfile((root / dockerfile).read_text())
            self.assertEqual(taskdefs.binary_of(entrypoint, dockerfile), image)

    def test_shell_form_entrypoint_is_refused(self):
        with self.assertRaisesRegex(TaskDefError, "JSON"):
            taskdefs.parse_dockerfile("FROM x\nENTRYPOINT /usr/local/bin/w\n")


class TraceExportTest(unittest.TestCase):
    """pipeline.trace_export_problems: which processes must have exported spans."""

    OTEL = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://localhost:4318", "OTEL_TRACES_SAMPLER": "parentbased_traceidratio"}

    def test_ratio_one_requires_an_export_from_each_process(self):
        env = self.OTEL | {"OTEL_TRACES_SAMPLER_ARG": "1"}
        required, problems, not_made = pipeline.trace_export_problems({"order-api": (env, 2), "relay": (env, 0)})
        self.assertEqual(required, ["order-api", "relay"])
        self.assertEqual(len(problems), 1)
        self.assertRegex(problems[0], r"^relay: sampler parentbased_traceidratio, OTEL_TRACES_SAMPLER_ARG=1 records every trace, but it sent no POST /v1/traces")
        self.assertEqual(not_made, [])

    def test_always_on_requires_an_export(self):
        env = self.OTEL | {"OTEL_TRACES_SAMPLER": "always_on", "OTEL_TRACES_SAMPLER_ARG": "0.05"}
        _, problems, _ = pipeline.trace_export_problems({"procesamiento": (env, 0)})
        self.assertEqual(len(problems), 1)

    def test_a_lower_ratio_says_the_check_is_not_made(self):
        env = self.OTEL | {"OTEL_TRACES_SAMPLER_ARG": "0.05"}
        required, problems, not_made = pipeline.trace_export_problems({"order-api": (env, 0)})
        self.assertEqual((required, problems), ([], []))
        self.assertEqual(not_made, ["order-api (parentbased_traceidratio, OTEL_TRACES_SAMPLER_ARG=0.05; 0 POST /v1/traces received, a count only)"])

    def test_a_parent_based_sampler_behind_a_lower_ratio_is_not_required(self):
        one, low = self.OTEL | {"OTEL_TRACES_SAMPLER_ARG": "1"}, self.OTEL | {"OTEL_TRACES_SAMPLER_ARG": "0.05"}
        required, problems, not_made = pipeline.trace_export_problems({"order-api": (low, 0), "procesamiento": (one, 0)})
        self.assertEqual((required, problems), ([], []))
        self.assertIn("but a caller samples fewer traces", not_made[1])


class BreakTest(unittest.TestCase):
    def test_parse(self):
        self.assertEqual(
            taskdefs.parse_break("procesamiento:SQS_QUEUE_URL={queue_urls[logistica]}"),
            ("procesamiento", "SQS_QUEUE_URL", "{queue_urls[logistica]}"),
        )
        with self.assertRaises(TaskDefError):
            taskdefs.parse_break("nobody:K=v")
        with self.assertRaises(TaskDefError):
            taskdefs.parse_break("relay:novalue")


if __name__ == "__main__":
    unittest.main()
