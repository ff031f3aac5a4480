//! Changing how long messages stay invisible.

use std::time::Duration;

use aws_sdk_sqs::types::ChangeMessageVisibilityBatchRequestEntry;
use shared::aws::{SdkFailure, classify_sdk_error};

use crate::consumer::SQS_TRANSIENT_CODES;

/// The SQS operation every call here makes.
pub const OPERATION: &str = "ChangeMessageVisibilityBatch";

/// SQS counts whole seconds (at most 12 h): round up so a short backoff never becomes 0.
pub fn seconds(delay: Duration) -> i32 {
    let whole = delay.as_secs() + u64::from(delay.subsec_nanos() > 0);
    i32::try_from(whole.min(43_200)).unwrap_or(43_200)
}

/// Sets the visibility of every receipt to `delay`, ten per request, in
/// order (`on_request` is called before each, `on_entry_failures` with the
/// codes of the entries SQS refused in each). Tries every batch; returns
/// the last error.
pub async fn set_batch(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    receipts: &[String],
    delay: Duration,
    mut on_request: impl FnMut(),
    mut on_entry_failures: impl FnMut(&[(usize, String)]),
) -> Result<(), SdkFailure> {
    let mut outcome = Ok(());
    for chunk in receipts.chunks(10) {
        on_request();
        match set_chunk(sqs, queue_url, chunk, delay).await {
            Ok(failed) if !failed.is_empty() => on_entry_failures(&failed),
            Ok(_) => {}
            Err(e) => outcome = Err(e),
        }
    }
    outcome
}

/// Sets the visibility of up to ten receipts to `delay` in one request;
/// returns the positions (in `chunk`) and codes of the entries SQS refused.
pub async fn set_chunk(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    chunk: &[String],
    delay: Duration,
) -> Result<Vec<(usize, String)>, SdkFailure> {
    let timeout = seconds(delay);
    let entries = chunk
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            ChangeMessageVisibilityBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(r)
                .visibility_timeout(timeout)
                .build()
                .ok()
        })
        .collect();
    sqs.change_message_visibility_batch()
        .queue_url(queue_url)
        .set_entries(Some(entries))
        .send()
        .await
        .map(|out| {
            out.failed
                .iter()
                .filter_map(|f| Some((f.id.parse().ok()?, f.code.clone())))
                .collect()
        })
        .map_err(|e| classify_sdk_error(&e, SQS_TRANSIENT_CODES))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_up_and_caps() {
        assert_eq!(seconds(Duration::ZERO), 0);
        assert_eq!(seconds(Duration::from_millis(1)), 1);
        assert_eq!(seconds(Duration::from_millis(1500)), 2);
        assert_eq!(seconds(Duration::from_secs(3)), 3);
        assert_eq!(seconds(Duration::from_secs(100_000)), 43_200);
    }
}
