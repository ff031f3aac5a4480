"""Resource policies and encryption keys, read back from the deployment.

After the apply: for the order topic, the ops alarm topic, the orders table
and every queue (main, express, their dead-letter queues, subscription dead-letter) writes its ARN,
the customer-managed KMS key that encrypts it (resolved to a key ARN with kms
DescribeKey; null for an AWS owned or AWS managed key) and its resource
policy; for the data and platform keys, the key policy. Output:
resource-policies.json, read by the permission contract and the
resource-policy scenarios (crates/rehearsal).

The encryption read back must be the one the production root sets, or this
tool fails naming the resource: the order topic, the table, the queues and
their DLQs under the data key (output kms_key_arns.data), the ops topic under
the platform key (kms_key_arns.platform), the subscription delivery DLQs
under none (SSE-SQS, an AWS owned key). A resource reported without its key
would otherwise skip every KMS check downstream.

Where moto 5.2.5 reads these from (checked against the running server):
DescribeTable SSEDescription.KMSMasterKeyArn, GetQueueAttributes
KmsMasterKeyId and Policy, GetTopicAttributes KmsMasterKeyId and Policy,
kms GetKeyPolicy (PolicyName "default"), each returning what Terraform set.

Usage:
  python resource_policies.py
  python resource_policies.py --fixture IN OUT
      IN (a resource-policies.json written by a rehearsal) with the random
      key ids of moto replaced by fixed ones (data 000..., platform 111...),
      pretty-printed into OUT: how crates/rehearsal/fixtures/
      resource-policies.json is regenerated.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from common import REGION, admin, die, log, read_json, write_json

FIXTURE_KEY_IDS = {
    "data": "00000000-0000-0000-0000-000000000000",
    "platform": "11111111-1111-1111-1111-111111111111",
}


def key_arn(kms, key_id: str | None) -> str | None:
    """The ARN of a customer-managed key, or None (no key, or one AWS manages)."""
    if not key_id:
        return None
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    return meta["Arn"] if meta.get("KeyManager") == "CUSTOMER" else None


def policy(text: str | None):
    return json.loads(text) if text else None


def queue(sqs, kms, url: str) -> dict:
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    if "QueueArn" not in attrs:
        die(f"GetQueueAttributes of {url} has no QueueArn")
    return {
        "arn": attrs["QueueArn"],
        "kms_key": key_arn(kms, attrs.get("KmsMasterKeyId")),
        "policy": policy(attrs.get("Policy")),
    }


def topic(sns, kms, arn: str) -> dict:
    attrs = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    return {
        "arn": arn,
        "kms_key": key_arn(kms, attrs.get("KmsMasterKeyId")),
        "policy": policy(attrs.get("Policy")),
    }


def expected_keys(doc: dict, keys: dict) -> list[tuple[str, dict, str | None]]:
    """(label, resource, the key ARN the production root encrypts it under)."""
    data, platform = keys["data"], keys["platform"]
    return (
        [("order topic", doc["topic"], data), ("ops topic", doc["ops_topic"], platform),
         ("orders table", doc["table"], data)]
        + [(f"queue {r}", q, data) for r, q in doc["queues"].items()]
        + [(f"DLQ {r}", q, data) for r, q in doc["dlqs"].items()]
        + [(f"express queue {r}", q, data) for r, q in doc["express_queues"].items()]
        + [(f"express DLQ {r}", q, data) for r, q in doc["express_dlqs"].items()]
        + [(f"subscription delivery DLQ {r} (SSE-SQS)", q, None) for r, q in doc["delivery_dlqs"].items()]
    )


def check_encryption(doc: dict, keys: dict) -> None:
    """Dies naming every resource whose key is not the one Terraform sets."""
    wrong = [
        f"{label} {res['arn']}: encrypted under {res['kms_key'] or 'no customer-managed key'}, "
        f"expected {want or 'no customer-managed key (SSE-SQS)'}"
        for label, res, want in expected_keys(doc, keys)
        if res["kms_key"] != want
    ]
    if wrong:
        die("the read-back encryption is not the production root's:\n  " + "\n  ".join(wrong))


def fixture(src: Path, dst: Path) -> None:
    text = src.read_text()
    for name, key in json.loads(text)["keys"].items():
        text = text.replace(key["arn"].rsplit("/", 1)[1], FIXTURE_KEY_IDS[name])
    dst.write_text(json.dumps(json.loads(text), indent=2) + "\n")
    log(f"wrote {dst} from {src} (key ids fixed)")


def main() -> None:
    if sys.argv[1:2] == ["--fixture"] and len(sys.argv) == 4:
        fixture(Path(sys.argv[2]), Path(sys.argv[3]))
        return
    if sys.argv[1:]:
        die(f"usage: {sys.argv[0]} [--fixture IN OUT]")
    out = read_json("outputs.json")
    sqs, sns, kms, ddb = admin("sqs"), admin("sns"), admin("kms"), admin("dynamodb")

    table = ddb.describe_table(TableName=out["table_name"])["Table"]
    sse = table.get("SSEDescription") or {}
    doc = {
        "account": out["topic_arn"].split(":")[4],
        "region": REGION,
        "topic": topic(sns, kms, out["topic_arn"]),
        "ops_topic": topic(sns, kms, out["ops_alarm_topic_arn"]),
        "table": {
            "arn": table["TableArn"],
            "kms_key": key_arn(kms, sse.get("KMSMasterKeyArn")) if sse.get("SSEType") == "KMS" else None,
            "policy": None,
        },
        "queues": {role: queue(sqs, kms, url) for role, url in out["queue_urls"].items()},
        "dlqs": {role: queue(sqs, kms, url) for role, url in out["dlq_urls"].items()},
        "delivery_dlqs": {role: queue(sqs, kms, url) for role, url in out["delivery_dlq_urls"].items()},
        "express_queues": {role: queue(sqs, kms, url) for role, url in out["express_queue_urls"].items()},
        "express_dlqs": {role: queue(sqs, kms, url) for role, url in out["express_dlq_urls"].items()},
        "keys": {
            name: {"arn": arn, "policy": json.loads(kms.get_key_policy(KeyId=arn, PolicyName="default")["Policy"])}
            for name, arn in out["kms_key_arns"].items()
        },
    }
    check_encryption(doc, out["kms_key_arns"])
    path = write_json("resource-policies.json", doc)
    log(f"wrote {path}: order and ops topics, table, {len(doc['queues'])} queues, {len(doc['dlqs'])} DLQs, "
        f"{len(doc['express_queues'])} express queues, {len(doc['express_dlqs'])} express DLQs, "
        f"{len(doc['delivery_dlqs'])} delivery DLQs (SSE-SQS), keys {', '.join(doc['keys'])}; "
        "each under the key the production root sets")


if __name__ == "__main__":
    main()
