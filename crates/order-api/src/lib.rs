//! order-api: accepts orders over HTTP, validates them, publishes them to SNS
//! and serves each order's state from DynamoDB.

pub mod config;
pub mod error;
pub mod idempotency;
pub mod intake;
pub mod metrics;
pub mod openapi;
pub mod orders;
pub mod problem;
pub mod publisher;
pub mod readiness;
pub mod relay;
pub mod request_id;
pub mod routes;
pub mod startup;
pub mod validation;

pub use config::Settings;
pub use startup::{AppState, Application, router};
