#!/usr/bin/env bash
# The test command: builds the Kubernetes test binaries when missing, then runs every test:
# `cargo test` and, beside it, the README's walk-through (scripts/walkthrough.sh, on its own
# test cluster and daemon). FLUIDFORM_SKIP_WALKTHROUGH=1 runs `cargo test` alone.
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

# The walk-through runs the daemon binary; `cargo test` reuses this build.
cargo build --locked
log="$(mktemp "${TMPDIR:-/tmp}/fluidform-walkthrough-log.XXXXXX")"
walk=""
cleanup() {
	# On an interrupt, stop the walk-through (it cleans up its cluster and daemon).
	[[ -n "$walk" ]] && { kill -TERM "$walk" 2>/dev/null || true; wait "$walk" 2>/dev/null || true; }
	rm -f "$log"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

bash scripts/walkthrough.sh > "$log" 2>&1 &
walk=$!
tests=0
cargo test --locked "$@" || tests=$?
walkthrough=0
wait "$walk" || walkthrough=$?
walk=""
echo "== README walk-through (scripts/walkthrough.sh)"
cat "$log"
((tests == 0)) || echo "test.sh: cargo test failed (exit $tests)" >&2
((walkthrough == 0)) || echo "test.sh: the README walk-through failed (exit $walkthrough)" >&2
((tests == 0 && walkthrough == 0))
