//! Building and running the application.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use axum::error_handling::HandleErrorLayer;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{BoxError, Router};
use shared::aws::AwsClients;
use shared::aws::call_record::Caller;
use shared::orders_table::OrdersTable;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};

use crate::config::Settings;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::orders::OrderStore;
use crate::publisher::{EventPublisher, SnsPublisher};
use crate::readiness::Readiness;
use crate::request_id::X_REQUEST_ID;
use crate::routes::{ops, pedidos};

mod layer_errors;
pub mod server;
pub mod track;

/// Largest accepted request body.
pub const BODY_LIMIT_BYTES: usize = shared::contract::values::MAX_BODY_BYTES;

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
    /// How the intake record's conditional write is tried.
    pub write_budget: shared::orders_table::WriteBudget,
    /// How long a request waits for its command's decision before it answers
    /// `outcome-unknown` (just before the outer request timeout).
    pub answer_deadline: std::time::Duration,
    /// The commands' tasks (decision, then publish): they outlive a request
    /// cut short, and shutdown waits for them.
    pub tasks: tokio_util::task::TaskTracker,
    /// Publishes in flight after their answers (at most `MAX_CONCURRENT_REQUESTS`).
    pub publishes: Arc<tokio::sync::Semaphore>,
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
        let budgets = settings.budgets();
        Self {
            publisher,
            orders,
            readiness,
            metrics: Metrics::new(),
            key_lease: settings.request_timeout + std::time::Duration::from_secs(1),
            write_budget: shared::orders_table::WriteBudget {
                total: budgets.store_total,
                max_attempts: 3,
            },
            answer_deadline: settings.request_timeout * 9 / 10,
            tasks: tokio_util::task::TaskTracker::new(),
            publishes: Arc::new(tokio::sync::Semaphore::new(
                settings.max_concurrent_requests,
            )),
        }
    }
}

async fn overloaded(error: BoxError) -> axum::response::Response {
    tracing::warn!(error = %error, "request shed");
    ApiError::Overloaded.into_response()
}

/// The complete router: API routes behind the body limit, load shedding and
/// timeouts, and operational routes that stay responsive under load; all of
/// them with a request id, a span, a log line and a count.
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
                // The layers below answer bare 413s and 503s: made problems here.
                .layer(axum::middleware::map_response(layer_errors::as_problem))
                // A declared Content-Length above the limit is refused before
                // any of the body is read (an `Expect: 100-continue` client
                // never sends it); a body that grows past it fails to read (413).
                .layer(RequestBodyLimitLayer::new(BODY_LIMIT_BYTES))
                .layer(HandleErrorLayer::new(overloaded))
                .load_shed()
                // One limit shared by every API route (axum layers each route
                // separately; a plain concurrency limit would be per route).
                .layer(GlobalConcurrencyLimitLayer::new(
                    settings.max_concurrent_requests,
                ))
                .layer(TimeoutLayer::with_status_code(
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    settings.request_timeout,
                ))
                .layer(RequestBodyTimeoutLayer::new(settings.body_read_timeout)),
        );
    let ops = Router::new()
        .route("/health/live", get(ops::live))
        .route("/health/ready", get(ops::ready))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(ops::openapi))
        .route(
            "/asyncapi.json",
            get(ops::asyncapi).layer(axum::Extension(ops::AsyncApiJson::new(
                &settings.sns_topic_arn,
            ))),
        )
        .merge(crate::routes::docs::swagger_ui());
    api.merge(ops)
        .fallback(|| async { ApiError::RouteNotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(
            ServiceBuilder::new()
                .map_request(crate::request_id::drop_unacceptable)
                .layer(SetRequestIdLayer::new(
                    X_REQUEST_ID.clone(),
                    MakeRequestUuid,
                ))
                .layer(PropagateRequestIdLayer::new(X_REQUEST_ID.clone()))
                .layer(axum::middleware::from_fn_with_state(
                    state.clone(),
                    track::track,
                )),
        )
        .with_state(state)
}

/// The DynamoDB client of the API's requests, from `base`: its calls fit a
/// request's budget (see [`Settings::budgets`]); two attempts each (the
/// intake record's own write retries itself, see `WriteBudget`).
pub fn table_client(
    base: &aws_sdk_dynamodb::Client,
    settings: &Settings,
) -> aws_sdk_dynamodb::Client {
    let budgets = settings.budgets();
    let config = base
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
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// A bound, ready-to-run order-api.
pub struct Application {
    listener: TcpListener,
    router: Router,
    limits: server::ConnectionLimits,
    tasks: tokio_util::task::TaskTracker,
    /// The longest a command's task may still run at shutdown (its publish).
    task_drain: std::time::Duration,
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
        let publisher = Arc::new(
            SnsPublisher::new(&clients.sns, &settings.sns_topic_arn, budgets.publish)
                .with_fair_group_ids(settings.sns_fair_group_ids),
        );
        let orders = Arc::new(OrdersTable::new(
            table_client(&clients.dynamodb, &settings),
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
        let tasks = state.tasks.clone();
        let task_drain = settings.budgets().publish.total + std::time::Duration::from_secs(1);
        let router = router(&settings, state);
        let limits = server::ConnectionLimits {
            max_connections: settings.max_connections,
            header_read_timeout: settings.header_read_timeout,
            idle_timeout: settings.keep_alive_timeout,
        };
        Ok(Self {
            listener,
            router,
            limits,
            tasks,
            task_drain,
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then stops accepting and finishes
    /// in-flight requests.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        tracing::info!(
            addr = %self.listener.local_addr()?,
            max_connections = self.limits.max_connections,
            header_read_timeout_secs = self.limits.header_read_timeout.as_secs(),
            keep_alive_timeout_secs = self.limits.idle_timeout.as_secs(),
            "order-api listening"
        );
        server::serve(self.listener, self.router, self.limits, shutdown).await?;
        // Commands accepted before the stop still publish their events (what
        // does not, the relay publishes).
        self.tasks.close();
        if tokio::time::timeout(self.task_drain, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                left = self.tasks.len(),
                "publishes still running at the end of the drain; the relay publishes those events"
            );
        }
        Ok(())
    }
}
