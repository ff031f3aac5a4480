#!/usr/bin/env bash
# `make bench`: release builds, the local stack, then target/release/bench,
# which writes bench/results.md and bench/results.json (see crates/loadgen/src/bin/bench/main.rs).
# Arguments are passed to bench (e.g. --idle-secs 30). Stops the stack if it started it.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

started_stack=0
if ! bash scripts/stack.sh status >/dev/null 2>&1; then
  bash scripts/stack.sh up
  started_stack=1
fi
stop_stack() { if ((started_stack)); then bash scripts/stack.sh down; fi; }
trap stop_stack EXIT

# loadgen's binaries include `bench` and `floor`, the minimal consumer the worker is held to.
cargo build --release --locked -p order-api -p sqs-worker -p loadgen --bins
# shellcheck disable=SC1091 # written by scripts/stack.sh
set -a && . .local/stack.env && set +a
target/release/bench --out bench/results "$@"
