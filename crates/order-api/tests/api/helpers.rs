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
use shared::contract::Event;
use shared::contract::PedidoCreado;
use shared::orders_table::{Intake, KeyState, OrderRecord, Reservation, TableError, content_hash};
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

/// In-memory order store; fails on demand (transiently, or refusing access).
/// Intake records and idempotency keys follow the table's semantics, without
/// leases (a key in progress stays so until finished or released).
#[derive(Default)]
pub struct FakeOrders {
    pub records: Mutex<HashMap<Uuid, OrderRecord>>,
    /// Content fingerprints of the intake records.
    pub intakes: Mutex<HashMap<Uuid, String>>,
    /// Idempotency keys: (fingerprint, state).
    pub keys: Mutex<HashMap<String, (String, KeyState)>>,
    pub fail: AtomicBool,
    pub refuse: AtomicBool,
    pub probes: std::sync::atomic::AtomicUsize,
}

impl FakeOrders {
    fn check(&self) -> Result<(), TableError> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(TableError::Unavailable {
                code: "timeout".into(),
                message: "down".into(),
            });
        }
        Ok(())
    }
}

impl OrderStore for FakeOrders {
    fn record_intake<'a>(
        &'a self,
        order: &'a PedidoCreado,
        _key: Option<&'a str>,
        _now: chrono::DateTime<chrono::Utc>,
    ) -> BoxFuture<'a, Result<Intake, TableError>> {
        Box::pin(async move {
            self.check()?;
            let hash = content_hash(order);
            let mut intakes = self.intakes.lock().expect("lock");
            Ok(match intakes.get(&order.pedido_id()) {
                None => {
                    intakes.insert(order.pedido_id(), hash);
                    Intake::Created
                }
                Some(stored) if *stored == hash => Intake::Existing,
                Some(_) => Intake::Conflict,
            })
        })
    }

    fn discard_intake<'a>(
        &'a self,
        order: &'a PedidoCreado,
    ) -> BoxFuture<'a, Result<(), TableError>> {
        Box::pin(async move {
            self.intakes
                .lock()
                .expect("lock")
                .remove(&order.pedido_id());
            Ok(())
        })
    }

    fn reserve_key<'a>(
        &'a self,
        key: &'a str,
        fingerprint: &'a str,
        _now: chrono::DateTime<chrono::Utc>,
        _lease: std::time::Duration,
    ) -> BoxFuture<'a, Result<Reservation, TableError>> {
        Box::pin(async move {
            self.check()?;
            let mut keys = self.keys.lock().expect("lock");
            let reservation = match keys.get(key) {
                None => Reservation::Reserved,
                Some((fp, _)) if fp != fingerprint => Reservation::Mismatch,
                Some((_, KeyState::Completed)) => Reservation::Completed,
                Some((_, KeyState::InProgress)) => Reservation::InProgress,
                Some((_, KeyState::Unknown)) => Reservation::Reserved,
            };
            if reservation == Reservation::Reserved {
                keys.insert(
                    key.to_owned(),
                    (fingerprint.to_owned(), KeyState::InProgress),
                );
            }
            Ok(reservation)
        })
    }

    fn finish_key<'a>(
        &'a self,
        key: &'a str,
        state: KeyState,
    ) -> BoxFuture<'a, Result<(), TableError>> {
        Box::pin(async move {
            if let Some(entry) = self.keys.lock().expect("lock").get_mut(key) {
                entry.1 = state;
            }
            Ok(())
        })
    }

    fn release_key<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), TableError>> {
        Box::pin(async move {
            self.keys.lock().expect("lock").remove(key);
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
