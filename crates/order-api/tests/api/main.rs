//! order-api tests: router tests against fakes, and end-to-end tests of the
//! real application against the local AWS stack (LocalStack + DynamoDB Local).

mod docs;
mod helpers;
mod idempotency;
mod intake;
mod local_stack;
mod relay;
mod router;
mod server;
mod sms;
