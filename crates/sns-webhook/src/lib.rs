//! sns-webhook: the reference HTTPS endpoint for partner subscriptions to the
//! orders topic (enveloped delivery). Every message's signature is verified
//! (SignatureVersion 1 and 2, certificates only from
//! `https://sns.<region>.amazonaws.com` or an allow-listed emulator host),
//! only the allow-listed topics are accepted, subscriptions are confirmed,
//! repeated MessageIds are ignored, and the last verified notifications are
//! listed at `GET /recibidos` (behind an optional bearer token).

pub mod access;
pub mod config;
pub mod fetch;
pub mod inbox;
pub mod message;
pub mod origin;
pub mod routes;
pub mod signature;
pub mod startup;

pub use config::Settings;
pub use startup::Application;
