//! The permission contract: recorded calls against the deployed policies.
//! Each call is decided as AWS would (`crate::access`): the task role's
//! identity policies and the resource's own policy, with the request context
//! the call had on AWS (`aws:SecureTransport` true: the SDKs use HTTPS;
//! `aws:PrincipalArn`, `aws:PrincipalAccount`). A key the call record does not
//! carry is absent, and AWS's rule for absent keys applies: the relay's
//! `ForAllValues:StringEquals` on `dynamodb:Attributes` and
//! `StringEqualsIfExists` on `dynamodb:ReturnValues` hold (so the contract
//! proves the relay's action and resource, not its attribute list). A call
//! that touches data of a resource under a customer-managed key also needs
//! that key's KMS actions (`actions::kms_actions`) for the same role, through
//! the service (`kms:ViaService`, `kms:CallerAccount`), allowed by the key
//! policy too.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;
use shared::aws::call_record::CallRecord;

use crate::access::{Outcome, account_of, decide};
use crate::actions::{iam_action, is_emulator_only_action, kms_actions};
use crate::deployed::Deployed;
use crate::policy::{Caller, Key, Policy, PolicyError, Request};

/// A failure to read the inputs.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A file is not what it should be.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A policy document is malformed.
    #[error("policy of {principal}: {source}")]
    Policy {
        /// Whose.
        principal: String,
        /// What is wrong.
        source: PolicyError,
    },
}

/// A deployed principal: a binary's task role, its policy documents as read
/// back from IAM, and the production ARN of each resource label.
#[derive(Debug, Clone, Deserialize)]
pub struct Principal {
    /// `order-api` or `sqs-worker`.
    pub binary: String,
    /// The worker role, if any.
    #[serde(default)]
    pub role: Option<String>,
    /// The IAM role's name.
    pub iam_role: String,
    /// The IAM role's ARN.
    pub iam_role_arn: String,
    /// Its policy documents.
    pub policies: Vec<Value>,
    /// Label (`queue`, `dlq`, `table`, `topic`) → production ARN.
    pub resources: BTreeMap<String, String>,
}

impl Principal {
    /// `sqs-worker (procesamiento)` or `order-api`.
    pub fn who(&self) -> String {
        match &self.role {
            Some(role) => format!("{} ({role})", self.binary),
            None => self.binary.clone(),
        }
    }

    /// Whether `call` was made by this principal's process: same binary and
    /// same role (a role-less principal serves only role-less calls, so a
    /// process recording under a role no principal has is never checked
    /// against another role's policies: `check` reports it instead).
    fn serves(&self, call: &CallRecord) -> bool {
        call.binary == self.binary && self.role == call.role
    }

    /// The production ARN of a resource label; `<label>/index/<name>` (a
    /// request on a table's index) is the labelled table's ARN +
    /// `/index/<name>`, which IAM authorizes index requests against.
    pub fn resource_arn(&self, label: &str) -> Option<String> {
        if let Some(arn) = self.resources.get(label) {
            return Some(arn.clone());
        }
        let (base, index) = label.split_once("/index/")?;
        self.resources
            .get(base)
            .map(|arn| format!("{arn}/index/{index}"))
    }
}

/// Reads a JSON file the rehearsal wrote (principals, resource policies).
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, InputError> {
    let text = std::fs::read_to_string(path).map_err(|source| InputError::Io {
        path: path.display().to_string(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| InputError::Invalid {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

/// Reads the principals file written by `scripts/rehearsal.sh`.
pub fn read_principals(path: &Path) -> Result<Vec<Principal>, InputError> {
    read_json(path)
}

/// Reads every `*.jsonl` call record in `dir`.
pub fn read_calls(dir: &Path) -> Result<Vec<CallRecord>, InputError> {
    let io = |source| InputError::Io {
        path: dir.display().to_string(),
        source,
    };
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(io)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    let mut calls = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|source| InputError::Io {
            path: file.display().to_string(),
            source,
        })?;
        for (n, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            calls.push(serde_json::from_str(line).map_err(|e| InputError::Invalid {
                path: format!("{}:{}", file.display(), n + 1),
                message: e.to_string(),
            })?);
        }
    }
    Ok(calls)
}

/// A call the policy refuses, or that cannot be placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// `sqs-worker (procesamiento)`.
    pub who: String,
    /// The API operation.
    pub operation: String,
    /// The IAM action that authorizes it.
    pub action: String,
    /// The production ARN (or what is known of the resource).
    pub resource: String,
    /// Why it fails.
    pub why: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} ({}) on {}: {}",
            self.who, self.operation, self.action, self.resource, self.why
        )
    }
}

/// The outcome of the check.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Calls checked and allowed: `who: operation (action) on resource`.
    pub allowed: Vec<String>,
    /// Calls the deployment refuses; the check fails when non-empty.
    pub violations: Vec<Violation>,
    /// Allowed (action, resource) pairs that no recorded call needed.
    pub excess: Vec<String>,
    /// Via-service KMS grants that no recorded call needed: the service
    /// may still use them on the binary's behalf at moments no call record
    /// shows (DynamoDB's own key management: grants, re-encryption).
    pub indirect: Vec<String>,
}

impl Report {
    /// Whether every call is allowed.
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }
}

impl Principal {
    /// The request context of this principal's calls on AWS.
    fn request(&self, action: &str, resource: &str) -> Request {
        let mut request = Request::new(Caller::Aws(self.iam_role_arn.clone()), action, resource)
            .with("aws:SecureTransport", Key::Flag(true))
            .with_text("aws:PrincipalArn", &self.iam_role_arn);
        if let Some(account) = account_of(&self.iam_role_arn) {
            request = request.with_text("aws:PrincipalAccount", account);
        }
        request
    }
}

fn decided(
    who: &Principal,
    identity: &[Policy],
    resource_policy: Option<&Policy>,
    request: &Request,
) -> Result<Outcome, InputError> {
    decide(identity, resource_policy, request).map_err(|source| InputError::Policy {
        principal: who.who(),
        source,
    })
}

/// Checks every call of each principal's binary against its policies, the
/// resource policies and the encryption keys read back in `deployed`.
pub fn check(
    principals: &[Principal],
    deployed: &Deployed,
    calls: &[CallRecord],
) -> Result<Report, InputError> {
    let mut report = Report::default();
    for principal in principals {
        let policies: Vec<Policy> = principal
            .policies
            .iter()
            .map(Policy::from_value)
            .collect::<Result<_, _>>()
            .map_err(|source| InputError::Policy {
                principal: principal.who(),
                source,
            })?;
        let mine: BTreeSet<(&str, &str, &str)> = calls
            .iter()
            .filter(|c| principal.serves(c))
            .map(|c| {
                (
                    c.service.as_str(),
                    c.operation.as_str(),
                    c.resource.as_str(),
                )
            })
            .collect();
        if mine.is_empty() {
            report.violations.push(Violation {
                who: principal.who(),
                operation: "-".into(),
                action: "-".into(),
                resource: "-".into(),
                why: "no recorded call: the tests did not run this binary with AWS_CALL_RECORD_DIR set, so nothing was checked".into(),
            });
            continue;
        }
        let mut used: BTreeSet<(String, String)> = BTreeSet::new();
        for (service, operation, label) in mine {
            let action = iam_action(service, operation);
            let violation = |resource: &str, why: String| Violation {
                who: principal.who(),
                operation: operation.to_owned(),
                action: action.clone(),
                resource: resource.to_owned(),
                why,
            };
            let Some(arn) = principal.resource_arn(label) else {
                report.violations.push(violation(
                    label,
                    format!(
                        "a resource the deployment does not give this binary (label {label:?}; known: {})",
                        principal.resources.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                ));
                continue;
            };
            let arn = &arn;
            let Some(resource) = deployed.resource(arn) else {
                report.violations.push(violation(
                    arn,
                    "not among the resources read back from the deployment (resource-policies.json): its policy and encryption are unknown".into(),
                ));
                continue;
            };
            let resource_policy = Deployed::resource_policy(resource)?;
            match decided(
                principal,
                &policies,
                resource_policy.as_ref(),
                &principal.request(&action, arn),
            )? {
                Outcome::Allowed(_) => {
                    used.insert((action.clone(), arn.clone()));
                    report.allowed.push(format!(
                        "{}: {operation} ({action}) on {arn}",
                        principal.who()
                    ));
                }
                Outcome::Refused(why) => report.violations.push(violation(
                    arn,
                    format!("refused for role {}: {why}", principal.iam_role),
                )),
            }
            // The key the production root encrypts it under: a read-back
            // without it (or with another) is a violation, never a skipped
            // KMS check; the checks below use the expected key.
            let expected = deployed
                .expected_key_name(arn)
                .map(|name| (name, deployed.keys.get(name).map(|k| &k.arn)));
            let key = match (expected, &resource.kms_key) {
                (None, None) => continue,
                (None, Some(got)) => {
                    report.violations.push(violation(
                        arn,
                        format!(
                            "read back encrypted under key {got}, expected no customer-managed key (SSE-SQS)"
                        ),
                    ));
                    continue;
                }
                (Some((name, None)), _) => {
                    report.violations.push(violation(
                        arn,
                        format!(
                            "expected encrypted under the {name} key, which was not read back (resource-policies.json keys)"
                        ),
                    ));
                    continue;
                }
                (Some((name, Some(want))), got) => {
                    if got.as_ref() != Some(want) {
                        report.violations.push(violation(
                            arn,
                            format!(
                                "expected encrypted under the {name} key {want}, read back under {}: the KMS check below uses {want}",
                                got.as_deref().unwrap_or("no customer-managed key")
                            ),
                        ));
                    }
                    want
                }
            };
            let Some(needed) = kms_actions(service, operation) else {
                report.violations.push(violation(
                    arn,
                    format!(
                        "encrypted under key {key}, and whether {service}:{operation} uses it is not known (add it to actions::kms_actions)"
                    ),
                ));
                continue;
            };
            let Some(key_policy) = deployed.key_policy(key)? else {
                report.violations.push(violation(
                    arn,
                    format!("encrypted under key {key}, whose key policy was not read back"),
                ));
                continue;
            };
            let region = arn.split(':').nth(3).unwrap_or_default();
            let via = format!("{service}.{region}.amazonaws.com");
            for kms_action in needed {
                let mut request = principal
                    .request(kms_action, key)
                    .with_text("kms:ViaService", &via);
                if let Some(account) = account_of(&principal.iam_role_arn) {
                    request = request.with_text("kms:CallerAccount", account);
                }
                match decided(principal, &policies, Some(&key_policy), &request)? {
                    Outcome::Allowed(_) => {
                        used.insert(((*kms_action).to_owned(), key.clone()));
                        report.allowed.push(format!(
                            "{}: {operation} on {arn} -> {kms_action} on {key} through {via}",
                            principal.who()
                        ));
                    }
                    Outcome::Refused(why) => report.violations.push(Violation {
                        who: principal.who(),
                        operation: operation.to_owned(),
                        action: (*kms_action).to_owned(),
                        resource: arn.clone(),
                        why: format!(
                            "encrypted under key {key}: {kms_action} through {via} refused for role {}: {why}",
                            principal.iam_role
                        ),
                    }),
                }
            }
        }
        unused_grants(principal, &policies, &used, &mut report);
    }
    // Calls of a process no principal stands for would go unchecked.
    let unserved: BTreeSet<(&str, Option<&str>)> = calls
        .iter()
        .filter(|c| !principals.iter().any(|p| p.serves(c)))
        .map(|c| (c.binary.as_str(), c.role.as_deref()))
        .collect();
    for (binary, role) in unserved {
        report.violations.push(Violation {
            who: match role {
                Some(role) => format!("{binary} ({role})"),
                None => binary.to_owned(),
            },
            operation: "-".into(),
            action: "-".into(),
            resource: "-".into(),
            why: "recorded calls of a process no task role of the deployment stands for (principals.json), so they were not checked".into(),
        });
    }
    Ok(report)
}

/// Lists every allowed (action, resource) of explicit statements that no call used.
fn unused_grants(
    principal: &Principal,
    policies: &[Policy],
    used: &BTreeSet<(String, String)>,
    report: &mut Report,
) {
    for statement in policies.iter().flat_map(|p| &p.statements) {
        if !statement.allow || statement.not_action || statement.not_resource {
            continue;
        }
        let via_service = statement
            .condition
            .as_ref()
            .is_some_and(|c| c.to_string().contains("kms:ViaService"));
        for action in &statement.actions {
            for resource in &statement.resources {
                let line = format!("{}: {action} on {resource}", principal.who());
                let needed = used.iter().any(|(a, r)| {
                    crate::policy::wildcard_match(
                        &action.to_ascii_lowercase(),
                        &a.to_ascii_lowercase(),
                    ) && crate::policy::wildcard_match(resource, r)
                });
                if is_emulator_only_action(action) {
                    report.excess.push(format!(
                        "{line} (not an AWS action: batch calls are authorized by the single action)"
                    ));
                } else if !needed && via_service {
                    report.indirect.push(line);
                } else if !needed {
                    report.excess.push(line);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXED: &str = include_str!("../fixtures/principals.json");
    const BROKEN: &str = include_str!("../fixtures/principals-worker-without-dlq-attributes.json");
    const CALLS: &str = include_str!("../fixtures/calls/integration.jsonl");
    const DEPLOYED: &str = include_str!("../fixtures/resource-policies.json");

    fn deployed() -> Deployed {
        serde_json::from_str(DEPLOYED).expect("fixture resource policies")
    }

    fn check(principals: &[Principal], calls: &[CallRecord]) -> Result<Report, InputError> {
        super::check(principals, &deployed(), calls)
    }

    fn calls() -> Vec<CallRecord> {
        CALLS
            .lines()
            .map(|l| serde_json::from_str(l).expect("fixture line"))
            .collect()
    }

    fn principals(text: &str) -> Vec<Principal> {
        serde_json::from_str(text).expect("fixture principals")
    }

    #[test]
    fn the_deployed_policies_allow_every_recorded_call() {
        let report = check(&principals(FIXED), &calls()).expect("check");
        assert!(report.passed(), "{:#?}", report.violations);
        assert!(
            report
                .allowed
                .iter()
                .any(|l| l.contains("DeleteMessageBatch (sqs:DeleteMessage)")),
            "batch deletes are authorized by sqs:DeleteMessage: {:#?}",
            report.allowed
        );
        // Every data call on the encrypted resources is checked for its key.
        for line in [
            "order-api: PutItem on arn:aws:dynamodb:us-east-1:123456789012:table/ecomexpress-pedidos -> kms:Decrypt",
            "order-api: Publish on arn:aws:sns:us-east-1:123456789012:ecomexpress-pedidos-eventos -> kms:GenerateDataKey",
            "outbox-relay: UpdateItem on arn:aws:dynamodb:us-east-1:123456789012:table/ecomexpress-pedidos -> kms:Decrypt",
            "sqs-worker (procesamiento): ReceiveMessage on arn:aws:sqs:us-east-1:123456789012:ecomexpress-procesamiento -> kms:Decrypt",
            "sqs-worker (logistica): SendMessage on arn:aws:sqs:us-east-1:123456789012:ecomexpress-logistica-dlq -> kms:GenerateDataKey",
        ] {
            assert!(
                report.allowed.iter().any(|l| l.starts_with(line)),
                "{line}: {:#?}",
                report.allowed
            );
        }
        // Only DynamoDB's own key management is left unattributed.
        assert!(
            report
                .indirect
                .iter()
                .all(|l| !l.contains("kms:Decrypt") && !l.contains("kms:GenerateDataKey on")),
            "{:#?}",
            report.indirect
        );
        assert!(
            report
                .indirect
                .iter()
                .any(|l| l.contains("kms:CreateGrant")),
            "{:#?}",
            report.indirect
        );
    }

    #[test]
    fn a_missing_permission_names_the_binary_operation_and_resource() {
        let report = check(&principals(BROKEN), &calls()).expect("check");
        assert!(!report.passed());
        let text: Vec<String> = report.violations.iter().map(ToString::to_string).collect();
        assert_eq!(text.len(), 1, "{text:#?}");
        assert_eq!(
            text[0],
            "sqs-worker (procesamiento): GetQueueAttributes (sqs:GetQueueAttributes) on \
             arn:aws:sqs:us-east-1:123456789012:ecomexpress-procesamiento-dlq: \
             refused for role ecomexpress-worker-procesamiento-task: allowed neither by the \
             caller's identity policies nor by the resource policy"
        );
    }

    #[test]
    fn batch_names_grant_nothing_and_are_flagged() {
        let mut ps = principals(FIXED);
        let worker = ps
            .iter_mut()
            .find(|p| p.role.as_deref() == Some("procesamiento"))
            .expect("worker");
        // What a policy tuned on moto would look like: the batch name instead of the action.
        let text = serde_json::to_string(&worker.policies).expect("json");
        worker.policies = serde_json::from_str(
            &text.replace("\"sqs:DeleteMessage\"", "\"sqs:DeleteMessageBatch\""),
        )
        .expect("json");
        let report = check(&ps, &calls()).expect("check");
        assert!(
            report
                .violations
                .iter()
                .any(|v| v.operation == "DeleteMessageBatch" && v.action == "sqs:DeleteMessage"),
            "{:#?}",
            report.violations
        );
        assert!(
            report
                .excess
                .iter()
                .any(|l| l.contains("not an AWS action"))
        );
    }

    #[test]
    fn calls_outside_the_configuration_and_silent_binaries_fail() {
        let mut records = calls();
        records.push(CallRecord {
            binary: "order-api".into(),
            role: None,
            service: "sqs".into(),
            operation: "SendMessage".into(),
            resource: shared::aws::call_record::OTHER.into(),
            arn: "arn:aws:sqs:us-east-1:000000000000:somewhere".into(),
        });
        records.retain(|c| c.role.as_deref() != Some("logistica"));
        let report = check(&principals(FIXED), &records).expect("check");
        let text: Vec<String> = report.violations.iter().map(ToString::to_string).collect();
        assert!(
            text.iter()
                .any(|t| t.starts_with("order-api: SendMessage (sqs:SendMessage) on other:")),
            "{text:#?}"
        );
        assert!(
            text.iter()
                .any(|t| t.starts_with("sqs-worker (logistica)") && t.contains("no recorded call")),
            "{text:#?}"
        );
    }

    const NEITHER: &str =
        "allowed neither by the caller's identity policies nor by the resource policy";

    fn relay_call(operation: &str, resource: &str) -> CallRecord {
        CallRecord {
            binary: "outbox-relay".into(),
            role: None,
            service: "dynamodb".into(),
            operation: operation.into(),
            resource: resource.into(),
            arn: String::new(),
        }
    }

    #[test]
    fn the_relay_may_query_the_outbox_index_only() {
        let report = check(&principals(FIXED), &calls()).expect("check");
        assert!(
            report.allowed.iter().any(|l| l
                == "outbox-relay: Query (dynamodb:Query) on \
                    arn:aws:dynamodb:us-east-1:123456789012:table/ecomexpress-pedidos/index/outbox-pendientes"),
            "{:#?}",
            report.allowed
        );
        let mut records = calls();
        // A Query without IndexName reads the table; GetItem, Scan and
        // DescribeTable are the API's or nobody's.
        records.push(relay_call("Query", "table"));
        records.push(relay_call("GetItem", "table"));
        records.push(relay_call("Scan", "table"));
        records.push(relay_call("DescribeTable", "table"));
        // The API's process never queries the index.
        records.push(CallRecord {
            binary: "order-api".into(),
            ..relay_call("Query", "table/index/outbox-pendientes")
        });
        let report = check(&principals(FIXED), &records).expect("check");
        let text: Vec<String> = report.violations.iter().map(ToString::to_string).collect();
        let table = "arn:aws:dynamodb:us-east-1:123456789012:table/ecomexpress-pedidos";
        let mut want = vec![format!(
            "order-api: Query (dynamodb:Query) on {table}/index/outbox-pendientes: \
             refused for role ecomexpress-order-api-task: {NEITHER}"
        )];
        for op in ["DescribeTable", "GetItem", "Query", "Scan"] {
            want.push(format!(
                "outbox-relay: {op} (dynamodb:{op}) on {table}: refused for role ecomexpress-relay-task: {NEITHER}"
            ));
        }
        assert_eq!(text, want);
    }

    #[test]
    fn the_relay_is_checked_against_its_own_role() {
        // Without the relay's records, its principal has nothing recorded.
        let mut records = calls();
        records.retain(|c| c.binary != "outbox-relay");
        let report = check(&principals(FIXED), &records).expect("check");
        let text: Vec<String> = report.violations.iter().map(ToString::to_string).collect();
        assert!(
            text.iter()
                .any(|t| t.starts_with("outbox-relay") && t.contains("no recorded call")),
            "{text:#?}"
        );
        // A role-less principal does not take the calls of a process with a role.
        let mut records = calls();
        records.push(CallRecord {
            binary: "order-api".into(),
            role: Some("relay".into()),
            ..relay_call("Query", "table/index/outbox-pendientes")
        });
        let report = check(&principals(FIXED), &records).expect("check");
        let text: Vec<String> = report.violations.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "order-api (relay): - (-) on -: recorded calls of a process no task role of the \
              deployment stands for (principals.json), so they were not checked"
            ],
        );
        assert!(
            !report
                .allowed
                .iter()
                .any(|l| l.starts_with("order-api: Query")),
            "{:#?}",
            report.allowed
        );
    }

    #[test]
    fn unused_grants_are_listed() {
        let mut records = calls();
        records.retain(|c| !(c.binary == "order-api" && c.operation == "DescribeTable"));
        let report = check(&principals(FIXED), &records).expect("check");
        assert!(report.passed());
        assert!(
            report
                .excess
                .iter()
                .any(|l| l.starts_with("order-api: dynamodb:DescribeTable on")),
            "{:#?}",
            report.excess
        );
    }

    fn without_statement(text: &str, sid: &str) -> Vec<Principal> {
        let mut ps = principals(text);
        for p in &mut ps {
            for doc in &mut p.policies {
                let statements = doc["Statement"].as_array_mut().expect("statements");
                statements.retain(|s| s["Sid"] != sid);
            }
        }
        ps
    }

    #[test]
    fn a_table_call_without_the_data_key_through_dynamodb_fails() {
        let report = check(
            &without_statement(FIXED, "UseTheDataKeyThroughDynamoDB"),
            &calls(),
        )
        .expect("check");
        let text: Vec<String> = report.violations.iter().map(ToString::to_string).collect();
        let table = "arn:aws:dynamodb:us-east-1:123456789012:table/ecomexpress-pedidos";
        let key = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000";
        // Every principal, every data operation on the table; DescribeTable needs no key.
        for (who, role, op, resource) in [
            (
                "order-api",
                "ecomexpress-order-api-task",
                "PutItem",
                table.to_owned(),
            ),
            (
                "order-api",
                "ecomexpress-order-api-task",
                "GetItem",
                table.to_owned(),
            ),
            (
                "outbox-relay",
                "ecomexpress-relay-task",
                "UpdateItem",
                table.to_owned(),
            ),
            (
                "outbox-relay",
                "ecomexpress-relay-task",
                "Query",
                format!("{table}/index/outbox-pendientes"),
            ),
            (
                "sqs-worker (procesamiento)",
                "ecomexpress-worker-procesamiento-task",
                "UpdateItem",
                table.to_owned(),
            ),
            (
                "sqs-worker (logistica)",
                "ecomexpress-worker-logistica-task",
                "GetItem",
                table.to_owned(),
            ),
        ] {
            let want = format!(
                "{who}: {op} (kms:Decrypt) on {resource}: encrypted under key {key}: kms:Decrypt \
                 through dynamodb.us-east-1.amazonaws.com refused for role {role}: the key policy \
                 delegates to IAM, and no identity policy allows it"
            );
            assert!(text.contains(&want), "missing {want}\n{text:#?}");
        }
        assert!(
            !text.iter().any(|t| t.contains("DescribeTable")),
            "{text:#?}"
        );
        // Only table calls fail: SNS and SQS keys come from their own statements.
        assert!(
            text.iter()
                .all(|t| t.contains("dynamodb.us-east-1.amazonaws.com")),
            "{text:#?}"
        );
    }

    #[test]
    fn a_queue_call_without_its_via_service_key_grant_fails_and_the_key_policy_counts() {
        let report = check(
            &without_statement(FIXED, "DecryptAndEncryptQueueMessages"),
            &calls(),
        )
        .expect("check");
        let text: Vec<String> = report.violations.iter().map(ToString::to_string).collect();
        assert!(
            text.iter().any(|t| t.starts_with(
                "sqs-worker (procesamiento): ReceiveMessage (kms:Decrypt) on \
                 arn:aws:sqs:us-east-1:123456789012:ecomexpress-procesamiento: encrypted under key"
            ) && t.contains("through sqs.us-east-1.amazonaws.com")),
            "{text:#?}"
        );
        // A key policy without the account-root statement delegates nothing to IAM.
        let mut d = deployed();
        let data = d.keys.get_mut("data").expect("data key");
        data.policy["Statement"]
            .as_array_mut()
            .expect("statements")
            .retain(|s| s["Sid"] != "EnableAccountRootAdministration");
        let report = super::check(&principals(FIXED), &d, &calls()).expect("check");
        assert!(
            report
                .violations
                .iter()
                .any(|v| v.action == "kms:GenerateDataKey"
                    && v.why.ends_with(
                        "the key policy neither allows this caller nor delegates to IAM for it"
                    )),
            "{:#?}",
            report.violations
        );
    }

    #[test]
    fn a_data_resource_read_back_without_its_key_is_a_violation() {
        let mut d = deployed();
        d.table.kms_key = None;
        let report = super::check(&principals(FIXED), &d, &calls()).expect("check");
        let table = "arn:aws:dynamodb:us-east-1:123456789012:table/ecomexpress-pedidos";
        let key = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000";
        let want = format!(
            "order-api: PutItem (dynamodb:PutItem) on {table}: expected encrypted under the data \
             key {key}, read back under no customer-managed key: the KMS check below uses {key}"
        );
        let text: Vec<String> = report.violations.iter().map(ToString::to_string).collect();
        assert!(text.contains(&want), "missing {want}\n{text:#?}");
        assert!(
            text.iter().all(|t| t.contains(table)),
            "only the table's calls: {text:#?}"
        );
        // Without the data key read back at all, no table or queue call passes.
        let mut d = deployed();
        d.keys.remove("data");
        let report = super::check(&principals(FIXED), &d, &calls()).expect("check");
        assert!(
            report
                .violations
                .iter()
                .any(|v| v.resource.starts_with("arn:aws:sqs:")
                    && v.why
                        == "expected encrypted under the data key, which was not read back \
                        (resource-policies.json keys)"),
            "{:#?}",
            report.violations
        );
    }

    #[test]
    fn resource_policies_are_applied_to_the_recorded_calls() {
        // The topic policy no longer names the relay as a publisher.
        let mut d = deployed();
        let text = serde_json::to_string(&d.topic.policy).expect("json");
        d.topic.policy = Some(
            serde_json::from_str(&text.replace(
                "\"arn:aws:iam::123456789012:role/ecomexpress-relay-task\"",
                "\"arn:aws:iam::123456789012:role/someone-else\"",
            ))
            .expect("json"),
        );
        let report = super::check(&principals(FIXED), &d, &calls()).expect("check");
        let text: Vec<String> = report.violations.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            ["outbox-relay: Publish (sns:Publish) on \
              arn:aws:sns:us-east-1:123456789012:ecomexpress-pedidos-eventos: refused for role \
              ecomexpress-relay-task: explicitly denied by statement DenyOtherPublishers of the \
              resource policy"]
        );
        // A resource the read-back does not know is not silently passed.
        let mut d = deployed();
        d.dlqs.remove("logistica");
        let report = super::check(&principals(FIXED), &d, &calls()).expect("check");
        assert!(
            report
                .violations
                .iter()
                .any(|v| v.why.starts_with("not among the resources read back")),
            "{:#?}",
            report.violations
        );
    }
}
