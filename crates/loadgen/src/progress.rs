//! A small progress bar on stderr (a line every few seconds when stderr is not a terminal).

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Shared progress counter.
#[derive(Debug, Clone)]
pub struct Progress(Option<Arc<Inner>>);

#[derive(Debug)]
struct Inner {
    label: &'static str,
    total: usize,
    done: AtomicUsize,
    ok: AtomicUsize,
    tty: bool,
    last: Mutex<Instant>,
}

impl Progress {
    /// A bar for `total` steps; does nothing when `enabled` is false.
    pub fn new(enabled: bool, label: &'static str, total: usize) -> Self {
        Self(enabled.then(|| {
            Arc::new(Inner {
                label,
                total,
                done: AtomicUsize::new(0),
                ok: AtomicUsize::new(0),
                tty: std::io::stderr().is_terminal(),
                last: Mutex::new(Instant::now()),
            })
        }))
    }

    /// One step done (`ok` counts the successful ones).
    pub fn tick(&self, ok: bool) {
        let Some(inner) = &self.0 else { return };
        let done = inner.done.fetch_add(1, Ordering::Relaxed) + 1;
        if ok {
            inner.ok.fetch_add(1, Ordering::Relaxed);
        }
        let every = if inner.tty {
            Duration::from_millis(100)
        } else {
            Duration::from_secs(2)
        };
        if let Ok(mut last) = inner.last.try_lock()
            && (last.elapsed() >= every || done == inner.total)
        {
            *last = Instant::now();
            inner.draw(done);
        }
    }

    /// Draws the final state.
    pub fn finish(&self) {
        if let Some(inner) = &self.0 {
            inner.draw(inner.done.load(Ordering::Relaxed));
            if inner.tty {
                eprintln!();
            }
        }
    }
}

impl Inner {
    fn draw(&self, done: usize) {
        let ok = self.ok.load(Ordering::Relaxed);
        let width = 30;
        let filled = (done * width)
            .checked_div(self.total)
            .unwrap_or(width)
            .min(width);
        let bar = format!("{}{}", "#".repeat(filled), "-".repeat(width - filled));
        let line = format!("{:>9} [{bar}] {done}/{} (ok {ok})", self.label, self.total);
        let mut err = std::io::stderr().lock();
        let _ = if self.tty {
            write!(err, "\r{line}")
        } else {
            writeln!(err, "{line}")
        };
        let _ = err.flush();
    }
}
