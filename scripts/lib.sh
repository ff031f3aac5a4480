# Helpers shared by scripts/stack.sh and scripts/rehearsal.sh (sourced; the
# caller defines log()).
# shellcheck shell=bash

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
