//! Recording which AWS operations a binary performs, on which of its
//! resources, for the permission contract (`crates/rehearsal`): an SDK
//! interceptor that, when `AWS_CALL_RECORD_DIR` is set, appends one JSON line
//! per distinct (operation, resource) to a file of its own in that directory.
//!
//! The resource is named twice: by its *label* in the binary's configuration
//! (`queue`, `dlq`, `table`, `topic`), which the contract maps onto the
//! production ARNs, and by the ARN seen here (for people reading the file).
//! A call on anything the binary was not configured with gets label `other`.
//! A request on a table's index (`IndexName`: a Query of the outbox index)
//! names the index: label `table/index/<name>`, ARN `…:table/<t>/index/<name>`,
//! which is what IAM authorizes such a request against.

use std::collections::HashSet;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use serde::{Deserialize, Serialize};

/// The environment variable naming the directory of the call records.
pub const ENV_DIR: &str = "AWS_CALL_RECORD_DIR";

/// Label of a resource the binary was not configured with.
pub const OTHER: &str = "other";
/// Label of an operation that names no resource.
pub const NONE: &str = "none";

/// Who makes the calls and which resources it was configured with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The binary (`order-api`, `sqs-worker`).
    pub binary: &'static str,
    /// The worker role, if any.
    pub role: Option<String>,
    /// (label, identifier as the requests carry it: queue URL, table name, topic ARN).
    pub resources: Vec<(&'static str, String)>,
}

/// One recorded operation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CallRecord {
    /// The binary.
    pub binary: String,
    /// The worker role, if any.
    #[serde(default)]
    pub role: Option<String>,
    /// IAM service prefix: `sqs`, `sns`, `dynamodb`.
    pub service: String,
    /// The API operation (`DeleteMessageBatch`), not the IAM action.
    pub operation: String,
    /// The resource's label in the binary's configuration, [`OTHER`] or
    /// [`NONE`]; `<label>/index/<IndexName>` for a request on a table's index.
    pub resource: String,
    /// The resource's ARN as seen here (emulator account and names).
    pub arn: String,
}

/// The SDK interceptor; clone it into every client of the binary.
#[derive(Debug, Clone)]
pub struct CallRecorder {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    caller: Caller,
    region: String,
    seen: Mutex<HashSet<(String, String)>>,
    file: Mutex<File>,
    path: PathBuf,
}

static FILE_SEQUENCE: AtomicU64 = AtomicU64::new(0);

impl CallRecorder {
    /// A recorder writing a new file in `dir` (created if missing).
    pub fn create(dir: &Path, caller: Caller, region: &str) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let name = format!(
            "{}{}-{}-{}.jsonl",
            caller.binary,
            caller
                .role
                .as_deref()
                .map(|r| format!("-{r}"))
                .unwrap_or_default(),
            std::process::id(),
            FILE_SEQUENCE.fetch_add(1, Ordering::Relaxed),
        );
        let path = dir.join(name);
        let file = File::options().create(true).append(true).open(&path)?;
        Ok(Self {
            inner: Arc::new(Inner {
                caller,
                region: region.to_owned(),
                seen: Mutex::default(),
                file: Mutex::new(file),
                path,
            }),
        })
    }

    /// The file written.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Records `operation` of `service` whose serialized request is `body`
    /// (once per distinct operation and resource).
    pub fn record(&self, service: &str, operation: &str, body: &[u8]) {
        let identifier = request_resource(body);
        let (mut label, mut arn) = match identifier.as_deref() {
            None => (NONE.to_owned(), String::new()),
            Some(id) => (
                self.label(id).to_owned(),
                resource_arn(service, id, &self.inner.region, &self.inner.caller),
            ),
        };
        if let (Some(index), false) = (request_index(body), identifier.is_none()) {
            label = format!("{label}/index/{index}");
            arn = format!("{arn}/index/{index}");
        }
        let key = (operation.to_owned(), label.clone());
        let fresh = self
            .inner
            .seen
            .lock()
            .map(|mut seen| seen.insert(key))
            .unwrap_or(false);
        if !fresh {
            return;
        }
        let record = CallRecord {
            binary: self.inner.caller.binary.to_owned(),
            role: self.inner.caller.role.clone(),
            service: iam_prefix(service),
            operation: operation.to_owned(),
            resource: label,
            arn,
        };
        let Ok(mut line) = serde_json::to_vec(&record) else {
            return;
        };
        line.push(b'\n');
        let written = self
            .inner
            .file
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))
            .and_then(|mut f| f.write_all(&line));
        if let Err(e) = written {
            tracing::warn!(error = %e, path = %self.inner.path.display(), "could not record an AWS call");
        }
    }

    fn label(&self, identifier: &str) -> &'static str {
        self.inner
            .caller
            .resources
            .iter()
            .find(|(_, id)| id == identifier)
            .map_or(OTHER, |(label, _)| *label)
    }
}

impl Intercept for CallRecorder {
    fn name(&self) -> &'static str {
        "CallRecorder"
    }

    fn read_after_serialization(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(metadata) = cfg.load::<Metadata>() {
            let body = context.request().body().bytes().unwrap_or_default();
            self.record(metadata.service(), metadata.name(), body);
        }
        Ok(())
    }
}

/// The IAM service prefix of an SDK service name (`DynamoDB` → `dynamodb`).
fn iam_prefix(service: &str) -> String {
    service.to_ascii_lowercase()
}

/// The resource a serialized request names: `QueueUrl`, `TableName` or
/// `TopicArn` of a JSON body (SQS, DynamoDB) or of a query-form body (SNS);
/// for DynamoDB's batch operations (`RequestItems`, keyed by table name),
/// the one table they name.
pub fn request_resource(body: &[u8]) -> Option<String> {
    const KEYS: [&str; 3] = ["QueueUrl", "TableName", "TopicArn"];
    if body.first() == Some(&b'{') {
        let value: serde_json::Value = serde_json::from_slice(body).ok()?;
        return KEYS
            .iter()
            .find_map(|k| value.get(*k)?.as_str().map(str::to_owned))
            .or_else(|| {
                let tables = value.get("RequestItems")?.as_object()?;
                let mut names = tables.keys();
                match (names.next(), names.next()) {
                    (Some(table), None) => Some(table.clone()),
                    _ => None,
                }
            });
    }
    form_urlencoded::parse(body)
        .find(|(key, _)| KEYS.contains(&key.as_ref()))
        .map(|(_, value)| value.into_owned())
}

/// The index a serialized JSON request names (`IndexName` of a DynamoDB
/// Query or Scan), if any.
pub fn request_index(body: &[u8]) -> Option<String> {
    if body.first() != Some(&b'{') {
        return None;
    }
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    value.get("IndexName")?.as_str().map(str::to_owned)
}

/// The ARN of a request's resource: topic ARNs as they are; a queue's from
/// its URL (`…/<account>/<name>`); a table's from its name, with the account
/// of the caller's other resources (`*` when none says).
fn resource_arn(service: &str, identifier: &str, region: &str, caller: &Caller) -> String {
    if identifier.starts_with("arn:") {
        return identifier.to_owned();
    }
    match iam_prefix(service).as_str() {
        "sqs" => match queue_account_and_name(identifier) {
            Some((account, name)) => format!("arn:aws:sqs:{region}:{account}:{name}"),
            None => identifier.to_owned(),
        },
        "dynamodb" => {
            let account = caller
                .resources
                .iter()
                .find_map(|(_, id)| {
                    id.strip_prefix("arn:")
                        .and_then(|a| a.split(':').nth(3).map(str::to_owned))
                        .or_else(|| queue_account_and_name(id).map(|(acc, _)| acc))
                })
                .unwrap_or_else(|| "*".to_owned());
            format!("arn:aws:dynamodb:{region}:{account}:table/{identifier}")
        }
        _ => identifier.to_owned(),
    }
}

fn queue_account_and_name(url: &str) -> Option<(String, String)> {
    let rest = url.split_once("://")?.1;
    let mut parts = rest.trim_end_matches('/').rsplit('/');
    let name = parts.next()?;
    let account = parts.next()?;
    (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()))
        .then(|| (account.to_owned(), name.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller() -> Caller {
        Caller {
            binary: "sqs-worker",
            role: Some("logistica".into()),
            resources: vec![
                ("queue", "http://127.0.0.1:4566/000000000000/q".into()),
                ("dlq", "http://127.0.0.1:4566/000000000000/q-dlq".into()),
                ("table", "pedidos".into()),
            ],
        }
    }

    #[test]
    fn finds_the_resource_of_json_and_query_bodies() {
        assert_eq!(
            request_resource(br#"{"QueueUrl":"http://h/000000000000/q","MaxNumberOfMessages":10}"#)
                .as_deref(),
            Some("http://h/000000000000/q")
        );
        assert_eq!(
            request_resource(br#"{"TableName":"pedidos","Key":{}}"#).as_deref(),
            Some("pedidos")
        );
        assert_eq!(
            request_resource(b"Action=Publish&Version=2010-03-31&TopicArn=arn%3Aaws%3Asns%3Aus-east-1%3A000000000000%3At&Message=x").as_deref(),
            Some("arn:aws:sns:us-east-1:000000000000:t")
        );
        assert_eq!(
            request_resource(b"Action=GetQueueAttributes&QueueUrl=a+b%2").as_deref(),
            Some("a b%2"),
            "form decoding: + is a space, a malformed escape stays"
        );
        assert_eq!(
            request_resource(br#"{"RequestItems":{"pedidos":{"Keys":[]}}}"#).as_deref(),
            Some("pedidos"),
            "BatchGetItem / BatchWriteItem name their table in RequestItems"
        );
        assert_eq!(request_resource(b"{}"), None);
        assert_eq!(request_resource(b""), None);
    }

    #[test]
    fn arns_of_queues_tables_and_topics() {
        let c = caller();
        assert_eq!(
            resource_arn(
                "SQS",
                "http://127.0.0.1:4566/000000000000/q-dlq",
                "eu-west-1",
                &c
            ),
            "arn:aws:sqs:eu-west-1:000000000000:q-dlq"
        );
        assert_eq!(
            resource_arn("DynamoDB", "pedidos", "eu-west-1", &c),
            "arn:aws:dynamodb:eu-west-1:000000000000:table/pedidos"
        );
        assert_eq!(
            resource_arn("SNS", "arn:aws:sns:eu-west-1:1:t", "eu-west-1", &c),
            "arn:aws:sns:eu-west-1:1:t"
        );
    }

    #[test]
    fn records_each_operation_and_resource_once() {
        let dir = std::env::temp_dir().join(format!("call-record-{}", std::process::id()));
        let recorder = CallRecorder::create(&dir, caller(), "us-east-1").expect("create");
        let dlq = br#"{"QueueUrl":"http://127.0.0.1:4566/000000000000/q-dlq"}"#;
        recorder.record("SQS", "GetQueueAttributes", dlq);
        recorder.record("SQS", "GetQueueAttributes", dlq);
        recorder.record(
            "SQS",
            "SendMessage",
            br#"{"QueueUrl":"http://elsewhere/000000000000/x"}"#,
        );
        let text = std::fs::read_to_string(recorder.path()).expect("read");
        let records: Vec<CallRecord> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("json line"))
            .collect();
        std::fs::remove_dir_all(&dir).ok();
        assert_eq!(records.len(), 2, "{text}");
        assert_eq!(records[0].operation, "GetQueueAttributes");
        assert_eq!(records[0].resource, "dlq");
        assert_eq!(records[0].service, "sqs");
        assert_eq!(records[0].role.as_deref(), Some("logistica"));
        assert_eq!(records[1].resource, OTHER);
    }

    #[test]
    fn a_query_of_an_index_names_the_index() {
        let dir = std::env::temp_dir().join(format!("call-record-index-{}", std::process::id()));
        let recorder = CallRecorder::create(&dir, caller(), "us-east-1").expect("create");
        recorder.record(
            "DynamoDB",
            "Query",
            br#"{"TableName":"pedidos","IndexName":"outbox-pendientes","KeyConditionExpression":"x"}"#,
        );
        recorder.record("DynamoDB", "Query", br#"{"TableName":"pedidos"}"#);
        let text = std::fs::read_to_string(recorder.path()).expect("read");
        let records: Vec<CallRecord> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("json line"))
            .collect();
        std::fs::remove_dir_all(&dir).ok();
        assert_eq!(records.len(), 2, "{text}");
        assert_eq!(records[0].resource, "table/index/outbox-pendientes");
        assert_eq!(
            records[0].arn,
            "arn:aws:dynamodb:us-east-1:000000000000:table/pedidos/index/outbox-pendientes"
        );
        assert_eq!(
            records[1].resource, "table",
            "a Query without IndexName reads the table"
        );
        assert_eq!(request_index(b"Action=Publish&IndexName=x"), None);
    }
}
