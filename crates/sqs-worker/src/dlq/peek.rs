//! `peek`: the queue's DLQ listed without consuming it, each message with why
//! it was dead-lettered.

use aws_sdk_sqs::types::MessageSystemAttributeName;
use serde::Serialize;

use super::DlqError;
use super::messages::{attribute, browse, system_attribute};
use crate::consumer::dead_letter::{ATTR_DETAIL, ATTR_FAILED_AT, ATTR_REASON, ATTR_ROLE};

/// One dead-lettered message as `peek` shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PeekedMessage {
    /// Message id in the DLQ.
    pub message_id: String,
    /// Why it was dead-lettered (`redrive_policy` when SQS moved it after too many receives).
    pub reason: String,
    /// Which role rejected it.
    pub role: Option<String>,
    /// Explanation.
    pub detail: Option<String>,
    /// When.
    pub failed_at: Option<String>,
    /// Times received from the DLQ so far.
    pub receive_count: Option<String>,
    /// The original body.
    pub body: String,
}

/// Lists up to `max` messages of the DLQ without consuming them: they are
/// received briefly and made visible again at once.
pub async fn peek(
    sqs: &aws_sdk_sqs::Client,
    dlq_url: &str,
    max: usize,
) -> Result<Vec<PeekedMessage>, DlqError> {
    Ok(browse(sqs, dlq_url, max)
        .await?
        .iter()
        .map(|m| PeekedMessage {
            message_id: m.message_id().unwrap_or_default().to_owned(),
            reason: attribute(m, ATTR_REASON).unwrap_or_else(|| "redrive_policy".to_owned()),
            role: attribute(m, ATTR_ROLE),
            detail: attribute(m, ATTR_DETAIL),
            failed_at: attribute(m, ATTR_FAILED_AT),
            receive_count: system_attribute(
                m,
                &MessageSystemAttributeName::ApproximateReceiveCount,
            ),
            body: m.body().unwrap_or_default().to_owned(),
        })
        .collect())
}
