#!/usr/bin/env bash
# The project's checks: what `make test` (and so CI) runs.
#
# Usage: scripts/test.sh [all|lint|tf]
#   all   (default) cargo fmt --check, terraform fmt -check, terraform validate,
#         cargo test (unit, integration and the fault suite), a seeded
#         150 s chaos soak (scripts/soak.sh's binary, debug build), the production
#         rehearsal on moto (scripts/rehearsal.sh), schemathesis, the API
#         reference in headless Chromium (scripts/browser-check.sh),
#         cargo clippy -D warnings, terraform test, hadolint + checkov
#         (Dockerfiles, infra), the container images (scripts/images.sh) run
#         against the stack (scripts/images-check.sh), and the release
#         binaries copied out of them (scripts/release-check.sh).
#         Needs the local stack: if it is not up, it is started (in the
#         background, while the tests compile) and stopped again at exit.
#         A stack that was already up is left running.
#   lint  cargo fmt --check, cargo clippy, terraform fmt -check, shellcheck
#         (when installed). No stack.
#   tf    terraform fmt -check, validate, terraform test (starts the stack
#         only when a *.tftest.hcl does not mock the aws provider).
#
# Fails on the first error; prints a banner per step and the total time.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
MODE=${1:-all}

# Terraform root modules checked with `terraform validate`: infra/local,
# infra/bootstrap (state bucket, GitHub OIDC roles) plus every
# infra/envs/<name>/ that holds *.tf files (found at run time). Every root is
# initialised with -backend=false: no check reaches a remote state.
TF_ROOTS=(infra/local infra/bootstrap)
for d in infra/envs/*/; do
  [[ -d $d ]] && compgen -G "${d}*.tf" >/dev/null && TF_ROOTS+=("${d%/}")
done
# Directories with Terraform tests: every <dir> with <dir>/tests/*.tftest.hcl.
TF_TEST_DIRS=()
while IFS= read -r f; do
  d=${f%/tests/*}
  [[ " ${TF_TEST_DIRS[*]} " == *" $d "* ]] || TF_TEST_DIRS+=("$d")
done < <(find infra -path '*/.terraform' -prune -o -path '*/tests/*.tftest.hcl' -print 2>/dev/null | sort)

STACK_LOG="$ROOT/.local/log/stack-up.log"
STACK_STARTED_HERE=0
STACK_BG_PID=""
START=$SECONDS
STEP=0

banner() {
  STEP=$((STEP + 1))
  printf '\n==> [%d] %s   (t+%ds)\n' "$STEP" "$*" "$((SECONDS - START))"
}

# step "description" cmd args...
step() {
  local desc=$1 t0=$SECONDS
  shift
  banner "$desc"
  "$@"
  printf '<== [%d] ok in %ds\n' "$STEP" "$((SECONDS - t0))"
}

# A missing TF_CLI_CONFIG_FILE only makes terraform print a warning.
if [[ -n ${TF_CLI_CONFIG_FILE:-} && ! -e $TF_CLI_CONFIG_FILE ]]; then
  unset TF_CLI_CONFIG_FILE
fi
export TF_IN_AUTOMATION=1

# Each terraform dir gets its own TF_DATA_DIR under .local, so nothing but
# the lock file is written into infra/.
tf_data_dir() { echo "$ROOT/.local/terraform/data/${1//\//__}"; }

tf_init() {
  local dir=$1
  shift
  TF_DATA_DIR=$(tf_data_dir "$dir") bash scripts/tf-init.sh "$dir" -no-color "$@" >"$ROOT/.local/log/tf-init.log" 2>&1 || {
    cat "$ROOT/.local/log/tf-init.log" >&2
    return 1
  }
}

tf_validate_all() {
  local dir
  for dir in "${TF_ROOTS[@]}"; do
    [[ -d $dir ]] || {
      echo "skip $dir (missing)"
      continue
    }
    echo "-- $dir"
    tf_init "$dir" -backend=false
    TF_DATA_DIR=$(tf_data_dir "$dir") terraform -chdir="$dir" validate -no-color
  done
}

tf_test_all() {
  local dir
  if ((${#TF_TEST_DIRS[@]} == 0)); then
    echo "no */tests/*.tftest.hcl under infra"
    return 0
  fi
  for dir in "${TF_TEST_DIRS[@]}"; do
    echo "-- $dir"
    tf_init "$dir" -backend=false
    TF_DATA_DIR=$(tf_data_dir "$dir") terraform -chdir="$dir" test -no-color
  done
}

# True when some Terraform test talks to the emulators (no mock aws provider).
tf_tests_need_stack() {
  local f
  while IFS= read -r f; do
    grep -q 'mock_provider "aws"' "$f" || return 0
  done < <(find infra -path '*/.terraform' -prune -o -path '*/tests/*.tftest.hcl' -print 2>/dev/null)
  return 1
}

# cargo test, its output kept for the closing count. Every AWS operation the
# binaries perform is recorded under AWS_CALL_RECORD_DIR (one JSON line per
# distinct operation and resource), for the rehearsal's permission contract.
export AWS_CALL_RECORD_DIR="$ROOT/.local/calls"
cargo_test() {
  rm -rf "$AWS_CALL_RECORD_DIR"
  cargo test --workspace --locked 2>&1 | tee "$ROOT/.local/log/cargo-test.log"
}

# The chaos soak, short and seeded (the same plan every run), on the debug
# binaries `cargo test` just built: the real processes under faults, then its
# checker (crates/loadgen/src/bin/soak).
SOAK_TEST_SEED=20261201
soak_test() {
  echo "soak seed $SOAK_TEST_SEED (replay: SOAK_SEED=$SOAK_TEST_SEED SOAK_SECONDS=150 make soak)"
  SOAK_SEED=$SOAK_TEST_SEED SOAK_SECONDS=150 SOAK_SETTLE_SECS=120 \
    "${CARGO_TARGET_DIR:-$ROOT/target}/debug/soak"
}

tf_test_logged() {
  tf_test_all 2>&1 | tee "$ROOT/.local/log/terraform-test.log"
}

# "N passed, M failed" over cargo's and terraform's test results of this run.
test_totals() {
  cat "$ROOT/.local/log/cargo-test.log" "$ROOT/.local/log/terraform-test.log" 2>/dev/null |
    sed -nE 's/^test result: [a-zA-Z]+\. ([0-9]+) passed; ([0-9]+) failed.*/\1 \2/p; s/.*(Success|Failure)! ([0-9]+) passed, ([0-9]+) failed.*/\2 \3/p' |
    awk '{p += $1; f += $2} END {printf "%d passed, %d failed\n", p, f}'
}

# checkov over the Terraform (the lint venv is set up by scripts/lint-containers.sh).
checkov_infra() {
  "$ROOT/.local/lint-venv/bin/checkov" -d infra --skip-path infra/local --framework terraform \
    --skip-download --quiet --compact
}

shellcheck_all() {
  if command -v shellcheck >/dev/null 2>&1; then
    shellcheck scripts/*.sh .ci/run
  else
    echo "shellcheck not installed; skipped (apt-get install shellcheck)"
  fi
}

# ---------------------------------------------------------------------------
# Local stack: start it unless it is up; stop it at exit only if started here.
# ---------------------------------------------------------------------------
stack_start_bg() {
  mkdir -p "$ROOT/.local/log"
  if bash scripts/stack.sh status >/dev/null 2>&1; then
    echo "local stack already up: using it and leaving it running"
    bash scripts/stack.sh up
    return 0
  fi
  STACK_STARTED_HERE=1
  echo "local stack not up: starting it in the background (log .local/log/stack-up.log)"
  bash scripts/stack.sh up >"$STACK_LOG" 2>&1 &
  STACK_BG_PID=$!
}

stack_wait() {
  if [[ -n $STACK_BG_PID ]]; then
    local rc=0
    wait "$STACK_BG_PID" || rc=$?
    STACK_BG_PID=""
    cat "$STACK_LOG"
    ((rc == 0)) || {
      echo "scripts/stack.sh up failed (exit $rc)" >&2
      return "$rc"
    }
  fi
  # shellcheck disable=SC1091 # written by scripts/stack.sh
  set -a && . "$ROOT/.local/stack.env" && set +a
  # For Terraform tests that point the aws provider at the emulators.
  export TF_VAR_localstack_endpoint="$AWS_ENDPOINT_URL_SQS"
  export TF_VAR_dynamodb_endpoint="$AWS_ENDPOINT_URL_DYNAMODB"
}

# Pids of a process and all its descendants (parents first).
process_tree() {
  local pid=$1 child kids
  echo "$pid"
  if command -v pgrep >/dev/null 2>&1; then
    kids=$(pgrep -P "$pid" || true)
  else
    kids=$(cat /proc/"$pid"/task/*/children 2>/dev/null || true)
  fi
  for child in $kids; do
    process_tree "$child"
  done
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n $STACK_BG_PID ]]; then
    # A failure while the stack was still coming up: abort that `up` (pip,
    # npm, terraform...) and let `down` below stop whatever it had started.
    local pids
    pids=$(process_tree "$STACK_BG_PID")
    # shellcheck disable=SC2086 # word splitting wanted
    kill -TERM $pids 2>/dev/null || true
    wait "$STACK_BG_PID" 2>/dev/null || true
  fi
  if ((STACK_STARTED_HERE)); then
    echo
    echo "stopping the local stack started by this run"
    bash scripts/stack.sh down || true
  fi
  echo
  if ((rc == 0)); then
    echo "scripts/test.sh $MODE: all steps passed in $((SECONDS - START))s"
    [[ $MODE != all ]] || echo "tests: $(test_totals)"
  else
    echo "scripts/test.sh $MODE: FAILED at step $STEP (exit $rc) after $((SECONDS - START))s" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$ROOT/.local/log"

case $MODE in
all)
  step "cargo fmt --all --check" cargo fmt --all --check
  step "terraform fmt -check -recursive infra" terraform fmt -check -recursive -diff infra
  step "terraform validate: ${TF_ROOTS[*]}" tf_validate_all
  banner "local stack"
  stack_start_bg
  # Compile the tests while the stack installs/starts; clippy runs after the
  # tests so that the build scripts and proc-macros compiled here are reused.
  step "cargo test --workspace --locked --no-run" cargo test --workspace --locked --no-run
  step "local stack ready" stack_wait
  step "cargo test --workspace --locked" cargo_test
  step "chaos soak: seed $SOAK_TEST_SEED, 150 s, then its checker" soak_test
  step "production rehearsal on moto (IAM enforced)" bash scripts/rehearsal.sh
  step "schemathesis against order-api's /openapi.json" bash scripts/schemathesis.sh
  step "API reference in headless Chromium (/docs, nothing loaded from outside)" bash scripts/browser-check.sh
  step "cargo clippy --workspace --all-targets --locked -- -D warnings" \
    cargo clippy --workspace --all-targets --locked -- -D warnings
  step "terraform test: ${TF_TEST_DIRS[*]:-none}" tf_test_logged
  step "hadolint + checkov: Dockerfiles and Beanstalk templates" bash scripts/lint-containers.sh
  step "checkov: infra (the LocalStack root excluded)" checkov_infra
  step "container images: make images (podman, local bases)" bash scripts/images.sh
  step "containers on the local stack: ready, order processed, non-root, healthcheck, podman stop" \
    bash scripts/images-check.sh
  step "release binaries from the images: --version, healthcheck, shared libraries" \
    env RELEASE_BINARIES=images bash scripts/release-check.sh
  ;;
lint)
  step "cargo fmt --all --check" cargo fmt --all --check
  step "terraform fmt -check -recursive infra" terraform fmt -check -recursive -diff infra
  step "cargo clippy --workspace --all-targets --locked -- -D warnings" \
    cargo clippy --workspace --all-targets --locked -- -D warnings
  step "shellcheck" shellcheck_all
  ;;
tf)
  step "terraform fmt -check -recursive infra" terraform fmt -check -recursive -diff infra
  step "terraform validate: ${TF_ROOTS[*]}" tf_validate_all
  if tf_tests_need_stack; then
    banner "local stack (Terraform tests use the emulators)"
    stack_start_bg
    step "local stack ready" stack_wait
  fi
  step "terraform test: ${TF_TEST_DIRS[*]:-none}" tf_test_all
  ;;
*)
  echo "usage: $0 [all|lint|tf]" >&2
  exit 2
  ;;
esac
