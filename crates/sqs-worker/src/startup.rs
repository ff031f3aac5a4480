//! Building and running a worker.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use shared::aws::AwsClients;
use shared::aws::call_record::Caller;
use shared::orders_table::OrdersTable;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::consumer::Consumer;
use crate::consumer::priority::{Lane, PriorityGate};
use crate::handler::{ApplyEvent, TableApplier};
use crate::health::{self, HealthState};
use crate::metrics::Metrics;

/// A worker with its probe port bound, ready to run.
pub struct Application {
    /// The standard queue's consumer (the only one without an express lane).
    consumer: Arc<Consumer>,
    /// The express queue's consumer, drained first, when there is one.
    express: Option<Arc<Consumer>>,
    listener: TcpListener,
    router: axum::Router,
    metrics: Arc<Metrics>,
}

impl Application {
    /// Builds the AWS clients (once) and binds the probe port.
    pub async fn build(settings: Settings) -> std::io::Result<Self> {
        let mut resources = vec![
            ("queue", settings.queue_url.clone()),
            ("dlq", settings.dlq_url.clone()),
            ("table", settings.orders_table.clone()),
        ];
        if let Some(lane) = &settings.express {
            resources.push(("express_queue", lane.queue_url.clone()));
            resources.push(("express_dlq", lane.dlq_url.clone()));
        }
        let caller = Caller {
            binary: "sqs-worker",
            role: Some(settings.role.to_string()),
            resources,
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
        let new_health = || {
            HealthState::new(
                settings.liveness_stall,
                settings.progress_watchdog,
                settings.config_fault_limit,
            )
        };
        // Each lane has its own health (progress, faults, held messages):
        // the probes pass only when every lane's does.
        let health = new_health();
        let mut lanes = vec![health.clone()];
        // One pool of concurrency slots for both lanes: the express lane
        // takes them first, the priority gate holds the standard lane back.
        let slots = Arc::new(Semaphore::new(settings.concurrency));
        let (standard_lane, express) = match settings.express_lane() {
            Some(express_settings) => {
                let gate = Arc::new(PriorityGate::new(settings.standard_every));
                let express_health = new_health();
                lanes.push(express_health.clone());
                let express = Consumer::in_lane(
                    sqs.clone(),
                    express_settings,
                    handler.clone(),
                    metrics.clone(),
                    express_health,
                    slots.clone(),
                    Lane::Express(gate.clone()),
                );
                (Lane::Standard(gate), Some(Arc::new(express)))
            }
            None => (Lane::Only, None),
        };
        let router = health::router(lanes, metrics.clone());
        let consumer = Arc::new(Consumer::in_lane(
            sqs,
            settings,
            handler,
            metrics.clone(),
            health,
            slots,
            standard_lane,
        ));
        Ok(Self {
            consumer,
            express,
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
            consumed = run_lanes(self.consumer, self.express, token) => consumed,
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

/// Runs the standard lane's consumer and, when there is one, the express
/// lane's, until `token` is cancelled. A lane that gives up (misconfigured)
/// stops the other too: the process exits and is replaced whole.
async fn run_lanes(
    standard: Arc<Consumer>,
    express: Option<Arc<Consumer>>,
    token: CancellationToken,
) -> Result<(), crate::consumer::Misconfigured> {
    let Some(express) = express else {
        return standard.run(token).await;
    };
    let lane = |consumer: Arc<Consumer>| {
        let token = token.clone();
        async move {
            let ended = consumer.run(token.clone()).await;
            token.cancel();
            ended
        }
    };
    let (standard, express) = tokio::join!(lane(standard), lane(express));
    standard.and(express)
}
