//! A metering proxy: an HTTP/1.1 pass-through in front of DynamoDB Local or
//! LocalStack's SNS that counts what a process asks of the service, so the
//! bench prices an order from measured requests, whatever code made them.
//!
//! - DynamoDB: every data-plane request gets `"ReturnConsumedCapacity":
//!   "INDEXES"` added (DynamoDB Local does not check signatures), and the
//!   answer's `ConsumedCapacity` (table and each index, by DynamoDB's size
//!   rules: a write is billed on the larger of the item before and after, per
//!   1 KB; a `KEYS_ONLY` index entry put = 1, an index key changed = 2, an
//!   entry removed = 1) is summed per operation. Where DynamoDB Local reports
//!   less than AWS bills, the AWS minimum is added and counted apart: a
//!   conditional write whose condition failed (AWS: at least 1 WRU; Local:
//!   an error without capacity), a read of a missing item, an empty `Query`
//!   (AWS: 0.5 RRU eventually consistent, 1 strongly). Answers pass through
//!   unchanged, byte for byte.
//! - SNS: requests per `Action`, and the messages they carry (`Publish` = 1,
//!   `PublishBatch` = its entries).
//!
//! The first `PutItem` items are kept ([`Meter::puts`]): the intake record
//! as the API writes it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Which protocol a meter reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// DynamoDB's JSON protocol (`X-Amz-Target: DynamoDB_20120810.<Op>`).
    DynamoDb,
    /// SNS's query protocol (`Action=<Op>` in a form body).
    Sns,
}

/// What one operation cost so far.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OpUsage {
    /// Requests answered (any status).
    pub requests: u64,
    /// Requests answered with an error, by error type.
    pub errors: BTreeMap<String, u64>,
    /// Capacity units DynamoDB Local reported for the table.
    pub table_units: f64,
    /// Capacity units DynamoDB Local reported for the indexes.
    pub index_units: f64,
    /// Units added for AWS's minimums (failed conditions, missing items, empty queries).
    pub minimum_units: f64,
    /// SNS messages carried.
    pub messages: u64,
}

impl OpUsage {
    fn minus(&self, earlier: &OpUsage) -> OpUsage {
        let mut errors = self.errors.clone();
        for (k, v) in &earlier.errors {
            if let Some(n) = errors.get_mut(k) {
                *n = n.saturating_sub(*v);
            }
        }
        errors.retain(|_, v| *v > 0);
        OpUsage {
            requests: self.requests.saturating_sub(earlier.requests),
            errors,
            table_units: self.table_units - earlier.table_units,
            index_units: self.index_units - earlier.index_units,
            minimum_units: self.minimum_units - earlier.minimum_units,
            messages: self.messages.saturating_sub(earlier.messages),
        }
    }

    /// Every unit of this operation.
    pub fn units(&self) -> f64 {
        self.table_units + self.index_units + self.minimum_units
    }
}

/// Usage by operation name.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Usage(pub BTreeMap<String, OpUsage>);

/// DynamoDB operations that read (their units are read units).
const READS: [&str; 5] = [
    "GetItem",
    "BatchGetItem",
    "Query",
    "Scan",
    "TransactGetItems",
];
/// DynamoDB operations that accept `ReturnConsumedCapacity`.
const CAPACITY_OPS: [&str; 10] = [
    "GetItem",
    "BatchGetItem",
    "Query",
    "Scan",
    "TransactGetItems",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "BatchWriteItem",
    "TransactWriteItems",
];

impl Usage {
    /// What was used since `earlier`.
    pub fn since(&self, earlier: &Usage) -> Usage {
        Usage(
            self.0
                .iter()
                .map(|(op, u)| {
                    (
                        op.clone(),
                        earlier.0.get(op).map_or_else(|| u.clone(), |e| u.minus(e)),
                    )
                })
                .filter(|(_, u)| u.requests > 0)
                .collect(),
        )
    }

    /// The sum of several usages.
    pub fn sum<'a>(usages: impl IntoIterator<Item = &'a Usage>) -> Usage {
        let mut total = Usage::default();
        for usage in usages {
            for (op, u) in &usage.0 {
                let t = total.0.entry(op.clone()).or_default();
                t.requests += u.requests;
                for (k, v) in &u.errors {
                    *t.errors.entry(k.clone()).or_default() += v;
                }
                t.table_units += u.table_units;
                t.index_units += u.index_units;
                t.minimum_units += u.minimum_units;
                t.messages += u.messages;
            }
        }
        total
    }

    fn units_where(&self, read: bool, f: fn(&OpUsage) -> f64) -> f64 {
        self.0
            .iter()
            .filter(|(op, _)| READS.contains(&op.as_str()) == read)
            .map(|(_, u)| f(u))
            .sum::<f64>()
            + 0.0 // an empty sum is -0.0
    }

    /// Write request units (table + indexes + AWS minimums).
    pub fn write_units(&self) -> f64 {
        self.units_where(false, OpUsage::units)
    }

    /// Write request units of the indexes alone.
    pub fn index_write_units(&self) -> f64 {
        self.units_where(false, |u| u.index_units)
    }

    /// Read request units (table + indexes + AWS minimums).
    pub fn read_units(&self) -> f64 {
        self.units_where(true, OpUsage::units)
    }

    /// Requests of operation `op`.
    #[cfg(test)]
    pub fn requests(&self, op: &str) -> u64 {
        self.0.get(op).map_or(0, |u| u.requests)
    }

    /// SNS messages published (`Publish` + `PublishBatch` entries).
    pub fn messages(&self) -> u64 {
        self.0.values().map(|u| u.messages).sum()
    }

    /// "PutItem 100, UpdateItem 200" (requests by operation).
    pub fn describe(&self) -> String {
        self.0
            .iter()
            .map(|(op, u)| format!("{op} {}", u.requests))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

struct Shared {
    upstream: String,
    service: Service,
    client: reqwest::Client,
    usage: Mutex<Usage>,
    puts: Mutex<Vec<Value>>,
}

/// A running meter; stops listening when dropped.
pub struct Meter {
    port: u16,
    shared: Arc<Shared>,
    accept: JoinHandle<()>,
}

impl Drop for Meter {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// How many `PutItem` items a meter keeps.
const KEPT_PUTS: usize = 64;

impl Meter {
    /// Starts on a free 127.0.0.1 port, forwarding to `upstream` (`http://127.0.0.1:8000`).
    pub async fn start(upstream: &str, service: Service) -> Meter {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the meter on a free 127.0.0.1 port");
        let port = listener.local_addr().expect("the meter's address").port();
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            service,
            client: reqwest::Client::builder()
                .no_proxy()
                .pool_max_idle_per_host(64)
                .timeout(Duration::from_secs(60))
                .build()
                .expect("the meter's HTTP client"),
            usage: Mutex::new(Usage::default()),
            puts: Mutex::new(Vec::new()),
        });
        let accept_shared = Arc::clone(&shared);
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve(stream, Arc::clone(&accept_shared)));
            }
        });
        Meter {
            port,
            shared,
            accept,
        }
    }

    /// "http://127.0.0.1:PORT", for `AWS_ENDPOINT_URL_*`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// What was used so far.
    pub fn usage(&self) -> Usage {
        self.shared
            .usage
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The first `PutItem` requests' `(TableName, Item)`, in wire JSON.
    pub fn puts(&self) -> Vec<Value> {
        self.shared
            .puts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// One request as read from the client.
struct Request {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    close: bool,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Serves one client connection, request after request.
async fn serve(stream: TcpStream, shared: Arc<Shared>) {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    while let Some(request) = read_request(&mut reader).await {
        let close = request.close;
        let Some(answer) = forward(&shared, request).await else {
            return; // upstream unreachable: the client sees a cut connection, as without us
        };
        if write.write_all(&answer).await.is_err() || close {
            return;
        }
    }
}

async fn read_request(reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).await.ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next()?.to_owned(), parts.next()?.to_owned());
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (k, v) = line.split_once(':')?;
        headers.push((k.trim().to_owned(), v.trim().to_owned()));
    }
    let get = |name: &str| {
        headers
            .iter()
            .find(|(k, _): &&(String, String)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.to_ascii_lowercase())
    };
    let close = get("connection").is_some_and(|v| v.contains("close"));
    let body = if get("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        let mut body = Vec::new();
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).await.ok()?;
            let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).await.ok()?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
        body
    } else {
        let length: usize = get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        reader.read_exact(&mut body).await.ok()?;
        body
    };
    Some(Request {
        method,
        target,
        headers,
        body,
        close,
    })
}

/// Headers that belong to one hop, not passed on.
fn hop_by_hop(name: &str) -> bool {
    [
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "expect",
    ]
    .iter()
    .any(|h| name.eq_ignore_ascii_case(h))
}

/// Forwards `request`, counts it, and returns the raw HTTP answer for the client.
async fn forward(shared: &Shared, mut request: Request) -> Option<Vec<u8>> {
    let op = operation(shared.service, &request);
    let parsed: Option<Value> = match shared.service {
        Service::DynamoDb => serde_json::from_slice(&request.body).ok(),
        Service::Sns => None,
    };
    if shared.service == Service::DynamoDb
        && CAPACITY_OPS.contains(&op.as_str())
        && let Some(Value::Object(mut body)) = parsed.clone()
    {
        body.insert("ReturnConsumedCapacity".into(), Value::from("INDEXES"));
        request.body = serde_json::to_vec(&body).ok()?;
    }
    if op == "PutItem"
        && let Some(body) = &parsed
    {
        let mut puts = shared.puts.lock().unwrap_or_else(PoisonError::into_inner);
        if puts.len() < KEPT_PUTS {
            puts.push(serde_json::json!({"TableName": body["TableName"], "Item": body["Item"]}));
        }
    }
    let method = reqwest::Method::from_bytes(request.method.as_bytes()).ok()?;
    let mut outgoing = shared
        .client
        .request(method, format!("{}{}", shared.upstream, request.target));
    for (k, v) in request.headers.iter().filter(|(k, _)| !hop_by_hop(k)) {
        outgoing = outgoing.header(k.as_str(), v.as_str());
    }
    let answer = outgoing.body(request.body.clone()).send().await.ok()?;
    let status = answer.status();
    let headers = answer.headers().clone();
    let body = answer.bytes().await.ok()?;
    count(shared, &op, &request, parsed.as_ref(), status, &body);

    let mut raw = format!(
        "HTTP/1.1 {} {}\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    )
    .into_bytes();
    for (k, v) in headers.iter().filter(|(k, _)| !hop_by_hop(k.as_str())) {
        raw.extend_from_slice(k.as_str().as_bytes());
        raw.extend_from_slice(b": ");
        raw.extend_from_slice(v.as_bytes());
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
    raw.extend_from_slice(&body);
    Some(raw)
}

/// The AWS operation of a request ("" when unknown).
fn operation(service: Service, request: &Request) -> String {
    match service {
        Service::DynamoDb => request
            .header("x-amz-target")
            .and_then(|t| t.rsplit('.').next())
            .unwrap_or_default()
            .to_owned(),
        Service::Sns => form_pairs(&request.body)
            .chain(form_pairs(
                request
                    .target
                    .split_once('?')
                    .map_or(&b""[..], |(_, q)| q.as_bytes()),
            ))
            .find(|(k, _)| k == "Action")
            .map(|(_, v)| v)
            .unwrap_or_default(),
    }
}

/// The `key=value` pairs of a form body (keys and values as sent: the SDK
/// encodes neither `.` nor letters, which is all this needs).
fn form_pairs(body: &[u8]) -> impl Iterator<Item = (String, String)> + '_ {
    body.split(|b| *b == b'&').filter_map(|pair| {
        let pair = std::str::from_utf8(pair).ok()?;
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        Some((k.to_owned(), v.to_owned()))
    })
}

/// SNS messages in a request: 1 per `Publish`, one per entry of a `PublishBatch`.
pub fn sns_messages(op: &str, body: &[u8]) -> u64 {
    match op {
        "Publish" => 1,
        "PublishBatch" => form_pairs(body)
            .filter(|(k, _)| {
                k.strip_prefix("PublishBatchRequestEntries.member.")
                    .and_then(|rest| rest.split_once('.'))
                    .is_some_and(|(n, field)| field == "Id" && n.parse::<u32>().is_ok())
            })
            .count() as u64,
        _ => 0,
    }
}

fn count(
    shared: &Shared,
    op: &str,
    request: &Request,
    parsed: Option<&Value>,
    status: reqwest::StatusCode,
    body: &[u8],
) {
    let mut usage = shared.usage.lock().unwrap_or_else(PoisonError::into_inner);
    let u = usage.0.entry(op.to_owned()).or_default();
    u.requests += 1;
    match shared.service {
        Service::Sns => {
            if status.is_success() {
                u.messages += sns_messages(op, &request.body);
            } else {
                *u.errors.entry(status.as_u16().to_string()).or_default() += 1;
            }
        }
        Service::DynamoDb => {
            let answer: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
            if status.is_success() {
                let (table, indexes) = consumed(&answer["ConsumedCapacity"]);
                u.table_units += table;
                u.index_units += indexes;
                u.minimum_units +=
                    read_minimum(op, parsed.unwrap_or(&Value::Null), &answer, table + indexes);
            } else {
                let kind = answer["__type"].as_str().map_or_else(
                    || status.as_u16().to_string(),
                    |t| t.rsplit('#').next().unwrap_or(t).to_owned(),
                );
                if kind == "ConditionalCheckFailedException"
                    && matches!(op, "PutItem" | "UpdateItem" | "DeleteItem")
                {
                    u.minimum_units += 1.0;
                }
                *u.errors.entry(kind).or_default() += 1;
            }
        }
    }
}

/// (table units, index units) of a `ConsumedCapacity` (one object, or a list of them).
pub fn consumed(capacity: &Value) -> (f64, f64) {
    match capacity {
        Value::Array(list) => list
            .iter()
            .map(consumed)
            .fold((0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1)),
        Value::Object(c) => {
            let units = |v: &Value| v["CapacityUnits"].as_f64().unwrap_or(0.0);
            let indexes: f64 = ["GlobalSecondaryIndexes", "LocalSecondaryIndexes"]
                .iter()
                .filter_map(|k| c.get(*k)?.as_object())
                .flat_map(|m| m.values())
                .map(units)
                .sum();
            let table = match c.get("Table") {
                Some(t) => units(t),
                None => (units(capacity) - indexes).max(0.0),
            };
            (table, indexes)
        }
        _ => (0.0, 0.0),
    }
}

/// Read units AWS bills beyond what DynamoDB Local reports: a missing item
/// read and an empty query still cost 0.5 (eventually consistent) or 1.
pub fn read_minimum(op: &str, request: &Value, answer: &Value, reported: f64) -> f64 {
    let per_read = |consistent: &Value| {
        if consistent.as_bool() == Some(true) {
            1.0
        } else {
            0.5
        }
    };
    match op {
        "GetItem" | "Query" | "Scan" if reported == 0.0 => per_read(&request["ConsistentRead"]),
        "BatchGetItem" => request["RequestItems"].as_object().map_or(0.0, |tables| {
            tables
                .iter()
                .map(|(table, asked)| {
                    let n = |v: &Value| v.as_array().map_or(0, Vec::len);
                    let missing = n(&asked["Keys"])
                        .saturating_sub(n(&answer["Responses"][table]))
                        .saturating_sub(n(&answer["UnprocessedKeys"][table]["Keys"]));
                    missing as f64 * per_read(&asked["ConsistentRead"])
                })
                .sum()
        }),
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn consumed_capacity_splits_table_and_indexes() {
        let put = json!({"TableName": "t", "CapacityUnits": 3.0, "Table": {"CapacityUnits": 2.0},
                         "GlobalSecondaryIndexes": {"gix": {"CapacityUnits": 1.0}}});
        assert_eq!(consumed(&put), (2.0, 1.0));
        assert_eq!(
            consumed(&json!({"TableName": "t", "CapacityUnits": 1.0})),
            (1.0, 0.0)
        );
        assert_eq!(
            consumed(&json!([put, {"CapacityUnits": 0.5, "Table": {"CapacityUnits": 0.5}}])),
            (2.5, 1.0)
        );
        assert_eq!(consumed(&Value::Null), (0.0, 0.0));
    }

    #[test]
    fn aws_minimums_for_reads_local_does_not_bill() {
        let none = json!({});
        assert_eq!(read_minimum("GetItem", &none, &none, 0.0), 0.5);
        assert_eq!(
            read_minimum("GetItem", &json!({"ConsistentRead": true}), &none, 0.0),
            1.0
        );
        assert_eq!(read_minimum("GetItem", &none, &none, 0.5), 0.0);
        assert_eq!(read_minimum("Query", &none, &none, 0.0), 0.5);
        let batch = json!({"RequestItems": {"t": {"Keys": [{}, {}, {}, {}]}}});
        let answer = json!({"Responses": {"t": [{}]}, "UnprocessedKeys": {"t": {"Keys": [{}]}}});
        assert_eq!(
            read_minimum("BatchGetItem", &batch, &answer, 0.5),
            1.0,
            "two missing, one unprocessed"
        );
        assert_eq!(read_minimum("UpdateItem", &none, &none, 0.0), 0.0);
    }

    #[test]
    fn sns_messages_count_batch_entries() {
        assert_eq!(sns_messages("Publish", b"Action=Publish&Message=x"), 1);
        let batch = b"Action=PublishBatch&PublishBatchRequestEntries.member.1.Id=a&PublishBatchRequestEntries.member.1.Message=x&PublishBatchRequestEntries.member.2.Id=b";
        assert_eq!(sns_messages("PublishBatch", batch), 2);
        assert_eq!(
            sns_messages("GetTopicAttributes", b"Action=GetTopicAttributes"),
            0
        );
    }

    #[test]
    fn usage_differences_and_sums() {
        let mut a = Usage::default();
        a.0.insert(
            "PutItem".into(),
            OpUsage {
                requests: 3,
                table_units: 3.0,
                index_units: 3.0,
                ..OpUsage::default()
            },
        );
        a.0.insert(
            "Query".into(),
            OpUsage {
                requests: 2,
                index_units: 1.0,
                minimum_units: 0.5,
                ..OpUsage::default()
            },
        );
        let mut b = a.clone();
        b.0.get_mut("PutItem").expect("put").requests = 5;
        b.0.get_mut("PutItem").expect("put").table_units = 5.0;
        let d = b.since(&a);
        assert_eq!(d.requests("PutItem"), 2);
        assert_eq!(d.write_units(), 2.0);
        assert_eq!(d.requests("Query"), 0);
        let s = Usage::sum([&a, &b]);
        assert_eq!(s.write_units(), 3.0 + 3.0 + 5.0 + 3.0);
        assert_eq!(s.index_write_units(), 6.0);
        assert_eq!(s.read_units(), 3.0);
        assert_eq!(s.requests("PutItem") + s.requests("Query"), 12);
    }
}
