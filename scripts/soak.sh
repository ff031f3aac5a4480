#!/usr/bin/env bash
# `make soak`: the seeded chaos soak (crates/loadgen/src/bin/soak): release
# builds of order-api, sqs-worker and soak, the local stack (started if it is
# not up, and then stopped at the end), then target/release/soak, which runs
# the four processes on resources of its own, injects the seeded fault plan,
# and checks the table and queues against its ledger. Exit 1 when a check fails.
#
# Settings (environment; `target/release/soak --help` says more):
#   SOAK_SECONDS      600     how long orders are posted and faults injected
#   SOAK_RATE         20      new orders per second
#   SOAK_SEED         random  the fault plan's seed (printed; same seed + SOAK_SECONDS = same plan)
#   SOAK_LEDGER       .local/soak/<run>/ledger.jsonl (the processes' logs go to .local/soak/<run>/)
#   SOAK_SETTLE_SECS  120     longest wait for the system to settle before the checks
# e.g. SOAK_SEED=42 SOAK_SECONDS=150 make soak
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
stack_up_for_this_run

cargo build --release --locked -p order-api -p sqs-worker -p loadgen --bins
# shellcheck disable=SC1091 # written by scripts/stack.sh
set -a && . .local/stack.env && set +a
target/release/soak "$@"
