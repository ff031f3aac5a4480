//! The four real processes (from the built binaries), each on a fixed port
//! so a restart keeps its address, with the short timings of a soak; and a
//! supervisor that starts again, as ECS would, a process that exited when
//! no fault stopped it (each such exit is reported).

use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use testkit::process::{Proc, api_env, http_ok, worker_env};
use testkit::{Pipeline, Stack, free_port};

use crate::schedule::Process;

/// The workers' progress watchdog (`PROGRESS_WATCHDOG_SECS`), also the
/// checker's threshold.
pub const WATCHDOG_SECS: u64 = 15;
/// How long a SIGTERMed process may take to exit before it is SIGKILLed
/// (order-api: its request timeout; the workers: grace + 3 s, with margin).
pub const EXIT_LIMIT: Duration = Duration::from_secs(12);

/// The settings every soak process gets besides its own: a configuration
/// fault may last longer than any fault of the plan (29 s) plus the
/// workers' probe of refused deletes (every 5 s) before a process gives up.
const COMMON: [(&str, &str); 1] = [("CONFIG_FAULT_LIMIT_SECS", "45")];

/// The short timings of a worker in the soak.
const WORKER: [(&str, &str); 7] = [
    ("SQS_WAIT_TIME_SECS", "2"),
    ("SQS_VISIBILITY_TIMEOUT_SECS", "10"),
    ("SHUTDOWN_GRACE_SECS", "5"),
    ("RETRY_BASE_SECS", "1"),
    // Failed messages come back within 8 s: longer backoffs would look like
    // a stall with work pending to the watchdog check.
    ("RETRY_MAX_SECS", "8"),
    ("STORE_CHECK_SECS", "5"),
    ("PROGRESS_WATCHDOG_SECS", "15"),
];

/// The relay's: it publishes what is still stored 3 s after it was
/// recorded, looks every second, sweeps 30 s behind.
const RELAY: [(&str, &str); 4] = [
    ("RELAY_STALE_SECS", "3"),
    ("RELAY_POLL_SECS", "1"),
    ("RELAY_SWEEP_LAG_SECS", "30"),
    ("SHUTDOWN_GRACE_SECS", "5"),
];

/// Where each process reaches AWS: the proxies' URLs.
pub struct Endpoints {
    /// DynamoDB, for all four.
    pub dynamodb: String,
    /// SNS, for the API and the relay.
    pub sns: String,
    /// SQS, for the workers.
    pub sqs: String,
}

/// How to start one process.
struct Spec {
    program: PathBuf,
    args: Vec<&'static str>,
    env: Vec<(String, String)>,
}

/// One process, started again after each fault.
pub struct Managed {
    /// Which one.
    pub process: Process,
    /// Its health and metrics base URL (`http://127.0.0.1:<port>`).
    pub base: String,
    spec: Spec,
    logs: PathBuf,
    slot: Mutex<Slot>,
}

#[derive(Default)]
struct Slot {
    proc: Option<Proc>,
    /// Starts so far (1 for the first).
    incarnation: u32,
    /// Stopped by a fault: not to be started again by the supervisor.
    held: bool,
}

/// How a SIGTERM went.
#[derive(Debug)]
pub enum Termination {
    /// It exited with this status after this long.
    Exited(ExitStatus, Duration),
    /// It was still running after [`EXIT_LIMIT`], and was SIGKILLed.
    Killed,
    /// It was not running.
    NotRunning,
}

impl Managed {
    fn slot(&self) -> MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts it (again), its output in `<logs>/<name>-<incarnation>.log`.
    pub fn start(&self) {
        let mut slot = self.slot();
        slot.incarnation += 1;
        let log = self
            .logs
            .join(format!("{}-{}.log", self.process.name(), slot.incarnation));
        slot.proc = Some(Proc::spawn_logged(
            &self.spec.program,
            &self.spec.args,
            self.spec.env.clone(),
            self.process.name(),
            log,
        ));
        slot.held = false;
    }

    /// Whether it runs, and its incarnation.
    pub fn state(&self) -> (bool, u32) {
        let mut slot = self.slot();
        let running = slot.proc.as_mut().is_some_and(Proc::is_running);
        (running, slot.incarnation)
    }

    /// The exit status once it exited, `None` while it runs (or never ran).
    fn exit_status(&self) -> Option<ExitStatus> {
        self.slot()
            .proc
            .as_mut()
            .and_then(|p| p.child.try_wait().ok().flatten())
    }

    /// Sends `signal` and holds it down (the supervisor leaves it alone);
    /// false when it was not running.
    fn signal_and_hold(&self, signal: &str) -> bool {
        let mut slot = self.slot();
        slot.held = true;
        let running = slot.proc.as_mut().is_some_and(Proc::is_running);
        running && slot.proc.as_ref().is_some_and(|p| p.try_signal(signal))
    }

    /// Waits up to `limit` for it to exit.
    async fn exit_within(&self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.exit_status() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL; it stays down until [`Managed::start`].
    pub async fn kill(&self) -> Option<ExitStatus> {
        if !self.signal_and_hold("KILL") {
            return None;
        }
        self.exit_within(Duration::from_secs(5)).await
    }

    /// SIGTERM, then SIGKILL after [`EXIT_LIMIT`]; it stays down until
    /// [`Managed::start`].
    pub async fn terminate(&self) -> Termination {
        let sent = Instant::now();
        if !self.signal_and_hold("TERM") {
            return Termination::NotRunning;
        }
        match self.exit_within(EXIT_LIMIT).await {
            Some(status) => Termination::Exited(status, sent.elapsed()),
            None => {
                self.signal_and_hold("KILL");
                let _ = self.exit_within(Duration::from_secs(5)).await;
                Termination::Killed
            }
        }
    }

    /// Starts it again if it exited while no fault held it down: the exit,
    /// for the report.
    pub fn revive(&self) -> Option<String> {
        let status = {
            let slot = self.slot();
            if slot.held || slot.proc.is_none() {
                return None;
            }
            drop(slot);
            self.exit_status()?
        };
        let incarnation = self.state().1;
        self.start();
        Some(format!(
            "{} (start {incarnation}) exited by itself ({status}); started again",
            self.process.name()
        ))
    }

    /// Whether it answers `path` (e.g. `/health/ready`) with 2xx.
    pub async fn answers(&self, path: &str) -> bool {
        http_ok(&format!("{}{path}", self.base)).await
    }
}

/// The four processes.
pub struct Fleet {
    /// In [`Process::ALL`] order.
    pub members: Vec<Managed>,
}

impl Fleet {
    /// Prepares (does not start) the four processes on `st`'s table and
    /// `pipeline`, through `endpoints`, with the binaries in `bin_dir` (else
    /// beside this one), their logs in `logs`.
    pub fn new(
        st: &Stack,
        pipeline: &Pipeline,
        endpoints: &Endpoints,
        bin_dir: Option<&Path>,
        logs: &Path,
    ) -> Self {
        let binary = |name: &str| match bin_dir {
            Some(dir) => dir.join(name),
            None => testkit::binary(name),
        };
        let table = st.table.name();
        let members = Process::ALL
            .into_iter()
            .map(|process| {
                let port = free_port();
                let (mut env, program, args) = match process.role() {
                    None => {
                        let mut env = api_env(table, &pipeline.topic, port);
                        env.push(("AWS_ENDPOINT_URL_SNS", endpoints.sns.clone()));
                        let args = if process == Process::Relay {
                            env.extend(RELAY.map(|(k, v)| (k, v.to_owned())));
                            vec!["relay"]
                        } else {
                            env.push(("READINESS_CACHE_SECS", "1".to_owned()));
                            vec![]
                        };
                        (env, binary("order-api"), args)
                    }
                    Some(role) => {
                        let queue = if process == Process::Procesamiento {
                            &pipeline.procesamiento
                        } else {
                            &pipeline.logistica
                        };
                        let mut env = worker_env(table, role, queue, port);
                        env.push(("AWS_ENDPOINT_URL_SQS", endpoints.sqs.clone()));
                        env.extend(WORKER.map(|(k, v)| (k, v.to_owned())));
                        (env, binary("sqs-worker"), vec![])
                    }
                };
                env.push(("AWS_ENDPOINT_URL_DYNAMODB", endpoints.dynamodb.clone()));
                env.extend(COMMON.map(|(k, v)| (k, v.to_owned())));
                Managed {
                    process,
                    base: format!("http://127.0.0.1:{port}"),
                    spec: Spec {
                        program,
                        args,
                        env: st.child_env(&env),
                    },
                    logs: logs.to_path_buf(),
                    slot: Mutex::new(Slot::default()),
                }
            })
            .collect();
        Self { members }
    }

    /// The member running `process`.
    pub fn get(&self, process: Process) -> &Managed {
        &self.members[Process::ALL
            .iter()
            .position(|p| *p == process)
            .unwrap_or_default()]
    }

    /// Starts all four and waits (at most `limit`) until the API and the
    /// workers are ready and the relay is live; the ones that were not, by name.
    pub async fn start(&self, limit: Duration) -> Result<(), String> {
        for m in &self.members {
            m.start();
        }
        let deadline = Instant::now() + limit;
        loop {
            let mut waiting = Vec::new();
            for m in &self.members {
                let path = if m.process == Process::Relay {
                    "/health/live"
                } else {
                    "/health/ready"
                };
                if !m.answers(path).await {
                    waiting.push(m.process.name());
                }
            }
            if waiting.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "not up within {limit:?}: {} (logs in {})",
                    waiting.join(", "),
                    self.members[0].logs.display()
                ));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Every half second, starts again a process that exited while no fault
    /// held it down; returns the exits seen when `stop` fires.
    pub async fn supervise(&self, mut stop: tokio::sync::watch::Receiver<bool>) -> Vec<String> {
        let mut exits = Vec::new();
        while !*stop.borrow() {
            for m in &self.members {
                if let Some(exit) = m.revive() {
                    eprintln!("soak: {exit}");
                    exits.push(exit);
                }
            }
            let _ = tokio::time::timeout(Duration::from_millis(500), stop.changed()).await;
        }
        exits
    }

    /// SIGTERM to all four at once; how each went.
    pub async fn stop(&self) -> Vec<(Process, Termination)> {
        let endings = futures::future::join_all(self.members.iter().map(Managed::terminate)).await;
        Process::ALL.into_iter().zip(endings).collect()
    }
}
