//! Building and running the server: binds the listener, wires the state,
//! serves until the shutdown future completes (in-flight requests drain).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tower_http::timeout::TimeoutLayer;

use crate::config::Settings;
use crate::fetch::{CertCache, ClientError, HttpGet, HyperGet};
use crate::inbox::Inbox;
use crate::origin::Origins;
use crate::routes::{AppState, router};

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The HTTP client for outbound GETs.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// Binding or serving.
    #[error("cannot listen on {0}: {1}")]
    Listen(SocketAddr, std::io::Error),
    /// The accept loop failed.
    #[error("server failed: {0}")]
    Serve(std::io::Error),
}

/// A bound, not yet running webhook.
pub struct Application {
    listener: tokio::net::TcpListener,
    router: axum::Router,
}

impl Application {
    /// Binds `settings.host:settings.port` with the real HTTP client.
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let http = Arc::new(HyperGet::new(settings.fetch_timeout)?);
        Self::build_with(settings, http).await
    }

    /// [`Application::build`] with another [`HttpGet`] (tests).
    pub async fn build_with(
        settings: Settings,
        http: Arc<dyn HttpGet>,
    ) -> Result<Self, StartupError> {
        let addr = SocketAddr::new(settings.host, settings.port);
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| StartupError::Listen(addr, e))?;
        let state = Arc::new(AppState {
            origins: Origins::new(&settings.region, settings.cert_host_allowlist.clone()),
            certs: CertCache::new(http.clone(), settings.fetch_timeout),
            http,
            fetch_timeout: settings.fetch_timeout,
            topic_allowlist: settings.topic_allowlist.clone(),
            recibidos_token: settings.recibidos_token.clone(),
            inbox: Inbox::new(settings.recibidos_max, settings.dedup_window),
        });
        let router = router(state).layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            settings.request_timeout,
        ));
        tracing::info!(
            addr = %listener.local_addr().unwrap_or(addr),
            region = %settings.region,
            emulator_hosts = ?settings.cert_host_allowlist,
            topics = ?settings.topic_allowlist,
            recibidos_token = settings.recibidos_token.is_some(),
            "sns-webhook listening"
        );
        Ok(Self { listener, router })
    }

    /// The bound address (the real port when PORT=0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartupError> {
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(StartupError::Serve)
    }
}
