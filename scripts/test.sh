#!/usr/bin/env bash
# The test command: builds the Kubernetes test binaries when missing, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
export FLUIDFORM_K8S_BIN="${FLUIDFORM_K8S_BIN:-$(bash tests/cluster/build.sh | tail -n 1)}"
cargo test --locked "$@"
