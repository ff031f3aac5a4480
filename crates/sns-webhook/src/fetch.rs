//! Outbound GETs (signing certificates, SubscribeURL): an [`HttpGet`]
//! abstraction, its hyper implementation (rustls with the aws-lc-rs
//! provider and the system's roots, no redirects, a size cap, a deadline)
//! and the bounded certificate cache.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::FutureExt as _;
use futures::future::{BoxFuture, Shared};
use http_body_util::{BodyExt as _, Empty, LengthLimitError, Limited};
use hyper::body::Bytes;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use url::Url;

use crate::signature::SigningCert;

/// Largest body read from a fetched URL (a PEM certificate is ~2 KiB).
pub const MAX_FETCH_BYTES: usize = 64 * 1024;

/// Certificates kept (AWS rotates them rarely; one per region in practice),
/// the least recently used dropped first.
pub const CERT_CACHE_MAX: usize = 32;

/// Why a GET failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// No answer within the deadline.
    #[error("GET {0} did not answer within {1:?}")]
    Timeout(String, Duration),
    /// Connection, TLS or protocol failure.
    #[error("GET {0} failed: {1}")]
    Transport(String, String),
    /// An answer that is not 2xx.
    #[error("GET {0} answered {1}")]
    Status(String, u16),
    /// A body over [`MAX_FETCH_BYTES`].
    #[error("GET {0}: body over {MAX_FETCH_BYTES} bytes")]
    TooLarge(String),
    /// A body that is not a certificate.
    #[error("GET {0}: {1}")]
    NotACertificate(String, String),
}

/// A GET returning the body of a 2xx answer.
pub trait HttpGet: Send + Sync + 'static {
    /// GETs `url`; the caller bounds it with a deadline too.
    fn get(&self, url: Url) -> BoxFuture<'_, Result<Vec<u8>, FetchError>>;
}

/// [`HttpGet`] over hyper's client: rustls (aws-lc-rs provider, the
/// system's roots), HTTP/1.1, no redirects followed (a redirect would leave
/// the checked origin), bodies capped at [`MAX_FETCH_BYTES`].
#[derive(Clone)]
pub struct HyperGet {
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
}

/// The HTTP client could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the HTTP client: {0}")]
pub struct ClientError(String);

impl HyperGet {
    /// A client trusting the system's root certificates; connecting bounded
    /// by `connect_timeout` (callers bound the whole GET with [`get_within`]).
    pub fn new(connect_timeout: Duration) -> Result<Self, ClientError> {
        let mut roots = rustls::RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        let (added, _ignored) = roots.add_parsable_certificates(native.certs);
        if added == 0 {
            tracing::warn!(
                errors = ?native.errors,
                "no system root certificates: https certificate fetches will fail"
            );
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ClientError(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(connect_timeout));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(Self { client })
    }
}

impl std::fmt::Debug for HyperGet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HyperGet")
    }
}

impl HttpGet for HyperGet {
    fn get(&self, url: Url) -> BoxFuture<'_, Result<Vec<u8>, FetchError>> {
        Box::pin(async move {
            let shown = url.to_string();
            let transport = |e: String| FetchError::Transport(shown.clone(), e);
            let request = hyper::Request::get(url.as_str())
                .header(
                    hyper::header::USER_AGENT,
                    concat!("sns-webhook/", env!("CARGO_PKG_VERSION")),
                )
                .body(Empty::<Bytes>::new())
                .map_err(|e| transport(e.to_string()))?;
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| transport(format!("{e:?}")))?;
            if !response.status().is_success() {
                return Err(FetchError::Status(shown, response.status().as_u16()));
            }
            let body = Limited::new(response.into_body(), MAX_FETCH_BYTES)
                .collect()
                .await
                .map_err(|e| {
                    if e.is::<LengthLimitError>() {
                        FetchError::TooLarge(shown.clone())
                    } else {
                        transport(e.to_string())
                    }
                })?;
            Ok(body.to_bytes().to_vec())
        })
    }
}

/// Runs `get` under a deadline.
pub async fn get_within(
    http: &dyn HttpGet,
    url: Url,
    deadline: Duration,
) -> Result<Vec<u8>, FetchError> {
    let shown = url.to_string();
    tokio::time::timeout(deadline, http.get(url))
        .await
        .map_err(|_| FetchError::Timeout(shown, deadline))?
}

/// Signing certificates by URL. Only a certificate fetched and parsed is
/// kept (at most [`CERT_CACHE_MAX`], the least recently used dropped first),
/// so a failed fetch is retried by the next message and URLs that do not
/// serve a certificate cannot push the real one out. Concurrent first uses
/// of a URL share one fetch; it is forgotten once no message waits for it.
pub struct CertCache {
    http: Arc<dyn HttpGet>,
    deadline: Duration,
    entries: Mutex<Entries>,
}

type CertFetch = Shared<BoxFuture<'static, Result<Arc<SigningCert>, FetchError>>>;

#[derive(Default)]
struct Entries {
    /// Parsed certificates by URL, least recently used first.
    ready: VecDeque<(String, Arc<SigningCert>)>,
    /// Fetches under way; each `Arc` is held by the map and its waiters.
    in_flight: HashMap<String, Arc<CertFetch>>,
}

impl Entries {
    /// The cached certificate of `key`, marked as the most recently used.
    fn touch(&mut self, key: &str) -> Option<Arc<SigningCert>> {
        let at = self.ready.iter().position(|(k, _)| k == key)?;
        let entry = self.ready.remove(at)?;
        let cert = entry.1.clone();
        self.ready.push_back(entry);
        Some(cert)
    }

    fn keep(&mut self, key: String, cert: Arc<SigningCert>) {
        if self.touch(&key).is_none() {
            self.ready.push_back((key, cert));
            while self.ready.len() > CERT_CACHE_MAX {
                self.ready.pop_front();
            }
        }
    }
}

/// One message waiting for a fetch; the fetch is forgotten when its last
/// waiter finishes or is dropped (a request cut short), whatever it gave.
struct Waiter<'a> {
    entries: &'a Mutex<Entries>,
    key: String,
    fetch: Option<Arc<CertFetch>>,
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        let mut entries = lock(self.entries);
        drop(self.fetch.take());
        if entries
            .in_flight
            .get(&self.key)
            .is_some_and(|f| Arc::strong_count(f) == 1)
        {
            entries.in_flight.remove(&self.key);
        }
    }
}

fn lock(entries: &Mutex<Entries>) -> MutexGuard<'_, Entries> {
    entries.lock().unwrap_or_else(|p| p.into_inner())
}

impl CertCache {
    /// An empty cache fetching through `http`, each fetch bounded by `deadline`.
    pub fn new(http: Arc<dyn HttpGet>, deadline: Duration) -> Self {
        Self {
            http,
            deadline,
            entries: Mutex::new(Entries::default()),
        }
    }

    /// The certificate at `url` (an origin already checked).
    pub async fn get(&self, url: &Url) -> Result<Arc<SigningCert>, FetchError> {
        let key = url.as_str().to_owned();
        let (waiter, fetch) = {
            let mut entries = lock(&self.entries);
            if let Some(cert) = entries.touch(&key) {
                return Ok(cert);
            }
            let fetch = entries
                .in_flight
                .entry(key.clone())
                .or_insert_with(|| Arc::new(self.fetch(url.clone())))
                .clone();
            let shared = fetch.as_ref().clone();
            let waiter = Waiter {
                entries: &self.entries,
                key: key.clone(),
                fetch: Some(fetch),
            };
            (waiter, shared)
        };
        let result = fetch.await;
        if let Ok(cert) = &result {
            lock(&self.entries).keep(key, cert.clone());
        }
        drop(waiter);
        result
    }

    fn fetch(&self, url: Url) -> CertFetch {
        let http = self.http.clone();
        let deadline = self.deadline;
        async move {
            let pem = get_within(http.as_ref(), url.clone(), deadline).await?;
            let cert = SigningCert::from_pem(&pem)
                .map_err(|e| FetchError::NotACertificate(url.to_string(), e.to_string()))?;
            tracing::info!(url = %url, "signing certificate fetched");
            Ok(Arc::new(cert))
        }
        .boxed()
        .shared()
    }

    /// How many certificates are cached.
    pub fn len(&self) -> usize {
        lock(&self.entries).ready.len()
    }

    /// No certificate cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many fetches are under way.
    pub fn in_flight(&self) -> usize {
        lock(&self.entries).in_flight.len()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    const CERT: &[u8] = include_bytes!("../testdata/cert.pem");

    /// Serves `body` after `delay` for every URL whose path ends in `serves`
    /// (`""`: all), 404 for the rest; counts GETs by URL.
    struct Fake {
        body: Vec<u8>,
        delay: Duration,
        serves: &'static str,
        calls: Mutex<HashMap<String, usize>>,
        total: AtomicUsize,
    }

    impl Fake {
        fn new(body: &[u8], delay: Duration, serves: &'static str) -> Arc<Self> {
            Arc::new(Self {
                body: body.to_vec(),
                delay,
                serves,
                calls: Mutex::new(HashMap::new()),
                total: AtomicUsize::new(0),
            })
        }

        fn calls(&self, url: &Url) -> usize {
            self.calls
                .lock()
                .expect("lock")
                .get(url.as_str())
                .copied()
                .unwrap_or(0)
        }
    }

    impl HttpGet for Fake {
        fn get(&self, url: Url) -> BoxFuture<'_, Result<Vec<u8>, FetchError>> {
            Box::pin(async move {
                *self
                    .calls
                    .lock()
                    .expect("lock")
                    .entry(url.to_string())
                    .or_default() += 1;
                self.total.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(self.delay).await;
                if url.path().ends_with(self.serves) {
                    Ok(self.body.clone())
                } else {
                    Err(FetchError::Status(url.to_string(), 404))
                }
            })
        }
    }

    fn url(i: usize) -> Url {
        Url::parse(&format!(
            "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-{i:x}.pem"
        ))
        .expect("url")
    }

    #[tokio::test(start_paused = true)]
    async fn fetched_once_per_url_and_bounded_least_recently_used_first() {
        let http = Fake::new(CERT, Duration::from_millis(10), "");
        let cache = CertCache::new(http.clone(), Duration::from_secs(5));
        let first = url(0);
        let (a, b) = tokio::join!(cache.get(&first), cache.get(&first));
        a.expect("cert");
        b.expect("cert");
        cache.get(&first).await.expect("cert");
        assert_eq!(http.calls(&first), 1, "one fetch per URL");
        for i in 1..=CERT_CACHE_MAX + 5 {
            cache.get(&url(i)).await.expect("cert");
            cache.get(&first).await.expect("cert");
        }
        assert_eq!(cache.len(), CERT_CACHE_MAX);
        assert_eq!(http.calls(&first), 1, "the URL in use is never dropped");
        cache.get(&url(1)).await.expect("cert");
        assert_eq!(
            http.calls(&url(1)),
            2,
            "the least recently used was dropped"
        );
        assert_eq!(cache.in_flight(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn urls_that_serve_no_certificate_are_not_kept_and_evict_nothing() {
        let http = Fake::new(CERT, Duration::ZERO, "SimpleNotificationService-0.pem");
        let cache = CertCache::new(http.clone(), Duration::from_secs(2));
        cache.get(&url(0)).await.expect("the real certificate");
        for i in 1..=CERT_CACHE_MAX * 3 {
            let err = cache.get(&url(i)).await.expect_err("404");
            assert!(matches!(err, FetchError::Status(_, 404)), "{err}");
        }
        assert_eq!(cache.len(), 1, "failures are not kept");
        cache.get(&url(0)).await.expect("still cached");
        assert_eq!(
            http.calls(&url(0)),
            1,
            "the real certificate was not evicted"
        );
        cache.get(&url(1)).await.expect_err("404");
        assert_eq!(http.calls(&url(1)), 2, "a failed fetch is retried");
        assert_eq!(cache.in_flight(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_or_bad_fetch_fails_within_the_deadline_and_is_retried() {
        let slow = Fake::new(b"", Duration::from_secs(60), "");
        let cache = CertCache::new(slow.clone(), Duration::from_secs(2));
        let err = cache.get(&url(0)).await.expect_err("times out");
        assert!(matches!(err, FetchError::Timeout(..)), "{err}");
        let bad = Fake::new(b"<html>", Duration::ZERO, "");
        let cache = CertCache::new(bad.clone(), Duration::from_secs(2));
        for _ in 0..2 {
            let err = cache.get(&url(0)).await.expect_err("not a cert");
            assert!(matches!(err, FetchError::NotACertificate(..)), "{err}");
        }
        assert_eq!(bad.calls(&url(0)), 2, "failures are not cached");
        assert!(cache.is_empty());
        assert_eq!(cache.in_flight(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_fetch_whose_waiters_are_gone_is_forgotten() {
        let http = Fake::new(CERT, Duration::from_secs(1), "");
        let cache = CertCache::new(http.clone(), Duration::from_secs(5));
        let cut = tokio::time::timeout(Duration::from_millis(100), cache.get(&url(0))).await;
        assert!(cut.is_err(), "cut short");
        assert_eq!(cache.in_flight(), 0, "no fetch left behind");
        cache.get(&url(0)).await.expect("fetched again");
        assert_eq!(http.total.load(Ordering::SeqCst), 2);
    }
}
