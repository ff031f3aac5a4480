//! Applying one event to the orders table for this worker's role, and
//! probing that the table accepts this worker's reads and writes.

use chrono::Utc;
use futures::future::BoxFuture;
use shared::contract::Event;
use shared::orders_table::{ApplyOutcome, OrdersTable, TableError, WorkerRole};

/// A store probe failed: which call, and how.
#[derive(Debug, thiserror::Error)]
#[error("{operation} probe failed: {error}")]
pub struct ProbeError {
    /// The AWS operation that failed (`GetItem`, `UpdateItem`).
    pub operation: &'static str,
    /// How it failed.
    #[source]
    pub error: TableError,
}

/// Applies events idempotently. A trait so tests can inject failures.
pub trait ApplyEvent: Send + Sync + 'static {
    /// Applies `event`. The error's class decides the message's fate:
    /// transient → retried with backoff; configuration → handed back and the
    /// worker stops receiving; rejected or malformed → dead-lettered.
    fn apply<'a>(&'a self, event: &'a Event) -> BoxFuture<'a, Result<ApplyOutcome, TableError>>;

    /// Checks that the store answers, with every permission `apply` uses
    /// (reading and writing). While it fails, the consumer stops receiving
    /// instead of burning the messages' receive counts (and sending valid
    /// orders to the DLQ).
    fn probe(&self) -> BoxFuture<'_, Result<(), ProbeError>>;
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

    fn probe(&self) -> BoxFuture<'_, Result<(), ProbeError>> {
        Box::pin(async move {
            // `GetItem` tells a duplicate from a conflict; `UpdateItem` is the write itself.
            self.table.probe_item().await.map_err(|error| ProbeError {
                operation: "GetItem",
                error,
            })?;
            self.table.probe_write().await.map_err(|error| ProbeError {
                operation: "UpdateItem",
                error,
            })
        })
    }
}
