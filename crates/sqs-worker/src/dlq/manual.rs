//! The manual move: every message of one queue sent to another one at a time,
//! deleted only once sent (`redrive --manual`, the fallback of a move task,
//! FIFO DLQs and `redrive --subscription`).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use aws_sdk_sqs::types::{Message, MessageAttributeValue, MessageSystemAttributeName};

use super::messages::{receive, release, system_attribute};
use super::{DlqError, LeftMessage, RedriveReport, sdk_error};

pub(super) const BY_HAND: &str = "receive/send/delete";

/// How long received messages stay invisible (seconds).
const VISIBILITY_SECS: i32 = 60;
/// No message of a batch is started after this long: a send and a delete
/// (each at most the SDK's operation timeout, 17 s at the defaults) must end
/// well within [`VISIBILITY_SECS`], or the message could be received again
/// (by a peek, another run) while it is being moved.
const HOLD: Duration = Duration::from_secs(20);

/// A message to send to the destination queue.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    /// Its body.
    pub body: String,
    /// Its message attributes.
    pub attributes: HashMap<String, MessageAttributeValue>,
    /// FIFO deduplication id (when `None`: `redrive-<DLQ message id>-<its
    /// sequence number in the DLQ>`, the same on every run while it stays in
    /// the DLQ, new each time it comes back).
    pub deduplication_id: Option<String>,
    /// Where it goes instead of the drain's `to` (the subscription DLQ's
    /// express events go to the express queue).
    pub to: Option<String>,
}

/// Moves every message of `from` to `to`, one at a time: sent first, deleted
/// only once sent, so a message is never lost (a failure between the two
/// leaves it in both queues; the workers apply an event once however often it
/// arrives). `outgoing` says what to send, or why a message stays where it is.
/// A message that comes back during the run (dead-lettered again, or
/// received twice) is left for the next run rather than moved twice.
pub(super) async fn drain(
    sqs: &aws_sdk_sqs::Client,
    from: &str,
    to: &str,
    outgoing: impl Fn(&Message) -> Result<Outgoing, String>,
) -> Result<RedriveReport, DlqError> {
    let mut moved = 0;
    let mut moved_ids = HashSet::new();
    let mut left: Vec<LeftMessage> = Vec::new();
    let mut left_receipts = Vec::new();
    loop {
        let batch = receive(sqs, from, 10, VISIBILITY_SECS).await?;
        let received_at = tokio::time::Instant::now();
        if batch.is_empty() {
            // What stays is visible again for the next peek (or, failing
            // that, after VISIBILITY_SECS): everything else was moved.
            if let Err(e) = release(sqs, from, &left_receipts).await {
                tracing::warn!(error = %e, "could not make the messages left in the DLQ visible again");
            }
            return Ok(RedriveReport {
                method: BY_HAND,
                moved,
                left,
            });
        }
        for (i, m) in batch.iter().enumerate() {
            let id = m.message_id().unwrap_or_default();
            let receipt = m.receipt_handle().unwrap_or_default();
            if received_at.elapsed() >= HOLD {
                // The rest is received again, with time enough to move it.
                let rest: Vec<String> = batch[i..]
                    .iter()
                    .map(|m| m.receipt_handle().unwrap_or_default().to_owned())
                    .collect();
                if let Err(e) = release(sqs, from, &rest).await {
                    tracing::warn!(error = %e, "could not make the unmoved messages visible again");
                }
                break;
            }
            let outcome =
                if moved_ids.contains(id) {
                    Err("back in the DLQ during this run (dead-lettered again, or received twice): \
                     left for the next run"
                    .to_owned())
                } else {
                    outgoing(m)
                };
            let message = match outcome {
                Ok(message) => message,
                Err(why) => {
                    if !left.iter().any(|l| l.message_id == id) {
                        left.push(LeftMessage {
                            message_id: id.to_owned(),
                            why,
                        });
                    }
                    left_receipts.push(receipt.to_owned());
                    continue;
                }
            };
            let moved_one = async {
                let to = message.to.clone().unwrap_or_else(|| to.to_owned());
                send(sqs, &to, m, message).await?;
                sqs.delete_message()
                    .queue_url(from)
                    .receipt_handle(receipt)
                    .send()
                    .await
                    .map_err(sdk_error("DeleteMessage"))
                    .map_err(|e| {
                        noted(
                            e,
                            "it was sent to the queue and is still in the DLQ: the next run \
                             sends it again (applied once)",
                        )
                    })
            };
            if let Err(e) = moved_one.await {
                // Whatever was received and not moved is visible again at
                // once, so that a second run retries it without waiting.
                let mut pending: Vec<String> = batch[i..]
                    .iter()
                    .map(|m| m.receipt_handle().unwrap_or_default().to_owned())
                    .collect();
                pending.append(&mut left_receipts);
                if let Err(release_error) = release(sqs, from, &pending).await {
                    tracing::warn!(error = %release_error, "could not make the unmoved messages visible again");
                }
                return Err(noted(
                    e,
                    &format!("{moved} message(s) moved before it; run again to move the rest"),
                ));
            }
            moved_ids.insert(id.to_owned());
            moved += 1;
        }
    }
}

/// `error` with `note` added to what it says.
fn noted(error: DlqError, note: &str) -> DlqError {
    match error {
        DlqError::Aws { operation, message } => DlqError::Aws {
            operation,
            message: format!("{message}; {note}"),
        },
        other => other,
    }
}

/// Sends `message` (received from a DLQ as `received`) to `to`.
async fn send(
    sqs: &aws_sdk_sqs::Client,
    to: &str,
    received: &Message,
    message: Outgoing,
) -> Result<(), DlqError> {
    let mut request = sqs
        .send_message()
        .queue_url(to)
        .message_body(message.body)
        .set_message_attributes(Some(message.attributes));
    if to.ends_with(".fifo") {
        let group = system_attribute(received, &MessageSystemAttributeName::MessageGroupId)
            .unwrap_or_else(|| "redrive".to_owned());
        // Never the message id alone: a message the source queue's redrive
        // policy returns to the DLQ keeps its id, and sent again within the
        // queue's 5-minute deduplication window it would be dropped as a
        // duplicate, then deleted from the DLQ: lost.
        let deduplication = message.deduplication_id.unwrap_or_else(|| {
            let stay = system_attribute(received, &MessageSystemAttributeName::SequenceNumber)
                .or_else(|| system_attribute(received, &MessageSystemAttributeName::SentTimestamp))
                .unwrap_or_default();
            format!(
                "redrive-{}-{stay}",
                received.message_id().unwrap_or_default()
            )
        });
        request = request
            .message_group_id(group)
            .message_deduplication_id(deduplication);
    }
    request
        .send()
        .await
        .map(|_| ())
        .map_err(sdk_error("SendMessage"))
}
