//! A fault-injecting HTTP/1.1 proxy in front of one AWS endpoint (LocalStack
//! or DynamoDB Local), so a test can make SNS, SQS or DynamoDB misbehave in a
//! precise, repeatable way while the code under test talks to it through the
//! ordinary SDK (point `AWS_ENDPOINT_URL_*` or an SDK `endpoint_url` at
//! [`FaultProxy::url`]).
//!
//! # What each mode proves
//!
//! | [`Mode`] | the service | the client | a test proves |
//! |---|---|---|---|
//! | [`Mode::Pass`] | acts | gets the answer | nothing is disturbed (and [`FaultProxy::seen`] counts) |
//! | [`Mode::Hold`] | acts at once | gets the answer late, or times out first | "the service did it, the caller does not know": the outcome is uncertain and a retry must be idempotent |
//! | [`Mode::CloseAfterForward`] | acts | a dispatch/response error, never an answer | the same uncertainty, from a cut connection instead of a timeout |
//! | [`Mode::Status`] | nothing | a 5xx service error (`InternalFailure` / `ServiceUnavailable`), retried by the SDK | transient failures are retried, then reported as transient |
//! | [`Mode::Throttle`] | nothing | the protocol's throttling error, retried by the SDK | throttling is retried, then reported as transient |
//! | [`Mode::Error`] | nothing | exactly this service error code (the SDK's typed variant when it has one) | how the caller handles access denied, a missing resource, a disabled key, ... |
//! | [`Mode::FailEntries`] | nothing | a batch answer (200) with every entry failed with this code | how the caller handles entries refused in a request that went through |
//! | [`FaultProxy::down`] | nothing | connection refused; open connections (a long poll) are cut | "outcome certain, nothing sent" outages |
//!
//! # Which requests a rule matches
//!
//! A request's AWS operation is read from the request itself:
//! - JSON protocols (DynamoDB, and SQS in current SDKs) name it in the
//!   `X-Amz-Target` header (`DynamoDB_20120810.UpdateItem`,
//!   `AmazonSQS.DeleteMessageBatch`): the part after the last `.`;
//! - query protocols (SNS) carry `Action=Publish` in the form-encoded body (or
//!   in the URL's query string).
//!
//! Names compare exactly (`"UpdateItem"`, not `"updateitem"`). A rule set
//! with [`FaultProxy::set_for`] or [`FaultProxy::set_for_next`] applies to its
//! operation and takes precedence over [`FaultProxy::set`]; each operation
//! has at most one rule, the latest set. When a counted rule runs out, that
//! operation falls back to the mode of [`FaultProxy::set`]. A request whose
//! operation cannot be read gets the mode of [`FaultProxy::set`].
//!
//! # Error formats
//!
//! Errors are answered in the request's protocol, in the shape the Rust SDKs
//! parse: a request with `X-Amz-Target` (or `Content-Type:
//! application/x-amz-json-*`) gets a JSON body `{"__type": CODE, "message":
//! ...}` plus the header `x-amzn-ErrorType: CODE` (the SDKs read the header
//! first, then `__type`, dropping any `namespace#` prefix; an SQS request's
//! [`Mode::Error`] also carries `x-amzn-query-error: CODE;Sender`, as SQS
//! sends it); any other request
//! gets the query protocol's `<ErrorResponse><Error><Type>..</Type><Code>..
//! </Code><Message>..</Message></Error><RequestId>..</RequestId></ErrorResponse>`.
//!
//! # A latency line
//!
//! [`FaultProxy::with_latency`] puts a fixed delay on every answer of one
//! endpoint ([`Mode::Hold`] for every request), to run code at the round trips
//! of real AWS against the emulators (the bench runs the worker at +20 ms per
//! SQS answer and +8 ms per DynamoDB answer). The other modes stay available
//! on such a proxy.
//!
//! # Cost
//!
//! Requests and answers are buffered whole (AWS requests are small). Upstream
//! connections are pooled and reused while the upstream keeps them alive
//! (DynamoDB Local does; LocalStack answers `Connection: close`, so each of
//! its requests gets a connection of its own, as it does without the proxy);
//! [`FaultProxy::upstream_connections`] counts them. The client's own
//! connections to the proxy are kept alive whatever the upstream does.
//! A request cut on the client's side (its connection closed, the proxy
//! [`FaultProxy::down`]) closes its upstream connection too. When the upstream
//! cannot be reached the proxy closes the client's connection (the client
//! sees a dispatch error, as it would without the proxy).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::http::request::Parts;
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// What the proxy does with a request (see the module documentation for what each proves).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Forward the request, relay the answer.
    Pass,
    /// Forward the request at once (the service acts on it), hold its answer this long, then relay it.
    /// If the client gives up meanwhile, the answer is dropped.
    Hold(Duration),
    /// Forward the request, wait for the service's answer, then close the client's connection without relaying any of it.
    CloseAfterForward,
    /// Do not forward; answer this HTTP status (5xx) with an AWS-shaped error body
    /// (code `ServiceUnavailable` for 503, `InternalFailure` otherwise).
    Status(u16),
    /// Do not forward; answer the AWS throttling error of the request's protocol (HTTP 400; JSON protocols:
    /// `{"__type":"ThrottlingException","message":"Rate exceeded"}` plus header `x-amzn-ErrorType: ThrottlingException`;
    /// query/XML protocols (SNS): `<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>..</RequestId></ErrorResponse>`).
    Throttle,
    /// Do not forward; answer `status` (400 for a client error) with this AWS error code (e.g. "AccessDeniedException",
    /// "ValidationException", "ResourceNotFoundException", "KMSDisabledException"), in the request's protocol as for
    /// [`Mode::Throttle`], so the SDK parses it as that service error.
    Error {
        /// The HTTP status of the answer.
        status: u16,
        /// The AWS error code (JSON `__type` and `x-amzn-ErrorType`, or XML `Code`).
        code: String,
        /// The error message.
        message: String,
    },
    /// Do not forward; answer an SQS batch request (JSON, with `Entries`)
    /// 200 with every entry failed with this code: the request went
    /// through, its entries were refused. A request without entries is
    /// forwarded.
    FailEntries {
        /// The code of every entry (e.g. "AccessDenied").
        code: String,
        /// Each entry's `SenderFault`.
        sender_fault: bool,
    },
}

/// A fault-injecting HTTP/1.1 proxy in front of one AWS endpoint (LocalStack, DynamoDB Local).
///
/// Dropping it stops it and cuts its connections.
pub struct FaultProxy {
    port: u16,
    shared: Arc<Shared>,
    running: Option<Running>,
}

/// What every connection of the proxy reads.
struct Shared {
    /// `host:port` of the endpoint behind the proxy.
    upstream: String,
    state: Mutex<State>,
    /// Pooled HTTP/1.1 connections to the upstream.
    client: Client<Connector, Full<Bytes>>,
    /// Connections opened to the upstream so far.
    opened: Arc<AtomicU64>,
}

/// How long an upstream connection may sit idle in the pool: well below the
/// idle timeouts of HTTP servers (tens of seconds), so a request is rarely
/// sent on a connection the upstream is closing.
const POOL_IDLE: Duration = Duration::from_secs(5);

/// The accept loop and the connections it opened, while the proxy is up.
struct Running {
    accept: JoinHandle<()>,
    connections: Arc<Mutex<JoinSet<()>>>,
}

impl FaultProxy {
    /// Starts on a free 127.0.0.1 port, forwarding to `upstream` ("http://127.0.0.1:4566" or "127.0.0.1:4566"), in `Mode::Pass`.
    pub async fn start(upstream: &str) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fault proxy on a free 127.0.0.1 port");
        let port = listener
            .local_addr()
            .expect("the fault proxy's address")
            .port();
        let upstream = upstream_authority(upstream);
        let opened = Arc::new(AtomicU64::new(0));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE)
            .pool_timer(TokioTimer::new())
            .build(Connector {
                upstream: upstream.clone(),
                opened: Arc::clone(&opened),
            });
        let mut proxy = FaultProxy {
            port,
            shared: Arc::new(Shared {
                upstream,
                state: Mutex::new(State::default()),
                client,
                opened,
            }),
            running: None,
        };
        proxy.listen(listener);
        proxy
    }

    /// A latency line in front of `upstream`: every answer reaches the client
    /// `delay` after the upstream gave it ([`Mode::Hold`] as the default mode;
    /// `Mode::Pass` when `delay` is zero). The upstream acts at once, as if the
    /// whole round trip were on the way back; for the throughput of a client
    /// that waits for its answers, that is the same.
    ///
    /// ```no_run
    /// # async fn example() {
    /// use std::time::Duration;
    /// use testkit::fault_proxy::FaultProxy;
    /// // SQS 20 ms away: point AWS_ENDPOINT_URL_SQS at `sqs.url()`.
    /// let sqs = FaultProxy::with_latency("http://127.0.0.1:4566", Duration::from_millis(20)).await;
    /// # }
    /// ```
    pub async fn with_latency(upstream: &str, delay: Duration) -> FaultProxy {
        let proxy = Self::start(upstream).await;
        proxy.set(latency_mode(delay));
        proxy
    }

    /// "http://127.0.0.1:PORT" — what to put in AWS_ENDPOINT_URL_* or an SDK endpoint_url.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The port the proxy listens on (the same across [`FaultProxy::down`] and [`FaultProxy::up`]).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The mode for every request arriving from now on (rules set with `set_for` take precedence).
    pub fn set(&self, mode: Mode) {
        check(&mode);
        self.state().default = mode;
    }

    /// The mode for requests of one AWS operation (e.g. "Publish", "UpdateItem", "DeleteMessageBatch", "ReceiveMessage") arriving from now on.
    pub fn set_for(&self, operation: &str, mode: Mode) {
        check(&mode);
        self.state().rules.insert(
            operation.to_owned(),
            Rule {
                mode,
                remaining: None,
            },
        );
    }

    /// Like `set_for`, but only for the next `times` matching requests; then that rule disappears
    /// (`times == 0` removes the operation's rule at once).
    pub fn set_for_next(&self, operation: &str, mode: Mode, times: u32) {
        check(&mode);
        let mut state = self.state();
        if times == 0 {
            state.rules.remove(operation);
        } else {
            state.rules.insert(
                operation.to_owned(),
                Rule {
                    mode,
                    remaining: Some(times),
                },
            );
        }
    }

    /// Back to Pass for everything (clears rules; the [`FaultProxy::seen`] counts are kept).
    pub fn reset(&self) {
        let mut state = self.state();
        state.default = Mode::Pass;
        state.rules.clear();
    }

    /// Requests seen so far for `operation` (all of them, whatever their mode).
    pub fn seen(&self, operation: &str) -> u64 {
        self.state().seen.get(operation).copied().unwrap_or(0)
    }

    /// Keeps every request of `operation` arriving from now on (when it
    /// arrived and its body), whatever its mode, for [`FaultProxy::recorded`].
    /// Off by default: a long run through the proxy keeps nothing.
    pub fn record(&self, operation: &str) {
        self.state()
            .recording
            .entry(operation.to_owned())
            .or_default();
    }

    /// The requests of `operation` kept since [`FaultProxy::record`], in arrival order.
    pub fn recorded(&self, operation: &str) -> Vec<Recorded> {
        self.state()
            .recording
            .get(operation)
            .cloned()
            .unwrap_or_default()
    }

    /// Requests seen so far in total, whatever their operation and mode.
    pub fn seen_total(&self) -> u64 {
        self.state().total
    }

    /// Connections opened to the upstream so far (fewer than the requests
    /// forwarded when the upstream keeps connections alive).
    pub fn upstream_connections(&self) -> u64 {
        self.shared.opened.load(Ordering::Relaxed)
    }

    /// Stops listening and cuts every open connection (connections are refused: "outcome certain, nothing sent").
    pub async fn down(&mut self) {
        if let Some(running) = self.running.take() {
            running.accept.abort();
            // Once the accept loop is gone nothing adds connections any more.
            let _ = running.accept.await;
            let mut connections = std::mem::take(&mut *lock(&running.connections));
            connections.abort_all();
            while connections.join_next().await.is_some() {}
        }
    }

    /// Listens again on the same port.
    pub async fn up(&mut self) {
        if self.running.is_some() {
            return;
        }
        let listener = TcpListener::bind(("127.0.0.1", self.port))
            .await
            .unwrap_or_else(|e| panic!("bind the fault proxy again on port {}: {e}", self.port));
        self.listen(listener);
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.shared.state)
    }

    fn listen(&mut self, listener: TcpListener) {
        let connections = Arc::new(Mutex::new(JoinSet::new()));
        let accept = tokio::spawn(accept_loop(
            listener,
            Arc::clone(&self.shared),
            Arc::clone(&connections),
        ));
        self.running = Some(Running {
            accept,
            connections,
        });
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            running.accept.abort();
            lock(&running.connections).abort_all();
        }
    }
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy")
            .field("port", &self.port)
            .field("upstream", &self.shared.upstream)
            .field("up", &self.running.is_some())
            .finish_non_exhaustive()
    }
}

/// The mode of a latency line of `delay`.
fn latency_mode(delay: Duration) -> Mode {
    if delay.is_zero() {
        Mode::Pass
    } else {
        Mode::Hold(delay)
    }
}

/// Panics on a mode no answer can be made of.
fn check(mode: &Mode) {
    if let Mode::Status(status) | Mode::Error { status, .. } = mode {
        assert!(
            StatusCode::from_u16(*status).is_ok(),
            "{mode:?}: {status} is not an HTTP status"
        );
    }
}

/// A poisoned lock only means another test thread panicked; the state is still usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `host:port` from "http://host:port[/...]" or "host:port" (port 80 when absent).
fn upstream_authority(upstream: &str) -> String {
    assert!(
        !upstream.starts_with("https://"),
        "the fault proxy speaks plain HTTP only, not {upstream}"
    );
    let rest = upstream.trim_start_matches("http://");
    let authority = rest.split('/').next().unwrap_or(rest);
    assert!(
        !authority.is_empty(),
        "no upstream host in {upstream:?} for the fault proxy"
    );
    if authority.contains(':') {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    }
}

/// A request kept by [`FaultProxy::record`].
#[derive(Debug, Clone)]
pub struct Recorded {
    /// When the proxy had read it whole.
    pub at: Instant,
    /// Its body as sent (JSON protocols: the operation's input).
    pub body: Bytes,
}

impl Recorded {
    /// The body as JSON (JSON protocols), `Null` when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// A per-operation rule.
#[derive(Debug, Clone)]
struct Rule {
    mode: Mode,
    /// `None`: until replaced or reset; `Some(n)`: for the next `n` requests.
    remaining: Option<u32>,
}

/// The modes, rules and counts, shared by every connection.
#[derive(Debug)]
struct State {
    default: Mode,
    rules: HashMap<String, Rule>,
    seen: HashMap<String, u64>,
    total: u64,
    /// The operations being recorded and what was kept of each.
    recording: HashMap<String, Vec<Recorded>>,
}

impl Default for State {
    fn default() -> Self {
        Self {
            default: Mode::Pass,
            rules: HashMap::new(),
            seen: HashMap::new(),
            total: 0,
            recording: HashMap::new(),
        }
    }
}

impl State {
    /// Counts a request that just arrived and picks its mode (consuming one use of a counted rule).
    fn arrive(&mut self, operation: Option<&str>, body: &Bytes) -> Mode {
        self.total += 1;
        let Some(operation) = operation else {
            return self.default.clone();
        };
        *self.seen.entry(operation.to_owned()).or_default() += 1;
        if let Some(kept) = self.recording.get_mut(operation) {
            kept.push(Recorded {
                at: Instant::now(),
                body: body.clone(),
            });
        }
        let Some(rule) = self.rules.get_mut(operation) else {
            return self.default.clone();
        };
        let mode = rule.mode.clone();
        if let Some(remaining) = &mut rule.remaining {
            *remaining = remaining.saturating_sub(1);
            if *remaining == 0 {
                self.rules.remove(operation);
            }
        }
        mode
    }
}

/// Why a connection to the client ends without an answer.
#[derive(Debug, thiserror::Error)]
enum ProxyError {
    #[error("reading the client's request: {0}")]
    ClientBody(#[source] hyper::Error),
    #[error("connecting to the upstream {upstream}: {source}")]
    Connect {
        upstream: String,
        #[source]
        source: std::io::Error,
    },
    #[error("exchanging with the upstream: {0}")]
    Upstream(#[source] BoxError),
    #[error(
        "the upstream answered; the connection is closed without relaying it (Mode::CloseAfterForward)"
    )]
    ClosedAfterForward,
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    connections: Arc<Mutex<JoinSet<()>>>,
) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                let mut connections = lock(&connections);
                // Reap finished connections so the set does not grow without bound.
                while connections.try_join_next().is_some() {}
                connections.spawn(serve(stream, Arc::clone(&shared)));
            }
            // E.g. out of file descriptors: try again shortly.
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// Serves one client connection; an error from `handle` closes it without an answer.
async fn serve(stream: TcpStream, shared: Arc<Shared>) {
    let service = hyper::service::service_fn(move |request| {
        let shared = Arc::clone(&shared);
        async move { handle(request, &shared).await }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .header_read_timeout(None)
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

/// An upstream answer, buffered.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

async fn handle(
    request: Request<Incoming>,
    shared: &Shared,
) -> Result<Response<Full<Bytes>>, ProxyError> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map_err(ProxyError::ClientBody)?
        .to_bytes();
    let operation = operation(&parts.headers, &parts.uri, &body);
    let mode = lock(&shared.state).arrive(operation.as_deref(), &body);
    let protocol = Protocol::of(&parts.headers);
    match mode {
        Mode::Pass => Ok(relay(forward(shared, &parts, body).await?)),
        Mode::Hold(hold) => {
            let answer = forward(shared, &parts, body).await?;
            tokio::time::sleep(hold).await;
            Ok(relay(answer))
        }
        Mode::CloseAfterForward => {
            forward(shared, &parts, body).await?;
            Err(ProxyError::ClosedAfterForward)
        }
        Mode::Status(status) => {
            let (code, message) = if status == 503 {
                ("ServiceUnavailable", "Service Unavailable")
            } else {
                (
                    "InternalFailure",
                    "The request processing has failed because of an unknown error, exception or failure.",
                )
            };
            Ok(protocol.error(status, code, message))
        }
        Mode::Throttle => Ok(protocol.error(400, protocol.throttling_code(), "Rate exceeded")),
        Mode::FailEntries { code, sender_fault } => {
            match failed_entries(&body, &code, sender_fault) {
                Some(answer) => Ok(json_answer(&protocol, answer)),
                None => Ok(relay(forward(shared, &parts, body).await?)),
            }
        }
        Mode::Error {
            status,
            code,
            message,
        } => {
            let mut answer = protocol.error(status, &code, &message);
            if query_compatible(&parts.headers) {
                // SQS names its errors as its query protocol did, in a
                // header the SDK reads before the body (`KMS.AccessDeniedException`).
                let fault = if status >= 500 { "Receiver" } else { "Sender" };
                if let Ok(value) = HeaderValue::from_str(&format!("{code};{fault}")) {
                    answer.headers_mut().insert("x-amzn-query-error", value);
                }
            }
            Ok(answer)
        }
    }
}

/// A batch answer failing every entry of `body` with `code` (and `SenderFault`), if it has entries.
fn failed_entries(body: &[u8], code: &str, sender_fault: bool) -> Option<serde_json::Value> {
    let request: serde_json::Value = serde_json::from_slice(body).ok()?;
    let failed: Vec<serde_json::Value> = request
        .get("Entries")?
        .as_array()?
        .iter()
        .map(|entry| {
            serde_json::json!({
                "Id": entry.get("Id").cloned().unwrap_or_default(),
                "Code": code,
                "SenderFault": sender_fault,
                "Message": "injected by the fault proxy",
            })
        })
        .collect();
    Some(serde_json::json!({"Successful": [], "Failed": failed}))
}

/// A 200 JSON answer in the request's protocol.
fn json_answer(protocol: &Protocol, body: serde_json::Value) -> Response<Full<Bytes>> {
    let content_type = match protocol {
        Protocol::Json(content_type) => content_type.clone(),
        Protocol::Query => json_1_0(),
    };
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, content_type);
    response
}

/// Whether the request is to a service that answers errors in the
/// awsQueryCompatible way (SQS on its JSON protocol).
fn query_compatible(headers: &HeaderMap) -> bool {
    headers
        .get("x-amz-target")
        .is_some_and(|target| target.as_bytes().starts_with(b"AmazonSQS."))
}

/// The AWS operation of a request (see the module documentation).
fn operation(headers: &HeaderMap, uri: &Uri, body: &[u8]) -> Option<String> {
    if let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        return target
            .rsplit('.')
            .next()
            .filter(|op| !op.is_empty())
            .map(str::to_owned);
    }
    let action = |form: &[u8]| {
        form_urlencoded::parse(form)
            .find(|(key, _)| key == "Action")
            .map(|(_, value)| value.into_owned())
    };
    let form_body = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    uri.query()
        .and_then(|query| action(query.as_bytes()))
        .or_else(|| form_body.then(|| action(body)).flatten())
}

/// The wire protocol of a request, which decides the shape of an error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Protocol {
    /// awsJson1_0 / awsJson1_1, with the request's content type.
    Json(HeaderValue),
    /// awsQuery (SNS): XML answers.
    Query,
}

impl Protocol {
    fn of(headers: &HeaderMap) -> Self {
        let content_type = headers.get(header::CONTENT_TYPE);
        let json_content = content_type
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/x-amz-json"));
        if json_content {
            Self::Json(content_type.cloned().unwrap_or_else(json_1_0))
        } else if headers.contains_key("x-amz-target") {
            Self::Json(json_1_0())
        } else {
            Self::Query
        }
    }

    fn throttling_code(&self) -> &'static str {
        match self {
            Self::Json(_) => "ThrottlingException",
            Self::Query => "Throttling",
        }
    }

    /// An AWS error answer in this protocol.
    fn error(&self, status: u16, code: &str, message: &str) -> Response<Full<Bytes>> {
        let request_id = uuid::Uuid::new_v4().to_string();
        let (content_type, body) = match self {
            Self::Json(content_type) => (
                content_type.clone(),
                serde_json::json!({"__type": code, "message": message}).to_string(),
            ),
            Self::Query => {
                let kind = if status >= 500 { "Receiver" } else { "Sender" };
                let body = format!(
                    "<ErrorResponse><Error><Type>{kind}</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
                    xml_escape(code),
                    xml_escape(message)
                );
                (HeaderValue::from_static("text/xml"), body)
            }
        };
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() =
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, content_type);
        if let Ok(id) = HeaderValue::from_str(&request_id) {
            headers.insert("x-amzn-requestid", id);
        }
        if matches!(self, Self::Json(_))
            && let Ok(code) = HeaderValue::from_str(code)
        {
            headers.insert("x-amzn-errortype", code);
        }
        response
    }
}

fn json_1_0() -> HeaderValue {
    HeaderValue::from_static("application/x-amz-json-1.0")
}

fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// Headers that describe one hop's connection, not the message: never relayed
/// (the bodies are re-sent whole, with their length).
fn without_hop_headers(headers: &HeaderMap) -> HeaderMap {
    const HOP: &[&str] = &[
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
    ];
    headers
        .iter()
        .filter(|(name, _)| !HOP.contains(&name.as_str()))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}

/// An error of the upstream exchange.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Opens the pool's connections to the upstream (whatever the URI says), counting them.
#[derive(Clone)]
struct Connector {
    upstream: String,
    opened: Arc<AtomicU64>,
}

impl tower_service::Service<Uri> for Connector {
    type Response = TokioIo<TcpStream>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = std::io::Result<TokioIo<TcpStream>>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Uri) -> Self::Future {
        let (upstream, opened) = (self.upstream.clone(), Arc::clone(&self.opened));
        Box::pin(async move {
            let stream = TcpStream::connect(&upstream).await?;
            let _ = stream.set_nodelay(true);
            opened.fetch_add(1, Ordering::Relaxed);
            Ok(TokioIo::new(stream))
        })
    }
}

/// Sends the request to the upstream (on a pooled connection when one is
/// idle) and reads the whole answer. Dropping the future mid-exchange closes
/// that connection (hyper drops a connection whose answer nobody awaits).
async fn forward(shared: &Shared, parts: &Parts, body: Bytes) -> Result<Answer, ProxyError> {
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", hyper::http::uri::PathAndQuery::as_str);
    let uri = Uri::try_from(format!("http://{}{path}", shared.upstream))
        .map_err(|e| ProxyError::Upstream(e.into()))?;
    let mut request = Request::new(Full::new(body));
    *request.method_mut() = parts.method.clone();
    *request.uri_mut() = uri;
    // The Host header stays the client's: it is part of the request's
    // signature (the pool only adds one when it is missing).
    *request.headers_mut() = without_hop_headers(&parts.headers);

    let response = shared.client.request(request).await.map_err(|e| {
        if e.is_connect() {
            ProxyError::Connect {
                upstream: shared.upstream.clone(),
                source: std::io::Error::other(e),
            }
        } else {
            ProxyError::Upstream(e.into())
        }
    })?;
    let (head, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|e| ProxyError::Upstream(e.into()))?
        .to_bytes();
    Ok(Answer {
        status: head.status,
        headers: head.headers,
        body,
    })
}

fn relay(answer: Answer) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(answer.body));
    *response.status_mut() = answer.status;
    *response.headers_mut() = without_hop_headers(&answer.headers);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    header::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                    HeaderValue::from_str(v).expect("value"),
                )
            })
            .collect()
    }

    #[test]
    fn the_operation_comes_from_the_target_header_or_the_action() {
        let root = Uri::from_static("/");
        let json = headers(&[
            ("x-amz-target", "DynamoDB_20120810.UpdateItem"),
            ("content-type", "application/x-amz-json-1.0"),
        ]);
        assert_eq!(
            operation(&json, &root, b"{}").as_deref(),
            Some("UpdateItem")
        );
        let sqs = headers(&[("X-Amz-Target", "AmazonSQS.DeleteMessageBatch")]);
        assert_eq!(
            operation(&sqs, &root, b"{}").as_deref(),
            Some("DeleteMessageBatch")
        );
        let form = headers(&[(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )]);
        assert_eq!(
            operation(
                &form,
                &root,
                b"TopicArn=arn%3Aaws&Action=Publish&Version=2010-03-31"
            )
            .as_deref(),
            Some("Publish")
        );
        assert_eq!(
            operation(
                &HeaderMap::new(),
                &Uri::from_static("/?Action=ListTopics&Version=2010-03-31"),
                b""
            )
            .as_deref(),
            Some("ListTopics")
        );
        // A body that is not a form is not searched for an action.
        let plain = headers(&[("content-type", "text/plain")]);
        assert_eq!(operation(&plain, &root, b"Action=Publish"), None);
        assert_eq!(operation(&HeaderMap::new(), &root, b""), None);
    }

    #[test]
    fn the_protocol_comes_from_the_target_header_or_the_content_type() {
        let target = headers(&[("x-amz-target", "AmazonSQS.ReceiveMessage")]);
        assert_eq!(Protocol::of(&target), Protocol::Json(json_1_0()));
        let json_1_1 = headers(&[("content-type", "application/x-amz-json-1.1")]);
        assert_eq!(
            Protocol::of(&json_1_1),
            Protocol::Json(HeaderValue::from_static("application/x-amz-json-1.1"))
        );
        let form = headers(&[("content-type", "application/x-www-form-urlencoded")]);
        assert_eq!(Protocol::of(&form), Protocol::Query);
    }

    async fn body_text(response: Response<Full<Bytes>>) -> String {
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        String::from_utf8(bytes.to_vec()).expect("utf-8")
    }

    #[tokio::test]
    async fn json_errors_carry_the_code_in_the_header_and_the_body() {
        let protocol = Protocol::Json(json_1_0());
        let response = protocol.error(400, protocol.throttling_code(), "Rate exceeded");
        assert_eq!(response.status(), 400);
        assert_eq!(
            response.headers()["x-amzn-errortype"],
            "ThrottlingException"
        );
        assert_eq!(
            response.headers()["content-type"],
            "application/x-amz-json-1.0"
        );
        let body: serde_json::Value =
            serde_json::from_str(&body_text(response).await).expect("json");
        assert_eq!(
            body,
            serde_json::json!({"__type": "ThrottlingException", "message": "Rate exceeded"})
        );
    }

    #[tokio::test]
    async fn query_errors_are_escaped_xml_with_sender_or_receiver() {
        let response = Protocol::Query.error(400, "Throttling", "Rate <exceeded> & \"more\"");
        assert_eq!(response.status(), 400);
        assert_eq!(response.headers()["content-type"], "text/xml");
        assert!(!response.headers().contains_key("x-amzn-errortype"));
        let body = body_text(response).await;
        assert!(
            body.starts_with("<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate &lt;exceeded&gt; &amp; &quot;more&quot;</Message></Error><RequestId>"),
            "{body}"
        );
        let body = body_text(Protocol::Query.error(503, "ServiceUnavailable", "x")).await;
        assert!(body.contains("<Type>Receiver</Type>"), "{body}");
    }

    #[test]
    fn failed_entries_fail_each_entry_of_a_batch_and_only_a_batch() {
        let body = br#"{"QueueUrl":"q","Entries":[{"Id":"0","ReceiptHandle":"a"},{"Id":"7","ReceiptHandle":"b"}]}"#;
        let answer = failed_entries(body, "AccessDenied", true).expect("a batch");
        assert_eq!(answer["Successful"], serde_json::json!([]));
        let failed = answer["Failed"].as_array().expect("failed");
        assert_eq!(failed.len(), 2);
        assert_eq!(failed[1]["Id"], "7");
        assert_eq!(failed[1]["Code"], "AccessDenied");
        assert_eq!(failed[1]["SenderFault"], true);
        assert!(failed_entries(br#"{"QueueUrl":"q"}"#, "AccessDenied", false).is_none());
        assert!(failed_entries(b"Action=Publish", "AccessDenied", false).is_none());
    }

    #[test]
    fn rules_take_precedence_and_counted_rules_run_out() {
        let mut state = State {
            default: Mode::Throttle,
            ..State::default()
        };
        state.rules.insert(
            "GetItem".into(),
            Rule {
                mode: Mode::Pass,
                remaining: None,
            },
        );
        state.rules.insert(
            "PutItem".into(),
            Rule {
                mode: Mode::CloseAfterForward,
                remaining: Some(2),
            },
        );
        let body = Bytes::from_static(b"{}");
        state.recording.insert("PutItem".into(), Vec::new());
        assert_eq!(state.arrive(Some("GetItem"), &body), Mode::Pass);
        assert_eq!(state.arrive(Some("GetItem"), &body), Mode::Pass);
        assert_eq!(
            state.arrive(Some("PutItem"), &body),
            Mode::CloseAfterForward
        );
        assert_eq!(
            state.arrive(Some("PutItem"), &body),
            Mode::CloseAfterForward
        );
        assert_eq!(
            state.arrive(Some("PutItem"), &body),
            Mode::Throttle,
            "ran out"
        );
        assert_eq!(state.arrive(Some("Query"), &body), Mode::Throttle);
        assert_eq!(state.arrive(None, &body), Mode::Throttle);
        assert_eq!(state.seen.get("PutItem"), Some(&3));
        assert_eq!(state.seen.get("GetItem"), Some(&2));
        let kept = &state.recording["PutItem"];
        assert_eq!(kept.len(), 3, "every PutItem kept, whatever its mode");
        assert!(
            kept.windows(2).all(|w| w[0].at <= w[1].at),
            "in arrival order"
        );
        assert!(
            !state.recording.contains_key("GetItem"),
            "only what is recorded"
        );
        assert_eq!(state.total, 7);
    }

    #[test]
    fn the_upstream_may_be_a_url_or_host_and_port() {
        assert_eq!(
            upstream_authority("http://127.0.0.1:4566"),
            "127.0.0.1:4566"
        );
        assert_eq!(
            upstream_authority("http://127.0.0.1:4566/"),
            "127.0.0.1:4566"
        );
        assert_eq!(upstream_authority("127.0.0.1:8000"), "127.0.0.1:8000");
        assert_eq!(upstream_authority("http://localhost"), "localhost:80");
    }
}
