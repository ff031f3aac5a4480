"""Principals with exactly the task roles' permissions.

After the apply: reads the task roles' policy documents back from moto's IAM
(never retyped), writes principals.json (the permission contract's input),
creates one IAM user per task role carrying the same documents (moto cannot
assume a role with a service principal in its trust policy), compensating
moto's authorization limits in the harness only, writes env/<name>.env per
service (that user's access key only: everything else a service runs with
comes from its registered task definition, taskdefs.py), and proves that IAM
is enforced for those users. Each service's task role is the one its task
definition names (taskdefs.json, read back from ECS).

Usage: python principals.py
"""

from __future__ import annotations

import copy
import json
import shlex

import botocore.exceptions

from common import admin, client, die, log, read_json, state_dir, write_json

# moto authorizes these services against the real resource ARN; every other
# service is checked against Resource "*" (moto/core/responses.py
# `_determine_resource` exists only for SQS, IAM and STS).
SCOPED_SERVICES = {"sqs", "iam", "sts"}
# moto authorizes SQS batch operations under their own names; AWS authorizes
# them with the single action.
BATCH_NAMES = {
    "sqs:deletemessage": "DeleteMessageBatch",
    "sqs:sendmessage": "SendMessageBatch",
    "sqs:changemessagevisibility": "ChangeMessageVisibilityBatch",
}


def as_list(v):
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


def task_role_names() -> dict[str, str]:
    """{label: task role name} as the registered task definitions name them."""
    roles = {}
    for spec in read_json("taskdefs.json"):
        arn = spec.get("taskRoleArn")
        if not arn:
            die(f"task definition {spec['taskDefinitionArn']} of {spec['service']} has no task role")
        roles[spec["label"]] = arn.rsplit("/", 1)[-1]
    return roles


def role_documents(iam, role: str) -> list[tuple[str, dict]]:
    """(name, document) of every inline and attached managed policy of a role."""
    docs = []
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        doc = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        docs.append((f"inline-{name}", json.loads(doc) if isinstance(doc, str) else doc))
    for att in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]:
        pol = iam.get_policy(PolicyArn=att["PolicyArn"])["Policy"]
        ver = iam.get_policy_version(PolicyArn=att["PolicyArn"], VersionId=pol["DefaultVersionId"])["PolicyVersion"]
        doc = ver["Document"]
        docs.append((f"managed-{att['PolicyName']}", json.loads(doc) if isinstance(doc, str) else doc))
    if not docs:
        die(f"role {role} has no policy")
    return docs


def compensate(doc: dict, who: str) -> tuple[dict, list[str]]:
    """The same document, adjusted for moto's authorizer only. Returns it with
    a line per change."""
    out = copy.deepcopy(doc)
    notes = []
    statements = []
    for st in as_list(out.get("Statement")):
        sid = st.get("Sid", "?")
        if "NotAction" in st or "NotResource" in st:
            die(f"{who}: statement {sid} uses NotAction/NotResource; the rehearsal does not know how moto treats it")
        actions = as_list(st.get("Action"))
        # (c) moto matches actions case-sensitively ("service:Action" with a
        # lowercase service); IAM does not.
        for a in list(actions):
            svc, _, op = a.partition(":")
            if svc != svc.lower() and f"{svc.lower()}:{op}" not in actions:
                actions.append(f"{svc.lower()}:{op}")
                notes.append(f"{who}: {sid}: + {svc.lower()}:{op} (moto matches action names case-sensitively)")
        # (a) batch operations.
        if st.get("Effect") == "Allow":
            for a in list(actions):
                batch = BATCH_NAMES.get(a.lower())
                if batch and f"sqs:{batch}" not in actions:
                    actions.append(f"sqs:{batch}")
                    notes.append(f"{who}: {sid}: + sqs:{batch} (moto authorizes the batch call under its own name)")
        st["Action"] = actions if len(actions) > 1 else actions[0]
        # (b) services moto checks against Resource "*".
        unscoped = [a for a in actions if a.split(":")[0].lower() not in SCOPED_SERVICES and a != "*"]
        scoped = [a for a in actions if a not in unscoped]
        resources = as_list(st.get("Resource"))
        if unscoped and resources != ["*"]:
            if st.get("Effect") != "Allow":
                notes.append(f"{who}: {sid}: Deny on {unscoped} scoped to {resources}: moto never matches it (left as is)")
                statements.append(st)
                continue
            wide = dict(st, Action=unscoped if len(unscoped) > 1 else unscoped[0], Resource="*")
            if scoped:
                wide["Sid"] = f"{sid}Unscoped" if "Sid" in st else None
                if wide["Sid"] is None:
                    del wide["Sid"]
                statements.append(dict(st, Action=scoped if len(scoped) > 1 else scoped[0]))
            statements.append(wide)
            notes.append(
                f"{who}: {sid}: Resource {', '.join(resources)} -> * for {', '.join(unscoped)} "
                f"(moto checks {', '.join(sorted({a.split(':')[0] for a in unscoped}))} against *)"
            )
        else:
            statements.append(st)
    out["Statement"] = statements
    return out, notes


def queue_arn(sqs, url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def env_file(name: str, pairs: dict[str, str]) -> None:
    d = state_dir() / "env"
    d.mkdir(exist_ok=True)
    lines = [
        "# Written by scripts/rehearsal.sh: the credentials of an IAM user holding",
        f"# exactly the {name} task role's policies. The service's settings come from",
        "# its registered task definition (.local/rehearsal/taskdefs.json).",
    ]
    lines += [f"{k}={shlex.quote(v)}" for k, v in pairs.items()]
    path = d / f"{name}.env"
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)


def expect_refused(what: str, call) -> None:
    try:
        call()
    except botocore.exceptions.ClientError as e:
        code = e.response.get("Error", {}).get("Code", "?")
        status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in ("AccessDenied", "AccessDeniedException") or status == 403:
            log(f"refused as it must be: {what} ({code})")
            return
        die(f"{what}: expected AccessDenied, got {code}: {e}")
    die(f"{what} was ALLOWED: moto is not enforcing IAM for the rehearsal principals")


def main() -> None:
    out = read_json("outputs.json")
    role_names = task_role_names()
    topic_arn = out["topic_arn"]
    table_name = out["table_name"]
    queue_urls = out["queue_urls"]
    dlq_urls = out["dlq_urls"]

    iam = admin("iam")
    sqs = admin("sqs")
    table_arn = admin("dynamodb").describe_table(TableName=table_name)["Table"]["TableArn"]

    # (label, binary as the call records name it, worker role, resources).
    # The relay is the order-api binary's `relay` subcommand, under a task
    # role of its own; its calls are recorded as binary `outbox-relay`.
    specs = [
        ("order-api", "order-api", None, {"topic": topic_arn, "table": table_arn}),
        ("relay", "outbox-relay", None, {"topic": topic_arn, "table": table_arn}),
    ]
    # A worker's labels are those its call records use (crates/sqs-worker
    # startup.rs): queue, dlq, table and its express lane's express_queue,
    # express_dlq (issue 23).
    express_urls = out["express_queue_urls"]
    express_dlq_urls = out["express_dlq_urls"]
    for role in ("procesamiento", "logistica"):
        if not all(role in urls for urls in (queue_urls, dlq_urls, express_urls, express_dlq_urls)):
            die(f"terraform outputs have no queue, DLQ, express queue or express DLQ for role {role}")
        specs.append(
            (
                role,
                "sqs-worker",
                role,
                {
                    "queue": queue_arn(sqs, queue_urls[role]),
                    "dlq": queue_arn(sqs, dlq_urls[role]),
                    "express_queue": queue_arn(sqs, express_urls[role]),
                    "express_dlq": queue_arn(sqs, express_dlq_urls[role]),
                    "table": table_arn,
                },
            )
        )

    principals = []
    users = {}
    all_notes = []
    for label, binary, role, resources in specs:
        role_name = role_names[label]
        role_arn = iam.get_role(RoleName=role_name)["Role"]["Arn"]
        docs = role_documents(iam, role_name)
        principals.append(
            {
                "binary": binary,
                "role": role,
                "iam_role": role_name,
                "iam_role_arn": role_arn,
                "policies": [d for _, d in docs],
                "resources": resources,
            }
        )
        user = f"rehearsal-{label}"
        iam.create_user(UserName=user, Tags=[{"Key": "stands-in-for", "Value": role_arn}])
        for name, doc in docs:
            fixed, notes = compensate(doc, label)
            all_notes += notes
            iam.put_user_policy(UserName=user, PolicyName=name, PolicyDocument=json.dumps(fixed))
        key = iam.create_access_key(UserName=user)["AccessKey"]
        users[label] = {"UserName": user, "AccessKeyId": key["AccessKeyId"], "SecretAccessKey": key["SecretAccessKey"]}

    path = write_json("principals.json", principals)
    log(f"wrote {path}: {', '.join(p['iam_role'] for p in principals)} (policies read back from IAM)")
    write_json("users.json", users)
    log("compensated for moto in the rehearsal users only (the production policies are unchanged):")
    for n in all_notes:
        print(f"    {n}")

    for label, _, _, _ in specs:
        env_file(
            label,
            {"AWS_ACCESS_KEY_ID": users[label]["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": users[label]["SecretAccessKey"]},
        )
    log(f"wrote {state_dir() / 'env'}/{{order-api,relay,procesamiento,logistica}}.env")

    # Enforcement: calls outside each role's policies must be refused.
    def as_user(label, service):
        return client(service, users[label]["AccessKeyId"], users[label]["SecretAccessKey"], retries=1)

    expect_refused(
        "order-api user: sqs:ReceiveMessage on the procesamiento queue",
        lambda: as_user("order-api", "sqs").receive_message(QueueUrl=queue_urls["procesamiento"], WaitTimeSeconds=0),
    )
    expect_refused(
        "procesamiento user: sns:Publish to the order topic",
        lambda: as_user("procesamiento", "sns").publish(TopicArn=topic_arn, Message="{}"),
    )
    expect_refused(
        "procesamiento user: sqs:ReceiveMessage on the logistica queue (another role's queue)",
        lambda: as_user("procesamiento", "sqs").receive_message(QueueUrl=queue_urls["logistica"], WaitTimeSeconds=0),
    )
    expect_refused(
        "logistica user: dynamodb:DeleteItem on the orders table",
        lambda: as_user("logistica", "dynamodb").delete_item(TableName=table_name, Key={"pedidoId": {"S": "x"}}),
    )
    expect_refused(
        "order-api user: dynamodb:Scan of the orders table",
        lambda: as_user("order-api", "dynamodb").scan(TableName=table_name, Limit=1),
    )
    expect_refused(
        "order-api user: dynamodb:Query of the outbox index (the relay's)",
        lambda: as_user("order-api", "dynamodb").query(
            TableName=table_name,
            IndexName=out.get("outbox_index_name", "outbox-pendientes"),
            KeyConditionExpression="outboxShard = :s",
            ExpressionAttributeValues={":s": {"S": "0"}},
        ),
    )
    # The relay: the outbox index, BatchGetItem, UpdateItem and Publish only.
    # (moto checks DynamoDB against Resource "*", so that Query is allowed on
    # the index only is proven by the permission contract, not here.)
    expect_refused(
        "relay user: dynamodb:GetItem on the orders table",
        lambda: as_user("relay", "dynamodb").get_item(TableName=table_name, Key={"pedidoId": {"S": "x"}}),
    )
    expect_refused(
        "relay user: dynamodb:Scan of the orders table",
        lambda: as_user("relay", "dynamodb").scan(TableName=table_name, Limit=1),
    )
    expect_refused(
        "relay user: dynamodb:DescribeTable",
        lambda: as_user("relay", "dynamodb").describe_table(TableName=table_name),
    )
    expect_refused(
        "relay user: dynamodb:PutItem on the orders table",
        lambda: as_user("relay", "dynamodb").put_item(TableName=table_name, Item={"pedidoId": {"S": "x"}}),
    )
    expect_refused(
        "relay user: sqs:ReceiveMessage on the procesamiento queue",
        lambda: as_user("relay", "sqs").receive_message(QueueUrl=queue_urls["procesamiento"], WaitTimeSeconds=0),
    )


if __name__ == "__main__":
    main()
