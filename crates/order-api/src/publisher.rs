//! Publishing events to the orders topic, with the publish's outcome told
//! honestly: "not published" only when that is certain (nothing reached SNS,
//! or SNS answered with a 4xx), "unknown" whenever SNS may have taken it.
//! Each event goes out with its message attributes and its message group:
//! per order on a FIFO topic, per customer on a standard one (fair queues).

use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_sns::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sns::types::MessageAttributeValue;
use futures::future::BoxFuture;
use shared::contract::Event;

/// Whether the topic may have taken an event whose publish failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Certainly not published: no attempt reached SNS, or SNS refused it (4xx).
    NotPublished,
    /// An attempt may have been taken: a timeout after sending, a connection
    /// lost after the request went out, a 5xx or an unreadable answer.
    Unknown,
}

/// A failed publish: why, and whether the topic may have taken the event anyway.
#[derive(Debug, thiserror::Error)]
#[error("{error} (outcome: {outcome:?})")]
pub struct PublishFailure {
    /// The last attempt's error.
    pub error: PublishError,
    /// Whether any attempt may have been taken.
    pub outcome: Outcome,
}

/// Why an SNS call failed.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// Network, timeout, throttling or a 5xx: retrying later should work.
    #[error("SNS unavailable ({code}): {message}")]
    Unavailable {
        /// Error code or kind.
        code: String,
        /// Details, for logs only.
        message: String,
    },
    /// The deployment is wrong: topic missing, access denied, key disabled.
    #[error("SNS refused access to the topic ({code}): {message}")]
    Misconfigured {
        /// Error code.
        code: String,
        /// Details, for logs only.
        message: String,
    },
    /// Refused for this request (invalid parameter, message too large).
    #[error("SNS rejected the publish ({code}): {message}")]
    Rejected {
        /// Error code.
        code: String,
        /// Details, for logs only.
        message: String,
    },
}

impl PublishError {
    /// Whether the deployment itself is wrong (see [`PublishError::Misconfigured`]).
    pub fn is_configuration(&self) -> bool {
        matches!(self, PublishError::Misconfigured { .. })
    }

    /// Short label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            PublishError::Unavailable { .. } => "unavailable",
            PublishError::Misconfigured { .. } => "misconfigured",
            PublishError::Rejected { .. } => "rejected",
        }
    }
}

/// Something that can put events on the topic. A trait so router tests can
/// use a fake.
pub trait EventPublisher: Send + Sync + 'static {
    /// Publishes one event within the publisher's time budget; `Ok` only once
    /// the topic has accepted it.
    fn publish<'a>(&'a self, event: &'a Event) -> BoxFuture<'a, Result<(), PublishFailure>>;
    /// Checks that the topic exists and answers.
    fn probe(&self) -> BoxFuture<'_, Result<(), PublishError>>;
}

/// How long and how often a publish is tried.
#[derive(Debug, Clone, Copy)]
pub struct PublishBudget {
    /// Everything, retries and backoff included; below the request timeout,
    /// so the API, not the outer timeout, decides the answer.
    pub total: Duration,
    /// One attempt.
    pub attempt: Duration,
    /// Most attempts.
    pub max_attempts: u32,
    /// Whether to try again after an attempt SNS may have taken. The API
    /// does not (the relay publishes what no worker received, so a second
    /// attempt would only add a duplicate); the relay does.
    pub retry_unknown: bool,
}

/// [`EventPublisher`] on an SNS topic (Standard or FIFO).
#[derive(Debug, Clone)]
pub struct SnsPublisher {
    client: aws_sdk_sns::Client,
    topic_arn: String,
    fifo: bool,
    fair_group_ids: bool,
    budget: PublishBudget,
}

impl SnsPublisher {
    /// A publisher on `topic_arn`; FIFO when the ARN ends in `.fifo`. Retries
    /// are this publisher's own (the SDK's are switched off), so it knows
    /// whether any attempt may have reached SNS. On a standard topic each
    /// event names its customer as its message group (see
    /// [`SnsPublisher::with_fair_group_ids`]).
    pub fn new(
        client: &aws_sdk_sns::Client,
        topic_arn: impl Into<String>,
        budget: PublishBudget,
    ) -> Self {
        let config = client
            .config()
            .to_builder()
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(budget.attempt.min(Duration::from_secs(2)))
                    .operation_attempt_timeout(budget.attempt)
                    .operation_timeout(budget.attempt)
                    .build(),
            )
            .build();
        let topic_arn = topic_arn.into();
        let fifo = topic_arn.ends_with(".fifo");
        Self {
            client: aws_sdk_sns::Client::from_conf(config),
            topic_arn,
            fifo,
            fair_group_ids: true,
            budget,
        }
    }

    /// Whether events on a standard topic carry their customer as the message
    /// group (`SNS_FAIR_GROUP_IDS`; on by default). A FIFO topic always groups
    /// by order, whatever this says.
    pub fn with_fair_group_ids(mut self, fair_group_ids: bool) -> Self {
        self.fair_group_ids = fair_group_ids;
        self
    }

    async fn attempt(
        &self,
        event: &Event,
        trace: &[(&'static str, String)],
    ) -> Result<(), (PublishError, Outcome)> {
        let mut request = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .message(event.to_json());
        let trace = trace
            .iter()
            .map(|(name, value)| (*name, "String", value.clone()));
        for (name, data_type, value) in message_attributes(event).into_iter().chain(trace) {
            let attribute = MessageAttributeValue::builder()
                .data_type(data_type)
                .string_value(value)
                .build()
                .map_err(|e| {
                    let error = PublishError::Rejected {
                        code: "build".into(),
                        message: e.to_string(),
                    };
                    (error, Outcome::NotPublished)
                })?;
            request = request.message_attributes(name, attribute);
        }
        if self.fifo {
            request = request.message_deduplication_id(deduplication_id(event));
        }
        if let Some(group) = message_group_id(event, self.fifo, self.fair_group_ids) {
            request = request.message_group_id(group);
        }
        request
            .send()
            .await
            .map(|_| ())
            .map_err(|e| (classify(&e), outcome(&e)))
    }
}

/// Whether a failed SNS call may have been taken by SNS.
pub fn outcome<E>(err: &SdkError<E, aws_sdk_sns::config::http::HttpResponse>) -> Outcome {
    if shared::aws::may_have_landed(err) {
        Outcome::Unknown
    } else {
        Outcome::NotPublished
    }
}

/// The message attributes subscriptions filter on (see [`Event::message_attributes`]).
pub fn message_attributes(event: &Event) -> Vec<(&'static str, &'static str, String)> {
    event.message_attributes()
}

/// The message group an event is published in: on a FIFO topic its order
/// (`pedidoId`: an order's events in order); on a standard topic, when
/// `fair` (`SNS_FAIR_GROUP_IDS`), its customer (`clienteId`), so the
/// standard queues run as SQS fair queues and one customer's flood does not
/// hold back the others. SNS Publish API: "For standard topics: The
/// MessageGroupId is optional and is forwarded only to Amazon SQS standard
/// subscriptions to activate fair queues." A `PedidoCancelado` carries its
/// order's customer (read from the order's record at intake); one written
/// before it did goes out without a group.
pub fn message_group_id(event: &Event, fifo: bool, fair: bool) -> Option<String> {
    if fifo {
        Some(event.pedido_id().to_string())
    } else if fair {
        event.cliente_id().map(|cliente| cliente.to_string())
    } else {
        None
    }
}

/// FIFO deduplication id: the same order event published twice is one message.
pub fn deduplication_id(event: &Event) -> String {
    format!("{}:{}", event.pedido_id(), event.event_type())
}

/// Full-jitter exponential backoff between publish attempts (50 ms base, 1 s cap).
fn backoff(attempt: u32) -> Duration {
    let cap = Duration::from_millis(50 * 2_u64.pow(attempt.min(5))).min(Duration::from_secs(1));
    cap.mul_f64(fastrand::f64())
}

/// SNS error codes that mean "try again later".
const TRANSIENT_CODES: &[&str] = &[
    "Throttled",
    "Throttling",
    "ThrottlingException",
    "InternalError",
    "InternalFailure",
    "ServiceUnavailable",
    "KMSThrottling",
    "KMSThrottlingException",
];

fn classify<E>(err: &SdkError<E, aws_sdk_sns::config::http::HttpResponse>) -> PublishError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let failure = shared::aws::classify_sdk_error(err, TRANSIENT_CODES);
    let (code, message) = (failure.code, failure.message);
    if failure.transient {
        PublishError::Unavailable { code, message }
    } else if failure.configuration {
        PublishError::Misconfigured { code, message }
    } else {
        PublishError::Rejected { code, message }
    }
}

impl EventPublisher for SnsPublisher {
    fn publish<'a>(&'a self, event: &'a Event) -> BoxFuture<'a, Result<(), PublishFailure>> {
        Box::pin(async move {
            let deadline = Instant::now() + self.budget.total;
            // The publish span's context travels in the message attributes,
            // so the workers' spans join this trace.
            let trace = shared::telemetry::propagation::current_trace_fields();
            let mut maybe_taken = false;
            let mut attempt = 0;
            loop {
                attempt += 1;
                let remaining = deadline.saturating_duration_since(Instant::now());
                let result =
                    match tokio::time::timeout(remaining, self.attempt(event, &trace)).await {
                        Ok(result) => result,
                        Err(_) => Err((
                            PublishError::Unavailable {
                                code: "budget".into(),
                                message: format!("publish budget of {:?} spent", self.budget.total),
                            },
                            Outcome::Unknown,
                        )),
                    };
                let (error, this_outcome) = match result {
                    Ok(()) => return Ok(()),
                    Err(failure) => failure,
                };
                maybe_taken |= this_outcome == Outcome::Unknown;
                let outcome = if maybe_taken {
                    Outcome::Unknown
                } else {
                    Outcome::NotPublished
                };
                let delay = backoff(attempt);
                let transient = matches!(error, PublishError::Unavailable { .. });
                if !transient
                    || (maybe_taken && !self.budget.retry_unknown)
                    || attempt >= self.budget.max_attempts
                    || Instant::now() + delay + self.budget.attempt.min(remaining) > deadline
                {
                    return Err(PublishFailure { error, outcome });
                }
                tracing::warn!(attempt, error = %error, outcome = ?this_outcome, "publish attempt failed; retrying");
                tokio::time::sleep(delay).await;
            }
        })
    }

    fn probe(&self) -> BoxFuture<'_, Result<(), PublishError>> {
        Box::pin(async move {
            self.client
                .get_topic_attributes()
                .topic_arn(&self.topic_arn)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| classify(&e))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::contract::{EventPayload, Motivo, PedidoCancelado, PedidoCreado, Prioridad};
    use uuid::Uuid;

    fn creado(cliente: Uuid) -> Event {
        let order: PedidoCreado = serde_json::from_value(serde_json::json!({
            "pedidoId": Uuid::new_v4(), "clienteId": cliente, "fecha": "2026-11-23T10:00:00Z",
            "total": "2.00", "prioridad": "EXPRESS",
            "items": [{"sku": "A", "cantidad": 1, "precioUnitario": "2.00"}],
            "direccionEnvio": {"calle": "x", "ciudad": "y", "region": "z", "pais": "CL"}
        }))
        .expect("order");
        Event::new("r", EventPayload::PedidoCreado(order))
    }

    fn cancelado(cliente: Option<Uuid>) -> Event {
        let mut cancel = PedidoCancelado::new(Uuid::new_v4(), Motivo::parse("no").expect("motivo"));
        cancel.prioridad = Prioridad::Express;
        cancel.cliente_id = cliente;
        Event::new("r", EventPayload::PedidoCancelado(cancel))
    }

    #[test]
    fn the_group_is_the_customer_on_a_standard_topic_and_the_order_on_a_fifo_one() {
        let cliente = Uuid::new_v4();
        for event in [creado(cliente), cancelado(Some(cliente))] {
            assert_eq!(
                message_group_id(&event, false, true),
                Some(cliente.to_string())
            );
            assert_eq!(message_group_id(&event, false, false), None, "setting off");
            for fair in [true, false] {
                assert_eq!(
                    message_group_id(&event, true, fair),
                    Some(event.pedido_id().to_string()),
                    "FIFO unchanged"
                );
            }
        }
        assert_eq!(message_group_id(&cancelado(None), false, true), None);
    }

    #[test]
    fn every_event_is_published_with_its_priority() {
        for event in [creado(Uuid::new_v4()), cancelado(None)] {
            assert!(
                message_attributes(&event).contains(&(
                    shared::contract::ATTR_PRIORIDAD,
                    "String",
                    "EXPRESS".to_owned()
                )),
                "{:?}",
                event.event_type()
            );
        }
    }
}
