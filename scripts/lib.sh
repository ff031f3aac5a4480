# Helpers shared by the scripts (sourced; the
# caller defines log()).
# shellcheck shell=bash

# Starts the local stack unless it is up; at exit, stops it only if it was
# started here. For scripts run from the repository root (bench, soak).
stack_up_for_this_run() {
  # shellcheck disable=SC2034 # read by the EXIT trap
  STARTED_STACK=0
  if ! bash scripts/stack.sh status >/dev/null 2>&1; then
    bash scripts/stack.sh up
    # shellcheck disable=SC2034 # read by the EXIT trap
    STARTED_STACK=1
  fi
  trap 'if ((STARTED_STACK)); then bash scripts/stack.sh down; fi' EXIT
}

# sha256 of the concatenation of the given files.
hash_files() { cat "$@" | sha256sum | cut -d' ' -f1; }

# True while PID exists and is not a zombie.
alive() {
  local stat
  kill -0 "$1" 2>/dev/null || return 1
  stat=$(<"/proc/$1/stat") 2>/dev/null || return 1
  stat=${stat##*) }
  [[ ${stat%% *} != Z ]]
}

# What a pinned venv was installed from: the requirements' hash and the
# interpreter's version (the stamp kept in <venv>/.installed).
# Usage: venv_want PYTHON REQUIREMENTS
venv_want() {
  printf '%s python-%s\n' "$(hash_files "$2")" \
    "$("$1" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')"
}

# True when VENV was installed from WANT (see venv_want).
venv_current() {
  [[ -x $1/bin/python && -f $1/.installed && $(<"$1/.installed") == "$2" ]]
}

# (Re)creates VENV with PYTHON from the pinned REQUIREMENTS and stamps it WANT.
# Usage: venv_install VENV PYTHON REQUIREMENTS WANT
venv_install() {
  local venv=$1 python=$2 reqs=$3 want=$4
  [[ $want == *" python-3.11."* ]] || log "warning: $(basename "$reqs") was frozen for Python 3.11; $python is ${want##* python-}"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --no-input --disable-pip-version-check -r "$reqs"
  printf '%s\n' "$want" >"$venv/.installed"
}

# podman's flags for building and running containers on this kind of machine:
# crun fails on its hybrid cgroup layout (runc works), and podman's default
# ulimits exceed the sandbox's hard limits. Harmless elsewhere.
# shellcheck disable=SC2034 # used by the scripts that source this file
PODMAN_FLAGS=(--runtime runc --ulimit nofile=20000:20000 --ulimit nproc=4096:4096)

# Installs Debian's podman, runc and mmdebstrap when one is missing (root only).
ensure_podman() {
  local missing=() cmd
  for cmd in podman runc mmdebstrap; do
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
  done
  ((${#missing[@]} == 0)) && return 0
  ((EUID == 0)) || {
    log "missing ${missing[*]} and this is not root: apt-get install -y podman runc mmdebstrap"
    return 1
  }
  log "installing Debian's ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc mmdebstrap >/dev/null
}

# The commit the images' sources are at: HEAD, with -dirty when Cargo.toml,
# Cargo.lock or crates/ have uncommitted changes; "unknown" outside git.
source_revision() {
  local rev
  rev=$(git rev-parse HEAD 2>/dev/null) || {
    echo unknown
    return 0
  }
  [[ -z $(git status --porcelain --untracked-files=no -- Cargo.toml Cargo.lock crates) ]] || rev+=-dirty
  echo "$rev"
}

# The workspace's version (order-api's, which every crate shares).
workspace_version() {
  cargo metadata --format-version 1 --no-deps --locked |
    python3 -c 'import json, sys; print({p["name"]: p["version"] for p in json.load(sys.stdin)["packages"]}["order-api"])'
}

# A TCP port free on 127.0.0.1 right now.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
