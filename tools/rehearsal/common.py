"""Shared helpers of the rehearsal tools (run with .local/moto-venv's python).

State lives in the rehearsal directory (.local/rehearsal by default):
  moto.json        endpoint of the moto server
  admin.json       access key of the bootstrap admin user
  network.json     VPC, subnets and certificate created for infra/envs/aws
  outputs.json     `terraform output -json` of the applied root
  principals.json  task roles' policies and resources (read by the permission contract)
  resource-policies.json  resources' policies, keys and key policies (resource_policies.py)
  users.json       access keys of the IAM users that stand in for the task roles
  taskdefs.json    the services' registered task definitions, read back from ECS
  env/*.env        per-principal access key of the services
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import boto3
from botocore.config import Config

REGION = "us-east-1"


def die(msg: str) -> None:
    print(f"rehearsal: error: {msg}", file=sys.stderr)
    sys.exit(1)


def log(msg: str) -> None:
    print(f"rehearsal: {msg}", flush=True)


def state_dir() -> Path:
    d = Path(os.environ.get("REHEARSAL_DIR", ".local/rehearsal"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def read_json(name: str):
    path = state_dir() / name
    if not path.exists():
        die(f"{path} missing (run scripts/rehearsal.sh)")
    return json.loads(path.read_text())


def write_json(name: str, value) -> Path:
    path = state_dir() / name
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(value, indent=2, sort_keys=False) + "\n")
    tmp.replace(path)
    return path


def endpoint() -> str:
    return read_json("moto.json")["endpoint"]


def client(service: str, key_id: str, secret: str, retries: int = 2):
    """A boto3 client for moto with explicit credentials and endpoint (never the
    environment's: test.sh exports LocalStack endpoints)."""
    return boto3.client(
        service,
        endpoint_url=endpoint(),
        region_name=REGION,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": retries, "mode": "standard"}, connect_timeout=5, read_timeout=30),
    )


def admin(service: str):
    a = read_json("admin.json")
    return client(service, a["AccessKeyId"], a["SecretAccessKey"])
