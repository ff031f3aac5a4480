//! DLQ tooling (`sqs-worker dlq ...`) for the two dead-letter queues of a role:
//!
//! - the queue's DLQ (`SQS_DLQ_URL`): what the worker dead-lettered with a
//!   reason, or what the queue's redrive policy moved after too many receives;
//!   `redrive` returns it with an SQS message move task, or message by message;
//! - the SNS subscription DLQ (`SQS_SUBSCRIPTION_DLQ_URL`, `--subscription`):
//!   what SNS could not deliver to the queue (queue policy, key, deleted
//!   queue). Move tasks only take messages that came from an SQS queue, so
//!   `redrive --subscription` delivers each event to the queue itself, as the
//!   subscription would have.
//!
//! This file holds the command line, the settings, the errors and what a
//! redrive reports, and runs a command ([`run`]). The work is done in:
//!
//! - `messages`: receiving, releasing and reading DLQ messages (shared);
//! - `peek`: listing the queue's DLQ without consuming it;
//! - `move_task`: `redrive` of the queue's DLQ with a message move task, and
//!   the rule never to move by hand beside a running one;
//! - `manual`: the message-by-message move (send, then delete);
//! - `subscription`: the SNS subscription DLQ (both shapes, peek, redrive).

mod manual;
mod messages;
mod move_task;
mod peek;
mod subscription;

use aws_smithy_types::error::display::DisplayErrorContext;
use serde::Serialize;
use shared::aws::AwsSettings;
use shared::config::{ConfigError, ConfigReader, EnvSource, parse_http_url};

pub use manual::Outgoing;
pub use move_task::{active_task, is_active, redrive};
pub use peek::{PeekedMessage, peek};
pub use subscription::{
    Delivery, FAILURE_ATTRIBUTES, Shape, UndeliveredEvent, peek_subscription, recover,
    redrive_subscription,
};

/// A DLQ failure.
#[derive(Debug, thiserror::Error)]
pub enum DlqError {
    /// An SQS call failed, or answered something unusable.
    #[error("{operation} failed: {message}")]
    Aws {
        /// The SQS operation.
        operation: &'static str,
        /// What went wrong.
        message: String,
    },
    /// Not done on purpose: doing it could move messages twice.
    #[error("refused: {0}")]
    Refused(String),
}

pub(super) fn failed(operation: &'static str, message: impl Into<String>) -> DlqError {
    DlqError::Aws {
        operation,
        message: message.into(),
    }
}

pub(super) fn sdk_error<E: std::error::Error + 'static, R: std::fmt::Debug>(
    operation: &'static str,
) -> impl Fn(aws_sdk_sqs::error::SdkError<E, R>) -> DlqError {
    move |e| failed(operation, DisplayErrorContext(&e).to_string())
}

// ---------------------------------------------------------------------------
// Command line and settings
// ---------------------------------------------------------------------------

/// Which dead-letter queue of the role a command works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The queue's DLQ (`SQS_DLQ_URL`).
    Queue,
    /// The SNS subscription DLQ (`SQS_SUBSCRIPTION_DLQ_URL`, `--subscription`).
    Subscription,
}

/// How `redrive` moves the queue DLQ's messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RedriveOptions {
    /// Message by message (`--manual`) instead of with an SQS move task.
    pub manual: bool,
    /// Messages per second of the move task (`--rate N`, 1-500; SQS's own pace when unset).
    pub rate: Option<i32>,
}

/// A `sqs-worker dlq ...` command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// `peek [--max N] [--subscription]`.
    Peek {
        /// Which DLQ.
        target: Target,
        /// At most this many messages (default 100).
        max: usize,
    },
    /// `redrive [--manual] [--rate N]` or `redrive --subscription`.
    Redrive {
        /// Which DLQ.
        target: Target,
        /// Queue DLQ only.
        options: RedriveOptions,
    },
}

fn flag_value<T: std::str::FromStr + PartialOrd + std::fmt::Display>(
    flag: &str,
    value: Option<&&str>,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, String> {
    value
        .and_then(|v| v.parse::<T>().ok())
        .filter(|v| range.contains(v))
        .ok_or_else(|| {
            format!(
                "{flag} needs a whole number from {} to {}",
                range.start(),
                range.end()
            )
        })
}

impl Command {
    /// Parses the words after `dlq`.
    pub fn parse(args: &[&str]) -> Result<Self, String> {
        let Some((verb, flags)) = args.split_first() else {
            return Err("which dlq command: peek or redrive?".into());
        };
        let (mut target, mut max, mut manual, mut rate) = (Target::Queue, None, false, None);
        let mut words = flags.iter();
        while let Some(flag) = words.next() {
            match *flag {
                "--subscription" => target = Target::Subscription,
                "--manual" => manual = true,
                "--max" => max = Some(flag_value("--max", words.next(), 1..=10_000)?),
                "--rate" => rate = Some(flag_value("--rate", words.next(), 1..=500)?),
                other => return Err(format!("unknown dlq option {other:?}")),
            }
        }
        let subscription = target == Target::Subscription;
        match *verb {
            "peek" if manual || rate.is_some() => {
                Err("--manual and --rate are options of redrive".into())
            }
            "peek" => Ok(Self::Peek {
                target,
                max: max.unwrap_or(100),
            }),
            "redrive" if max.is_some() => Err("--max is an option of peek".into()),
            "redrive" if manual && rate.is_some() => {
                Err("--rate paces the move task; --manual sends message by message".into())
            }
            "redrive" if subscription && (manual || rate.is_some()) => Err(
                "redrive --subscription always sends message by message: --manual and --rate do not apply"
                    .into(),
            ),
            "redrive" => Ok(Self::Redrive {
                target,
                options: RedriveOptions { manual, rate },
            }),
            other => Err(format!("unknown dlq command {other:?}")),
        }
    }

    /// The DLQ the command works on.
    pub fn target(&self) -> Target {
        match self {
            Self::Peek { target, .. } | Self::Redrive { target, .. } => *target,
        }
    }
}

/// What the DLQ tools read from the environment (not the worker's settings:
/// no table, no role).
#[derive(Debug, Clone)]
pub struct DlqSettings {
    /// The role's queue, where redriven messages go (`SQS_QUEUE_URL`).
    pub queue_url: String,
    /// The DLQ worked on: `SQS_DLQ_URL`, or `SQS_SUBSCRIPTION_DLQ_URL` for `--subscription`.
    pub dlq_url: String,
    /// `--subscription`: the role's express queue (`SQS_EXPRESS_QUEUE_URL`),
    /// where its EXPRESS events go back to (the subscription DLQ is shared by
    /// both lanes).
    pub express_queue_url: Option<String>,
    /// SDK settings (`AWS_REGION`, default `us-east-1`).
    pub aws: AwsSettings,
}

impl DlqSettings {
    /// Reads and checks the variables `target` needs, naming every one missing or invalid.
    pub fn from_env(env: &EnvSource, target: Target) -> Result<Self, ConfigError> {
        let mut r = ConfigReader::new(env);
        let queue_url = r.required(
            "SQS_QUEUE_URL",
            "the URL of the role's queue (where redriven messages go)",
            parse_http_url,
        );
        let (name, what) = match target {
            Target::Queue => ("SQS_DLQ_URL", "the URL of that queue's dead-letter queue"),
            Target::Subscription => (
                "SQS_SUBSCRIPTION_DLQ_URL",
                "the URL of the role's SNS subscription dead-letter queue, \
                 <prefix>-<role>-delivery-dlq (Terraform outputs delivery_dlq_urls, dlq_tool_env)",
            ),
        };
        let dlq_url = r.required(name, what, parse_http_url);
        let express_queue_url = match target {
            Target::Subscription => r.optional("SQS_EXPRESS_QUEUE_URL", parse_http_url),
            Target::Queue => None,
        };
        if express_queue_url
            .as_ref()
            .is_some_and(|e| *e == queue_url || *e == dlq_url)
        {
            r.problem("SQS_EXPRESS_QUEUE_URL must differ from SQS_QUEUE_URL and the DLQ");
        }
        if !queue_url.is_empty() && queue_url == dlq_url {
            r.problem(format!("{name} must differ from SQS_QUEUE_URL"));
        }
        if !dlq_url.is_empty() && queue_url.ends_with(".fifo") != dlq_url.ends_with(".fifo") {
            r.problem(format!(
                "SQS_QUEUE_URL and {name} must both be FIFO (.fifo) or both standard"
            ));
        }
        let mut aws = AwsSettings::new(r.or_default("AWS_REGION", String::from("us-east-1")));
        aws.read_call_record_dir(&mut r);
        r.finish()?;
        Ok(Self {
            queue_url,
            dlq_url,
            express_queue_url,
            aws,
        })
    }
}

/// Runs `command` and returns what to print.
pub async fn run(
    sqs: &aws_sdk_sqs::Client,
    settings: &DlqSettings,
    command: Command,
) -> Result<String, DlqError> {
    let (queue, dlq) = (settings.queue_url.as_str(), settings.dlq_url.as_str());
    match command {
        Command::Peek {
            target: Target::Queue,
            max,
        } => Ok(listing(&peek(sqs, dlq, max).await?, "in the DLQ")),
        Command::Peek {
            target: Target::Subscription,
            max,
        } => Ok(listing(
            &peek_subscription(sqs, dlq, max).await?,
            "in the subscription DLQ",
        )),
        Command::Redrive {
            target: Target::Queue,
            options,
        } => {
            let report = redrive(sqs, queue, dlq, options).await?;
            let text = format!(
                "moved {} message(s) back to the queue ({})",
                report.moved, report.method
            );
            Ok(with_left(text, &report, "the DLQ"))
        }
        Command::Redrive {
            target: Target::Subscription,
            ..
        } => {
            let express = settings.express_queue_url.as_deref();
            let report = redrive_subscription(sqs, queue, express, dlq).await?;
            let text = format!(
                "delivered {} event(s) from the subscription DLQ to the queue ({})",
                report.moved, report.method
            );
            Ok(with_left(text, &report, "the subscription DLQ"))
        }
    }
}

/// `text`, then a line for each message the redrive left in `place`.
fn with_left(mut text: String, report: &RedriveReport, place: &str) -> String {
    for left in &report.left {
        text.push_str(&format!(
            "\nleft in {place}: {} ({})",
            left.message_id, left.why
        ));
    }
    text
}

fn listing<T: Serialize>(messages: &[T], place: &str) -> String {
    let mut lines: Vec<String> = messages
        .iter()
        .filter_map(|m| serde_json::to_string(m).ok())
        .collect();
    lines.push(format!(
        "{} message(s) {place} (none consumed)",
        messages.len()
    ));
    lines.join("\n")
}

// ---------------------------------------------------------------------------
// What a redrive reports
// ---------------------------------------------------------------------------

/// How a redrive was done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RedriveReport {
    /// `StartMessageMoveTask` or `receive/send/delete`.
    pub method: &'static str,
    /// Messages moved (approximate for a move task).
    pub moved: u64,
    /// Messages left in the DLQ: they could not be sent as they are, or came
    /// back during the run.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub left: Vec<LeftMessage>,
}

/// A message `redrive` left where it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LeftMessage {
    /// Its id in the DLQ.
    pub message_id: String,
    /// Why.
    pub why: String,
}

#[cfg(test)]
mod tests;
