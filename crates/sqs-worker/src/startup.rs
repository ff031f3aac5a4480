//! Building and running a worker.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use shared::aws::AwsClients;
use shared::aws::call_record::Caller;
use shared::orders_table::OrdersTable;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::consumer::Consumer;
use crate::handler::{ApplyEvent, TableApplier};
use crate::health::{self, HealthState};
use crate::metrics::Metrics;

/// A worker with its probe port bound, ready to run.
pub struct Application {
    consumer: Arc<Consumer>,
    listener: TcpListener,
    router: axum::Router,
    metrics: Arc<Metrics>,
}

impl Application {
    /// Builds the AWS clients (once) and binds the probe port.
    pub async fn build(settings: Settings) -> std::io::Result<Self> {
        let caller = Caller {
            binary: "sqs-worker",
            role: Some(settings.role.to_string()),
            resources: vec![
                ("queue", settings.queue_url.clone()),
                ("dlq", settings.dlq_url.clone()),
                ("table", settings.orders_table.clone()),
            ],
        };
        let clients = AwsClients::load_as(&settings.aws, caller).await?;
        let table = OrdersTable::new(clients.dynamodb, &settings.orders_table);
        let handler = Arc::new(TableApplier::new(table, settings.role, settings.order_ttl));
        Self::build_with(settings, clients.sqs, handler).await
    }

    /// Binds the probe port over the given SQS client and handler (tests inject failures).
    pub async fn build_with(
        settings: Settings,
        sqs: aws_sdk_sqs::Client,
        handler: Arc<dyn ApplyEvent>,
    ) -> std::io::Result<Self> {
        let listener =
            TcpListener::bind(SocketAddr::from(([0, 0, 0, 0], settings.health_port))).await?;
        let metrics = Metrics::new();
        let health = HealthState::new(
            settings.liveness_stall,
            settings.progress_watchdog,
            settings.config_fault_limit,
        );
        let router = health::router(health.clone(), metrics.clone());
        let consumer = Arc::new(Consumer::new(
            sqs,
            settings,
            handler,
            metrics.clone(),
            health,
        ));
        Ok(Self {
            consumer,
            listener,
            router,
            metrics,
        })
    }

    /// The probe server's address.
    pub fn health_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The worker's metrics.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// Consumes until `shutdown` completes, then drains and returns, at
    /// the latest `SHUTDOWN_GRACE_SECS` + the cleanup budget after the
    /// signal: one hard deadline that the whole exit path races, whatever
    /// it waits for (SQS, the table, the probe server).
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let token = CancellationToken::new();
        let trigger = token.clone();
        let (signalled_tx, signalled_rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            shutdown.await;
            let _ = signalled_tx.send(tokio::time::Instant::now());
            trigger.cancel();
        });
        let budget = self.consumer.exit_budget();
        let exit_by = async move {
            match signalled_rx.await {
                Ok(at) => {
                    tokio::time::sleep_until(at + budget).await;
                    at + budget
                }
                Err(_) => std::future::pending().await,
            }
        };
        tokio::pin!(exit_by);
        let server_stop = CancellationToken::new();
        let server_token = server_stop.clone();
        tracing::info!(addr = %self.listener.local_addr()?, "health server listening");
        let server = tokio::spawn(
            axum::serve(self.listener, self.router)
                .with_graceful_shutdown(async move { server_token.cancelled().await })
                .into_future(),
        );
        let mut expired = false;
        let consumed = tokio::select! {
            consumed = self.consumer.run(token) => consumed,
            _ = &mut exit_by => {
                expired = true;
                tracing::error!(
                    budget_ms = budget.as_millis() as u64,
                    "exit deadline passed; exiting now (unfinished messages reappear after their visibility timeout)"
                );
                Ok(())
            }
        };
        server_stop.cancel();
        // A probe request is instant; a client holding a connection open
        // must not hold the exit.
        let mut server = server;
        if expired {
            server.abort();
        } else {
            tokio::select! {
                joined = tokio::time::timeout(Duration::from_secs(1), &mut server) => match joined {
                    Ok(joined) => joined.map_err(std::io::Error::other)??,
                    Err(_) => server.abort(),
                },
                _ = &mut exit_by => server.abort(),
            }
        }
        consumed.map_err(std::io::Error::other)
    }
}
