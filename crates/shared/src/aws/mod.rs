//! AWS SDK setup: one shared configuration and one client per service,
//! built once at startup and cloned (cheaply) wherever needed.
//!
//! Endpoints follow the SDK's standard variables (`AWS_ENDPOINT_URL`,
//! `AWS_ENDPOINT_URL_SNS`, `AWS_ENDPOINT_URL_SQS`, `AWS_ENDPOINT_URL_DYNAMODB`)
//! and credentials the default chain (environment, profile, ECS task role).
//!
//! [`call_record`] records every operation a binary performs when
//! `AWS_CALL_RECORD_DIR` is set (the permission contract's input).

pub mod call_record;

use std::path::PathBuf;
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
    /// Time for one attempt of an ordinary operation (every operation of
    /// every client; a long poll overrides it with [`AwsSettings::long_poll_timeouts`]).
    pub attempt_timeout: Duration,
    /// Maximum attempts of one operation (the SDK retries throttling and transient errors).
    pub max_attempts: u32,
    /// The longest SQS `WaitTimeSeconds` the caller will use (only the
    /// `ReceiveMessage` call that waits gets it on top of its attempt timeout).
    pub sqs_long_poll: Duration,
    /// Where [`AwsClients::load_as`] records the operations performed
    /// (`AWS_CALL_RECORD_DIR`; unset = nothing recorded, nothing costs).
    pub call_record_dir: Option<PathBuf>,
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
            call_record_dir: None,
        }
    }

    /// The timeouts of one SQS long poll (`ReceiveMessage` with a wait): its
    /// attempt must outlive the wait, or it would time out while legitimately
    /// waiting for messages. Only that call gets them, as a per-operation
    /// override (`.customize().config_override(..)`): every other call keeps
    /// the ordinary attempt timeout, so a hung delete or visibility change
    /// cannot hold a stopping worker for the length of a long poll.
    pub fn long_poll_timeouts(&self) -> TimeoutConfig {
        timeouts(self, self.attempt_timeout + self.sqs_long_poll)
    }

    /// Reads `AWS_CALL_RECORD_DIR` into these settings.
    pub fn read_call_record_dir(&mut self, reader: &mut crate::config::ConfigReader<'_>) {
        self.call_record_dir = reader.optional(call_record::ENV_DIR, |s| Ok(PathBuf::from(s)));
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
        Self::build(settings, None).await
    }

    /// Like [`AwsClients::load`], for the calls of a service binary: when
    /// `settings.call_record_dir` is set, every operation is recorded there
    /// with the resource's label in `caller`.
    pub async fn load_as(
        settings: &AwsSettings,
        caller: call_record::Caller,
    ) -> std::io::Result<Self> {
        let recorder = match &settings.call_record_dir {
            Some(dir) => {
                let recorder = call_record::CallRecorder::create(dir, caller, &settings.region)?;
                tracing::info!(path = %recorder.path().display(), "recording AWS calls");
                Some(recorder)
            }
            None => None,
        };
        Ok(Self::build(settings, recorder).await)
    }

    async fn build(settings: &AwsSettings, recorder: Option<call_record::CallRecorder>) -> Self {
        let config = sdk_config(settings).await;
        // Every operation, SQS included, gets the ordinary timeouts; a long
        // poll asks for more itself (see `AwsSettings::long_poll_timeouts`).
        let mut sqs = aws_sdk_sqs::config::Builder::from(&config);
        let mut sns = aws_sdk_sns::config::Builder::from(&config);
        let mut dynamodb = aws_sdk_dynamodb::config::Builder::from(&config);
        if let Some(recorder) = recorder {
            sqs = sqs.interceptor(recorder.clone());
            sns = sns.interceptor(recorder.clone());
            dynamodb = dynamodb.interceptor(recorder);
        }
        Self {
            sns: aws_sdk_sns::Client::from_conf(sns.build()),
            sqs: aws_sdk_sqs::Client::from_conf(sqs.build()),
            dynamodb: aws_sdk_dynamodb::Client::from_conf(dynamodb.build()),
        }
    }
}

/// Complete timeouts (a per-operation override replaces the client's
/// `TimeoutConfig` as a whole, so every field is set here).
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
    /// Whether the deployment itself is wrong (access denied, resource
    /// missing, key disabled, bad credentials): no retry helps until an
    /// operator fixes it, so a service must not look healthy meanwhile.
    pub configuration: bool,
    /// The service's error code, or the kind of failure (`timeout`, `dispatch`, ...).
    pub code: String,
    /// Full details, for logs only.
    pub message: String,
}

/// Service error codes, of any of our services, that mean the deployment is
/// wrong rather than the request or the moment.
const CONFIGURATION_CODES: &[&str] = &[
    // Credentials and authorization.
    "AccessDenied",
    "AccessDeniedException",
    "AuthorizationError",
    "AuthorizationErrorException",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "MissingAuthenticationToken",
    "InvalidSecurity",
    // Credentials past their expiry, a request signed too long ago (400):
    // the SDK refreshes credentials before they expire and corrects its
    // clock skew, so these persist only when credentials are not refreshed
    // or the clock is wrong. A fault that clears at the next success.
    "ExpiredToken",
    "ExpiredTokenException",
    "RequestExpired",
    // Missing resources.
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
    "NotFound",
    "NotFoundException",
    "ResourceNotFoundException",
    // Keys (SQS's shape names: KmsAccessDenied, KmsDisabled...; SNS: KMSAccessDenied, KMSDisabled...).
    "KMSAccessDenied",
    "KMSDisabled",
    "KMSInvalidState",
    "KMSNotFound",
    "KMSOptInRequired",
    "KmsAccessDenied",
    "KmsDisabled",
    "KmsInvalidState",
    "KmsNotFound",
    "KmsInvalidKeyUsage",
    "KmsOptInRequired",
    "KMSAccessDeniedException",
    "KMSDisabledException",
    "KMSInvalidStateException",
    "KMSNotFoundException",
    // SQS as it answers (awsQueryCompatible: the code of its
    // `x-amzn-query-error` header), with a 400.
    "KMS.AccessDeniedException",
    "KMS.DisabledException",
    "KMS.InvalidStateException",
    "KMS.NotFoundException",
    "KMS.OptInRequired",
    "KMS.InvalidKeyUsageException",
];

/// Whether `code` says the deployment is wrong (see [`SdkFailure::configuration`]).
pub fn is_configuration_code(code: &str) -> bool {
    CONFIGURATION_CODES.contains(&code)
}

/// Classifies an SDK error structurally: timeouts, connection and response
/// failures are transient; a service error is transient when its code is in
/// `transient_codes` or the service answered 5xx, and a configuration
/// failure when its code says so or the service answered 401/403 (an
/// emulator's 403 may come in a format the SDK cannot parse a code from).
pub fn classify_sdk_error<E>(
    err: &SdkError<E, HttpResponse>,
    transient_codes: &[&str],
) -> SdkFailure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let message = aws_smithy_types::error::display::DisplayErrorContext(err).to_string();
    let (transient, configuration, code) = match err {
        SdkError::TimeoutError(_) => (true, false, "timeout".to_owned()),
        SdkError::DispatchFailure(_) => (true, false, "dispatch".to_owned()),
        SdkError::ResponseError(_) => (true, false, "response".to_owned()),
        SdkError::ServiceError(service) => {
            let status = service.raw().status();
            let code = service
                .err()
                .code()
                .map(str::to_owned)
                .unwrap_or_else(|| format!("http-{}", status.as_u16()));
            let transient = transient_codes.contains(&code.as_str()) || status.is_server_error();
            let configuration = !transient
                && (is_configuration_code(&code) || matches!(status.as_u16(), 401 | 403));
            (transient, configuration, code)
        }
        _ => (false, false, "construction".to_owned()),
    };
    SdkFailure {
        transient,
        configuration,
        code,
        message,
    }
}

/// Whether a failed call may have been carried out by the service anyway: a
/// timeout after sending, a connection lost once the request went out, a 5xx
/// or an unreadable answer. `false` only when that is certain: the request
/// was never built, the connection never established (or its connect timed
/// out), or the service answered 4xx.
pub fn may_have_landed<E>(err: &SdkError<E, HttpResponse>) -> bool {
    match err {
        SdkError::ConstructionFailure(_) => false,
        SdkError::DispatchFailure(failure)
            if failure.is_timeout()
                || failure
                    .as_connector_error()
                    .is_some_and(|e| never_connected(e)) =>
        {
            false
        }
        SdkError::ServiceError(service) if service.raw().status().is_client_error() => false,
        _ => true,
    }
}

/// Whether the error chain shows the connection was never established.
fn never_connected(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if e.downcast_ref::<hyper_util::client::legacy::Error>()
            .is_some_and(hyper_util::client::legacy::Error::is_connect)
        {
            return true;
        }
        source = e.source();
    }
    false
}

/// Full-jitter exponential backoff before retry `attempt` (1-based): up to
/// `base × 2^attempt`, at most `cap`.
pub fn jittered_backoff(attempt: u32, base: Duration, cap: Duration) -> Duration {
    let ceiling = base
        .saturating_mul(2_u32.saturating_pow(attempt.min(10)))
        .min(cap);
    ceiling.mul_f64(fastrand::f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_a_long_poll_gets_the_long_attempt_timeout() {
        let mut settings = AwsSettings::new("us-east-1");
        settings.sqs_long_poll = Duration::from_secs(20);
        let clients = AwsClients::load(&settings).await;
        let sqs = clients
            .sqs
            .config()
            .timeout_config()
            .expect("SQS client timeouts");
        assert_eq!(
            sqs.operation_attempt_timeout(),
            Some(settings.attempt_timeout),
            "a delete or visibility change must not wait as long as a long poll"
        );
        let long_poll = settings.long_poll_timeouts();
        assert_eq!(
            long_poll.operation_attempt_timeout(),
            Some(settings.attempt_timeout + Duration::from_secs(20)),
            "a long poll outlives its wait"
        );
        assert_eq!(long_poll.connect_timeout(), Some(settings.connect_timeout));
        assert!(
            long_poll
                .operation_timeout()
                .is_some_and(|t| t > Duration::from_secs(25)),
            "complete: an override replaces the client's timeouts as a whole"
        );
    }
}
