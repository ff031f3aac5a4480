#!/usr/bin/env bash
# `make fmt`: format the Rust workspace and the Terraform under infra/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo fmt --all
terraform fmt -recursive infra
