//! Fault and bad-input suite: the whole pipeline (order-api, its outbox
//! relay and both workers as real processes) under bursts, crashes, outages
//! and hostile input; the outbox's own faults (`outbox`); and the same
//! processes traced, as production runs them (`traces`).
//! Each test prints the figure it measured. Needs the local AWS stack.

// Tests print the figures they measure.
#![allow(clippy::print_stdout)]

mod bad_input;
mod bad_messages;
mod burst;
mod harness;
mod outages;
mod outbox;
mod traces;
