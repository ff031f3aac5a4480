//! The client's ledger: one JSON line per attempt, written as the answers
//! come, read back by the checker (which trusts nothing else the client knows).
//!
//! `{"pedidoId": "…", "status": 202 | "refused" | "reset" | "timeout",
//! "attempt": 1, "at": "2026-12-05T10:00:00.123Z", "problem": "not-accepted"}`
//! — `problem` (the slug of a problem answer's type) only where there is one.

use std::collections::BTreeMap;
use std::io::{BufRead, BufWriter, Write};
use std::path::Path;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use loadgen::answer::Answer;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// An HTTP status, or what happened instead of one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Status {
    /// The HTTP status.
    Code(u16),
    /// "refused", "reset" or "timeout".
    NoAnswer(String),
}

/// One attempt of one order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The order.
    #[serde(rename = "pedidoId")]
    pub pedido_id: Uuid,
    /// What it got.
    pub status: Status,
    /// 1 for the first POST of the order.
    pub attempt: u32,
    /// When the answer (or the failure) came.
    pub at: DateTime<Utc>,
    /// The problem type's slug of a problem answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl Entry {
    /// The entry of `answer`.
    pub fn new(pedido_id: Uuid, answer: &Answer, attempt: u32) -> Self {
        let (status, problem) = match answer {
            Answer::Status { code, problem, .. } => (Status::Code(*code), problem.clone()),
            other => (Status::NoAnswer(other.label()), None),
        };
        Self {
            pedido_id,
            status,
            attempt,
            at: Utc::now(),
            problem,
        }
    }

    /// The answer it records (without its Retry-After).
    pub fn answer(&self) -> Answer {
        match &self.status {
            Status::Code(code) => Answer::Status {
                code: *code,
                problem: self.problem.clone(),
                retry_after: None,
            },
            Status::NoAnswer(what) => match what.as_str() {
                "refused" => Answer::Refused,
                "timeout" => Answer::Timeout,
                _ => Answer::Reset,
            },
        }
    }
}

/// The ledger being written.
pub struct Ledger {
    out: Mutex<BufWriter<std::fs::File>>,
}

impl Ledger {
    /// Creates (or truncates) the file at `path`.
    pub fn create(path: &Path) -> std::io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        Ok(Self {
            out: Mutex::new(BufWriter::new(std::fs::File::create(path)?)),
        })
    }

    /// Appends one line.
    pub fn write(&self, entry: &Entry) {
        let mut out = self
            .out
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Ok(line) = serde_json::to_string(entry) {
            // A full disk loses lines; the checker then finds orders it cannot explain.
            let _ = writeln!(out, "{line}");
        }
    }

    /// Writes out what is buffered.
    pub fn flush(&self) -> std::io::Result<()> {
        self.out
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .flush()
    }
}

/// Every attempt of every order in the ledger at `path`, by order, in
/// attempt order.
pub fn read(path: &Path) -> std::io::Result<BTreeMap<Uuid, Vec<Entry>>> {
    let file = std::io::BufReader::new(std::fs::File::open(path)?);
    let mut orders: BTreeMap<Uuid, Vec<Entry>> = BTreeMap::new();
    for (n, line) in file.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let entry: Entry = serde_json::from_str(&line).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}:{}: {e}", path.display(), n + 1),
            )
        })?;
        orders.entry(entry.pedido_id).or_default().push(entry);
    }
    for attempts in orders.values_mut() {
        attempts.sort_by_key(|e| e.attempt);
    }
    Ok(orders)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_the_documented_shape_and_read_back() {
        let id = Uuid::new_v4();
        let dir = std::env::temp_dir().join(format!("soak-ledger-{}", Uuid::new_v4().simple()));
        let path = dir.join("ledger.jsonl");
        let ledger = Ledger::create(&path).expect("create");
        let unknown = Answer::Status {
            code: 503,
            problem: Some("outcome-unknown".into()),
            retry_after: None,
        };
        ledger.write(&Entry::new(id, &Answer::Refused, 2));
        ledger.write(&Entry::new(id, &unknown, 1));
        ledger.flush().expect("flush");
        let text = std::fs::read_to_string(&path).expect("read");
        let first: serde_json::Value =
            serde_json::from_str(text.lines().next().expect("line")).expect("json");
        assert_eq!(first["pedidoId"], id.to_string());
        assert_eq!(first["status"], "refused");
        assert_eq!(first["attempt"], 2);
        assert!(
            first["at"].as_str().is_some_and(|at| at.ends_with('Z')),
            "{first}"
        );
        assert!(first.get("problem").is_none());
        let second: serde_json::Value =
            serde_json::from_str(text.lines().nth(1).expect("line")).expect("json");
        assert_eq!(second["status"], 503);
        assert_eq!(second["problem"], "outcome-unknown");

        let orders = read(&path).expect("read back");
        let attempts = &orders[&id];
        assert_eq!(attempts.len(), 2);
        assert_eq!(attempts[0].answer(), unknown, "sorted by attempt");
        assert_eq!(attempts[1].answer(), Answer::Refused);
        let _ = std::fs::remove_dir_all(dir);
    }
}
