//! Fakes and fixtures shared by the tests.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use order_api::Settings;
use order_api::orders::OrderReader;
use order_api::publisher::{EventPublisher, PublishError};
use shared::config::EnvSource;
use shared::contract::Event;
use shared::orders_table::{OrderRecord, TableError};
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

/// Records published events; fails on demand.
#[derive(Default)]
pub struct FakePublisher {
    pub published: Mutex<Vec<Event>>,
    pub fail: AtomicBool,
}

impl FakePublisher {
    pub fn count(&self) -> usize {
        self.published.lock().expect("lock").len()
    }
}

impl EventPublisher for FakePublisher {
    fn publish<'a>(&'a self, event: &'a Event) -> BoxFuture<'a, Result<(), PublishError>> {
        Box::pin(async move {
            if self.fail.load(Ordering::SeqCst) {
                return Err(PublishError::Unavailable {
                    code: "dispatch".into(),
                    message: "connection refused: secret-internal-host:4566".into(),
                });
            }
            self.published.lock().expect("lock").push(event.clone());
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
#[derive(Default)]
pub struct FakeOrders {
    pub records: Mutex<HashMap<Uuid, OrderRecord>>,
    pub fail: AtomicBool,
    pub refuse: AtomicBool,
    pub probes: std::sync::atomic::AtomicUsize,
}

impl OrderReader for FakeOrders {
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
