//! Sending a poison message to the DLQ with attributes that say why.

use aws_sdk_sqs::types::{Message, MessageAttributeValue, MessageSystemAttributeName};
use shared::aws::{SdkFailure, classify_sdk_error};

use super::SQS_TRANSIENT_CODES;

use crate::config::Settings;
use crate::metrics::Metrics;

/// The SQS operation of a dead-lettering.
pub const OPERATION: &str = "SendMessage";

/// Attribute: stable reason code (e.g. `unknown_event_type`).
pub const ATTR_REASON: &str = "dlqReason";
/// Attribute: human-readable detail (at most 1000 characters).
pub const ATTR_DETAIL: &str = "dlqDetail";
/// Attribute: the role that rejected the message.
pub const ATTR_ROLE: &str = "dlqRole";
/// Attribute: the message id in the source queue.
pub const ATTR_SOURCE_MESSAGE_ID: &str = "dlqSourceMessageId";
/// Attribute: when it was dead-lettered (RFC 3339).
pub const ATTR_FAILED_AT: &str = "dlqFailedAt";
/// Every attribute this worker adds (removed again on redrive).
pub const DLQ_ATTRIBUTES: [&str; 5] = [
    ATTR_REASON,
    ATTR_DETAIL,
    ATTR_ROLE,
    ATTR_SOURCE_MESSAGE_ID,
    ATTR_FAILED_AT,
];

/// SQS allows 10 message attributes per message.
const MAX_ATTRIBUTES: usize = 10;

/// Which of the message's own attributes a dead-lettered copy keeps first,
/// when with ours they would pass [`MAX_ATTRIBUTES`]: what a redrive needs
/// (the trace continues, the correlation id, the lane), then the rest by
/// name. `eventVersion` and `total` are also in the body.
const KEPT_FIRST: [&str; 5] = [
    shared::contract::ATTR_TRACEPARENT,
    shared::contract::ATTR_TRACESTATE,
    shared::contract::ATTR_CORRELATION_ID,
    shared::contract::ATTR_EVENT_TYPE,
    shared::contract::ATTR_PRIORIDAD,
];

/// The message's own attribute names in the order they are kept.
fn kept_order<'a>(names: impl Iterator<Item = &'a String>) -> Vec<&'a String> {
    let mut names: Vec<&String> = names
        .filter(|k| !DLQ_ATTRIBUTES.contains(&k.as_str()))
        .collect();
    names.sort_by_key(|name| {
        (
            KEPT_FIRST
                .iter()
                .position(|first| first == name)
                .unwrap_or(KEPT_FIRST.len()),
            name.as_str(),
        )
    });
    names
}

fn string_attribute(value: &str) -> Option<MessageAttributeValue> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .ok()
}

/// Sends `message` to the DLQ. Tries with the original attributes plus ours,
/// then (e.g. for a body at the size limit) with our reason attributes only.
/// Returns the last failure, classified.
pub async fn send(
    sqs: &aws_sdk_sqs::Client,
    settings: &Settings,
    message: &Message,
    reason: &str,
    detail: &str,
    metrics: &Metrics,
) -> Result<(), SdkFailure> {
    let detail: String = detail.chars().take(1000).collect();
    let failed_at = chrono::Utc::now().to_rfc3339();
    let ours: Vec<(&str, String)> = vec![
        (ATTR_REASON, reason.to_owned()),
        (ATTR_ROLE, settings.role.to_string()),
        (ATTR_DETAIL, detail),
        (
            ATTR_SOURCE_MESSAGE_ID,
            message.message_id().unwrap_or_default().to_owned(),
        ),
        (ATTR_FAILED_AT, failed_at),
    ];
    let mut full: Vec<(String, MessageAttributeValue)> = ours
        .iter()
        .filter_map(|(k, v)| Some(((*k).to_owned(), string_attribute(v)?)))
        .collect();
    if let Some(original) = message.message_attributes() {
        for name in kept_order(original.keys())
            .into_iter()
            .take(MAX_ATTRIBUTES - full.len())
        {
            full.push((name.clone(), original[name].clone()));
        }
    }
    let minimal: Vec<(String, MessageAttributeValue)> = full.iter().take(2).cloned().collect();
    let mut last_error = None;
    for attributes in [full, minimal] {
        let mut request = sqs
            .send_message()
            .queue_url(&settings.dlq_url)
            .message_body(message.body().unwrap_or_default())
            .set_message_attributes(Some(attributes.into_iter().collect()));
        if settings.dlq_url.ends_with(".fifo") {
            let group = message
                .attributes()
                .and_then(|a| a.get(&MessageSystemAttributeName::MessageGroupId))
                .cloned()
                .unwrap_or_else(|| "dead-letter".to_owned());
            request = request
                .message_group_id(group)
                .message_deduplication_id(message.message_id().unwrap_or_default());
        }
        metrics.sqs_call("send_dlq");
        match request.send().await {
            Ok(_) => return Ok(()),
            Err(e) => {
                let failure = classify_sdk_error(&e, SQS_TRANSIENT_CODES);
                // A refusal of the queue itself: the smaller message fares no better.
                let refused = failure.configuration;
                last_error = Some(failure);
                if refused {
                    break;
                }
            }
        }
    }
    Err(last_error.unwrap_or_else(|| SdkFailure {
        transient: true,
        configuration: false,
        code: "unsent".into(),
        message: "nothing was sent".into(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_lettered_copy_keeps_the_trace_and_the_lane_first() {
        let own: Vec<String> = [
            "total",
            "eventVersion",
            "tracestate",
            "prioridad",
            "eventType",
            "correlationId",
            "traceparent",
            "zz-custom",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        let kept: Vec<&str> = kept_order(own.iter())
            .into_iter()
            .take(MAX_ATTRIBUTES - DLQ_ATTRIBUTES.len())
            .map(String::as_str)
            .collect();
        assert_eq!(
            kept,
            [
                "traceparent",
                "tracestate",
                "correlationId",
                "eventType",
                "prioridad"
            ]
        );
    }
}
