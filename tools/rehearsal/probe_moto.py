"""Re-verifies each moto shortfall that scripts/rehearsal.sh works around or
documents (tools/rehearsal/README.md), against the pinned moto. Not part of
`make rehearsal`; run it after changing tools/moto-requirements.txt:

    .local/moto-venv/bin/python tools/rehearsal/probe_moto.py

It starts its own servers (stock moto_server, and tools/rehearsal/moto_server.py)
on free loopback ports and prints one line per probe: SHORTFALL where moto
differs from AWS, AS-AWS where it behaves like AWS (for a listed shortfall:
the workaround can go).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import botocore.exceptions
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

HERE = Path(__file__).resolve().parent
LOG_DIR = tempfile.mkdtemp(prefix="probe-moto-")
REGION = "us-east-1"
results: list[tuple[str, str, str]] = []


def report(name: str, shortfall: bool, detail: str) -> None:
    results.append((name, "SHORTFALL" if shortfall else "AS-AWS", detail))
    print(f"{'SHORTFALL' if shortfall else 'AS-AWS   '} {name}: {detail}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(argv: list[str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"), "INITIAL_NO_AUTH_ACTION_COUNT": "3"}
    log = open(Path(LOG_DIR) / f"probe-moto-{port}.log", "w")
    proc = subprocess.Popen(argv + ["-H", "127.0.0.1", "-p", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(150):
        try:
            urllib.request.urlopen(url + "/moto-api/data.json", timeout=2).read()
            return proc, url
        except OSError:
            time.sleep(0.1)
    proc.kill()
    sys.exit(f"moto did not start: {argv}")


def client(url, service, key, secret):
    return boto3.client(
        service, endpoint_url=url, region_name=REGION, aws_access_key_id=key, aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1}),
    )


def bootstrap(url):
    iam = client(url, "iam", "x", "x")
    iam.create_user(UserName="admin")
    iam.put_user_policy(UserName="admin", PolicyName="a", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    k = iam.create_access_key(UserName="admin")["AccessKey"]
    return k["AccessKeyId"], k["SecretAccessKey"]


def user(url, adm, name, statements):
    iam = client(url, "iam", *adm)
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}))
    k = iam.create_access_key(UserName=name)["AccessKey"]
    return k["AccessKeyId"], k["SecretAccessKey"]


def refused(call) -> str | None:
    try:
        call()
    except botocore.exceptions.ClientError as e:
        return e.response.get("Error", {}).get("Code") or str(e.response["ResponseMetadata"]["HTTPStatusCode"])
    return None


def raw_publish(url, key, secret, topic, message) -> tuple[int, str]:
    """sns:Publish encoded like the AWS SDK for Rust (space -> %20)."""
    from urllib.parse import quote

    params = [("Action", "Publish"), ("Version", "2010-03-31"), ("TopicArn", topic), ("Message", message)]
    body = "&".join(f"{quote(k, safe='')}={quote(v, safe='-_.~')}" for k, v in params)
    req = AWSRequest(method="POST", url=url + "/", data=body.encode(), headers={"Content-Type": "application/x-www-form-urlencoded"})
    SigV4Auth(Credentials(key, secret), "sns", REGION).add_auth(req)
    r = urllib.request.Request(url + "/", data=body.encode(), headers=dict(req.headers), method="POST")
    try:
        with urllib.request.urlopen(r, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def main() -> None:
    py = sys.executable
    stock, stock_url = start([str(Path(py).parent / "moto_server")])
    fixed, fixed_url = start([py, str(HERE / "moto_server.py")])
    try:
        # 1. Signature of form-encoded bodies.
        for url, label in ((stock_url, "stock moto_server"), (fixed_url, "tools/rehearsal/moto_server.py")):
            adm = _admin_of(url)
            topic = client(url, "sns", *adm).create_topic(Name="t")["TopicArn"]
            status, body = raw_publish(url, *adm, topic, "with a space")
            if label.startswith("stock"):
                report("signature", status == 403 and "SignatureDoesNotMatch" in body,
                       f"{label}: sns:Publish with a space encoded as %20 (AWS SDK for Rust) -> {status}"
                       + (" SignatureDoesNotMatch" if "SignatureDoesNotMatch" in body else ""))
            elif status != 200:
                print(f"ERROR     the signature fix in moto_server.py no longer works: {status} {body[:200]}")
        url = stock_url
        adm = _admin_of(url)
        sns, sqs, ddb, iam, kms = (client(url, s, *adm) for s in ("sns", "sqs", "dynamodb", "iam", "kms"))
        topic = sns.create_topic(Name="t")["TopicArn"]
        q = sqs.create_queue(QueueName="q")["QueueUrl"]
        qarn = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        table = ddb.create_table(TableName="t", KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                                 AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                                 BillingMode="PAY_PER_REQUEST")["TableDescription"]["TableArn"]

        # 2. Resource scoping: SNS / DynamoDB checked against "*".
        u = user(url, adm, "scoped", [
            {"Effect": "Allow", "Action": "sns:Publish", "Resource": topic},
            {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": table},
            {"Effect": "Allow", "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:SendMessage", "sqs:ChangeMessageVisibility"], "Resource": qarn},
        ])
        code = refused(lambda: client(url, "sns", *u).publish(TopicArn=topic, Message="m"))
        report("sns resource", code is not None, f"sns:Publish allowed on the topic ARN -> {code or 'allowed'}")
        code = refused(lambda: client(url, "dynamodb", *u).get_item(TableName="t", Key={"k": {"S": "1"}}))
        report("dynamodb resource", code is not None, f"dynamodb:GetItem allowed on the table ARN -> {code or 'allowed'}")
        code = refused(lambda: client(url, "sqs", *u).receive_message(QueueUrl=q))
        print(f"info      sqs:ReceiveMessage allowed on the queue ARN -> {code or 'allowed'} (SQS is scoped)")

        # 3. Batch actions under their own names.
        cu = client(url, "sqs", *u)
        code = refused(lambda: cu.send_message_batch(QueueUrl=q, Entries=[{"Id": "1", "MessageBody": "b"}]))
        report("sqs batch names", code is not None, f"SendMessageBatch with sqs:SendMessage allowed -> {code or 'allowed'}")
        cu.send_message(QueueUrl=q, MessageBody="b")
        m = cu.receive_message(QueueUrl=q)["Messages"][0]
        code = refused(lambda: cu.delete_message_batch(QueueUrl=q, Entries=[{"Id": "1", "ReceiptHandle": m["ReceiptHandle"]}]))
        report("sqs batch names", code is not None, f"DeleteMessageBatch with sqs:DeleteMessage allowed -> {code or 'allowed'}")
        code = refused(lambda: cu.change_message_visibility_batch(QueueUrl=q, Entries=[{"Id": "1", "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}]))
        report("sqs batch names", code is not None, f"ChangeMessageVisibilityBatch with sqs:ChangeMessageVisibility allowed -> {code or 'allowed'}")

        # 4. 403 body format for JSON-protocol services.
        req = urllib.request.Request(url + "/", data=b"{}", method="POST", headers={"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810.ListTables"})
        aws_req = AWSRequest(method="POST", url=url + "/", data=b"{}", headers=dict(req.headers))
        SigV4Auth(Credentials(*u), "dynamodb", REGION).add_auth(aws_req)
        try:
            urllib.request.urlopen(urllib.request.Request(url + "/", data=b"{}", method="POST", headers=dict(aws_req.headers)), timeout=10)
            print("info      dynamodb:ListTables was allowed (unexpected)")
        except urllib.error.HTTPError as e:
            body = e.read().decode()
            report("403 format", body.lstrip().startswith("<"),
                   f"dynamodb (JSON protocol) refusal: {e.code} {e.headers.get('Content-Type')} body {body[:90]!r}")

        # 5. AssumeRole of a role trusted by a service principal.
        role = iam.create_role(RoleName="r", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
        try:
            client(url, "sts", *adm).assume_role(RoleArn=role, RoleSessionName="rehearsal")
            report("assume role", False, "AssumeRole of a role trusted by ecs-tasks.amazonaws.com answered")
        except botocore.exceptions.ClientError as e:
            report("assume role", True, f"AssumeRole of a role trusted by ecs-tasks.amazonaws.com -> {e.response['ResponseMetadata']['HTTPStatusCode']} {e.response['Error'].get('Code')}")
        except Exception as e:  # noqa: BLE001 - botocore cannot parse moto's HTML 500 page
            report("assume role", True, f"AssumeRole of a role trusted by ecs-tasks.amazonaws.com -> server error ({str(e).splitlines()[-1][:90]})")

        # 6. Resource policies are not evaluated (topic policy deny).
        sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Deny", "Principal": "*", "Action": "SNS:Publish", "Resource": topic}]}))
        wide = user(url, adm, "wide", [{"Effect": "Allow", "Action": "sns:Publish", "Resource": "*"}])
        code = refused(lambda: client(url, "sns", *wide).publish(TopicArn=topic, Message="m"))
        report("resource policies", code is None, f"sns:Publish under a topic policy that denies everyone -> {code or 'allowed'}")

        # 7. KMS: a disabled customer key does not stop SQS.
        key = kms.create_key()["KeyMetadata"]["KeyId"]
        kq = sqs.create_queue(QueueName="kq", Attributes={"KmsMasterKeyId": key})["QueueUrl"]
        kms.disable_key(KeyId=key)
        code = refused(lambda: sqs.send_message(QueueUrl=kq, MessageBody="m"))
        report("kms", code is None, f"sqs:SendMessage to a queue whose KMS key is disabled -> {code or 'accepted'}")

        # 8. Filter policies (MessageAttributes scope), numeric conditions.
        fq = sqs.create_queue(QueueName="fq")["QueueUrl"]
        farn = sqs.get_queue_attributes(QueueUrl=fq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=(t2 := sns.create_topic(Name="t2")["TopicArn"]), Protocol="sqs", Endpoint=farn, Attributes={
            "RawMessageDelivery": "true", "FilterPolicyScope": "MessageAttributes",
            "FilterPolicy": json.dumps({"eventType": ["PedidoCreado"], "total": [{"numeric": [">=", 1000000]}]})})
        for total in ("25001.00", "2000000.00", "1000000"):
            sns.publish(TopicArn=t2, Message=f"total {total}", MessageAttributes={
                "eventType": {"DataType": "String", "StringValue": "PedidoCreado"}, "total": {"DataType": "Number", "StringValue": total}})
        got = sorted(m["Body"] for m in sqs.receive_message(QueueUrl=fq, MaxNumberOfMessages=10).get("Messages", []))
        report("numeric filter", got != ["total 1000000", "total 2000000.00"], f"filter total >= 1000000 delivered {got}")
    finally:
        for p in (stock, fixed):
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


_ADMINS: dict[str, tuple[str, str]] = {}


def _admin_of(url):
    if url not in _ADMINS:
        _ADMINS[url] = bootstrap(url)
    return _ADMINS[url]


if __name__ == "__main__":
    main()
