//! The builds the bench measures side by side: this one (beside the bench
//! binary) and, with `--baseline DIR`, the previous one (`scripts/bench.sh`
//! builds it from a git worktree). What each build can run is read from its
//! binaries, so the bench works before and after a layout change: a build
//! whose `order-api` carries the outbox relay (its `RELAY_STALE_SECS`
//! setting, its `outbox_relay_published` metric) gets `order-api relay`
//! running beside its API in the end-to-end runs; an older one runs without.

use std::path::{Path, PathBuf};

use testkit::binary;

use crate::options::Options;

/// Names only an `order-api` with the outbox relay carries (either will do).
const RELAY_MARKERS: [&[u8]; 2] = [b"RELAY_STALE_SECS", b"outbox_relay_published"];

/// One build of the services.
#[derive(Debug, Clone, PartialEq)]
pub struct Build {
    /// How the report names it.
    pub label: String,
    /// Its `order-api`.
    pub order_api: PathBuf,
    /// Its `sqs-worker`.
    pub sqs_worker: PathBuf,
    /// Whether its `order-api` has the `relay` subcommand.
    pub relay: bool,
}

impl Build {
    fn at(label: &str, order_api: PathBuf, sqs_worker: PathBuf) -> Self {
        let relay = contains_any(&order_api, &RELAY_MARKERS);
        Self {
            label: label.to_owned(),
            order_api,
            sqs_worker,
            relay,
        }
    }

    /// "label (relay)" or "label".
    pub fn describe(&self) -> String {
        if self.relay {
            format!("{} (with relay)", self.label)
        } else {
            self.label.clone()
        }
    }
}

/// The builds to measure: the previous one first (when `--baseline`), then this one.
pub fn builds(o: &Options) -> Vec<Build> {
    let mut builds = Vec::new();
    if let Some(dir) = &o.baseline {
        let (api, worker) = (dir.join("order-api"), dir.join("sqs-worker"));
        for b in [&api, &worker] {
            assert!(b.is_file(), "--baseline: {} is not a file", b.display());
        }
        builds.push(Build::at(&o.baseline_label, api, worker));
    }
    builds.push(Build::at(
        &o.label,
        binary("order-api"),
        binary("sqs-worker"),
    ));
    builds
}

/// Whether the file at `path` contains any of `needles`.
fn contains_any(path: &Path, needles: &[&[u8]]) -> bool {
    std::fs::read(path).is_ok_and(|bytes| {
        needles
            .iter()
            .any(|n| bytes.windows(n.len()).any(|w| w == *n))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_is_found_in_a_file() {
        let path = std::env::temp_dir().join(format!("bench-builds-{}", std::process::id()));
        std::fs::write(&path, b"\0\x01 outbox_relay_published\0").expect("written");
        assert!(contains_any(&path, &RELAY_MARKERS));
        std::fs::write(&path, b"..RELAY_STALE_SECS..").expect("written");
        assert!(contains_any(&path, &RELAY_MARKERS));
        std::fs::write(&path, b"order_api_requests_total").expect("written");
        assert!(!contains_any(&path, &RELAY_MARKERS));
        assert!(!contains_any(
            Path::new("/nonexistent/order-api"),
            &RELAY_MARKERS
        ));
        let _ = std::fs::remove_file(path);
    }
}
