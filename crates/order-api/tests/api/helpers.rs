//! Fakes and fixtures shared by the tests.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use order_api::Settings;
use order_api::orders::OrderStore;
use order_api::publisher::{EventPublisher, Outcome, PublishError, PublishFailure};
use shared::config::EnvSource;
use shared::contract::{Event, EventPayload};
use shared::orders_table::{
    Cancellation, Intake, KeyState, OrderLane, OrderRecord, Reservation, TableError, WriteBudget,
    WriteFailure, content_hash,
};
use uuid::Uuid;

/// Settings for tests: loopback, any port.
pub fn settings(topic_arn: &str, table: &str) -> Settings {
    settings_with(topic_arn, table, &[])
}

/// [`settings`] with extra variables.
pub fn settings_with(topic_arn: &str, table: &str, extra: &[(&str, &str)]) -> Settings {
    let mut pairs = vec![
        ("SNS_TOPIC_ARN", topic_arn),
        ("ORDERS_TABLE", table),
        ("HOST", "127.0.0.1"),
        ("PORT", "0"),
        ("READINESS_CACHE_SECS", "0"),
    ];
    pairs.extend_from_slice(extra);
    Settings::from_env(&EnvSource::from_pairs(pairs)).expect("test settings are valid")
}

/// A valid order body.
pub fn valid_order() -> serde_json::Value {
    testkit::order_request(None)
}

/// Records published events; fails on demand (certainly not published, or
/// with an unknown outcome: the event is recorded as taken); holds publishes
/// on demand.
#[derive(Default)]
pub struct FakePublisher {
    pub published: Mutex<Vec<Event>>,
    pub fail: AtomicBool,
    pub unknown: AtomicBool,
    /// Publishes started, including those still held.
    pub started: AtomicUsize,
    /// While set, each publish waits for a permit of this semaphore.
    pub gate: Mutex<Option<Arc<tokio::sync::Semaphore>>>,
}

impl FakePublisher {
    pub fn count(&self) -> usize {
        self.published.lock().expect("lock").len()
    }

    /// Waits until `n` events have been published (publishes follow the answer).
    pub async fn wait_published(&self, n: usize) {
        testkit::eventually(
            std::time::Duration::from_secs(10),
            "events published",
            || async { (self.count() >= n).then_some(()) },
        )
        .await;
    }

    /// Holds every publish from now on until the returned gate gets permits.
    pub fn hold(&self) -> Arc<tokio::sync::Semaphore> {
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        *self.gate.lock().expect("lock") = Some(gate.clone());
        gate
    }

    /// Waits until `n` publishes have started.
    pub async fn wait_started(&self, n: usize) {
        testkit::eventually(
            std::time::Duration::from_secs(10),
            "publishes started",
            || async { (self.started.load(Ordering::SeqCst) >= n).then_some(()) },
        )
        .await;
    }
}

impl EventPublisher for FakePublisher {
    fn publish<'a>(&'a self, event: &'a Event) -> BoxFuture<'a, Result<(), PublishFailure>> {
        Box::pin(async move {
            self.started.fetch_add(1, Ordering::SeqCst);
            let gate = self.gate.lock().expect("lock").clone();
            if let Some(gate) = gate {
                let _permit = gate.acquire().await.expect("gate open");
            }
            if self.fail.load(Ordering::SeqCst) {
                return Err(PublishFailure {
                    error: PublishError::Unavailable {
                        code: "dispatch".into(),
                        message: "connection refused: secret-internal-host:4566".into(),
                    },
                    outcome: Outcome::NotPublished,
                });
            }
            self.published.lock().expect("lock").push(event.clone());
            if self.unknown.load(Ordering::SeqCst) {
                return Err(PublishFailure {
                    error: PublishError::Unavailable {
                        code: "timeout".into(),
                        message: "attempt timed out after sending".into(),
                    },
                    outcome: Outcome::Unknown,
                });
            }
            Ok(())
        })
    }

    fn probe(&self) -> BoxFuture<'_, Result<(), PublishError>> {
        Box::pin(async move {
            if self.fail.load(Ordering::SeqCst) {
                Err(PublishError::Unavailable {
                    code: "dispatch".into(),
                    message: "down".into(),
                })
            } else {
                Ok(())
            }
        })
    }
}

/// A fake key record: (fingerprint, state, token, answered event id).
pub type FakeKey = (String, KeyState, String, Option<Uuid>);

/// In-memory order store; fails on demand (transiently, or refusing access).
/// Intake records, cancellations and idempotency keys follow the table's
/// semantics (conditional creates, ownership tokens), without leases (a key
/// in progress stays so until finished or released).
#[derive(Default)]
pub struct FakeOrders {
    pub records: Mutex<HashMap<Uuid, OrderRecord>>,
    /// Intake records: (content fingerprint, event id, token).
    pub intakes: Mutex<HashMap<Uuid, (String, Uuid, String)>>,
    /// The priority and customer each intake record keeps.
    pub lanes: Mutex<HashMap<Uuid, OrderLane>>,
    /// Cancellations: (motivo, event id, token).
    pub cancellations: Mutex<HashMap<Uuid, (String, Uuid, String)>>,
    /// Idempotency keys.
    pub keys: Mutex<HashMap<String, FakeKey>>,
    /// Writes carried out (intake records and cancellations).
    pub writes: AtomicUsize,
    pub fail: AtomicBool,
    /// While set, a write fails after it was carried out (an answer lost).
    pub lose_answers: AtomicBool,
    pub refuse: AtomicBool,
    pub probes: std::sync::atomic::AtomicUsize,
    /// Intake writes started, including those still held.
    pub started: AtomicUsize,
    /// While set, each intake write waits for a permit of this semaphore.
    pub gate: Mutex<Option<Arc<tokio::sync::Semaphore>>>,
    /// The app's command tasks (set by [`fake_app_with`]).
    pub tasks: Mutex<Option<tokio_util::task::TaskTracker>>,
}

impl FakeOrders {
    /// Holds every intake write from now on until the returned gate gets permits.
    pub fn hold(&self) -> Arc<tokio::sync::Semaphore> {
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        *self.gate.lock().expect("lock") = Some(gate.clone());
        gate
    }

    /// Waits until `n` intake writes have started.
    pub async fn wait_started(&self, n: usize) {
        testkit::eventually(
            std::time::Duration::from_secs(10),
            "intake writes started",
            || async { (self.started.load(Ordering::SeqCst) >= n).then_some(()) },
        )
        .await;
    }

    /// Waits until every command task (decision and publish) has ended, so a
    /// count read afterwards includes every publish the requests so far made.
    pub async fn settled(&self) {
        let tasks = self
            .tasks
            .lock()
            .expect("lock")
            .clone()
            .expect("a fake app");
        testkit::eventually(
            std::time::Duration::from_secs(10),
            "command tasks ended",
            || async { tasks.is_empty().then_some(()) },
        )
        .await;
    }

    async fn enter(&self) {
        self.started.fetch_add(1, Ordering::SeqCst);
        let gate = self.gate.lock().expect("lock").clone();
        if let Some(gate) = gate {
            let _permit = gate.acquire().await.expect("gate open");
        }
    }

    fn check(&self) -> Result<(), TableError> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(TableError::Unavailable {
                code: "timeout".into(),
                message: "down".into(),
            });
        }
        Ok(())
    }

    fn write_failure(&self) -> Result<(), WriteFailure> {
        self.check().map_err(|error| WriteFailure {
            error,
            maybe_written: false,
        })
    }

    fn answer<T>(&self, value: T) -> Result<T, WriteFailure> {
        if self.lose_answers.load(Ordering::SeqCst) {
            return Err(WriteFailure {
                error: TableError::Unavailable {
                    code: "timeout".into(),
                    message: "answer lost".into(),
                },
                maybe_written: true,
            });
        }
        Ok(value)
    }
}

impl OrderStore for FakeOrders {
    fn record_intake<'a>(
        &'a self,
        event: &'a Event,
        token: &'a str,
        _key: Option<&'a str>,
        _now: chrono::DateTime<chrono::Utc>,
        _budget: WriteBudget,
    ) -> BoxFuture<'a, Result<Intake, WriteFailure>> {
        Box::pin(async move {
            self.enter().await;
            self.write_failure()?;
            let EventPayload::PedidoCreado(order) = &event.payload else {
                panic!("intake of a PedidoCreado");
            };
            let hash = content_hash(order);
            let intake = {
                let mut intakes = self.intakes.lock().expect("lock");
                match intakes.get(&order.pedido_id()) {
                    None => {
                        intakes.insert(order.pedido_id(), (hash, event.event_id, token.to_owned()));
                        self.lanes.lock().expect("lock").insert(
                            order.pedido_id(),
                            OrderLane {
                                prioridad: order.prioridad(),
                                cliente_id: Some(order.cliente_id()),
                            },
                        );
                        self.writes.fetch_add(1, Ordering::SeqCst);
                        Intake::Created
                    }
                    Some((_, _, stored)) if stored == token => Intake::Created,
                    Some((stored, event_id, _)) if *stored == hash => Intake::Existing {
                        event_id: Some(*event_id),
                    },
                    Some(_) => Intake::Conflict,
                }
            };
            self.answer(intake)
        })
    }

    fn order_lane(
        &self,
        pedido_id: Uuid,
        _now: chrono::DateTime<chrono::Utc>,
    ) -> BoxFuture<'_, Result<Option<OrderLane>, TableError>> {
        Box::pin(async move {
            self.check()?;
            if let Some(lane) = self.lanes.lock().expect("lock").get(&pedido_id) {
                return Ok(Some(*lane));
            }
            Ok(self
                .records
                .lock()
                .expect("lock")
                .get(&pedido_id)
                .map(|record| OrderLane {
                    prioridad: record.prioridad,
                    cliente_id: record.cliente_id,
                }))
        })
    }

    fn record_cancellation<'a>(
        &'a self,
        event: &'a Event,
        token: &'a str,
        _now: chrono::DateTime<chrono::Utc>,
        _budget: WriteBudget,
    ) -> BoxFuture<'a, Result<Cancellation, WriteFailure>> {
        Box::pin(async move {
            self.enter().await;
            self.write_failure()?;
            let EventPayload::PedidoCancelado(cancel) = &event.payload else {
                panic!("cancellation of a PedidoCancelado");
            };
            let known = self
                .intakes
                .lock()
                .expect("lock")
                .contains_key(&cancel.pedido_id)
                || self
                    .records
                    .lock()
                    .expect("lock")
                    .contains_key(&cancel.pedido_id);
            if !known {
                return Ok(Cancellation::NotFound);
            }
            let motivo = cancel.motivo.as_str().to_owned();
            let found = {
                let mut cancellations = self.cancellations.lock().expect("lock");
                match cancellations.get(&cancel.pedido_id) {
                    None => {
                        cancellations
                            .insert(cancel.pedido_id, (motivo, event.event_id, token.to_owned()));
                        self.writes.fetch_add(1, Ordering::SeqCst);
                        Cancellation::Created
                    }
                    Some((_, _, stored)) if stored == token => Cancellation::Created,
                    Some((stored, event_id, _)) if *stored == motivo => Cancellation::Existing {
                        event_id: Some(*event_id),
                    },
                    Some(_) => Cancellation::Conflict,
                }
            };
            self.answer(found)
        })
    }

    fn reserve_key<'a>(
        &'a self,
        key: &'a str,
        fingerprint: &'a str,
        token: &'a str,
        _now: chrono::DateTime<chrono::Utc>,
        _lease: std::time::Duration,
    ) -> BoxFuture<'a, Result<Reservation, TableError>> {
        Box::pin(async move {
            self.check()?;
            let mut keys = self.keys.lock().expect("lock");
            let reservation = match keys.get(key) {
                None => Reservation::Reserved,
                Some((_, KeyState::InProgress, holder, _)) if holder == token => {
                    Reservation::Reserved
                }
                Some((fp, _, _, _)) if fp != fingerprint => Reservation::Mismatch,
                Some((_, KeyState::Completed, _, event_id)) => Reservation::Completed {
                    event_id: *event_id,
                },
                Some((_, KeyState::InProgress, _, _)) => Reservation::InProgress,
                Some((_, KeyState::Unknown, _, _)) => Reservation::Reserved,
            };
            if reservation == Reservation::Reserved {
                keys.insert(
                    key.to_owned(),
                    (
                        fingerprint.to_owned(),
                        KeyState::InProgress,
                        token.to_owned(),
                        None,
                    ),
                );
            }
            Ok(reservation)
        })
    }

    fn finish_key<'a>(
        &'a self,
        key: &'a str,
        token: &'a str,
        state: KeyState,
        event_id: Option<Uuid>,
    ) -> BoxFuture<'a, Result<(), TableError>> {
        Box::pin(async move {
            if let Some(entry) = self.keys.lock().expect("lock").get_mut(key)
                && entry.2 == token
            {
                entry.1 = state;
                entry.3 = event_id;
            }
            Ok(())
        })
    }

    fn release_key<'a>(
        &'a self,
        key: &'a str,
        token: &'a str,
    ) -> BoxFuture<'a, Result<(), TableError>> {
        Box::pin(async move {
            let mut keys = self.keys.lock().expect("lock");
            if keys.get(key).is_some_and(|entry| entry.2 == token) {
                keys.remove(key);
            }
            Ok(())
        })
    }

    fn get(&self, pedido_id: Uuid) -> BoxFuture<'_, Result<Option<OrderRecord>, TableError>> {
        Box::pin(async move {
            if self.fail.load(Ordering::SeqCst) {
                return Err(TableError::Unavailable {
                    code: "timeout".into(),
                    message: "down".into(),
                });
            }
            Ok(self.records.lock().expect("lock").get(&pedido_id).cloned())
        })
    }

    fn probe(&self) -> BoxFuture<'_, Result<(), TableError>> {
        Box::pin(async move {
            self.probes.fetch_add(1, Ordering::SeqCst);
            if self.refuse.load(Ordering::SeqCst) {
                Err(TableError::Misconfigured {
                    code: "AccessDeniedException".into(),
                    message: "not authorized to perform dynamodb:DescribeTable".into(),
                })
            } else if self.fail.load(Ordering::SeqCst) {
                Err(TableError::Unavailable {
                    code: "timeout".into(),
                    message: "down".into(),
                })
            } else {
                Ok(())
            }
        })
    }
}

/// A router over fresh fakes.
pub fn fake_app() -> (axum::Router, Arc<FakePublisher>, Arc<FakeOrders>) {
    fake_app_with(&[])
}

/// [`fake_app`] with extra settings.
pub fn fake_app_with(
    extra: &[(&str, &str)],
) -> (axum::Router, Arc<FakePublisher>, Arc<FakeOrders>) {
    let publisher = Arc::new(FakePublisher::default());
    let orders = Arc::new(FakeOrders::default());
    let settings = settings_with(
        "arn:aws:sns:us-east-1:000000000000:test-topic",
        "test-table",
        extra,
    );
    let state = order_api::AppState::new(&settings, publisher.clone(), orders.clone());
    *orders.tasks.lock().expect("lock") = Some(state.tasks.clone());
    (order_api::router(&settings, state), publisher, orders)
}

/// The real server (accept loop, connection limits) over fresh fakes, on a
/// free loopback port.
pub struct TestServer {
    pub addr: SocketAddr,
    pub publisher: Arc<FakePublisher>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    pub handle: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl TestServer {
    /// Starts the server with extra settings.
    pub async fn start(extra: &[(&str, &str)]) -> Self {
        let publisher = Arc::new(FakePublisher::default());
        let orders = Arc::new(FakeOrders::default());
        let settings = settings_with(
            "arn:aws:sns:us-east-1:000000000000:test-topic",
            "test-table",
            extra,
        );
        let app = order_api::Application::build_with(settings, publisher.clone(), orders)
            .await
            .expect("bind");
        let addr = app.local_addr().expect("addr");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(app.run_until_stopped(async move {
            let _ = rx.await;
        }));
        Self {
            addr,
            publisher,
            shutdown: Some(tx),
            handle,
        }
    }

    /// `http://addr`.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Signals shutdown (as SIGTERM would).
    pub fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.handle.abort();
    }
}
