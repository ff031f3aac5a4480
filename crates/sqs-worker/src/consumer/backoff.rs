//! Exponential backoff with full jitter.

use std::time::Duration;

/// Delays that double from `base` up to `max`, with jitter.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// Delay of the first retry (before jitter).
    pub base: Duration,
    /// Cap of any delay.
    pub max: Duration,
}

impl Backoff {
    /// The exponential delay for `attempt` (1-based) without jitter: base·2^(attempt-1), capped.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(30);
        self.base.saturating_mul(1_u32 << exponent).min(self.max)
    }

    /// The delay for `attempt` with "equal jitter": uniformly in [ceiling/2, ceiling],
    /// so retries of many messages spread out but never collapse to zero.
    pub fn delay(&self, attempt: u32) -> Duration {
        let ceiling = self.ceiling(attempt);
        let half = ceiling / 2;
        half + ceiling.saturating_sub(half).mul_f64(fastrand::f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_and_caps() {
        let b = Backoff {
            base: Duration::from_secs(2),
            max: Duration::from_secs(60),
        };
        let ceilings: Vec<u64> = (1..=7).map(|a| b.ceiling(a).as_secs()).collect();
        assert_eq!(ceilings, [2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(
            b.ceiling(0).as_secs(),
            2,
            "attempt 0 is treated as the first"
        );
        assert_eq!(b.ceiling(u32::MAX).as_secs(), 60, "no overflow");
    }

    #[test]
    fn jitter_stays_within_half_and_full_ceiling() {
        let b = Backoff {
            base: Duration::from_secs(1),
            max: Duration::from_secs(100),
        };
        for attempt in 1..10 {
            for _ in 0..200 {
                let d = b.delay(attempt);
                let c = b.ceiling(attempt);
                assert!(d >= c / 2 && d <= c, "{d:?} outside [{:?}, {c:?}]", c / 2);
            }
        }
    }

    #[test]
    fn jitter_spreads_values() {
        let b = Backoff {
            base: Duration::from_secs(8),
            max: Duration::from_secs(8),
        };
        let distinct: std::collections::HashSet<u128> =
            (0..50).map(|_| b.delay(1).as_millis()).collect();
        assert!(
            distinct.len() > 10,
            "jitter should spread delays: {distinct:?}"
        );
    }
}
