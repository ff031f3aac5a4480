//! The soak's settings, read from the environment (`make soak` passes them
//! through): every invalid value is reported at once, by name.

use std::path::{Path, PathBuf};
use std::time::Duration;

use shared::config::{ConfigError, ConfigReader, EnvSource};

/// What `soak --help` prints.
pub const USAGE: &str = "usage: soak   (settings from the environment; `make soak` runs it)

  SOAK_SECONDS      how long orders are posted and faults injected (default 600; 60-86400)
  SOAK_RATE         new orders per second (default 20; above 0, at most 500)
  SOAK_SEED         seed of the fault plan (default: random, printed); the same seed and
                    SOAK_SECONDS replay the same plan
  SOAK_LEDGER       the client's ledger, one JSON line per answer (default
                    .local/soak/<run>/ledger.jsonl; the processes' logs go beside it)
  SOAK_SETTLE_SECS  longest wait for the system to settle before the checks (default 120; 10-1800)
  SOAK_BIN_DIR      where order-api and sqs-worker are (default: beside this binary)
  SOAK_SABOTAGE     break the run on purpose to see the checker fail, a comma-separated
                    list of: delete-order (an accepted order's item deleted before the
                    checks), apply-twice (an order's logistica counter raised by one),
                    stray-dlq (a valid event sent to a DLQ), deny-deletes (the workers'
                    deletes denied for 45 s from the start of the quiet tail: a stall with
                    work pending, which the worker must report as not ready)

`soak --plan` prints the fault plan of SOAK_SEED and SOAK_SECONDS and exits.
Needs the local stack's environment (`set -a; . .local/stack.env; set +a`).
Exit status: 0 every check passed, 1 a check failed, 2 invalid settings or no stack.";

/// A deliberate break of the run, to prove the checker can fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sabotage {
    /// Delete one accepted order's item before the checks.
    DeleteOrder,
    /// Raise one order's logistica application counter to 2.
    ApplyTwice,
    /// Send a valid event (not poison) to the procesamiento DLQ.
    StrayDlq,
    /// Deny the workers' deletes for [`Sabotage::DENY_SECS`] from the start
    /// of the quiet tail.
    DenyDeletes,
    /// An order the API refused for certain (a 422 in the ledger) whose
    /// item is in the table anyway, and an order answered 500 then 202.
    RecordRefused,
    /// A message left in the procesamiento queue after the processes stopped.
    LeaveMessage,
}

impl Sabotage {
    /// How long `deny-deletes` lasts: past the watchdog threshold + slack.
    pub const DENY_SECS: u64 = 45;

    /// A comma-separated list of sabotages.
    fn parse_list(raw: &str) -> Result<Vec<Self>, String> {
        raw.split(',')
            .map(|name| match name.trim() {
                "delete-order" => Ok(Self::DeleteOrder),
                "apply-twice" => Ok(Self::ApplyTwice),
                "stray-dlq" => Ok(Self::StrayDlq),
                "deny-deletes" => Ok(Self::DenyDeletes),
                "record-refused" => Ok(Self::RecordRefused),
                "leave-message" => Ok(Self::LeaveMessage),
                other => Err(format!(
                    "{other:?} is not one of delete-order, apply-twice, stray-dlq, deny-deletes, record-refused, leave-message"
                )),
            })
            .collect()
    }
}

/// The soak's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// How long orders are posted and faults injected (`SOAK_SECONDS`).
    pub seconds: u64,
    /// New orders per second (`SOAK_RATE`).
    pub rate: f64,
    /// The fault plan's seed (`SOAK_SEED`).
    pub seed: u64,
    /// Whether the seed was given (else drawn at random).
    pub seed_given: bool,
    /// The ledger's path (`SOAK_LEDGER`).
    pub ledger: PathBuf,
    /// Where the processes' logs go.
    pub run_dir: PathBuf,
    /// Longest wait for the system to settle (`SOAK_SETTLE_SECS`).
    pub settle: Duration,
    /// Where the services' binaries are (`SOAK_BIN_DIR`), else beside this one.
    pub bin_dir: Option<PathBuf>,
    /// Deliberate breaks (`SOAK_SABOTAGE`).
    pub sabotage: Vec<Sabotage>,
}

impl Options {
    /// Reads the settings; `soak_root` is where runs keep their files by
    /// default (`.local/soak`), `run` names this run.
    pub fn from_env(env: &EnvSource, soak_root: &Path, run: &str) -> Result<Self, ConfigError> {
        let mut r = ConfigReader::new(env);
        let seconds = r.number_in("SOAK_SECONDS", 600_u64, 60..=86_400);
        let rate = r
            .optional("SOAK_RATE", |raw| match raw.parse::<f64>() {
                Ok(rate) if rate > 0.0 && rate <= 500.0 => Ok(rate),
                _ => Err("must be a number of orders per second above 0, at most 500".into()),
            })
            .unwrap_or(20.0);
        let seed = r.optional("SOAK_SEED", |raw| {
            raw.parse::<u64>()
                .map_err(|_| "must be a whole number from 0 to 18446744073709551615".to_owned())
        });
        let settle = r.seconds("SOAK_SETTLE_SECS", Duration::from_secs(120), 10..=1800);
        let bin_dir = r.optional("SOAK_BIN_DIR", |raw| {
            let dir = PathBuf::from(raw);
            if dir.join("order-api").is_file() && dir.join("sqs-worker").is_file() {
                Ok(dir)
            } else {
                Err("must be a directory holding order-api and sqs-worker".into())
            }
        });
        let sabotage = r
            .optional("SOAK_SABOTAGE", Sabotage::parse_list)
            .unwrap_or_default();
        let run_dir = soak_root.join(run);
        let ledger = r
            .optional("SOAK_LEDGER", |raw| Ok(PathBuf::from(raw)))
            .unwrap_or_else(|| run_dir.join("ledger.jsonl"));
        r.finish()?;
        Ok(Self {
            seconds,
            rate,
            seed: seed.unwrap_or_else(|| fastrand::u64(..)),
            seed_given: seed.is_some(),
            ledger,
            run_dir,
            settle,
            bin_dir,
            sabotage,
        })
    }

    /// Orders the client posts in all (besides the bursts).
    pub fn orders(&self) -> u64 {
        (self.rate * self.seconds as f64).round() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<Options, ConfigError> {
        Options::from_env(
            &EnvSource::from_pairs(pairs.iter().copied()),
            Path::new("/tmp/soak"),
            "run-1",
        )
    }

    #[test]
    fn defaults() {
        let o = read(&[]).expect("valid");
        assert_eq!(o.seconds, 600);
        assert_eq!(o.rate, 20.0);
        assert!(!o.seed_given);
        assert_eq!(o.ledger, Path::new("/tmp/soak/run-1/ledger.jsonl"));
        assert_eq!(o.run_dir, Path::new("/tmp/soak/run-1"));
        assert_eq!(o.settle, Duration::from_secs(120));
        assert!(o.sabotage.is_empty());
        assert_eq!(o.orders(), 12_000);
    }

    #[test]
    fn given_values() {
        let o = read(&[
            ("SOAK_SECONDS", "150"),
            ("SOAK_RATE", "2.5"),
            ("SOAK_SEED", "42"),
            ("SOAK_LEDGER", "/tmp/l.jsonl"),
            ("SOAK_SABOTAGE", "delete-order, deny-deletes"),
        ])
        .expect("valid");
        assert_eq!(
            (o.seconds, o.rate, o.seed, o.seed_given),
            (150, 2.5, 42, true)
        );
        assert_eq!(o.ledger, Path::new("/tmp/l.jsonl"));
        assert_eq!(o.sabotage, [Sabotage::DeleteOrder, Sabotage::DenyDeletes]);
        assert_eq!(o.orders(), 375);
    }

    #[test]
    fn every_problem_is_named_at_once() {
        let err = read(&[
            ("SOAK_SECONDS", "10"),
            ("SOAK_RATE", "fast"),
            ("SOAK_SEED", "-1"),
            ("SOAK_SETTLE_SECS", "x"),
            ("SOAK_BIN_DIR", "/nonexistent"),
            ("SOAK_SABOTAGE", "delete-order,everything"),
        ])
        .expect_err("invalid");
        assert_eq!(err.problems.len(), 6, "{err}");
        let text = err.to_string();
        for name in [
            "SOAK_SECONDS",
            "SOAK_RATE",
            "SOAK_SEED",
            "SOAK_SETTLE_SECS",
            "SOAK_BIN_DIR",
            "SOAK_SABOTAGE",
        ] {
            assert!(text.contains(name), "{name} in {text}");
        }
        assert!(read(&[("SOAK_RATE", "0")]).is_err());
        assert!(read(&[("SOAK_RATE", "501")]).is_err());
    }
}
