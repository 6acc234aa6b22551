#!/usr/bin/env bash
# Runs schemathesis over the OpenAPI document the real daemon serves, with every check, and
# fails on any failure: the document must say what the server enforces and answers.
#
#   bash scripts/schemathesis.sh     # needs target/debug/fluidform (cargo build), python3
#                                    # with venv, openssl and curl; no cluster
#
# The daemon runs on a free port with a fresh data directory and an admin token; every
# request carries that token (the `ignored_auth` and `missing_required_header` checks also
# send none and a wrong one).
# No cluster exists: the operations that reach one get clusters schemathesis registers,
# whose servers do not answer, and must say so with a documented problem (502 or 422).
# Settings: scripts/openapi/schemathesis.toml.
#
# Env: SCHEMATHESIS_BIN (default target/debug/fluidform), SCHEMATHESIS_MAX_EXAMPLES
# (cases per operation and phase, default 15), SCHEMATHESIS_SEED (default fixed, so that
# CI is repeatable; `random` for a new one), SCHEMATHESIS_KEEP=1 keeps the temp dir with
# the daemon's log and the report.
set -euo pipefail

repo="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
bin="${SCHEMATHESIS_BIN:-$repo/target/debug/fluidform}"
examples="${SCHEMATHESIS_MAX_EXAMPLES:-15}"
seed="${SCHEMATHESIS_SEED:-20261202}"
t0=$SECONDS

say() { echo "schemathesis.sh: $*" >&2; }
die() { say "$*"; exit 1; }

for tool in python3 openssl curl flock; do
	command -v "$tool" > /dev/null || die "$tool not found"
done
[[ -x "$bin" ]] || die "$bin missing: cargo build first (or set SCHEMATHESIS_BIN)"
venv="$(bash "$repo/scripts/openapi/venv.sh")"

work="$(mktemp -d "${TMPDIR:-/tmp}/fluidform-schemathesis.XXXXXX")"
# shellcheck source=openapi/daemon.sh
source "$repo/scripts/openapi/daemon.sh"
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	((rc == 0)) || { say "FAILED after $((SECONDS - t0)) s"; daemon_log_tail; }
	stop_daemon
	if [[ "${SCHEMATHESIS_KEEP:-}" == 1 ]]; then say "kept $work"; else rm -rf "$work"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start_daemon
seed_args=()
[[ "$seed" == random ]] || seed_args=(--seed "$seed")
say "schemathesis $("$venv/bin/schemathesis" --version | awk '{print $NF}') on $base/openapi.json, at most $examples cases per operation"
cd "$work"
export FLUIDFORM_SCHEMATHESIS_TOKEN="$token" SCHEMATHESIS_HOOKS=schemathesis_hooks PYTHONPATH="$repo/scripts/openapi${PYTHONPATH:+:$PYTHONPATH}"
# One worker: with two, hypothesis parses lambdas' source in both threads at once, and
# CPython 3.11's ast.parse is not safe for that ("AST constructor recursion depth
# mismatch", a SystemError that fails the run).
"$venv/bin/schemathesis" --config-file "$repo/scripts/openapi/schemathesis.toml" run "$base/openapi.json" \
	--checks all --max-examples "$examples" "${seed_args[@]}" --workers 1 \
	--request-timeout 20 \
	--report junit --report-dir "$work/report" --no-color
say "passed in $((SECONDS - t0)) s"
