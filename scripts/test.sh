#!/usr/bin/env bash
# The test command: builds the Kubernetes test binaries when missing, then runs every test:
# `cargo test` and, beside it, the checks that run the daemon binary: the README's
# walk-through (scripts/walkthrough.sh, on its own test cluster and daemon), the same
# walk-through through a client generated from openapi/openapi.json
# (scripts/client-walkthrough.sh), schemathesis over the served document
# (scripts/schemathesis.sh), and the library and integration suites again on PostgreSQL
# (scripts/test-postgres.sh; `cargo test` itself runs on SQLite).
# FLUIDFORM_SKIP_WALKTHROUGH=1 runs `cargo test` alone.
set -euo pipefail
cd "$(dirname "$0")/.."
export FLUIDFORM_K8S_BIN="${FLUIDFORM_K8S_BIN:-$(bash tests/cluster/build.sh | tail -n 1)}"
# The benchmarks are never run here (no timed assertions), but must not rot: they parse
# (their Rust baselines are checked by `cargo clippy --all-targets`).
for f in bench/*.sh; do bash -n "$f"; done
python3 -c 'import ast, sys; [ast.parse(open(f).read(), f) for f in sys.argv[1:]]' bench/*.py
if [[ "${FLUIDFORM_SKIP_WALKTHROUGH:-}" == 1 ]]; then
	exec cargo test --locked "$@"
fi

# The scripts run the daemon binary; `cargo test` reuses this build.
cargo build --locked
# The Python tools' venv is made once, before the two scripts that use it start.
bash scripts/openapi/venv.sh > /dev/null

checks=(walkthrough client-walkthrough schemathesis test-postgres)
declare -A pid log
cleanup() {
	# On an interrupt, stop the scripts (each cleans up its cluster and daemon).
	local c
	for c in "${checks[@]}"; do
		[[ -n "${pid[$c]:-}" ]] && { kill -TERM "${pid[$c]}" 2>/dev/null || true; wait "${pid[$c]}" 2>/dev/null || true; }
		rm -f "${log[$c]:-}"
	done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for c in "${checks[@]}"; do
	log[$c]="$(mktemp "${TMPDIR:-/tmp}/fluidform-$c-log.XXXXXX")"
	bash "scripts/$c.sh" > "${log[$c]}" 2>&1 &
	pid[$c]=$!
done
tests=0
cargo test --locked "$@" || tests=$?
declare -A rc
for c in "${checks[@]}"; do
	rc[$c]=0
	wait "${pid[$c]}" || rc[$c]=$?
	pid[$c]=""
	echo "== scripts/$c.sh"
	cat "${log[$c]}"
done
failed=0
((tests == 0)) || { echo "test.sh: cargo test failed (exit $tests)" >&2; failed=1; }
for c in "${checks[@]}"; do
	((rc[$c] == 0)) || { echo "test.sh: scripts/$c.sh failed (exit ${rc[$c]})" >&2; failed=1; }
done
((failed == 0))
