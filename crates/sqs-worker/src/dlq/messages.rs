//! Receiving, releasing and reading DLQ messages: the SQS calls and attribute
//! readers that `peek`, the manual move and the subscription DLQ share.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use aws_sdk_sqs::types::{Message, MessageAttributeValue, MessageSystemAttributeName};

use super::{DlqError, failed, sdk_error};

pub(super) fn attribute(message: &Message, name: &str) -> Option<String> {
    message
        .message_attributes()
        .and_then(|a| a.get(name))
        .and_then(|v| v.string_value.clone())
}

/// The message attributes of `message` but those named in `left_out`.
pub(super) fn attributes_but(
    message: &Message,
    left_out: &[&str],
) -> HashMap<String, MessageAttributeValue> {
    message
        .message_attributes()
        .map(|a| {
            a.iter()
                .filter(|(k, _)| !left_out.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default()
}

pub(super) fn system_attribute(
    message: &Message,
    name: &MessageSystemAttributeName,
) -> Option<String> {
    message.attributes().and_then(|a| a.get(name)).cloned()
}

/// Receives up to `max` distinct messages of a queue, then makes them visible again.
pub(super) async fn browse(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    max: usize,
) -> Result<Vec<Message>, DlqError> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    let mut receipts = Vec::new();
    while out.len() < max {
        let batch = match receive(sqs, url, (max - out.len()).min(10), 30).await {
            Ok(batch) => batch,
            Err(e) => {
                // What was received so far is not left hidden for 30 s.
                if let Err(release_error) = release(sqs, url, &receipts).await {
                    tracing::warn!(error = %release_error, "could not make the peeked messages visible again");
                }
                return Err(e);
            }
        };
        if batch.is_empty() {
            break;
        }
        for m in batch {
            receipts.push(m.receipt_handle().unwrap_or_default().to_owned());
            if seen.insert(m.message_id().unwrap_or_default().to_owned()) {
                out.push(m);
            }
        }
    }
    release(sqs, url, &receipts).await?;
    Ok(out)
}

pub(super) async fn receive(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    max: usize,
    visibility_secs: i32,
) -> Result<Vec<Message>, DlqError> {
    Ok(sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(i32::try_from(max).unwrap_or(10))
        .visibility_timeout(visibility_secs)
        .wait_time_seconds(1)
        .message_attribute_names("All")
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .map_err(sdk_error("ReceiveMessage"))?
        .messages
        .unwrap_or_default())
}

pub(super) async fn release(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    receipts: &[String],
) -> Result<(), DlqError> {
    crate::visibility::set_batch(sqs, queue_url, receipts, Duration::ZERO, || {}, |_| {})
        .await
        .map_err(|e| failed(crate::visibility::OPERATION, e.message))
}
