//! The API's side of the orders table: reading an order's state, the intake
//! records (which are the outbox: new orders and cancellations with their
//! events) and idempotency keys.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use shared::contract::Event;
use shared::orders_table::{
    Cancellation, Intake, KeyState, OrderLane, OrderRecord, OrdersTable, Reservation, TableError,
    WriteBudget, WriteFailure,
};
use uuid::Uuid;

/// Where the API keeps and reads orders. A trait so router tests can use a fake.
pub trait OrderStore: Send + Sync + 'static {
    /// The order's recorded state, `None` while nothing is recorded (or its lifetime ended).
    fn get(&self, pedido_id: Uuid) -> BoxFuture<'_, Result<Option<OrderRecord>, TableError>>;
    /// Checks that the store answers.
    fn probe(&self) -> BoxFuture<'_, Result<(), TableError>>;
    /// Records a new order with its `PedidoCreado` (see [`OrdersTable::record_intake`]).
    fn record_intake<'a>(
        &'a self,
        event: &'a Event,
        token: &'a str,
        idempotency_key: Option<&'a str>,
        now: DateTime<Utc>,
        budget: WriteBudget,
    ) -> BoxFuture<'a, Result<Intake, WriteFailure>>;
    /// The priority and customer of a recorded order, which its cancellation
    /// carries (see [`OrdersTable::order_lane`]); `None` when there is no
    /// such order.
    fn order_lane(
        &self,
        pedido_id: Uuid,
        now: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<Option<OrderLane>, TableError>>;
    /// Records a cancellation with its `PedidoCancelado` (see [`OrdersTable::record_cancellation`]).
    fn record_cancellation<'a>(
        &'a self,
        event: &'a Event,
        token: &'a str,
        now: DateTime<Utc>,
        budget: WriteBudget,
    ) -> BoxFuture<'a, Result<Cancellation, WriteFailure>>;
    /// Reserves an idempotency key for the request holding `token` (see [`OrdersTable::reserve_key`]).
    fn reserve_key<'a>(
        &'a self,
        key: &'a str,
        fingerprint: &'a str,
        token: &'a str,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> BoxFuture<'a, Result<Reservation, TableError>>;
    /// Records the outcome of a key's request (and the event id it answered
    /// with), while `token` holds it.
    fn finish_key<'a>(
        &'a self,
        key: &'a str,
        token: &'a str,
        state: KeyState,
        event_id: Option<Uuid>,
    ) -> BoxFuture<'a, Result<(), TableError>>;
    /// Forgets a key whose request certainly did nothing, while `token` holds it.
    fn release_key<'a>(
        &'a self,
        key: &'a str,
        token: &'a str,
    ) -> BoxFuture<'a, Result<(), TableError>>;
}

impl OrderStore for OrdersTable {
    fn get(&self, pedido_id: Uuid) -> BoxFuture<'_, Result<Option<OrderRecord>, TableError>> {
        Box::pin(OrdersTable::get(self, pedido_id))
    }

    fn probe(&self) -> BoxFuture<'_, Result<(), TableError>> {
        Box::pin(OrdersTable::probe(self))
    }

    fn record_intake<'a>(
        &'a self,
        event: &'a Event,
        token: &'a str,
        idempotency_key: Option<&'a str>,
        now: DateTime<Utc>,
        budget: WriteBudget,
    ) -> BoxFuture<'a, Result<Intake, WriteFailure>> {
        Box::pin(OrdersTable::record_intake(
            self,
            event,
            token,
            idempotency_key,
            now,
            budget,
        ))
    }

    fn order_lane(
        &self,
        pedido_id: Uuid,
        now: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<Option<OrderLane>, TableError>> {
        Box::pin(OrdersTable::order_lane(self, pedido_id, now))
    }

    fn record_cancellation<'a>(
        &'a self,
        event: &'a Event,
        token: &'a str,
        now: DateTime<Utc>,
        budget: WriteBudget,
    ) -> BoxFuture<'a, Result<Cancellation, WriteFailure>> {
        Box::pin(OrdersTable::record_cancellation(
            self, event, token, now, budget,
        ))
    }

    fn reserve_key<'a>(
        &'a self,
        key: &'a str,
        fingerprint: &'a str,
        token: &'a str,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> BoxFuture<'a, Result<Reservation, TableError>> {
        Box::pin(OrdersTable::reserve_key(
            self,
            key,
            fingerprint,
            token,
            now,
            lease,
        ))
    }

    fn finish_key<'a>(
        &'a self,
        key: &'a str,
        token: &'a str,
        state: KeyState,
        event_id: Option<Uuid>,
    ) -> BoxFuture<'a, Result<(), TableError>> {
        Box::pin(OrdersTable::finish_key(self, key, token, state, event_id))
    }

    fn release_key<'a>(
        &'a self,
        key: &'a str,
        token: &'a str,
    ) -> BoxFuture<'a, Result<(), TableError>> {
        Box::pin(OrdersTable::release_key(self, key, token))
    }
}
