//! AWS SDK setup: one shared configuration and one client per service,
//! built once at startup and cloned (cheaply) wherever needed.
//!
//! Endpoints follow the SDK's standard variables (`AWS_ENDPOINT_URL`,
//! `AWS_ENDPOINT_URL_SNS`, `AWS_ENDPOINT_URL_SQS`, `AWS_ENDPOINT_URL_DYNAMODB`)
//! and credentials the default chain (environment, profile, ECS task role).

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::stalled_stream_protection::StalledStreamProtectionConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};

/// How the clients connect and give up.
#[derive(Debug, Clone)]
pub struct AwsSettings {
    /// AWS region (`AWS_REGION`, default `us-east-1`).
    pub region: String,
    /// Time to establish a TCP/TLS connection.
    pub connect_timeout: Duration,
    /// Time for one attempt of an ordinary operation (SQS long polls get the wait time on top).
    pub attempt_timeout: Duration,
    /// Maximum attempts of one operation (the SDK retries throttling and transient errors).
    pub max_attempts: u32,
    /// The longest SQS `WaitTimeSeconds` the caller will use.
    pub sqs_long_poll: Duration,
}

impl AwsSettings {
    /// Defaults suited to a request path: fail fast, retry a little.
    pub fn new(region: impl Into<String>) -> Self {
        Self {
            region: region.into(),
            connect_timeout: Duration::from_secs(2),
            attempt_timeout: Duration::from_secs(5),
            max_attempts: 3,
            sqs_long_poll: Duration::from_secs(20),
        }
    }
}

/// The service clients of the pipeline, built from one [`SdkConfig`].
#[derive(Debug, Clone)]
pub struct AwsClients {
    /// SNS (publishing events).
    pub sns: aws_sdk_sns::Client,
    /// SQS (consuming, dead-lettering).
    pub sqs: aws_sdk_sqs::Client,
    /// DynamoDB (order state).
    pub dynamodb: aws_sdk_dynamodb::Client,
}

impl AwsClients {
    /// Loads the SDK configuration (region, credentials chain, endpoint
    /// variables) and builds every client. Call once per process.
    pub async fn load(settings: &AwsSettings) -> Self {
        let config = sdk_config(settings).await;
        // A long poll must outlive its wait time, or it would time out while
        // legitimately waiting for messages.
        let sqs_timeouts = timeouts(settings, settings.attempt_timeout + settings.sqs_long_poll);
        let sqs = aws_sdk_sqs::config::Builder::from(&config)
            .timeout_config(sqs_timeouts)
            .build();
        Self {
            sns: aws_sdk_sns::Client::new(&config),
            sqs: aws_sdk_sqs::Client::from_conf(sqs),
            dynamodb: aws_sdk_dynamodb::Client::new(&config),
        }
    }
}

fn timeouts(settings: &AwsSettings, attempt: Duration) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(settings.connect_timeout)
        .operation_attempt_timeout(attempt)
        .operation_timeout(attempt * settings.max_attempts + Duration::from_secs(2))
        .build()
}

async fn sdk_config(settings: &AwsSettings) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(settings.region.clone()))
        .timeout_config(timeouts(settings, settings.attempt_timeout))
        .retry_config(RetryConfig::standard().with_max_attempts(settings.max_attempts))
        // Every operation already has attempt and operation timeouts, which
        // catch a stalled response too; the extra per-request monitor only costs CPU.
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
        .load()
        .await
}
