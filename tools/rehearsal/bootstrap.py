"""Bootstrap the rehearsal on a fresh moto server (IAM enforced).

1. `admin`: with the server's free calls (INITIAL_NO_AUTH_ACTION_COUNT =
   BOOTSTRAP_CALLS) create an admin IAM user and its access key; then prove
   that the free calls are used up (an unknown key is refused).
2. `network`: what infra/envs/aws expects to exist already: a VPC, two
   subnets in different AZs and an ACM certificate.
3. `terraform <env dir>`: the provider override (endpoints -> moto, admin key)
   and the tfvars of the rehearsal, written into the scratch copy only.

Usage: python bootstrap.py admin|network|terraform <args>
"""

from __future__ import annotations

import json
import sys

import botocore.exceptions

from common import REGION, admin, client, die, endpoint, log, read_json, write_json

# CreateUser, PutUserPolicy, CreateAccessKey: scripts/rehearsal.sh starts moto
# with INITIAL_NO_AUTH_ACTION_COUNT set to this.
BOOTSTRAP_CALLS = 3
ADMIN_USER = "rehearsal-admin"

# Every service infra/envs/aws (and its modules) calls, as aws provider
# `endpoints` keys.
TERRAFORM_SERVICES = [
    "acm",
    "applicationautoscaling",
    "cloudwatch",
    "dynamodb",
    "ec2",
    "ecr",
    "ecs",
    "elbv2",
    "events",
    "iam",
    "kms",
    "logs",
    "s3",
    "sns",
    "sqs",
    "sts",
    "wafv2",
]


def cmd_admin() -> None:
    iam = client("iam", "bootstrap", "bootstrap", retries=1)
    # Exactly BOOTSTRAP_CALLS calls with credentials moto does not check yet.
    iam.create_user(UserName=ADMIN_USER)
    iam.put_user_policy(
        UserName=ADMIN_USER,
        PolicyName="administrator",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        ),
    )
    key = iam.create_access_key(UserName=ADMIN_USER)["AccessKey"]
    write_json("admin.json", {"UserName": ADMIN_USER, "AccessKeyId": key["AccessKeyId"], "SecretAccessKey": key["SecretAccessKey"]})
    try:
        iam.list_users()
    except botocore.exceptions.ClientError as e:
        log(f"IAM enforcement on: a call with an unknown key is refused ({e.response['Error']['Code']})")
    else:
        die("moto answered a call made with an unknown access key: IAM is not enforced (INITIAL_NO_AUTH_ACTION_COUNT?)")
    me = admin("sts").get_caller_identity()
    log(f"admin principal: {me['Arn']}")


def cmd_network() -> None:
    ec2 = admin("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnets = []
    for i, az in enumerate([f"{REGION}a", f"{REGION}b"]):
        sub = ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.20.{i * 16}.0/20", AvailabilityZone=az)["Subnet"]
        subnets.append(sub["SubnetId"])
    cert = admin("acm").request_certificate(DomainName="api.rehearsal.example.internal", ValidationMethod="DNS")[
        "CertificateArn"
    ]
    net = {"vpc_id": vpc, "subnet_ids": subnets, "certificate_arn": cert}
    write_json("network.json", net)
    log(f"network: {vpc}, subnets {', '.join(subnets)} (2 AZs), certificate {cert}")


def hcl(value: str) -> str:
    return json.dumps(value)


def cmd_terraform(env_dir: str) -> None:
    a = read_json("admin.json")
    net = read_json("network.json")
    ep = endpoint()
    width = max(len(s) for s in TERRAFORM_SERVICES)
    endpoints = "\n".join(f"    {s.ljust(width)} = {hcl(ep)}" for s in TERRAFORM_SERVICES)
    override = f"""# Written by scripts/rehearsal.sh (tools/rehearsal/bootstrap.py) into the
# scratch copy only: every AWS call of this root goes to the moto server.
provider "aws" {{
  access_key                  = {hcl(a["AccessKeyId"])}
  secret_key                  = {hcl(a["SecretAccessKey"])}
  skip_metadata_api_check     = true
  skip_region_validation      = true
  skip_credentials_validation = false
  s3_use_path_style           = true

  endpoints {{
{endpoints}
  }}
}}
"""
    tfvars = {
        "aws_region": REGION,
        "name_prefix": "ecomexpress",
        "environment": "rehearsal",
        "vpc_id": net["vpc_id"],
        "private_subnet_ids": net["subnet_ids"],
        "alb_subnet_ids": net["subnet_ids"],
        "certificate_arn": net["certificate_arn"],
        "api_image_tag": "rehearsal",
        "worker_image_tag": "rehearsal",
        # No ECS task ever runs on moto: a service never reaches a steady state.
        "wait_for_steady_state": False,
        # Deletion protection (ALB, table) stays as in production: the stack is
        # never destroyed, it goes with the server.
        # Resources moto never finishes creating (variables.tf says why):
        # GetQueueAttributes never returns a RedriveAllowPolicy, and
        # application-autoscaling ListTagsForResource is not implemented (500,
        # retried by the provider without end).
        "enable_redrive_allow_policy": False,
        "enable_worker_autoscaling": False,
        "enable_api_autoscaling": False,
    }
    from pathlib import Path

    d = Path(env_dir)
    (d / "override.tf").write_text(override)
    (d / "rehearsal.auto.tfvars.json").write_text(json.dumps(tfvars, indent=2) + "\n")
    write_json("tfvars.json", tfvars)
    log(f"wrote {d / 'override.tf'} (endpoints: {', '.join(TERRAFORM_SERVICES)}) and rehearsal.auto.tfvars.json")


def main() -> None:
    if len(sys.argv) < 2:
        die(__doc__)
    cmd = sys.argv[1]
    if cmd == "admin":
        cmd_admin()
    elif cmd == "network":
        cmd_network()
    elif cmd == "terraform" and len(sys.argv) == 3:
        cmd_terraform(sys.argv[2])
    else:
        die(f"unknown command {sys.argv[1:]}")


if __name__ == "__main__":
    main()
