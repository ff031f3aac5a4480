#!/usr/bin/env bash
# Usage: scripts/tf-init.sh <dir> [extra terraform init args...]
#
# Runs `terraform init` in <dir>, working offline when a filesystem mirror of
# the hashicorp/aws provider exists on this machine:
#   1. $TF_PLUGIN_DIR, when set, is passed as -plugin-dir;
#   2. else the cached root in .local/tf-plugin-dir (repo root) when still valid;
#   3. else a few usual plugin locations, then a bounded `find /`;
#   4. else a plain `terraform init` (registry).
# A "mirror root" is the folder holding registry.terraform.io/hashicorp/aws/...
# (unpacked layout <ver>/<os_arch>/terraform-provider-aws_* or packed zips).
#
# Env: TF_PLUGIN_DIR (force a mirror root), TF_PLUGIN_FIND_TIMEOUT (seconds for
# the fallback find, default 60), TF_PLUGIN_NO_DISCOVERY=1 (skip discovery).
set -euo pipefail

usage() {
  echo "usage: $0 <terraform dir> [extra terraform init args...]" >&2
  exit 2
}

[[ $# -ge 1 ]] || usage
dir=$1
shift
[[ -d $dir ]] || {
  echo "tf-init: no such directory: $dir" >&2
  exit 2
}

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache_dir="$repo_root/.local"
cache_file="$cache_dir/tf-plugin-dir"

log() { echo "tf-init: $*" >&2; }

# True when $1 looks like a filesystem mirror root holding hashicorp/aws.
has_aws_provider() {
  local root=$1
  [[ -n $root && -d $root/registry.terraform.io/hashicorp/aws ]] || return 1
  compgen -G "$root/registry.terraform.io/hashicorp/aws/*/*/terraform-provider-aws_*" >/dev/null ||
    compgen -G "$root/registry.terraform.io/hashicorp/aws/terraform-provider-aws_*.zip" >/dev/null
}

save_cache() {
  mkdir -p "$cache_dir"
  # Keep the cache out of git without touching the repo's .gitignore.
  [[ -f $cache_dir/.gitignore ]] || printf '*\n' >"$cache_dir/.gitignore"
  printf '%s\n' "$1" >"$cache_file"
}

discover_plugin_dir() {
  local candidate

  if [[ -f $cache_file ]]; then
    candidate=$(<"$cache_file")
    if has_aws_provider "$candidate"; then
      printf '%s\n' "$candidate"
      return 0
    fi
    log "cached mirror '$candidate' is gone; searching again"
    rm -f "$cache_file"
  fi

  local -a usual=(
    "${HOME:-/root}/.terraform.d/plugins"
    "${XDG_DATA_HOME:-${HOME:-/root}/.local/share}/terraform/plugins"
    /usr/share/terraform/plugins
    /usr/local/share/terraform/plugins
  )
  local d
  for d in /opt/*; do
    [[ -d $d ]] || continue
    usual+=("$d" "$d/plugins" "$d/terraform/plugins")
  done
  for candidate in "${usual[@]}"; do
    if has_aws_provider "$candidate"; then
      save_cache "$candidate"
      printf '%s\n' "$candidate"
      return 0
    fi
  done

  # Last resort: a bounded search of the root filesystem.
  local found
  found=$(timeout "${TF_PLUGIN_FIND_TIMEOUT:-60}" \
    find / -xdev \( -path /proc -o -path /sys -o -path /dev \) -prune -o \
    -path '*/registry.terraform.io/hashicorp/aws/*' -name 'terraform-provider-aws_*' -print 2>/dev/null |
    head -n 1 || true)
  if [[ -n $found ]]; then
    candidate=${found%%/registry.terraform.io/*}
    if has_aws_provider "$candidate"; then
      save_cache "$candidate"
      printf '%s\n' "$candidate"
      return 0
    fi
  fi
  return 1
}

# A TF_CLI_CONFIG_FILE pointing at a missing file only makes terraform warn.
if [[ -n ${TF_CLI_CONFIG_FILE:-} && ! -e $TF_CLI_CONFIG_FILE ]]; then
  unset TF_CLI_CONFIG_FILE
fi

plugin_dir=""
if [[ -n ${TF_PLUGIN_DIR:-} ]]; then
  plugin_dir=$TF_PLUGIN_DIR
  has_aws_provider "$plugin_dir" || log "warning: TF_PLUGIN_DIR=$plugin_dir holds no hashicorp/aws provider"
elif [[ ${TF_PLUGIN_NO_DISCOVERY:-0} != 1 ]]; then
  plugin_dir=$(discover_plugin_dir || true)
fi

if [[ -n $plugin_dir ]]; then
  log "using provider mirror $plugin_dir for $dir"
  exec terraform -chdir="$dir" init -input=false -plugin-dir="$plugin_dir" "$@"
else
  log "no local provider mirror found; plain terraform init in $dir"
  exec terraform -chdir="$dir" init -input=false "$@"
fi
