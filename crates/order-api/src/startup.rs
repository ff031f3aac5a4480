//! Building and running the application.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use axum::error_handling::HandleErrorLayer;
use axum::extract::DefaultBodyLimit;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{BoxError, Router};
use shared::aws::AwsClients;
use shared::aws::call_record::Caller;
use shared::orders_table::OrdersTable;
use tokio::net::TcpListener;
use tower::ServiceBuilder;

use crate::config::Settings;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::orders::OrderStore;
use crate::publisher::{EventPublisher, SnsPublisher};
use crate::readiness::Readiness;
use crate::routes::{ops, pedidos};

/// Largest accepted request body.
pub const BODY_LIMIT_BYTES: usize = 64 * 1024;

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState {
    /// Where events go.
    pub publisher: Arc<dyn EventPublisher>,
    /// Where order state is read.
    pub orders: Arc<dyn OrderStore>,
    /// Cached readiness checks.
    pub readiness: Arc<Readiness>,
    /// Metrics registry.
    pub metrics: Arc<Metrics>,
    /// How long a request holds its idempotency key: past the request
    /// timeout, so a key is only taken over from a request that is over.
    pub key_lease: std::time::Duration,
}

impl AppState {
    /// State over the given dependencies.
    pub fn new(
        settings: &Settings,
        publisher: Arc<dyn EventPublisher>,
        orders: Arc<dyn OrderStore>,
    ) -> Self {
        let readiness = Arc::new(Readiness::new(
            publisher.clone(),
            orders.clone(),
            settings.readiness_cache,
            settings.config_fault_limit,
        ));
        Self {
            publisher,
            orders,
            readiness,
            metrics: Metrics::new(),
            key_lease: settings.request_timeout + std::time::Duration::from_secs(1),
        }
    }
}

/// Rejects a body whose declared length is over the limit before reading any
/// of it, so a client that waits (`Expect: 100-continue`) never sends it.
async fn reject_oversized(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let declared = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > BODY_LIMIT_BYTES as u64) {
        return ApiError::PayloadTooLarge.into_response();
    }
    next.run(request).await
}

async fn overloaded(error: BoxError) -> axum::response::Response {
    tracing::warn!(error = %error, "request shed or timed out");
    ApiError::Overloaded.into_response()
}

/// The complete router: API routes behind timeout and load shedding, and
/// operational routes that stay responsive under load.
pub fn router(settings: &Settings, state: AppState) -> Router {
    let api = Router::new()
        .route("/api/pedidos", post(pedidos::create_order))
        .route("/api/pedidos/{pedidoId}", get(pedidos::get_order))
        .route(
            "/api/pedidos/{pedidoId}/cancelacion",
            post(pedidos::cancel_order),
        )
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(overloaded))
                .load_shed()
                .concurrency_limit(settings.max_concurrent_requests)
                .timeout(settings.request_timeout),
        )
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .layer(axum::middleware::from_fn(reject_oversized));
    let ops = Router::new()
        .route("/health/live", get(ops::live))
        .route("/health/ready", get(ops::ready))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(ops::openapi));
    api.merge(ops)
        .fallback(|| async { ApiError::RouteNotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::request_id::track,
        ))
        .with_state(state)
}

/// A bound, ready-to-run order-api.
pub struct Application {
    listener: TcpListener,
    router: Router,
}

impl Application {
    /// Builds the AWS clients (once) and binds the listener.
    pub async fn build(settings: Settings) -> std::io::Result<Self> {
        let caller = Caller {
            binary: "order-api",
            role: None,
            resources: vec![
                ("topic", settings.sns_topic_arn.clone()),
                ("table", settings.orders_table.clone()),
            ],
        };
        let clients = AwsClients::load_as(&settings.aws, caller).await?;
        let budgets = settings.budgets();
        let publisher = Arc::new(SnsPublisher::new(
            &clients.sns,
            &settings.sns_topic_arn,
            budgets.publish,
        ));
        // The table calls of a request fit its budget (see `Settings::budgets`).
        let dynamodb = clients
            .dynamodb
            .config()
            .to_builder()
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(budgets.store_attempt)
                    .operation_attempt_timeout(budgets.store_attempt)
                    .operation_timeout(budgets.store_total)
                    .build(),
            )
            .retry_config(RetryConfig::standard().with_max_attempts(2))
            .build();
        let orders = Arc::new(OrdersTable::new(
            aws_sdk_dynamodb::Client::from_conf(dynamodb),
            &settings.orders_table,
        ));
        Self::build_with(settings, publisher, orders).await
    }

    /// Binds the listener over the given dependencies (tests use fakes).
    pub async fn build_with(
        settings: Settings,
        publisher: Arc<dyn EventPublisher>,
        orders: Arc<dyn OrderStore>,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(SocketAddr::new(settings.host, settings.port)).await?;
        let state = AppState::new(&settings, publisher, orders);
        let router = router(&settings, state);
        Ok(Self { listener, router })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        tracing::info!(addr = %self.listener.local_addr()?, "order-api listening");
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await
    }
}
