//! Applying one event to the orders table for this worker's role.

use chrono::Utc;
use futures::future::BoxFuture;
use shared::contract::Event;
use shared::orders_table::{ApplyOutcome, OrdersTable, TableError, WorkerRole};

/// Applies events idempotently. A trait so tests can inject failures.
pub trait ApplyEvent: Send + Sync + 'static {
    /// Applies `event`; `Err` means "try again later".
    fn apply<'a>(&'a self, event: &'a Event) -> BoxFuture<'a, Result<ApplyOutcome, TableError>>;

    /// Checks that the store answers, with the same permissions `apply` uses.
    /// While it fails, the consumer stops receiving instead of burning the
    /// messages' receive counts (and sending valid orders to the DLQ).
    fn probe(&self) -> BoxFuture<'_, Result<(), TableError>>;
}

/// [`ApplyEvent`] on the DynamoDB orders table.
#[derive(Debug, Clone)]
pub struct TableApplier {
    table: OrdersTable,
    role: WorkerRole,
    ttl: Option<chrono::Duration>,
}

impl TableApplier {
    /// Applies events for `role` to `table`, stamping an expiry `ttl` after now when set.
    pub fn new(table: OrdersTable, role: WorkerRole, ttl: Option<chrono::Duration>) -> Self {
        Self { table, role, ttl }
    }
}

impl ApplyEvent for TableApplier {
    fn apply<'a>(&'a self, event: &'a Event) -> BoxFuture<'a, Result<ApplyOutcome, TableError>> {
        Box::pin(async move {
            let now = Utc::now();
            self.table
                .apply(self.role, event, now, self.ttl.map(|ttl| now + ttl))
                .await
        })
    }

    fn probe(&self) -> BoxFuture<'_, Result<(), TableError>> {
        Box::pin(self.table.probe_item())
    }
}
