//! sqs-worker tests against the local AWS stack (LocalStack + DynamoDB Local).
//! Each test creates its own topic, queues and table.

// Tests print the figures they measure.
#![allow(clippy::print_stdout)]

mod concurrency;
mod dlq_tools;
mod drain;
mod failures;
mod fifo;
mod helpers;
mod misconfiguration;
mod permanent;
mod pipeline;
mod priority;
mod shutdown;
mod sqs_side;
