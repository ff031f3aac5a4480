//! `redrive` of the queue's DLQ with an SQS message move task
//! (`StartMessageMoveTask`, watched with `ListMessageMoveTasks`), falling back
//! to the manual move; and the rule that guards it: never move messages by
//! hand while a move task runs on the DLQ (both would move some, and those
//! twice).

use std::time::Duration;

use aws_sdk_sqs::types::{ListMessageMoveTasksResultEntry, QueueAttributeName};
use aws_smithy_types::error::display::DisplayErrorContext;
use shared::aws::classify_sdk_error;

use super::manual::{Outgoing, drain};
use super::messages::attributes_but;
use super::{DlqError, RedriveOptions, RedriveReport, failed, sdk_error};
use crate::consumer::dead_letter::DLQ_ATTRIBUTES;

pub(super) const MOVE_TASK: &str = "StartMessageMoveTask";

/// How often a running move task is looked at.
const TASK_POLL: Duration = Duration::from_millis(500);
/// A running task that moved nothing for this long is given up on (it keeps running).
const TASK_STALL: Duration = Duration::from_secs(120);
/// How often the progress of a running task is logged.
const TASK_PROGRESS_LOG: Duration = Duration::from_secs(10);

async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<String, DlqError> {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(sdk_error("GetQueueAttributes"))?
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .ok_or_else(|| failed("GetQueueAttributes", "no QueueArn"))
}

/// Whether a listed move task may still move messages: `RUNNING`, or
/// `CANCELLING` (SQS stops it, but not at once). `COMPLETED`, `CANCELLED` and
/// `FAILED` are final.
pub fn is_active(task: &ListMessageMoveTasksResultEntry) -> bool {
    matches!(task.status.as_deref(), Some("RUNNING" | "CANCELLING"))
}

/// The move task of a `ListMessageMoveTasks` answer that may still move
/// messages, if any (SQS runs at most one per source queue at a time).
pub fn active_task(
    tasks: &[ListMessageMoveTasksResultEntry],
) -> Option<&ListMessageMoveTasksResultEntry> {
    tasks.iter().find(|t| is_active(t))
}

/// One line about a task, for logs and errors.
pub(super) fn describe(task: &ListMessageMoveTasksResultEntry) -> String {
    let started = chrono::DateTime::from_timestamp_millis(task.started_timestamp)
        .map_or_else(|| "?".to_owned(), |t| t.to_rfc3339());
    let mut text = format!(
        "message move task ({} since {started}, {} of {} message(s) moved",
        task.status.as_deref().unwrap_or("?"),
        task.approximate_number_of_messages_moved,
        task.approximate_number_of_messages_to_move
            .map_or_else(|| "?".to_owned(), |n| n.to_string()),
    );
    if let Some(reason) = &task.failure_reason {
        text.push_str(&format!(", failure reason {reason}"));
    }
    text.push(')');
    text
}

/// How to cancel a running task.
pub(super) fn cancel_hint(task: &ListMessageMoveTasksResultEntry) -> String {
    format!(
        "`aws sqs cancel-message-move-task --task-handle {}`",
        task.task_handle.as_deref().unwrap_or("<its TaskHandle>")
    )
}

/// The DLQ's most recent move tasks (the active one, if any, is among them).
async fn list_tasks(
    sqs: &aws_sdk_sqs::Client,
    dlq_arn: &str,
) -> Result<Vec<ListMessageMoveTasksResultEntry>, DlqError> {
    sqs.list_message_move_tasks()
        .source_arn(dlq_arn)
        .max_results(10)
        .send()
        .await
        .map(|out| out.results.unwrap_or_default())
        .map_err(|e| {
            // The permission hint only when SQS said so: a timeout is not one.
            let hint = if classify_sdk_error(&e, &[]).configuration {
                " (the operator needs sqs:ListMessageMoveTasks on the DLQ)"
            } else {
                ""
            };
            failed(
                "ListMessageMoveTasks",
                format!(
                    "{}; whether a move task is running on the DLQ cannot be told, so nothing is \
                     moved by hand{hint}",
                    DisplayErrorContext(&e)
                ),
            )
        })
}

/// When the most recent of `tasks` started (`i64::MIN` when none is listed).
fn newest_start(tasks: &[ListMessageMoveTasksResultEntry]) -> i64 {
    tasks
        .iter()
        .map(|t| t.started_timestamp)
        .max()
        .unwrap_or(i64::MIN)
}

/// The task of a `ListMessageMoveTasks` answer to wait for: the active one if
/// any, otherwise the most recent one started after `after` (epoch ms), so
/// that an older task listed before ours is never taken for it.
pub(super) fn latest(
    tasks: &[ListMessageMoveTasksResultEntry],
    after: i64,
) -> Option<&ListMessageMoveTasksResultEntry> {
    active_task(tasks).or_else(|| {
        tasks
            .iter()
            .filter(|t| t.started_timestamp > after)
            .max_by_key(|t| t.started_timestamp)
    })
}

/// The error when a move task on the DLQ was cancelled: someone stopped the
/// redrive on purpose, and moving by hand (or a new task) would undo that.
fn cancelled(task: &ListMessageMoveTasksResultEntry) -> DlqError {
    failed(
        MOVE_TASK,
        format!(
            "the move task was cancelled ({}); nothing more is moved",
            describe(task)
        ),
    )
}

/// Moves every DLQ message back to the source queue: with an SQS message move
/// task (standard queues), otherwise message by message, sending before
/// deleting so that no message is ever lost. Never moves messages by hand while
/// a move task runs on the DLQ (both would move some messages, and those twice):
/// `options.manual` is then refused, and the default waits for the task.
pub async fn redrive(
    sqs: &aws_sdk_sqs::Client,
    source_url: &str,
    dlq_url: &str,
    options: RedriveOptions,
) -> Result<RedriveReport, DlqError> {
    let dlq_arn = queue_arn(sqs, dlq_url).await?;
    if options.manual || dlq_url.ends_with(".fifo") {
        return manual_unless_task_runs(sqs, &dlq_arn, source_url, dlq_url, 0).await;
    }
    // A task already running (another operator, the console): its messages
    // reach their queue anyway; wait for it, then move what is left.
    let mut earlier = 0;
    let tasks = list_tasks(sqs, &dlq_arn).await?;
    // Tasks that started before ours: never to be taken for it.
    let known = newest_start(&tasks);
    if let Some(task) = active_task(&tasks) {
        tracing::info!(task = %describe(task), "a move task is already running on the DLQ: waiting for it");
        let done = wait_for_task(sqs, &dlq_arn, i64::MIN).await?;
        if done.status.as_deref() == Some("CANCELLED") {
            return Err(cancelled(&done));
        }
        earlier = moved_by(&done);
    }
    let source_arn = queue_arn(sqs, source_url).await?;
    let mut start = sqs
        .start_message_move_task()
        .source_arn(&dlq_arn)
        .destination_arn(&source_arn);
    if let Some(rate) = options.rate {
        start = start.max_number_of_messages_per_second(rate);
    }
    if let Err(e) = start.send().await {
        // Whether or not SQS took the request (a timeout or a cut connection
        // leaves that unknown), a task may be running now: another operator's
        // that won the race, or our own. Look before any fallback.
        let may_have_started = shared::aws::may_have_landed(&e);
        tracing::warn!(
            error = %DisplayErrorContext(&e),
            may_have_started,
            "StartMessageMoveTask failed; checking the DLQ's move tasks before moving by hand"
        );
        if latest(&list_tasks(sqs, &dlq_arn).await?, known).is_none() {
            if may_have_started {
                // SQS may still list (or even start) it in a moment: moving
                // by hand now could run beside it.
                return Err(failed(
                    MOVE_TASK,
                    format!(
                        "{}; SQS may have started the task all the same, and none is listed \
                         yet, so nothing is moved by hand. Run `sqs-worker dlq redrive` again: \
                         it waits for a task that did start, or starts one",
                        DisplayErrorContext(&e)
                    ),
                ));
            }
            return manual_unless_task_runs(sqs, &dlq_arn, source_url, dlq_url, earlier).await;
        }
    }
    let done = wait_for_task(sqs, &dlq_arn, known).await?;
    match done.status.as_deref() {
        Some("COMPLETED") => Ok(RedriveReport {
            method: MOVE_TASK,
            moved: earlier + moved_by(&done),
            left: Vec::new(),
        }),
        Some("CANCELLED") => Err(cancelled(&done)),
        _ => {
            tracing::warn!(task = %describe(&done), "the move task failed; redriving message by message");
            let moved = earlier + moved_by(&done);
            manual_unless_task_runs(sqs, &dlq_arn, source_url, dlq_url, moved).await
        }
    }
}

fn moved_by(task: &ListMessageMoveTasksResultEntry) -> u64 {
    u64::try_from(task.approximate_number_of_messages_moved).unwrap_or(0)
}

/// Waits for the DLQ's move task (the active one, or the latest started after
/// `after`, epoch ms) to end and returns its final entry. Gives up (the task
/// keeps running) when it has moved nothing for [`TASK_STALL`].
async fn wait_for_task(
    sqs: &aws_sdk_sqs::Client,
    dlq_arn: &str,
    after: i64,
) -> Result<ListMessageMoveTasksResultEntry, DlqError> {
    let mut progress = (-1, tokio::time::Instant::now());
    let mut logged = tokio::time::Instant::now();
    loop {
        let latest = latest(&list_tasks(sqs, dlq_arn).await?, after).cloned();
        if let Some(task) = &latest {
            if !is_active(task) {
                return Ok(task.clone());
            }
            if task.approximate_number_of_messages_moved != progress.0 {
                progress = (
                    task.approximate_number_of_messages_moved,
                    tokio::time::Instant::now(),
                );
            }
            if logged.elapsed() >= TASK_PROGRESS_LOG {
                tracing::info!(task = %describe(task), "waiting for the move task");
                logged = tokio::time::Instant::now();
            }
        }
        if progress.1.elapsed() >= TASK_STALL {
            let Some(task) = latest else {
                return Err(failed(
                    "ListMessageMoveTasks",
                    format!(
                        "no move task listed for the DLQ after {} s",
                        TASK_STALL.as_secs()
                    ),
                ));
            };
            return Err(DlqError::Refused(format!(
                "the {} has moved nothing for {} s. It keeps running on its own; nothing is moved \
                 by hand beside it. Look with `aws sqs list-message-move-tasks --source-arn \
                 {dlq_arn}` (cancel with {}), then run `sqs-worker dlq redrive` again",
                describe(&task),
                TASK_STALL.as_secs(),
                cancel_hint(&task)
            )));
        }
        tokio::time::sleep(TASK_POLL).await;
    }
}

/// The manual move, unless a move task is running on the DLQ (then refused).
async fn manual_unless_task_runs(
    sqs: &aws_sdk_sqs::Client,
    dlq_arn: &str,
    source_url: &str,
    dlq_url: &str,
    already_moved: u64,
) -> Result<RedriveReport, DlqError> {
    if let Some(task) = active_task(&list_tasks(sqs, dlq_arn).await?) {
        return Err(DlqError::Refused(format!(
            "a {} is running on the DLQ: moving messages by hand beside it would move some \
             twice. Wait for it (`sqs-worker dlq redrive` without --manual waits for it), or \
             cancel it with {}, then run again",
            describe(task),
            cancel_hint(task)
        )));
    }
    let mut report = drain(sqs, dlq_url, source_url, |m| {
        Ok(Outgoing {
            body: m.body().unwrap_or_default().to_owned(),
            attributes: attributes_but(m, &DLQ_ATTRIBUTES),
            deduplication_id: None,
            to: None,
        })
    })
    .await?;
    report.moved += already_moved;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(status: &str) -> ListMessageMoveTasksResultEntry {
        ListMessageMoveTasksResultEntry::builder()
            .status(status)
            .approximate_number_of_messages_moved(3)
            .approximate_number_of_messages_to_move(10)
            .started_timestamp(1_795_000_000_000)
            .set_task_handle((status == "RUNNING").then(|| "handle-1".to_owned()))
            .build()
    }

    /// The decision `redrive` makes on a `ListMessageMoveTasks` answer before
    /// moving anything by hand.
    #[test]
    fn only_running_or_cancelling_tasks_block_a_manual_move() {
        assert!(active_task(&[]).is_none());
        for done in ["COMPLETED", "CANCELLED", "FAILED"] {
            assert!(active_task(&[task(done)]).is_none(), "{done}");
        }
        for active in ["RUNNING", "CANCELLING"] {
            let tasks = [task(active), task("COMPLETED")];
            assert_eq!(
                active_task(&tasks).and_then(|t| t.status.as_deref()),
                Some(active)
            );
        }
        let text = describe(&task("RUNNING"));
        assert!(
            text.contains("RUNNING") && text.contains("3 of 10"),
            "{text}"
        );
        assert!(cancel_hint(&task("RUNNING")).contains("--task-handle handle-1"));
    }

    /// After `StartMessageMoveTask`, an older task still listed first is never
    /// taken for ours.
    #[test]
    fn an_older_task_is_never_taken_for_the_one_just_started() {
        let at = |status: &str, started: i64| {
            ListMessageMoveTasksResultEntry::builder()
                .status(status)
                .started_timestamp(started)
                .build()
        };
        let old = [at("COMPLETED", 100), at("FAILED", 50)];
        assert_eq!(newest_start(&old), 100);
        assert!(latest(&old, 100).is_none(), "ours is not listed yet");
        assert_eq!(
            latest(&old, i64::MIN).map(|t| t.started_timestamp),
            Some(100)
        );
        let listed = [at("COMPLETED", 100), at("COMPLETED", 200)];
        assert_eq!(latest(&listed, 100).map(|t| t.started_timestamp), Some(200));
        let running = [at("COMPLETED", 300), at("RUNNING", 40)];
        assert_eq!(
            latest(&running, 100).and_then(|t| t.status.as_deref()),
            Some("RUNNING")
        );
        assert_eq!(newest_start(&[]), i64::MIN);
    }
}
