//! Publishing events to the orders topic.

use aws_sdk_sns::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sns::types::MessageAttributeValue;
use futures::future::BoxFuture;
use shared::contract::{
    ATTR_CORRELATION_ID, ATTR_EVENT_TYPE, ATTR_EVENT_VERSION, ATTR_TOTAL, CURRENT_EVENT_VERSION,
    Event, EventPayload,
};

/// Why an event was not published. Either way the order was NOT accepted.
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
    /// Publishes one event; `Ok` only once the topic has accepted it.
    fn publish<'a>(&'a self, event: &'a Event) -> BoxFuture<'a, Result<(), PublishError>>;
    /// Checks that the topic exists and answers.
    fn probe(&self) -> BoxFuture<'_, Result<(), PublishError>>;
}

/// [`EventPublisher`] on an SNS topic (Standard or FIFO).
#[derive(Debug, Clone)]
pub struct SnsPublisher {
    client: aws_sdk_sns::Client,
    topic_arn: String,
    fifo: bool,
}

impl SnsPublisher {
    /// A publisher on `topic_arn`; FIFO when the ARN ends in `.fifo`.
    pub fn new(client: aws_sdk_sns::Client, topic_arn: impl Into<String>) -> Self {
        let topic_arn = topic_arn.into();
        let fifo = topic_arn.ends_with(".fifo");
        Self {
            client,
            topic_arn,
            fifo,
        }
    }
}

/// The message attributes subscriptions filter on.
pub fn message_attributes(event: &Event) -> Vec<(&'static str, &'static str, String)> {
    let mut attributes = vec![
        (
            ATTR_EVENT_TYPE,
            "String",
            event.event_type().as_str().to_owned(),
        ),
        (
            ATTR_EVENT_VERSION,
            "Number",
            CURRENT_EVENT_VERSION.to_string(),
        ),
        (ATTR_CORRELATION_ID, "String", event.correlation_id.clone()),
    ];
    if let EventPayload::PedidoCreado(order) = &event.payload {
        attributes.push((ATTR_TOTAL, "Number", order.total().value().to_string()));
    }
    attributes
}

/// FIFO deduplication id: the same order event published twice is one message.
pub fn deduplication_id(event: &Event) -> String {
    format!("{}:{}", event.pedido_id(), event.event_type())
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
    fn publish<'a>(&'a self, event: &'a Event) -> BoxFuture<'a, Result<(), PublishError>> {
        Box::pin(async move {
            let mut request = self
                .client
                .publish()
                .topic_arn(&self.topic_arn)
                .message(event.to_json());
            for (name, data_type, value) in message_attributes(event) {
                let attribute = MessageAttributeValue::builder()
                    .data_type(data_type)
                    .string_value(value)
                    .build()
                    .map_err(|e| PublishError::Rejected {
                        code: "build".into(),
                        message: e.to_string(),
                    })?;
                request = request.message_attributes(name, attribute);
            }
            if self.fifo {
                request = request
                    .message_group_id(event.pedido_id().to_string())
                    .message_deduplication_id(deduplication_id(event));
            }
            request.send().await.map(|_| ()).map_err(|e| classify(&e))
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
