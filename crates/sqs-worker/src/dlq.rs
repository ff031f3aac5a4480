//! DLQ tooling: `sqs-worker dlq peek` and `sqs-worker dlq redrive`.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use aws_sdk_sqs::types::{Message, MessageSystemAttributeName, QueueAttributeName};
use aws_smithy_types::error::display::DisplayErrorContext;
use serde::Serialize;

use crate::consumer::dead_letter::{
    ATTR_DETAIL, ATTR_FAILED_AT, ATTR_REASON, ATTR_ROLE, DLQ_ATTRIBUTES,
};

/// A DLQ failure.
#[derive(Debug, thiserror::Error)]
#[error("{operation} failed: {message}")]
pub struct DlqError {
    operation: &'static str,
    message: String,
}

fn sdk_error<E: std::error::Error + 'static, R: std::fmt::Debug>(
    operation: &'static str,
) -> impl Fn(aws_sdk_sqs::error::SdkError<E, R>) -> DlqError {
    move |e| DlqError {
        operation,
        message: DisplayErrorContext(&e).to_string(),
    }
}

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

fn attribute(message: &Message, name: &str) -> Option<String> {
    message
        .message_attributes()
        .and_then(|a| a.get(name))
        .and_then(|v| v.string_value.clone())
}

/// Lists up to `max` messages of the DLQ without consuming them: they are
/// received briefly and made visible again at once.
pub async fn peek(
    sqs: &aws_sdk_sqs::Client,
    dlq_url: &str,
    max: usize,
) -> Result<Vec<PeekedMessage>, DlqError> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    let mut receipts = Vec::new();
    while out.len() < max {
        let batch = sqs
            .receive_message()
            .queue_url(dlq_url)
            .max_number_of_messages(i32::try_from((max - out.len()).min(10)).unwrap_or(10))
            .visibility_timeout(30)
            .wait_time_seconds(1)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(sdk_error("ReceiveMessage"))?
            .messages
            .unwrap_or_default();
        if batch.is_empty() {
            break;
        }
        for m in batch {
            receipts.push(m.receipt_handle().unwrap_or_default().to_owned());
            let id = m.message_id().unwrap_or_default().to_owned();
            if !seen.insert(id.clone()) {
                continue;
            }
            out.push(PeekedMessage {
                message_id: id,
                reason: attribute(&m, ATTR_REASON).unwrap_or_else(|| "redrive_policy".to_owned()),
                role: attribute(&m, ATTR_ROLE),
                detail: attribute(&m, ATTR_DETAIL),
                failed_at: attribute(&m, ATTR_FAILED_AT),
                receive_count: m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .cloned(),
                body: m.body().unwrap_or_default().to_owned(),
            });
        }
    }
    release(sqs, dlq_url, &receipts).await?;
    Ok(out)
}

async fn release(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    receipts: &[String],
) -> Result<(), DlqError> {
    crate::visibility::set_batch(sqs, queue_url, receipts, Duration::ZERO, || {}, |_| {})
        .await
        .map_err(|failure| DlqError {
            operation: "ChangeMessageVisibilityBatch",
            message: failure.message,
        })
}

/// How a redrive was done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RedriveReport {
    /// `StartMessageMoveTask` or `receive/send/delete`.
    pub method: &'static str,
    /// Messages moved (approximate for a move task).
    pub moved: u64,
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<String, DlqError> {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(sdk_error("GetQueueAttributes"))?
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .ok_or(DlqError {
            operation: "GetQueueAttributes",
            message: "no QueueArn".into(),
        })
}

/// Moves every DLQ message back to the source queue: with `StartMessageMoveTask`
/// where supported (standard queues), otherwise message by message, sending
/// before deleting so that no message is ever lost.
pub async fn redrive(
    sqs: &aws_sdk_sqs::Client,
    source_url: &str,
    dlq_url: &str,
    force_manual: bool,
) -> Result<RedriveReport, DlqError> {
    if !force_manual && !dlq_url.ends_with(".fifo") {
        match move_task(sqs, source_url, dlq_url).await {
            Ok(report) => return Ok(report),
            Err(e) => {
                tracing::warn!(error = %e, "StartMessageMoveTask unavailable; redriving message by message")
            }
        }
    }
    manual_redrive(sqs, source_url, dlq_url).await
}

async fn move_task(
    sqs: &aws_sdk_sqs::Client,
    source_url: &str,
    dlq_url: &str,
) -> Result<RedriveReport, DlqError> {
    let dlq_arn = queue_arn(sqs, dlq_url).await?;
    let source_arn = queue_arn(sqs, source_url).await?;
    sqs.start_message_move_task()
        .source_arn(&dlq_arn)
        .destination_arn(&source_arn)
        .send()
        .await
        .map_err(sdk_error("StartMessageMoveTask"))?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let tasks = sqs
            .list_message_move_tasks()
            .source_arn(&dlq_arn)
            .send()
            .await
            .map_err(sdk_error("ListMessageMoveTasks"))?
            .results
            .unwrap_or_default();
        let Some(latest) = tasks.first() else {
            return Err(DlqError {
                operation: "ListMessageMoveTasks",
                message: "no task listed".into(),
            });
        };
        match latest.status.as_deref() {
            Some("COMPLETED") => {
                return Ok(RedriveReport {
                    method: "StartMessageMoveTask",
                    moved: u64::try_from(latest.approximate_number_of_messages_moved).unwrap_or(0),
                });
            }
            Some("FAILED" | "CANCELLED") => {
                return Err(DlqError {
                    operation: "StartMessageMoveTask",
                    message: latest
                        .failure_reason
                        .clone()
                        .unwrap_or_else(|| "task failed".into()),
                });
            }
            _ if tokio::time::Instant::now() > deadline => {
                return Err(DlqError {
                    operation: "StartMessageMoveTask",
                    message: "task still running after 120 s".into(),
                });
            }
            _ => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

async fn manual_redrive(
    sqs: &aws_sdk_sqs::Client,
    source_url: &str,
    dlq_url: &str,
) -> Result<RedriveReport, DlqError> {
    let mut moved = 0;
    loop {
        let batch = sqs
            .receive_message()
            .queue_url(dlq_url)
            .max_number_of_messages(10)
            .visibility_timeout(60)
            .wait_time_seconds(1)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::MessageGroupId)
            .send()
            .await
            .map_err(sdk_error("ReceiveMessage"))?
            .messages
            .unwrap_or_default();
        if batch.is_empty() {
            return Ok(RedriveReport {
                method: "receive/send/delete",
                moved,
            });
        }
        for m in batch {
            let attributes: HashMap<_, _> = m
                .message_attributes()
                .map(|a| {
                    a.iter()
                        .filter(|(k, _)| !DLQ_ATTRIBUTES.contains(&k.as_str()))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect()
                })
                .unwrap_or_default();
            let mut send = sqs
                .send_message()
                .queue_url(source_url)
                .message_body(m.body().unwrap_or_default())
                .set_message_attributes(Some(attributes));
            if source_url.ends_with(".fifo") {
                let group = m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::MessageGroupId))
                    .cloned()
                    .unwrap_or_else(|| "redrive".to_owned());
                send = send
                    .message_group_id(group)
                    .message_deduplication_id(format!(
                        "redrive-{}",
                        m.message_id().unwrap_or_default()
                    ));
            }
            // Send first: if the delete below fails, the message exists twice
            // (deduplicated by the workers), never zero times.
            send.send().await.map_err(sdk_error("SendMessage"))?;
            sqs.delete_message()
                .queue_url(dlq_url)
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await
                .map_err(sdk_error("DeleteMessage"))?;
            moved += 1;
        }
    }
}
