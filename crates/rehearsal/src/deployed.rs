//! The deployed resources' policies and encryption, as read back from the
//! account after the apply (`tools/rehearsal/resource_policies.py` writes
//! `.local/rehearsal/resource-policies.json`): one source for the permission
//! contract (which key encrypts a resource, its key policy, the resource's
//! own policy) and for the resource-policy scenarios.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::contract::InputError;
use crate::policy::Policy;

/// One resource: its ARN, the customer-managed key that encrypts it (`None`:
/// an AWS owned or AWS managed key, nothing for the caller to be granted)
/// and its resource policy, if any.
#[derive(Debug, Clone, Deserialize)]
pub struct Resource {
    /// The ARN.
    pub arn: String,
    /// The ARN of the customer-managed key that encrypts it.
    pub kms_key: Option<String>,
    /// Its resource policy (topic or queue policy), if any.
    pub policy: Option<Value>,
}

/// A KMS key and its key policy.
#[derive(Debug, Clone, Deserialize)]
pub struct Key {
    /// The key ARN.
    pub arn: String,
    /// The key policy.
    pub policy: Value,
}

/// Everything read back.
#[derive(Debug, Clone, Deserialize)]
pub struct Deployed {
    /// The account id.
    pub account: String,
    /// The region.
    pub region: String,
    /// The order events topic.
    pub topic: Resource,
    /// The ops alarm topic (`<prefix>-ops-alarms`): CloudWatch alarms and
    /// EventBridge rules publish to it, under the platform key.
    pub ops_topic: Resource,
    /// The orders table.
    pub table: Resource,
    /// Worker role → its queue.
    pub queues: BTreeMap<String, Resource>,
    /// Worker role → its dead-letter queue.
    pub dlqs: BTreeMap<String, Resource>,
    /// Worker role → its subscription dead-letter queue.
    pub delivery_dlqs: BTreeMap<String, Resource>,
    /// Worker role → its express-lane queue (issue 23), drained first.
    pub express_queues: BTreeMap<String, Resource>,
    /// Worker role → its express-lane dead-letter queue.
    pub express_dlqs: BTreeMap<String, Resource>,
    /// `data` / `platform` → the key and its policy.
    pub keys: BTreeMap<String, Key>,
}

impl Deployed {
    /// Reads the file written by `tools/rehearsal/resource_policies.py`.
    pub fn read(path: &Path) -> Result<Self, InputError> {
        crate::contract::read_json(path)
    }

    /// Every resource read back.
    pub fn resources(&self) -> impl Iterator<Item = &Resource> {
        [&self.topic, &self.ops_topic, &self.table]
            .into_iter()
            .chain(self.queues.values())
            .chain(self.dlqs.values())
            .chain(self.delivery_dlqs.values())
            .chain(self.express_queues.values())
            .chain(self.express_dlqs.values())
    }

    /// The resource an ARN names; a table's index (`<table>/index/<name>`)
    /// is encrypted and guarded as its table.
    pub fn resource(&self, arn: &str) -> Option<&Resource> {
        let base = arn.split_once("/index/").map_or(arn, |(table, _)| table);
        self.resources().find(|r| r.arn == base)
    }

    /// The name of the key (`data`, `platform`) the production root encrypts
    /// a resource under, `None` for one under an AWS owned key (the
    /// subscription delivery DLQs, SSE-SQS); the resource as `resource`
    /// finds it. `tools/rehearsal/resource_policies.py` refuses a read-back
    /// that differs; the contract checks it again on what it is given.
    pub fn expected_key_name(&self, arn: &str) -> Option<&'static str> {
        let base = arn.split_once("/index/").map_or(arn, |(table, _)| table);
        if self.ops_topic.arn == base {
            Some("platform")
        } else if self.delivery_dlqs.values().any(|q| q.arn == base) {
            None
        } else {
            Some("data")
        }
    }

    /// The key policy of a key ARN, parsed.
    pub fn key_policy(&self, arn: &str) -> Result<Option<Policy>, InputError> {
        self.keys
            .values()
            .find(|k| k.arn == arn)
            .map(|k| {
                Policy::from_value(&k.policy).map_err(|source| InputError::Policy {
                    principal: format!("key policy of {arn}"),
                    source,
                })
            })
            .transpose()
    }

    /// The resource policy of a resource, parsed.
    pub fn resource_policy(resource: &Resource) -> Result<Option<Policy>, InputError> {
        resource
            .policy
            .as_ref()
            .map(|p| {
                Policy::from_value(p).map_err(|source| InputError::Policy {
                    principal: format!("resource policy of {}", resource.arn),
                    source,
                })
            })
            .transpose()
    }
}
