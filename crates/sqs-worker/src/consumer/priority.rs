//! The priority gate between a worker's two lanes: the express queue is
//! drained first, and the standard queue is never starved.
//!
//! SQS has no priorities: the documented answer is a queue per priority,
//! consumed highest first. The worker runs one consumer per lane over one
//! pool of concurrency slots; this gate decides when the standard lane may
//! start a receive:
//! - while the express queue looks busy (its last receive came back with a
//!   full batch of ten), the standard lane gets one receive after every
//!   `K - 1` express receives (`STANDARD_LANE_EVERY` = K), so a flood of
//!   express orders cannot hold standard ones back forever;
//! - otherwise (the last express receive came back short, empty, or
//!   failed) the standard lane receives freely.
//!
//! A short express receive is the signal, not an empty one: an empty long
//! poll only returns after its whole wait (20 s), and holding the standard
//! lane that long after the express queue drained would waste the slots.
//!
//! The express lane itself receives in two modes, so that it never holds
//! slots it does not use: idle (its last receive came back empty), one
//! message per long poll, which holds one slot for the whole wait; flowing
//! (its last receive brought messages), a batch of ten with a wait of at
//! most [`EXPRESS_FLOWING_WAIT`], so a burst that ends leaves no batch of
//! slots waiting 20 s on an empty queue. A failed receive changes neither
//! (a FIFO receive's retry must ask for as many messages as the lost one).
//!
//! Express receives only start with free slots, and the gate holds no slot,
//! so a gated standard lane never blocks the express lane: it waits for the
//! next express receive (or an express queue that empties), not for itself.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// Which lane a consumer serves.
#[derive(Debug, Clone)]
pub enum Lane {
    /// The worker's only queue (no express lane configured).
    Only,
    /// The express queue, drained first.
    Express(Arc<PriorityGate>),
    /// The standard queue beside an express one: receives when the gate lets it.
    Standard(Arc<PriorityGate>),
}

impl Lane {
    /// The lane's name in logs and metrics (`express` or `standard`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Express(_) => "express",
            Self::Only | Self::Standard(_) => "standard",
        }
    }

    /// How many slots this lane's next receive waits for, of a full `batch`:
    /// one while the express queue is idle (its long poll would otherwise
    /// hold a whole batch of slots for its wait, 20 s, away from the
    /// standard lane), the full batch while express messages flow.
    pub fn batch(&self, batch: usize) -> usize {
        match self {
            Self::Express(gate) if !gate.express_flowing() => 1,
            Self::Only | Self::Express(_) | Self::Standard(_) => batch,
        }
    }

    /// The long-poll wait of this lane's next receive, of `wait`: at most
    /// [`EXPRESS_FLOWING_WAIT`] while express messages flow (its batch of
    /// slots must not wait 20 s on a queue that just emptied).
    pub fn receive_wait(&self, wait: Duration) -> Duration {
        match self {
            Self::Express(gate) if gate.express_flowing() => wait.min(EXPRESS_FLOWING_WAIT),
            Self::Only | Self::Express(_) | Self::Standard(_) => wait,
        }
    }

    /// Until when this lane must wait before its next receive (unless the
    /// gate changes first), or `None` when it may receive now: only a
    /// standard lane beside an express one is ever held.
    pub fn held_until(&self) -> Option<Instant> {
        match self {
            Self::Standard(gate) => gate.standard_held_until(),
            Self::Only | Self::Express(_) => None,
        }
    }
}

/// How long a full express receive holds the standard lane back without
/// another one. A busy express queue answers each receive at once, so its
/// receives follow each other as fast as slots free up; when none has come
/// back full for this long, the express lane is waiting (a long poll on a
/// queue that just emptied, or slots held by slow work) and the standard
/// lane must not wait with it. Without it, an express backlog that ends on a
/// full receive would hold the standard lane for a whole long poll (20 s).
pub const EXPRESS_BUSY_HOLD: Duration = Duration::from_secs(1);

/// Longest wait of an express receive for a batch while express messages
/// flow (SQS long polling returns as soon as messages are there; this only
/// bounds how long an emptied queue holds the batch's slots).
pub const EXPRESS_FLOWING_WAIT: Duration = Duration::from_secs(1);

/// Longest the standard lane is held for an express lane that waits for
/// slots after a full receive: slots held by slow work, or by the standard
/// lane's own long polls on an emptied queue (at most one wait, 20 s), must
/// not hold it longer.
pub const EXPRESS_WAITING_HOLD: Duration = Duration::from_secs(20);

/// What the standard lane is told (its fields are the gate's own).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GateState {
    /// When the last express receive came back with a full batch (more
    /// express messages wait); `None` when it came back short or empty, or
    /// failed.
    express_full_at: Option<Instant>,
    /// The last express receive brought messages (a failure changes nothing).
    express_flowing: bool,
    /// Express receives that came back with messages since the standard
    /// lane last started one.
    express_since_standard: usize,
    /// The express lane wants to receive and waits for free slots.
    express_waiting_for_slots: bool,
}

/// Shared by the express and standard consumers of one worker.
#[derive(Debug)]
pub struct PriorityGate {
    /// K: at least one receive in K goes to the standard lane while it has
    /// messages.
    every: usize,
    state: watch::Sender<GateState>,
}

impl PriorityGate {
    /// A gate giving the standard lane one receive in `every` (at least 2)
    /// while the express queue is busy.
    pub fn new(every: usize) -> Self {
        let (state, _) = watch::channel(GateState::default());
        Self {
            every: every.max(2),
            state,
        }
    }

    /// The express lane's receive asked for `asked` messages and got `got`:
    /// only a full batch of ten says the queue is busy (a single message
    /// of an idle lane's receive does not).
    pub fn express_received(&self, asked: usize, got: usize) {
        self.state.send_modify(|s| {
            s.express_full_at =
                (got >= asked && asked >= super::poller::MAX_RECEIVE).then(Instant::now);
            s.express_flowing = got > 0;
            if got > 0 {
                s.express_since_standard = s.express_since_standard.saturating_add(1);
            }
        });
    }

    /// Whether the last express receive brought messages.
    pub fn express_flowing(&self) -> bool {
        self.state.borrow().express_flowing
    }

    /// The express lane waits for free slots (`true`) or not: after a full
    /// receive, the standard lane is held while it does, so slots freed by
    /// slow work go to the express lane first.
    pub fn express_waiting_for_slots(&self, waiting: bool) {
        self.state.send_if_modified(|s| {
            let changed = s.express_waiting_for_slots != waiting;
            s.express_waiting_for_slots = waiting;
            changed
        });
    }

    /// The express lane's receive failed: its queue is not known to be
    /// busy, and the standard lane must not wait on its backoff.
    pub fn express_failed(&self) {
        self.state.send_modify(|s| s.express_full_at = None);
    }

    /// Until when the standard lane must wait (unless the gate changes
    /// first), or `None` when it may receive now.
    pub fn standard_held_until(&self) -> Option<Instant> {
        self.held_until_at(Instant::now())
    }

    fn held_until_at(&self, now: Instant) -> Option<Instant> {
        let s = *self.state.borrow();
        let full_at = s.express_full_at?;
        if s.express_since_standard + 1 >= self.every {
            return None;
        }
        if s.express_waiting_for_slots && now < full_at + EXPRESS_WAITING_HOLD {
            // Until the express lane has its slots (the gate changes) or
            // the next look.
            return Some((now + EXPRESS_BUSY_HOLD).min(full_at + EXPRESS_WAITING_HOLD));
        }
        let until = full_at + EXPRESS_BUSY_HOLD;
        (until > now).then_some(until)
    }

    /// Whether the standard lane may start a receive now.
    pub fn standard_may_receive(&self) -> bool {
        self.standard_held_until().is_none()
    }

    /// The standard lane started a receive (its turn is used).
    pub fn standard_receiving(&self) {
        self.state.send_if_modified(|s| {
            let changed = s.express_since_standard != 0;
            s.express_since_standard = 0;
            changed
        });
    }

    /// Wakes when the gate changes (the standard lane waits on this while
    /// it may not receive).
    pub fn subscribe(&self) -> watch::Receiver<GateState> {
        self.state.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_lane_is_free_while_the_express_queue_is_not_busy() {
        let gate = PriorityGate::new(4);
        assert!(gate.standard_may_receive(), "nothing known yet");
        gate.express_received(10, 3);
        assert!(gate.standard_may_receive(), "a short express receive");
        gate.express_received(10, 0);
        assert!(gate.standard_may_receive(), "an empty express receive");
    }

    #[test]
    fn a_busy_express_queue_leaves_one_receive_in_k_to_the_standard_lane() {
        let gate = PriorityGate::new(4);
        let (mut standard, mut express) = (0, 0);
        // Both lanes want to receive all the time; the express queue stays full.
        for _ in 0..300 {
            gate.express_received(10, 10);
            express += 1;
            if gate.standard_may_receive() {
                gate.standard_receiving();
                standard += 1;
            }
        }
        assert_eq!(express, 300);
        assert_eq!(
            standard, 100,
            "one receive in four goes to the standard lane"
        );
    }

    #[test]
    fn the_standard_turn_comes_after_k_minus_one_full_express_receives() {
        let gate = PriorityGate::new(3);
        gate.express_received(10, 10);
        gate.standard_receiving();
        assert!(!gate.standard_may_receive(), "busy, turn used");
        gate.express_received(10, 10);
        assert!(!gate.standard_may_receive(), "one express receive of two");
        gate.express_received(10, 10);
        assert!(
            gate.standard_may_receive(),
            "two express receives: its turn"
        );
    }

    #[test]
    fn a_full_express_receive_holds_the_standard_lane_only_for_a_while() {
        let gate = PriorityGate::new(4);
        gate.express_received(10, 10);
        gate.standard_receiving();
        let now = Instant::now();
        let until = gate
            .held_until_at(now)
            .expect("held after a full express receive");
        assert!(until <= now + EXPRESS_BUSY_HOLD);
        assert_eq!(
            gate.held_until_at(until),
            None,
            "no express receive came back full since: the express lane is waiting, not busy"
        );
    }

    #[test]
    fn an_express_lane_waiting_for_slots_after_a_full_receive_keeps_the_standard_lane_held() {
        let gate = PriorityGate::new(4);
        gate.express_received(10, 10);
        gate.standard_receiving();
        gate.express_waiting_for_slots(true);
        let later = Instant::now() + EXPRESS_BUSY_HOLD * 5;
        assert!(
            gate.held_until_at(later).is_some(),
            "slow work: the express lane still comes first"
        );
        assert_eq!(
            gate.held_until_at(Instant::now() + EXPRESS_WAITING_HOLD),
            None,
            "never longer than one long poll"
        );
        gate.express_waiting_for_slots(false);
        assert_eq!(gate.held_until_at(later), None);
    }

    #[test]
    fn an_idle_express_lane_receives_one_message_at_a_time() {
        let gate = Arc::new(PriorityGate::new(4));
        let express = Lane::Express(gate.clone());
        let wait = Duration::from_secs(20);
        assert_eq!(express.batch(10), 1, "nothing known yet");
        assert_eq!(
            express.receive_wait(wait),
            wait,
            "idle: one slot, a long poll"
        );
        gate.express_received(1, 1);
        assert_eq!(express.batch(10), 10, "messages flow: a whole batch");
        assert_eq!(
            express.receive_wait(wait),
            EXPRESS_FLOWING_WAIT,
            "a batch of slots never waits long on an emptied queue"
        );
        assert!(
            gate.standard_may_receive(),
            "one message of an idle receive does not hold the standard lane"
        );
        gate.express_received(10, 3);
        assert_eq!(express.batch(10), 10, "still flowing");
        gate.express_failed();
        assert_eq!(
            express.batch(10),
            10,
            "a failure keeps the size (FIFO retries)"
        );
        gate.express_received(10, 0);
        assert_eq!(express.batch(10), 1, "an empty receive: idle again");
        assert_eq!(Lane::Standard(gate.clone()).batch(10), 10);
        assert_eq!(Lane::Standard(gate).receive_wait(wait), wait);
        assert_eq!(Lane::Only.batch(10), 10);
    }

    #[test]
    fn a_failed_express_receive_frees_the_standard_lane() {
        let gate = PriorityGate::new(10);
        gate.express_received(10, 10);
        gate.standard_receiving();
        assert!(!gate.standard_may_receive());
        gate.express_failed();
        assert!(gate.standard_may_receive());
    }

    #[tokio::test]
    async fn the_standard_lane_is_woken_by_an_express_receive() {
        let gate = PriorityGate::new(2);
        gate.express_received(10, 10);
        gate.standard_receiving();
        let mut woken = gate.subscribe();
        woken.borrow_and_update();
        assert!(!gate.standard_may_receive());
        gate.express_received(10, 10);
        tokio::time::timeout(std::time::Duration::from_secs(5), woken.changed())
            .await
            .expect("woken within 5 s")
            .expect("gate alive");
        assert!(gate.standard_may_receive());
    }
}
