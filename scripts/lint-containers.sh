#!/usr/bin/env bash
# Static checks of the container build files:
#   1. hadolint  Dockerfile.api Dockerfile.worker   (config: .hadolint.yaml)
#   2. checkov   --framework dockerfile, 0 failed checks required
#                (skips only inline: `#checkov:skip=CKV_...:reason`)
#   3. the base images are the build arguments RUST_IMAGE / RUNTIME_IMAGE,
#      whose defaults are pinned by version tag and sha256 digest (checkov's
#      CKV_DOCKER_7 cannot see through a build argument, so it is skipped
#      inline and checked here); the Rust stage is
#      `FROM --platform=$BUILDPLATFORM ${RUST_IMAGE}` (compiles on the build
#      machine's platform, cross-compiling when the target differs) and the
#      runtime stage names no --platform (it is the target's);
#   4. the Elastic Beanstalk Dockerrun.aws.json files parse and have the keys
#      the Docker platform needs;
#   5. every documented image build command (`docker build`, `docker buildx
#      build`, `podman build` with arguments, in a fenced code block or an
#      inline code span of any *.md, or in a Dockerfile's header comment)
#      names `--platform linux/amd64`: without it a laptop builds for its own
#      architecture (arm64 on Apple silicon) and the x86_64 hosts cannot run
#      the image;
#   6. actionlint over .github/workflows (config .github/actionlint.yaml; the
#      `run:` scripts through shellcheck when shellcheck is installed).
# Every step runs, then the script exits non-zero if any of them found anything.
#
# The pinned tools (tools/lint-requirements.txt + tools/lint-constraints.txt)
# live in their own venv, .local/lint-venv (git-ignored; .local/venv is
# LocalStack's). It is created on first use and re-created whenever one of the
# two files or the Python version changes (stamp: .local/lint-venv/.installed).
#
# Environment: PYTHON (default python3; the pins were frozen on 3.11).
# Usage: scripts/lint-containers.sh
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

PYTHON=${PYTHON:-python3}
VENV="$ROOT/.local/lint-venv"
REQS="$ROOT/tools/lint-requirements.txt"
CONSTRAINTS="$ROOT/tools/lint-constraints.txt"
DOCKERFILES=(Dockerfile.api Dockerfile.worker)
DOCKERRUN_FILES=(
  deploy/beanstalk/order-api/Dockerrun.aws.json
  deploy/beanstalk/outbox-relay/Dockerrun.aws.json
  deploy/beanstalk/sqs-worker-procesamiento/Dockerrun.aws.json
  deploy/beanstalk/sqs-worker-logistica/Dockerrun.aws.json
)

log() { printf 'lint-containers: %s\n' "$*" >&2; }
die() {
  printf 'lint-containers: error: %s\n' "$*" >&2
  exit 1
}

ensure_venv() {
  local stamp="$VENV/.installed" want pyver start
  command -v "$PYTHON" >/dev/null || die "$PYTHON not found (Python 3.11 is needed for the lint venv)"
  pyver=$("$PYTHON" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')
  want="$(cat "$REQS" "$CONSTRAINTS" | sha256sum | cut -d' ' -f1) python-$pyver"
  if [[ -x $VENV/bin/hadolint && -x $VENV/bin/checkov && -x $VENV/bin/actionlint && -f $stamp && $(<"$stamp") == "$want" ]]; then
    return 0
  fi
  [[ $pyver == 3.11.* ]] || log "warning: the lint pins were frozen on Python 3.11; $PYTHON is $pyver"
  log "installing hadolint + checkov + actionlint into .local/lint-venv (pinned; ~1 min the first time)"
  start=$SECONDS
  rm -rf "$VENV"
  mkdir -p "$(dirname "$VENV")"
  "$PYTHON" -m venv "$VENV"
  # The stamp is written last: an install that fails half-way is redone next time.
  "$VENV/bin/python" -m pip install --quiet --no-input --disable-pip-version-check \
    -r "$REQS"
  printf '%s\n' "$want" >"$stamp"
  log "installed in $((SECONDS - start)) s"
}

for f in "${DOCKERFILES[@]}" .hadolint.yaml "$REQS" "$CONSTRAINTS"; do
  [[ -f $f ]] || die "missing $f"
done

ensure_venv

FAILED=()

# 1. hadolint: --config explicitly, so that no user-level config applies.
log "hadolint $("$VENV/bin/hadolint" --version | grep -oE '[0-9]+(\.[0-9]+)+' | head -n 1): ${DOCKERFILES[*]}"
if "$VENV/bin/hadolint" --no-color --config .hadolint.yaml "${DOCKERFILES[@]}"; then
  log "hadolint: no findings"
else
  FAILED+=(hadolint)
fi

# 2. checkov. --skip-download: no call to the Prisma Cloud API (no network
# needed, no policies or suppressions from outside the repo). The summary line
# is checked too, so a run that evaluated nothing does not count as a pass.
log "checkov $("$VENV/bin/checkov" --version): ${DOCKERFILES[*]}"
checkov_args=(--framework dockerfile --compact --quiet --skip-download)
for f in "${DOCKERFILES[@]}"; do checkov_args+=(-f "$f"); done
checkov_rc=0
checkov_out=$("$VENV/bin/checkov" "${checkov_args[@]}" 2>&1) || checkov_rc=$?
printf '%s\n' "$checkov_out"
summary=$(grep -E '^Passed checks: [0-9]+, Failed checks: [0-9]+' <<<"$checkov_out" || true)
if ((checkov_rc != 0)); then
  FAILED+=(checkov)
elif [[ ! $summary =~ ^Passed\ checks:\ ([0-9]+),\ Failed\ checks:\ 0 ]] || ((BASH_REMATCH[1] == 0)); then
  log "checkov: no 'Passed checks: N>0, Failed checks: 0' summary in its output"
  FAILED+=(checkov)
else
  log "checkov: 0 failed checks"
fi

# 3. The base images are build arguments (make images passes local ones):
# their defaults must be pinned by a version tag and the digest, and every
# FROM must name either such an argument or an earlier stage.
bases_ok=1
for f in "${DOCKERFILES[@]}"; do
  for arg in RUST_IMAGE RUNTIME_IMAGE; do
    default=$(sed -n "s/^ARG $arg=\(.*\)\$/\1/p" "$f")
    if [[ ! $default =~ ^[a-z0-9./-]+:[A-Za-z0-9._-]+@sha256:[0-9a-f]{64}$ ]] || [[ $default == *:latest@* ]]; then
      log "$f: ARG $arg=${default:-<missing>} is not pinned by version tag and sha256 digest"
      bases_ok=0
    fi
  done
  stages=()
  while read -r from image _as stage; do
    [[ $from == FROM ]] || continue
    platform=
    if [[ $image == --platform=* ]]; then
      platform=${image#--platform=}
      read -r image _as stage <<<"$_as $stage"
    fi
    # shellcheck disable=SC2016 # the literal texts ${RUST_IMAGE}, $BUILDPLATFORM
    if [[ $image == '${RUST_IMAGE}' && $platform != '$BUILDPLATFORM' ]]; then
      log "$f: FROM \${RUST_IMAGE} must be 'FROM --platform=\$BUILDPLATFORM \${RUST_IMAGE}' (compile on the build machine, never under emulation)"
      bases_ok=0
    elif [[ $image == '${RUNTIME_IMAGE}' && -n $platform ]]; then
      log "$f: FROM --platform=$platform \${RUNTIME_IMAGE}: the runtime stage must be of the target platform (no --platform)"
      bases_ok=0
    fi
    # shellcheck disable=SC2016 # the literal text ${RUST_IMAGE}
    if [[ $image != '${RUST_IMAGE}' && $image != '${RUNTIME_IMAGE}' && " ${stages[*]} " != *" $image "* ]]; then
      log "$f: FROM $image is neither \${RUST_IMAGE}, \${RUNTIME_IMAGE} nor an earlier stage"
      bases_ok=0
    fi
    stages+=("$stage")
  done <"$f"
done
if ((bases_ok)); then
  log "base images: build arguments pinned by tag and digest in ${DOCKERFILES[*]}"
else
  FAILED+=(bases)
fi

# 4. Dockerrun.aws.json (Elastic Beanstalk, Docker platform, version 1).
dockerrun_ok=1
for f in "${DOCKERRUN_FILES[@]}"; do
  if [[ ! -f $f ]]; then
    log "missing $f"
    dockerrun_ok=0
  elif ! "$PYTHON" - "$f" <<'EOF'; then
import json, os, sys
path = sys.argv[1]
with open(path) as fh:
    doc = json.load(fh)
# The ECR module's names (infra/envs/aws, local.repositories, default prefix):
# order-api and outbox-relay -> ecomexpress/order-api; sqs-worker-<role> -> ecomexpress/sqs-worker.
# The relay is the order-api image's `relay` subcommand; the others run the
# image's default command. (infra/envs/beanstalk renders these templates.)
env = os.path.basename(os.path.dirname(path))
repo = "ecomexpress/sqs-worker" if env.startswith("sqs-worker-") else "ecomexpress/order-api"
want_command = "relay" if env == "outbox-relay" else None
problems = []
known = {"AWSEBDockerrunVersion", "Authentication", "Image", "Ports", "Volumes", "Logging", "Entrypoint", "Command"}
for key in sorted(set(doc) - known):
    problems.append(f"unknown key {key!r} (Dockerrun.aws.json v1 keys: {', '.join(sorted(known))})")
if doc.get("AWSEBDockerrunVersion") != "1":
    problems.append('AWSEBDockerrunVersion must be "1"')
image = doc.get("Image", {})
want = f"<account>.dkr.ecr.<region>.amazonaws.com/{repo}:<tag>"
if image.get("Name") != want:
    problems.append(f"Image.Name must be the placeholder {want} (rendered copies go outside deploy/)")
if image.get("Update") != "true":
    problems.append('Image.Update must be "true"')
# The port the images listen on (PORT=8080); a string, as in the AWS examples.
if doc.get("Ports") != [{"ContainerPort": "8080"}]:
    problems.append('Ports must be exactly [{"ContainerPort": "8080"}]')
if doc.get("Command") != want_command:
    problems.append(f"Command must be {want_command!r} for {env}, not {doc.get('Command')!r}")
for p in problems:
    print(f"{path}: {p}", file=sys.stderr)
sys.exit(1 if problems else 0)
EOF
    dockerrun_ok=0
  fi
done
if ((dockerrun_ok)); then
  log "Dockerrun.aws.json: ${#DOCKERRUN_FILES[@]} files valid"
else
  FAILED+=(dockerrun)
fi

# 5. Documented build commands name the platform. The documents: every *.md
# outside build output and local state, and the Dockerfiles' comments.
mapfile -t DOC_FILES < <(find . \( -path ./target -o -path ./.local -o -path ./.git -o -name node_modules -o -name .terraform \) -prune -o -name '*.md' -type f -print | sort)
if "$PYTHON" - "${DOCKERFILES[@]}" "${DOC_FILES[@]}" <<'EOF'; then
import re, sys
# A build command: the tool's build verb followed by at least one argument
# (a bare mention such as `docker build` in prose is no command).
START = re.compile(r"\b(docker\s+buildx\s+build|docker\s+build|podman\s+build)\b(?=\s+\S)")
PLATFORM = re.compile(r"--platform[= ]linux/amd64\b")
bad = 0
def commands(path):
    """(line number, command text) of every build command in the file."""
    lines = open(path, encoding="utf-8").read().splitlines()
    if path.endswith(".md"):
        fenced, code = False, []
        for n, line in enumerate(lines, 1):
            if line.lstrip().startswith("```"):
                fenced = not fenced
                continue
            if fenced:
                code.append((n, line))
            else:
                for span in re.findall(r"`([^`]+)`", line):
                    if START.search(span):
                        yield n, span
    else:  # Dockerfile: its comment lines, without the leading '#'
        code = [(n, l.lstrip()[1:]) for n, l in enumerate(lines, 1) if l.lstrip().startswith("#")]
    i = 0
    while i < len(code):
        n, line = code[i]
        if START.search(line):
            text = line
            while text.rstrip().endswith("\\") and i + 1 < len(code):
                i += 1
                text = text.rstrip()[:-1] + " " + code[i][1]
            yield n, text.strip()
        i += 1
for path in sys.argv[1:]:
    for n, cmd in commands(path):
        if not PLATFORM.search(cmd):
            bad += 1
            short = cmd if len(cmd) <= 100 else cmd[:97] + "..."
            print(f"{path.removeprefix('./')}:{n}: build command without --platform linux/amd64: {short}", file=sys.stderr)
sys.exit(1 if bad else 0)
EOF
  log "build commands: every documented one names --platform linux/amd64 (${#DOC_FILES[@]} documents + ${DOCKERFILES[*]})"
else
  FAILED+=(build-platform)
fi

# 6. actionlint. WORKFLOWS_DIR only to prove the check on a broken copy.
WORKFLOWS_DIR=${WORKFLOWS_DIR:-.github/workflows}
mapfile -t workflows < <(find "$WORKFLOWS_DIR" -maxdepth 1 -type f \( -name '*.yml' -o -name '*.yaml' \) | sort)
actionlint_args=(-no-color -pyflakes= -config-file .github/actionlint.yaml)
if command -v shellcheck >/dev/null 2>&1; then
  actionlint_args+=(-shellcheck="$(command -v shellcheck)")
  with_shellcheck="with shellcheck"
else
  actionlint_args+=(-shellcheck=)
  with_shellcheck="without shellcheck (not installed: run: scripts unchecked)"
fi
if ((${#workflows[@]} == 0)); then
  log "actionlint: no workflow under $WORKFLOWS_DIR"
  FAILED+=(actionlint)
else
  log "actionlint $("$VENV/bin/actionlint" --version | head -n 1) $with_shellcheck: ${workflows[*]}"
  if "$VENV/bin/actionlint" "${actionlint_args[@]}" "${workflows[@]}"; then
    log "actionlint: no findings"
  else
    FAILED+=(actionlint)
  fi
fi

if ((${#FAILED[@]})); then
  die "failed: ${FAILED[*]}"
fi
log "all container checks passed"
