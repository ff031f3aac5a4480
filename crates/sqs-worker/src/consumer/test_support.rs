//! Fixtures for the consumer's unit tests: a hung SQS and an outcome report.

use std::sync::Arc;
use std::time::Duration;

use super::sqs_report::SqsReport;
use crate::metrics::Metrics;

/// An SQS client whose endpoint accepts connections and never answers
/// (a hung SQS), with timeouts far beyond the test.
pub async fn hung_sqs() -> (aws_sdk_sqs::Client, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
        .region(aws_sdk_sqs::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "test", "test", None, None, "test",
        ))
        .endpoint_url(format!("http://{addr}"))
        .timeout_config(
            aws_smithy_types::timeout::TimeoutConfig::builder()
                .operation_timeout(Duration::from_secs(600))
                .build(),
        )
        .build();
    (aws_sdk_sqs::Client::from_conf(config), server)
}

/// A report of SQS outcomes to a fresh health state and `metrics`.
pub fn report(metrics: &Arc<Metrics>) -> SqsReport {
    let health = crate::health::HealthState::new(
        Duration::from_secs(60),
        Duration::from_secs(60),
        Duration::from_secs(60),
    );
    SqsReport::new(health, metrics.clone())
}
