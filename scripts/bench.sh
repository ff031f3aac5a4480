#!/usr/bin/env bash
# `make bench`: release builds (this tree's and the previous build's), the
# local stack, then target/release/bench, which writes bench/results.md and
# bench/results.json (see crates/loadgen/src/bin/bench/main.rs).
# Arguments are passed to bench (e.g. --idle-secs 30). Stops the stack if it started it.
#
# The previous build is measured beside this one in the same run (API,
# end to end, and the drain's older worker). It is built from a git worktree
# under .local/bench-baseline/ with a target directory of its own, and its
# binaries are kept per commit, so later runs reuse them.
#   BENCH_BASELINE_REV  the commit to compare with (default: HEAD when the
#                       sources differ from it, i.e. the change under way;
#                       else HEAD~1, the last commit); "none" to skip.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
stack_up_for_this_run

# What a build depends on: a tree that differs here is a change under way.
sources=(crates Cargo.toml Cargo.lock)
baseline_rev=${BENCH_BASELINE_REV:-}
if [[ -z $baseline_rev ]]; then
  if [[ -n $(git status --porcelain -- "${sources[@]}") ]]; then
    baseline_rev=HEAD
  else
    baseline_rev=HEAD~1
  fi
fi

label=$(git rev-parse --short HEAD)
if [[ -n $(git status --porcelain -- "${sources[@]}") ]]; then
  label="$label+working tree"
fi

bench_args=(--label "$label")
if [[ $baseline_rev != none ]]; then
  sha=$(git rev-parse --verify "$baseline_rev^{commit}")
  short=$(git rev-parse --short "$sha")
  base_dir=.local/bench-baseline
  bin_dir=$base_dir/bin-$sha
  if [[ ! -x $bin_dir/order-api || ! -x $bin_dir/sqs-worker ]]; then
    src=$base_dir/src-$short
    if [[ ! -d $src ]]; then
      echo "bench: previous build: git worktree $src at $short ($baseline_rev)" >&2
      git worktree prune
      git worktree add --detach "$src" "$sha" >&2
    fi
    echo "bench: building the previous build ($short) in $src" >&2
    (cd "$src" && CARGO_TARGET_DIR="$ROOT/$base_dir/target" \
      cargo build --release --locked -p order-api -p sqs-worker --bins)
    mkdir -p "$bin_dir"
    cp "$base_dir/target/release/order-api" "$base_dir/target/release/sqs-worker" "$bin_dir/"
    git worktree remove --force "$src"
  fi
  bench_args+=(--baseline "$ROOT/$bin_dir" --baseline-label "$short")
fi

# loadgen's binaries include `bench` and `floor`, the minimal consumer the worker is held to.
cargo build --release --locked -p order-api -p sqs-worker -p loadgen --bins
# shellcheck disable=SC1091 # written by scripts/stack.sh
set -a && . .local/stack.env && set +a
target/release/bench --out bench/results "${bench_args[@]}" "$@"
