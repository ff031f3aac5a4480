//! sqs-worker: consumes one SQS queue and applies order events to DynamoDB,
//! idempotently, as the `procesamiento` or `logistica` role.

pub mod config;
pub mod consumer;
pub mod dlq;
pub mod handler;
pub mod health;
pub mod metrics;
pub mod startup;
pub mod visibility;

pub use config::Settings;
pub use startup::Application;
