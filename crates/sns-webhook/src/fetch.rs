//! Outbound GETs (signing certificates, SubscribeURL): an [`HttpGet`]
//! abstraction, its hyper implementation (rustls with the aws-lc-rs
//! provider and the system's roots, no redirects, a size cap, a deadline)
//! and the bounded certificate cache.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use http_body_util::{BodyExt as _, Empty, LengthLimitError, Limited};
use hyper::body::Bytes;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::OnceCell;
use url::Url;

use crate::signature::SigningCert;

/// Largest body read from a fetched URL (a PEM certificate is ~2 KiB).
pub const MAX_FETCH_BYTES: usize = 64 * 1024;

/// Certificates kept (AWS rotates them rarely; one per region in practice).
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

/// Signing certificates by URL: each fetched once (concurrent first uses
/// share one fetch; a failed fetch is retried by the next message), at most
/// [`CERT_CACHE_MAX`] kept, the oldest dropped first.
pub struct CertCache {
    http: Arc<dyn HttpGet>,
    deadline: Duration,
    entries: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    by_url: HashMap<String, Arc<OnceCell<Arc<SigningCert>>>>,
    order: VecDeque<String>,
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
        let cell = {
            let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            let key = url.as_str().to_owned();
            if let Some(cell) = entries.by_url.get(&key) {
                cell.clone()
            } else {
                while entries.order.len() >= CERT_CACHE_MAX {
                    if let Some(oldest) = entries.order.pop_front() {
                        entries.by_url.remove(&oldest);
                    }
                }
                let cell = Arc::new(OnceCell::new());
                entries.by_url.insert(key.clone(), cell.clone());
                entries.order.push_back(key);
                cell
            }
        };
        cell.get_or_try_init(|| async {
            let pem = get_within(self.http.as_ref(), url.clone(), self.deadline).await?;
            let cert = SigningCert::from_pem(&pem)
                .map_err(|e| FetchError::NotACertificate(url.to_string(), e.to_string()))?;
            tracing::info!(url = %url, "signing certificate fetched");
            Ok(Arc::new(cert))
        })
        .await
        .cloned()
    }

    /// How many certificates are cached.
    pub fn len(&self) -> usize {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.by_url.values().filter(|c| c.initialized()).count()
    }

    /// No certificate cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    struct Counting {
        calls: AtomicUsize,
        body: Vec<u8>,
        delay: Duration,
    }

    impl HttpGet for Counting {
        fn get(&self, _url: Url) -> BoxFuture<'_, Result<Vec<u8>, FetchError>> {
            Box::pin(async move {
                self.calls.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(self.delay).await;
                Ok(self.body.clone())
            })
        }
    }

    fn url(i: usize) -> Url {
        Url::parse(&format!("https://sns.us-east-1.amazonaws.com/c{i}.pem")).expect("url")
    }

    #[tokio::test(start_paused = true)]
    async fn fetched_once_per_url_and_bounded() {
        let http = Arc::new(Counting {
            calls: AtomicUsize::new(0),
            body: include_bytes!("../testdata/cert.pem").to_vec(),
            delay: Duration::from_millis(10),
        });
        let cache = CertCache::new(http.clone(), Duration::from_secs(5));
        let first = url(0);
        let (a, b) = tokio::join!(cache.get(&first), cache.get(&first));
        a.expect("cert");
        b.expect("cert");
        cache.get(&url(0)).await.expect("cert");
        assert_eq!(http.calls.load(Ordering::SeqCst), 1, "one fetch per URL");
        for i in 1..=CERT_CACHE_MAX + 5 {
            cache.get(&url(i)).await.expect("cert");
        }
        assert_eq!(cache.len(), CERT_CACHE_MAX);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_or_bad_fetch_fails_within_the_deadline_and_is_retried() {
        let slow = Arc::new(Counting {
            calls: AtomicUsize::new(0),
            body: Vec::new(),
            delay: Duration::from_secs(60),
        });
        let cache = CertCache::new(slow.clone(), Duration::from_secs(2));
        let err = cache.get(&url(0)).await.expect_err("times out");
        assert!(matches!(err, FetchError::Timeout(..)), "{err}");
        let bad = Arc::new(Counting {
            calls: AtomicUsize::new(0),
            body: b"<html>".to_vec(),
            delay: Duration::ZERO,
        });
        let cache = CertCache::new(bad.clone(), Duration::from_secs(2));
        for _ in 0..2 {
            let err = cache.get(&url(0)).await.expect_err("not a cert");
            assert!(matches!(err, FetchError::NotACertificate(..)), "{err}");
        }
        assert_eq!(
            bad.calls.load(Ordering::SeqCst),
            2,
            "failures are not cached"
        );
        assert!(cache.is_empty());
    }
}
