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
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

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

/// How an SDK call failed, whatever the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdkFailure {
    /// Whether retrying later may succeed.
    pub transient: bool,
    /// The service's error code, or the kind of failure (`timeout`, `dispatch`, ...).
    pub code: String,
    /// Full details, for logs only.
    pub message: String,
}

/// Classifies an SDK error structurally: timeouts, connection and response
/// failures are transient; a service error is transient when its code is in
/// `transient_codes` or the service answered 5xx.
pub fn classify_sdk_error<E>(
    err: &SdkError<E, HttpResponse>,
    transient_codes: &[&str],
) -> SdkFailure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let message = aws_smithy_types::error::display::DisplayErrorContext(err).to_string();
    let (transient, code) = match err {
        SdkError::TimeoutError(_) => (true, "timeout".to_owned()),
        SdkError::DispatchFailure(_) => (true, "dispatch".to_owned()),
        SdkError::ResponseError(_) => (true, "response".to_owned()),
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or("unknown").to_owned();
            let transient = transient_codes.contains(&code.as_str())
                || service.raw().status().is_server_error();
            (transient, code)
        }
        _ => (false, "construction".to_owned()),
    };
    SdkFailure {
        transient,
        code,
        message,
    }
}
