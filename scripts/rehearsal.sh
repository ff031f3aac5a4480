#!/usr/bin/env bash
# Production rehearsal: apply the production Terraform root (infra/envs/aws,
# as it ships) to a moto server that enforces IAM, then run order-api, its
# outbox relay (`order-api relay`) and both sqs-workers as processes holding
# exactly their ECS task roles' policies and drive the pipeline end to end.
#
# Usage: scripts/rehearsal.sh        (make rehearsal; a step of make test)
#
# Steps:
#   1. install moto (tools/moto-requirements.txt) into .local/moto-venv, only
#      when that file changed; start it on a free loopback port, every call
#      after the admin bootstrap authorized against IAM
#      (INITIAL_NO_AUTH_ACTION_COUNT); stopped at exit, also on failure;
#   2. create what the root expects to exist (VPC, 2 subnets in 2 AZs, ACM
#      certificate), copy infra/ to .local/rehearsal/infra, add only a provider
#      override (endpoints -> moto), a backend override (local state instead
#      of backend.tf's S3) and a tfvars file, terraform apply;
#   3. read every service's registered task definition back from ECS into
#      .local/rehearsal/taskdefs.json (tools/rehearsal/taskdefs.py: the
#      application container's environment, command, entrypoint, task role);
#      read those task roles' policies back from IAM into
#      .local/rehearsal/principals.json, create one IAM user per task role with
#      the same documents (moto's authorization limits compensated in these
#      users only), their keys in .local/rehearsal/env/*.env, prove enforcement;
#   4. order-api + the relay + both workers, each started with its task
#      definition's command and environment plus only the documented rehearsal
#      overrides (taskdefs.OVERRIDES: moto endpoint, those credentials,
#      loopback ports...; the table of sources is printed): readiness,
#      orders, both effects in DynamoDB, GET, cancellation, an order accepted
#      by an API that cannot reach SNS and published by the relay, poison ->
#      DLQ with reason, SIGTERM -> exit 0;
#   5. the permission contract (crates/rehearsal): every AWS operation the
#      services performed here, and those the integration tests recorded in
#      AWS_CALL_RECORD_DIR, checked against the policies read back in 3 with
#      AWS's action mapping and evaluation logic (identity + resource
#      policies, conditions evaluated; a data call on a resource under a
#      customer-managed key also needs that key's via-service KMS actions,
#      allowed by the key policy); refused calls fail naming binary, operation
#      and resource, unused grants are printed as excess privilege;
#   6. the resource-policy scenarios (crates/rehearsal, resource-policy-scenarios):
#      topic, queue and key policies read back after the apply
#      (.local/rehearsal/resource-policies.json) must let the API and the relay
#      publish, the topic deliver and SNS encrypt into the queues, and refuse
#      other publishers, other sources and plain HTTP.
# What moto cannot do, and how each gap is bridged, is listed in
# tools/rehearsal/README.md.
#
# Environment:
#   AWS_CALL_RECORD_DIR  a directory of *.jsonl AWS call records (make test's
#                        integration tests): checked by the permission contract
#                        together with the rehearsal's own (.local/rehearsal/calls)
#   PYTHON               interpreter for the venv (default python3, 3.11)
#   REHEARSAL_TF_TIMEOUT seconds for terraform apply (default 600)
#   REHEARSAL_BREAK_TASK_ENV  <service>:<KEY>=<value>, only to prove the check:
#                        registers a revision of that service's task definition
#                        with KEY=value (value formatted with the terraform
#                        outputs, e.g. 'procesamiento:SQS_QUEUE_URL={queue_urls[logistica]}')
#                        before the read-back; the rehearsal must then fail
#   REHEARSAL_RUST_LOG   RUST_LOG of the services (unset: the task definition's)
#
# Layout (all git-ignored): .local/moto-venv, .local/rehearsal/ (scratch copy
# of infra/, state, principals.json, env/), .local/log/moto.log,
# .local/log/rehearsal-*.log, .local/terraform/data/rehearsal (TF_DATA_DIR).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
LOCAL_DIR="$ROOT/.local"
LOG_DIR="$LOCAL_DIR/log"
VENV="$LOCAL_DIR/moto-venv"
REQS="$ROOT/tools/moto-requirements.txt"
TOOLS="$ROOT/tools/rehearsal"
WORK="$LOCAL_DIR/rehearsal"
INFRA_COPY="$WORK/infra"
ENV_DIR_COPY="$INFRA_COPY/envs/aws"
TF_DATA="$LOCAL_DIR/terraform/data/rehearsal"
TF_LOG="$LOG_DIR/rehearsal-terraform.log"
BUILD_LOG="$LOG_DIR/rehearsal-build.log"
MOTO_LOG="$LOG_DIR/moto.log"
PYTHON=${PYTHON:-python3}
REHEARSAL_TF_TIMEOUT=${REHEARSAL_TF_TIMEOUT:-600}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
# CreateUser + PutUserPolicy + CreateAccessKey of the admin user
# (tools/rehearsal/bootstrap.py BOOTSTRAP_CALLS); every later call is authorized.
BOOTSTRAP_CALLS=3

START=$SECONDS
MOTO_PID=""
BUILD_PID=""
CHILD_PID=""
declare -a TIMINGS=()

log() { printf 'rehearsal: %s\n' "$*" >&2; }
die() {
  printf 'rehearsal: error: %s\n' "$*" >&2
  exit 1
}
need() { command -v "$1" >/dev/null 2>&1 || die "'$1' not found on PATH ($2)"; }
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
timed() { TIMINGS+=("$(printf '%-34s %4ds' "$1" "$2")"); }

# Only the harness talks to moto: no AWS_* setting of the caller (profile,
# credentials, test.sh's LocalStack endpoints) may reach terraform or the tools.
# Nor any TF_VAR_*: the rehearsal's variables come from its tfvars file only.
while IFS= read -r var; do
  [[ $var == AWS_CALL_RECORD_DIR ]] || unset "$var"
done < <(compgen -e | grep -E '^(AWS_|TF_VAR_)' || true)
if [[ -n ${TF_CLI_CONFIG_FILE:-} && ! -e $TF_CLI_CONFIG_FILE ]]; then
  unset TF_CLI_CONFIG_FILE
fi
export TF_IN_AUTOMATION=1 REHEARSAL_DIR="$WORK" REHEARSAL_CALLS_DIR="$WORK/calls"

# run CMD...: runs CMD as a child and waits for it; a TERM/INT of this script
# is handled at once (bash defers traps while a foreground child runs) and
# cleanup stops the child.
run() {
  local rc=0
  "$@" &
  CHILD_PID=$!
  wait "$CHILD_PID" || rc=$?
  CHILD_PID=""
  return "$rc"
}

# stop PID NAME: TERM, then KILL after 10 s.
stop_pid() {
  local pid=$1 name=$2 i
  alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    alive "$pid" || return 0
    sleep 0.1
  done
  log "$name (pid $pid) still alive after 10 s: KILL"
  kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$? f pid
  trap - EXIT INT TERM
  if [[ -n $CHILD_PID ]]; then
    # terraform stops gracefully on TERM; pipeline.py stops its services.
    stop_pid "$CHILD_PID" "$(tr '\0' ' ' <"/proc/$CHILD_PID/cmdline" 2>/dev/null | cut -c1-60)"
    wait "$CHILD_PID" 2>/dev/null || true
  fi
  # Services the pipeline started (it stops them itself; this covers a crash),
  # checked against their binary so a reused pid is never hit.
  for f in "$WORK"/run/*.pid; do
    [[ -f $f ]] || continue
    pid=$(<"$f")
    if [[ $pid =~ ^[0-9]+$ ]] && alive "$pid" &&
      tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qE "$TARGET_DIR/debug/(order-api|sqs-worker)"; then
      stop_pid "$pid" "$(basename "$f" .pid)"
    fi
    rm -f "$f"
  done
  if [[ -n $BUILD_PID ]] && alive "$BUILD_PID"; then
    # The subshell and its cargo (by pid: the subshell's children).
    # shellcheck disable=SC2046 # word splitting wanted
    kill -TERM $(pgrep -P "$BUILD_PID" 2>/dev/null) "$BUILD_PID" 2>/dev/null || true
    wait "$BUILD_PID" 2>/dev/null || true
  fi
  if [[ -n $MOTO_PID ]]; then
    stop_pid "$MOTO_PID" moto
    wait "$MOTO_PID" 2>/dev/null || true
    log "moto stopped"
  fi
  if ((rc == 0)); then
    log "passed in $((SECONDS - START))s"
  else
    log "FAILED (exit $rc) after $((SECONDS - START))s; logs: $LOG_DIR/moto.log, $LOG_DIR/rehearsal-*.log"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ----------------------------------------------------------------------------
# 1. moto
# ----------------------------------------------------------------------------
ensure_venv() {
  local want
  need "$PYTHON" "Python 3.11 runs moto"
  want=$(venv_want "$PYTHON" "$REQS")
  venv_current "$VENV" "$want" && return 0
  log "installing moto into .local/moto-venv (pinned, tools/moto-requirements.txt)"
  venv_install "$VENV" "$PYTHON" "$REQS" "$want"
}

start_moto() {
  local port i
  port=$("$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  [[ -f $MOTO_LOG ]] && mv -f "$MOTO_LOG" "$MOTO_LOG.prev"
  # env -i: moto reads many variables (AWS_*, MOTO_*, TEST_SERVER_MODE...).
  env -i PATH="$PATH" HOME="${HOME:-/root}" LANG=C.UTF-8 PYTHONUNBUFFERED=1 \
    INITIAL_NO_AUTH_ACTION_COUNT="$BOOTSTRAP_CALLS" \
    "$VENV/bin/python" "$TOOLS/moto_server.py" -H 127.0.0.1 -p "$port" \
    </dev/null >"$MOTO_LOG" 2>&1 9>&- &
  MOTO_PID=$!
  for ((i = 0; i < 150; i++)); do
    alive "$MOTO_PID" || {
      tail -n 20 "$MOTO_LOG" >&2
      die "moto exited during start-up (log $MOTO_LOG)"
    }
    if curl -fsS --max-time 2 -o /dev/null "http://127.0.0.1:$port/moto-api/data.json" 2>/dev/null; then
      printf '{"endpoint": "http://127.0.0.1:%s", "pid": %s}\n' "$port" "$MOTO_PID" >"$WORK/moto.json"
      log "moto listening on http://127.0.0.1:$port (pid $MOTO_PID, log .local/log/moto.log)"
      return 0
    fi
    sleep 0.1
  done
  die "moto did not answer within 15 s (log $MOTO_LOG)"
}

# ----------------------------------------------------------------------------
# 2. The production root on moto
# ----------------------------------------------------------------------------
copy_infra() {
  rm -rf "$INFRA_COPY"
  mkdir -p "$INFRA_COPY"
  # The tree as it is, minus what is local to a checkout: provider caches,
  # state, a developer's own tfvars or override files.
  tar -C "$ROOT/infra" -cf - \
    --exclude='.terraform' --exclude='.terraform.lock.hcl.tmp' \
    --exclude='*.tfstate' --exclude='*.tfstate.*' \
    --exclude='terraform.tfvars' --exclude='terraform.tfvars.json' \
    --exclude='*.auto.tfvars' --exclude='*.auto.tfvars.json' \
    --exclude='override.tf' --exclude='*_override.tf' \
    --exclude='override.tf.json' --exclude='*_override.tf.json' . |
    tar -C "$INFRA_COPY" -xf -
  # The production root's S3 backend (backend.tf) would need a real bucket:
  # the scratch copy keeps its state locally instead. Terraform's override-file
  # merge replaces a root's backend block with the one in a *_override.tf.
  printf '%s\n' '# Written by scripts/rehearsal.sh: local state for the rehearsal copy.' \
    'terraform {' '  backend "local" {}' '}' >"$ENV_DIR_COPY/backend_override.tf"
}

tf() { TF_DATA_DIR="$TF_DATA" terraform -chdir="$ENV_DIR_COPY" "$@"; }

apply_root() {
  local t0=$SECONDS rc=0
  : >"$TF_LOG"
  if ! TF_DATA_DIR="$TF_DATA" bash "$ROOT/scripts/tf-init.sh" "$ENV_DIR_COPY" -no-color >>"$TF_LOG" 2>&1; then
    tail -n 30 "$TF_LOG" >&2
    die "terraform init failed (log $TF_LOG)"
  fi
  log "terraform apply of infra/envs/aws on moto (log .local/log/rehearsal-terraform.log)"
  # As `run` does, without redirecting this shell's own output (cleanup's).
  TF_DATA_DIR="$TF_DATA" timeout "$REHEARSAL_TF_TIMEOUT" terraform -chdir="$ENV_DIR_COPY" apply \
    -input=false -auto-approve -no-color -compact-warnings -parallelism=20 >>"$TF_LOG" 2>&1 &
  CHILD_PID=$!
  wait "$CHILD_PID" || rc=$?
  CHILD_PID=""
  if ((rc != 0)); then
    if ((rc == 124)); then
      log "terraform apply did not finish within ${REHEARSAL_TF_TIMEOUT}s; resources still creating:"
      grep -oE '^[^ ]+: Still creating\.\.\.' "$TF_LOG" | sort -u | sed 's/^/    /' >&2 || true
    fi
    grep -E '^(Error|│)' "$TF_LOG" | head -n 60 >&2 || tail -n 40 "$TF_LOG" >&2
    die "terraform apply on moto failed (exit $rc; log $TF_LOG)"
  fi
  grep -E '^Apply complete' "$TF_LOG" | sed 's/^/rehearsal: terraform: /' >&2 || true
  tf output -json 2>>"$TF_LOG" |
    "$VENV/bin/python" -c 'import json, sys; print(json.dumps({k: v["value"] for k, v in json.load(sys.stdin).items()}, indent=2))' \
      >"$WORK/outputs.json" || die "could not read the terraform outputs (log $TF_LOG)"
  timed "terraform init + apply" $((SECONDS - t0))
}

# ----------------------------------------------------------------------------
# 3. Principals, and the permission contract over recorded calls
# ----------------------------------------------------------------------------
permission_contract() {
  local -a calls=(--calls "$REHEARSAL_CALLS_DIR")
  if [[ -n ${AWS_CALL_RECORD_DIR:-} ]]; then
    if compgen -G "$AWS_CALL_RECORD_DIR/*.jsonl" >/dev/null; then
      calls+=(--calls "$AWS_CALL_RECORD_DIR")
    else
      log "AWS_CALL_RECORD_DIR=$AWS_CALL_RECORD_DIR holds no *.jsonl: only the rehearsal's own calls are checked"
    fi
  fi
  log "permission contract: recorded calls (${calls[*]}) against principals.json"
  # Built with the services above (a `cargo run -p rehearsal` alone would
  # unify features differently and rebuild shared dependencies).
  "$TARGET_DIR/debug/permission-contract" --principals "$WORK/principals.json" \
    --resource-policies "$WORK/resource-policies.json" "${calls[@]}"
}

resource_policy_scenarios() {
  log "resource-policy scenarios: topic, queue and key policies read back (resource-policies.json)"
  "$TARGET_DIR/debug/resource-policy-scenarios" --principals "$WORK/principals.json" \
    --resource-policies "$WORK/resource-policies.json"
}

# ----------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------
need terraform "Terraform applies infra/envs/aws"
need cargo "cargo builds the services"
need curl "waiting for moto uses curl"
mkdir -p "$LOG_DIR" "$WORK"
exec 9>"$LOCAL_DIR/rehearsal.lock"
flock -n 9 || die "another scripts/rehearsal.sh is running (lock .local/rehearsal.lock)"
rm -rf "$WORK/run" "$WORK/env" "$WORK/calls" "$WORK"/*.json "$WORK/build.seconds"

# The services' debug build runs meanwhile (terraform mostly waits on moto).
(
  t0=$SECONDS
  cargo build -p order-api -p sqs-worker -p rehearsal --locked
  echo $((SECONDS - t0)) >"$WORK/build.seconds"
) >"$BUILD_LOG" 2>&1 9>&- &
BUILD_PID=$!

t0=$SECONDS
ensure_venv
timed "moto install (or up to date)" $((SECONDS - t0))

t0=$SECONDS
start_moto
"$VENV/bin/python" "$TOOLS/bootstrap.py" admin
"$VENV/bin/python" "$TOOLS/bootstrap.py" network
copy_infra
"$VENV/bin/python" "$TOOLS/bootstrap.py" terraform "$ENV_DIR_COPY"
timed "moto start + bootstrap" $((SECONDS - t0))

apply_root

t0=$SECONDS
# Unit tests of the override rules first (seconds), then the read-back.
(cd "$TOOLS" && "$VENV/bin/python" -m unittest -q test_taskdefs 2>&1) >"$LOG_DIR/rehearsal-unittest.log" || {
  cat "$LOG_DIR/rehearsal-unittest.log" >&2
  die "tools/rehearsal/test_taskdefs.py failed"
}
"$VENV/bin/python" "$TOOLS/taskdefs.py"
"$VENV/bin/python" "$TOOLS/principals.py"
"$VENV/bin/python" "$TOOLS/resource_policies.py"
timed "task definitions, principals, proof" $((SECONDS - t0))

rc=0
wait "$BUILD_PID" || rc=$?
BUILD_PID=""
if ((rc != 0)); then
  tail -n 40 "$BUILD_LOG" >&2
  die "cargo build -p order-api -p sqs-worker failed (log $BUILD_LOG)"
fi
timed "cargo build (while the above ran)" "$(cat "$WORK/build.seconds" 2>/dev/null || echo 0)"

t0=$SECONDS
run "$VENV/bin/python" "$TOOLS/pipeline.py" --bin-dir "$TARGET_DIR/debug" --log-dir "$LOG_DIR"
timed "pipeline" $((SECONDS - t0))

t0=$SECONDS
permission_contract
timed "permission contract" $((SECONDS - t0))

t0=$SECONDS
resource_policy_scenarios
timed "resource-policy scenarios" $((SECONDS - t0))

echo
echo "production rehearsal on moto (IAM enforced): checked:"
echo "  - infra/envs/aws applied as it ships ($(grep -oE 'Apply complete! Resources: [0-9]+ added' "$TF_LOG" | grep -oE '[0-9]+ added' || echo '? added'); only provider and backend overrides and tfvars added)"
echo "  - task definitions read back from ECS (.local/rehearsal/taskdefs.json); each service ran with its command and environment"
echo "  - task role policies read back from IAM into .local/rehearsal/principals.json; calls outside them refused"
echo "  - permission contract: every recorded AWS call of the services (here$([[ -n ${AWS_CALL_RECORD_DIR:-} ]] && echo " and in the integration tests")) allowed by its task role (above)"
echo "  - resource policies (topic, queues, keys) read back: publishers, deliveries, SNS's key use allowed; other principals, sources and plain HTTP refused"
"$VENV/bin/python" -c 'import json, sys; [print("  - " + c) for c in json.load(open(sys.argv[1]))]' "$WORK/checked.json"
echo "timings:"
printf '  %s\n' "${TIMINGS[@]}"
