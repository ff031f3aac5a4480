//! The outbox relay (`order-api relay`): publishes every event still stored
//! in the orders table some time after it was recorded, so an accepted
//! command is published even when the API's own publish failed, was
//! ambiguous, or died with its task.
//!
//! The engine is a poller over the table's time-ordered index
//! (`outbox-pendientes`): each pass reads, per shard, the index entries
//! recorded between the shard's checkpoint and `now - RELAY_STALE_SECS`, reads
//! those items, and publishes each event still stored on them (a worker that
//! applies an event removes it, so on the happy path there is nothing to
//! publish). Each window is passed once, so an order is published by the
//! relay at most once more, however long the workers are away; a failed
//! publish holds the shard's checkpoint there and is retried next pass.
//! One relay works at a time: a lease on the checkpoint item, renewed every
//! pass in the same write that saves the checkpoints (README: "The outbox").

mod http;
mod settings;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use shared::contract::Event;
use shared::orders_table::{Checkpoints, OUTBOX_SHARDS, OrdersTable, StoredEvents, TableError};
use shared::telemetry::traced;
use tracing::Instrument;
use uuid::Uuid;

pub use http::RelayMetrics;
pub use settings::RelaySettings;
use settings::{DRAIN_BACKSTOP, LEASE_CALL_TIMEOUT, MARK_TIMEOUT};

use crate::publisher::EventPublisher;

/// How a relay runs (shared with its HTTP endpoints).
pub struct Relay {
    table: OrdersTable,
    publisher: Arc<dyn EventPublisher>,
    settings: RelaySettings,
    /// This process's name on the lease.
    owner: String,
    /// Metrics and health.
    pub metrics: Arc<RelayMetrics>,
    health: Arc<Health>,
}

/// What the health endpoints read.
#[derive(Debug, Default)]
pub struct Health {
    /// Epoch ms of the last lease call that DynamoDB answered.
    last_ok_ms: AtomicI64,
    /// Epoch ms since when DynamoDB has refused the table (0 = not); cleared
    /// by the next lease call it answers.
    table_fault_since_ms: AtomicI64,
    /// Epoch ms since when SNS has refused the topic (0 = not); cleared by
    /// the next publish it takes.
    topic_fault_since_ms: AtomicI64,
    /// The lowest main checkpoint of the last pass (0 = none yet).
    lowest_done_ms: AtomicI64,
    /// Whether the current pass met a refusal of the table.
    pass_refused: AtomicBool,
    /// Whether this relay holds the lease.
    leader: AtomicBool,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Why one entry could not be published.
#[derive(Debug)]
struct Stuck;

/// What became of one index entry in a pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Every event it still held is published (or there was none).
    Published,
    /// A publish failed, or an event is unreadable: the checkpoint waits here.
    Stuck,
    /// Not tried: the pass stopped starting publishes (out of time, stopping,
    /// or an entry before it stuck). The next pass goes on from here.
    NotStarted,
}

/// When a pass may start a publish, and how many run at once.
struct Launch<'a> {
    /// `RELAY_CONCURRENCY` permits, over all shards.
    permits: tokio::sync::Semaphore,
    /// No publish starts after this ([`RelaySettings::pass_budget`]).
    deadline: Instant,
    /// Nor once a stop was asked for.
    stop: &'a tokio::sync::watch::Receiver<bool>,
}

impl Launch<'_> {
    fn open(&self) -> bool {
        // A closed stop channel (its sender gone) counts as a stop.
        Instant::now() < self.deadline && !*self.stop.borrow() && self.stop.has_changed().is_ok()
    }

    /// A permit to start a publish, or `None` once the pass starts no more
    /// (its deadline passed or a stop was asked for, while waiting too).
    async fn permit(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        if !self.open() {
            return None;
        }
        let mut stop = self.stop.clone();
        tokio::select! {
            // The semaphore is never closed.
            permit = self.permits.acquire() => permit.ok().filter(|_| self.open()),
            () = tokio::time::sleep_until(self.deadline.into()) => None,
            _ = stop.wait_for(|stop| *stop) => None,
        }
    }
}

impl Relay {
    /// A relay over `table` and `publisher`.
    pub fn new(
        table: OrdersTable,
        publisher: Arc<dyn EventPublisher>,
        settings: RelaySettings,
    ) -> Self {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "relay".into());
        Self {
            table,
            publisher,
            owner: format!("{host}-{}", Uuid::new_v4().simple()),
            metrics: Arc::new(RelayMetrics::new()),
            health: Arc::new(Health::default()),
            settings,
        }
    }

    /// Builds the AWS clients (once) and the relay.
    pub async fn build(settings: RelaySettings) -> std::io::Result<Self> {
        let caller = shared::aws::call_record::Caller {
            binary: "outbox-relay",
            role: None,
            resources: vec![
                ("topic", settings.sns_topic_arn.clone()),
                ("table", settings.orders_table.clone()),
            ],
        };
        let clients = shared::aws::AwsClients::load_as(&settings.aws, caller).await?;
        let publisher = Arc::new(
            crate::publisher::SnsPublisher::new(
                &clients.sns,
                &settings.sns_topic_arn,
                settings.publish_budget(),
            )
            .with_fair_group_ids(settings.sns_fair_group_ids),
        );
        let table = OrdersTable::new(clients.dynamodb, &settings.orders_table);
        Ok(Self::new(table, publisher, settings))
    }

    /// Serves the health and metrics endpoints and runs passes until
    /// `shutdown`; then ends the current pass within `SHUTDOWN_GRACE_SECS`,
    /// saves the checkpoints and gives the lease up.
    pub async fn run_until_stopped(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let listener = tokio::net::TcpListener::bind(std::net::SocketAddr::new(
            self.settings.host,
            self.settings.port,
        ))
        .await?;
        self.run_on(listener, shutdown).await
    }

    /// [`Relay::run_until_stopped`] on a bound listener.
    pub async fn run_on(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let app = http::router(
            self.metrics.clone(),
            self.health.clone(),
            self.settings.clone(),
        );
        tracing::info!(
            addr = %listener.local_addr()?,
            stale_secs = self.settings.stale.as_secs(),
            poll_secs = self.settings.poll.as_secs(),
            owner = %self.owner,
            "outbox relay started"
        );
        let mut http_stop = stop_rx.clone();
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = http_stop.wait_for(|stop| *stop).await;
                })
                .await
        });
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        });
        self.run_passes(stop_rx).await;
        // The HTTP endpoints answer until the passes are over.
        match tokio::time::timeout(Duration::from_secs(2), server).await {
            Ok(Ok(result)) => result,
            _ => Ok(()),
        }
    }

    async fn run_passes(&self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut done: Option<Checkpoints> = None;
        let mut first = true;
        loop {
            if !first {
                tokio::select! {
                    _ = stop.wait_for(|stop| *stop) => break,
                    () = tokio::time::sleep(self.settings.poll) => {}
                }
            }
            first = false;
            if *stop.borrow() {
                break;
            }
            // What a cut pass gives the lease back with: what the last pass
            // reached, then what this pass's lease call saved.
            let leased = std::sync::Mutex::new(done);
            let pass = self.pass(done.take(), &stop, &leased);
            // A stop ends the starting of publishes; those in flight get the
            // grace period to end.
            let mut stopping = stop.clone();
            let grace = self.settings.shutdown_grace;
            let cut = async move {
                let _ = stopping.wait_for(|stop| *stop).await;
                tokio::time::sleep(grace).await;
            };
            tokio::select! {
                result = pass => done = result,
                () = cut => {
                    tracing::warn!("the relay's pass outlasted the shutdown grace; its publishes in flight are cut short (SNS may have taken them) and its window is passed again by the next relay");
                    done = *leased.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    break;
                }
            }
        }
        if let Some(done) = done {
            let release = self.table.relay_release(&self.owner, &done);
            match tokio::time::timeout(Duration::from_secs(2), release).await {
                Ok(Ok(())) => tracing::info!("outbox relay stopped; lease given up"),
                Ok(Err(e)) => tracing::warn!(error = %e, "giving the lease up failed; it runs out"),
                Err(_) => tracing::warn!("giving the lease up timed out; it runs out"),
            }
        }
    }

    /// One pass: renews the lease (saving `done`), then, while this relay
    /// holds it, publishes what each shard's main window and sweep window
    /// still hold. Returns the checkpoints reached, to be saved with the next
    /// lease renewal.
    async fn pass(
        &self,
        done: Option<Checkpoints>,
        stop: &tokio::sync::watch::Receiver<bool>,
        leased: &std::sync::Mutex<Option<Checkpoints>>,
    ) -> Option<Checkpoints> {
        let started = now_ms();
        let lease =
            self.table
                .relay_lease(&self.owner, done.as_ref(), started, self.settings.lease());
        let from = match tokio::time::timeout(LEASE_CALL_TIMEOUT, lease).await {
            Ok(Ok(Some(from))) => from,
            Ok(Ok(None)) => {
                self.health.last_ok_ms.store(started, Ordering::Relaxed);
                self.health.table_fault_since_ms.store(0, Ordering::Relaxed);
                if self.health.leader.swap(false, Ordering::Relaxed) {
                    tracing::warn!("another relay holds the lease: standing by");
                }
                self.health.lowest_done_ms.store(0, Ordering::Relaxed);
                self.metrics.set_leader(false);
                self.metrics.set_oldest_pending_age(0.0);
                return None;
            }
            Ok(Err(e)) => {
                self.table_failed(&e);
                self.report_age(started);
                return done;
            }
            Err(_) => {
                tracing::warn!("the relay's lease call timed out");
                self.report_age(started);
                return done;
            }
        };
        *leased
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(from);
        self.health.last_ok_ms.store(started, Ordering::Relaxed);
        self.health.pass_refused.store(false, Ordering::Relaxed);
        if !self.health.leader.swap(true, Ordering::Relaxed) {
            tracing::info!(checkpoints = ?from, "this relay holds the lease");
        }
        self.metrics.set_leader(true);
        let upto = started - millis(self.settings.stale);
        let sweep_upto = started - millis(self.settings.sweep_lag);
        let launch = Launch {
            permits: tokio::sync::Semaphore::new(self.settings.concurrency),
            deadline: Instant::now() + self.settings.pass_budget(),
            stop,
        };
        let launch = &launch;
        let shards = (0..OUTBOX_SHARDS).map(|shard| {
            let i = usize::from(shard);
            async move {
                let done = self.shard_pass(shard, from.done[i], upto, launch).await;
                // The sweep trails the main pass (and never passes it).
                let sweep_to = sweep_upto.min(done.saturating_sub(1));
                let swept = self
                    .shard_pass(shard, from.swept[i], sweep_to, launch)
                    .await;
                (done, swept)
            }
        });
        let reached = futures::future::join_all(shards).await;
        let mut next = from;
        for (shard, (done, swept)) in reached.into_iter().enumerate() {
            next.done[shard] = done;
            next.swept[shard] = swept;
        }
        self.metrics.count_pass();
        // The lease call alone does not clear a refusal (a Query or a read
        // of the index may be what is refused): a whole pass without one does.
        if !self.health.pass_refused.load(Ordering::Relaxed) {
            self.health.table_fault_since_ms.store(0, Ordering::Relaxed);
        }
        let lowest = next.done.iter().copied().min().unwrap_or(upto);
        self.health.lowest_done_ms.store(lowest, Ordering::Relaxed);
        self.report_age(started);
        Some(next)
    }

    /// Sets the age gauge from the lowest checkpoint of the last pass that
    /// ran: the oldest entry not yet known to be published is at or after
    /// it, so it has waited at least this long past its deadline. Measured
    /// against now, so a relay whose passes fail shows it growing.
    fn report_age(&self, now: i64) {
        let lowest = self.health.lowest_done_ms.load(Ordering::Relaxed);
        if lowest == 0 || !self.health.leader.load(Ordering::Relaxed) {
            return;
        }
        let due = now - millis(self.settings.stale);
        let behind = due.saturating_add(1).saturating_sub(lowest).max(0);
        let age_ms = if behind > 0 {
            behind.saturating_add(millis(self.settings.stale))
        } else {
            0
        };
        #[allow(clippy::cast_precision_loss)] // milliseconds of a few days at most
        self.metrics.set_oldest_pending_age(age_ms as f64 / 1000.0);
    }

    /// One shard's window `[from, upto]`: publishes every event still stored
    /// on its entries that the relay has not published yet, and returns the
    /// new checkpoint (every entry below it was checked and published).
    async fn shard_pass(&self, shard: u8, from: i64, upto: i64, launch: &Launch<'_>) -> i64 {
        if from > upto || !launch.open() {
            return from;
        }
        let deadline = launch.deadline;
        let mut start = None;
        let mut progress = from;
        loop {
            let window =
                self.table
                    .outbox_window(shard, from, upto, self.settings.batch, start.take());
            let page = match tokio::time::timeout_at(deadline.into(), window).await {
                Ok(Ok(page)) => page,
                Ok(Err(e)) => {
                    self.table_failed(&e);
                    return progress;
                }
                Err(_) => return progress,
            };
            if !page.entries.is_empty() {
                let ids: Vec<Uuid> = page.entries.iter().map(|e| e.pedido_id).collect();
                let events =
                    match tokio::time::timeout_at(deadline.into(), self.table.outbox_events(&ids))
                        .await
                    {
                        Ok(Ok(events)) => events,
                        Ok(Err(e)) => {
                            self.table_failed(&e);
                            return progress;
                        }
                        Err(_) => return progress,
                    };
                // In index order; the first entry not published holds the
                // checkpoint (those after it on the page that were published
                // meanwhile are marked and skipped next time). A publish once
                // started runs to its end, so that what SNS took is counted
                // and marked.
                let held = AtomicBool::new(false);
                let held = &held;
                let publishes = page.entries.iter().map(|entry| {
                    let stored = events.get(&entry.pedido_id).cloned().unwrap_or_default();
                    let (pedido_id, desde_ms) = (entry.pedido_id, entry.desde_ms);
                    async move {
                        if held.load(Ordering::Relaxed) {
                            return (desde_ms, Step::NotStarted);
                        }
                        let Some(_permit) = launch.permit().await else {
                            return (desde_ms, Step::NotStarted);
                        };
                        if held.load(Ordering::Relaxed) {
                            return (desde_ms, Step::NotStarted);
                        }
                        match self.publish_stored(pedido_id, stored).await {
                            Ok(()) => (desde_ms, Step::Published),
                            Err(Stuck) => {
                                held.store(true, Ordering::Relaxed);
                                (desde_ms, Step::Stuck)
                            }
                        }
                    }
                });
                // Each publish ends within its budget, so this deadline is a
                // backstop only.
                let drained = deadline + self.settings.drain_budget() + DRAIN_BACKSTOP;
                let steps = match tokio::time::timeout_at(
                    drained.into(),
                    futures::future::join_all(publishes),
                )
                .await
                {
                    Ok(steps) => steps,
                    Err(_) => {
                        tracing::warn!(
                            shard,
                            "the relay's publishes outlasted their budget; the rest of the window is checked again next pass"
                        );
                        return progress;
                    }
                };
                for (desde_ms, step) in steps {
                    match step {
                        Step::Published => progress = desde_ms,
                        Step::Stuck | Step::NotStarted => return desde_ms,
                    }
                }
            }
            match page.next {
                None => return upto.saturating_add(1),
                Some(next) if launch.open() => start = Some(next),
                // Out of time: entries at `progress` itself are checked again.
                Some(_) => return progress,
            }
        }
    }

    /// Publishes the events still stored on one order that the relay has not
    /// published yet, then marks them published by the relay.
    async fn publish_stored(&self, pedido_id: Uuid, stored: StoredEvents) -> Result<(), Stuck> {
        let mut result = Ok(());
        let mut relayed = Vec::new();
        for json in &stored.events {
            let event = match Event::parse_message_body(json) {
                Ok(event) => event,
                Err(e) => {
                    // Never skipped: the shard waits here (and the age alarm
                    // fires) until a relay that reads it, or an operator, acts.
                    tracing::error!(pedido_id = %pedido_id, error = %e, "a stored event is unreadable; its shard waits");
                    self.metrics.count_unreadable();
                    result = Err(Stuck);
                    continue;
                }
            };
            let event_type = event.event_type().as_str();
            if stored.relayed.iter().any(|t| t == event_type) {
                // Published by the relay already; the workers are behind.
                continue;
            }
            let span = traced(|| {
                tracing::info_span!(
                    "relay publish",
                    otel.name = "publish pedidos",
                    otel.kind = "producer",
                    messaging.system = "aws_sns",
                    pedido_id = %pedido_id,
                    event_type,
                )
            });
            match self.publisher.publish(&event).instrument(span).await {
                Ok(()) => {
                    tracing::info!(pedido_id = %pedido_id, event_id = %event.event_id, event_type, "relay published a stored event");
                    self.metrics.count_published();
                    self.health.topic_fault_since_ms.store(0, Ordering::Relaxed);
                    relayed.push(event_type.to_owned());
                }
                Err(failure) => {
                    if failure.error.is_configuration() {
                        fault(&self.health.topic_fault_since_ms);
                    }
                    tracing::warn!(pedido_id = %pedido_id, error = %failure.error, outcome = ?failure.outcome, "relay publish failed; retried next pass");
                    self.metrics.count_failed();
                    result = Err(Stuck);
                }
            }
        }
        if !relayed.is_empty() {
            let mark = self.table.mark_relayed(pedido_id, &relayed);
            match tokio::time::timeout(MARK_TIMEOUT, mark).await {
                Ok(Ok(())) => {}
                // Unmarked, the sweep may publish it once more (the workers' dedup absorbs it).
                Ok(Err(e)) => {
                    tracing::warn!(pedido_id = %pedido_id, error = %e, "marking a relayed event failed")
                }
                Err(_) => {
                    tracing::warn!(pedido_id = %pedido_id, "marking a relayed event timed out")
                }
            }
        }
        result
    }

    fn table_failed(&self, e: &TableError) {
        if e.is_configuration() {
            fault(&self.health.table_fault_since_ms);
            self.health.pass_refused.store(true, Ordering::Relaxed);
        }
        tracing::warn!(error = %e, "the relay's table call failed; retried next pass");
    }
}

/// Records since when a fault lasts (kept while it does).
fn fault(since: &AtomicI64) {
    let _ = since.compare_exchange(0, now_ms(), Ordering::Relaxed, Ordering::Relaxed);
}
