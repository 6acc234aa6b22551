#!/usr/bin/env bash
# Drives the README's walk-through (cluster, credential, runtime, resolution, manifests,
# plan and apply) through a Python client generated from openapi/openapi.json, against a
# test cluster and the real daemon: a document that disagrees with the server fails it.
#
#   bash scripts/client-walkthrough.sh   # needs target/debug/fluidform (cargo build), the
#                                        # test binaries (tests/cluster/build.sh), python3
#                                        # with venv, openssl and curl
#
# The client is generated at each run into a temp dir (never committed) with
# openapi-python-client, pinned in scripts/openapi/requirements.txt; a generator warning
# other than the unsupported application/yaml bodies (the JSON body of the same operation
# is generated) fails the run. The steps are tests/client/walkthrough.py.
#
# Env: CLIENT_WALKTHROUGH_BIN (default target/debug/fluidform), CLIENT_WALKTHROUGH_KEEP=1
# keeps the temp dir; FLUIDFORM_K8S_BIN as for scripts/test-cluster.sh.
set -euo pipefail

repo="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
bin="${CLIENT_WALKTHROUGH_BIN:-$repo/target/debug/fluidform}"
t0=$SECONDS

say() { echo "client-walkthrough.sh: $*" >&2; }
die() { say "$*"; exit 1; }

for tool in python3 openssl curl flock; do
	command -v "$tool" > /dev/null || die "$tool not found"
done
[[ -x "$bin" ]] || die "$bin missing: cargo build first (or set CLIENT_WALKTHROUGH_BIN)"
venv="$(bash "$repo/scripts/openapi/venv.sh")"

work="$(mktemp -d "${TMPDIR:-/tmp}/fluidform-client.XXXXXX")"
export FLUIDFORM_CLUSTER_DIR="$work/cluster"
# shellcheck source=openapi/daemon.sh
source "$repo/scripts/openapi/daemon.sh"
cluster_pid=""
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if ((rc != 0)); then
		say "FAILED after $((SECONDS - t0)) s"
		daemon_log_tail
		tail -n 10 "$work/cluster.err" >&2 2>/dev/null || true
	fi
	stop_daemon
	if [[ -n "$cluster_pid" ]]; then
		kill -TERM "$cluster_pid" 2>/dev/null || true
		wait "$cluster_pid" 2>/dev/null || true
		"$repo/scripts/test-cluster.sh" down > /dev/null 2>&1 || true
	fi
	if [[ "${CLIENT_WALKTHROUGH_KEEP:-}" == 1 ]]; then say "kept $work"; else rm -rf "$work"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The cluster starts while the client is generated.
"$repo/scripts/test-cluster.sh" up > "$work/cluster.out" 2> "$work/cluster.err" &
cluster_pid=$!

say "generating the client from openapi/openapi.json"
(cd "$work" && PATH="$venv/bin:$PATH" openapi-python-client generate --path "$repo/openapi/openapi.json" \
	--output-path "$work/fluidform_client" --meta none) > "$work/generate.log" 2>&1 ||
	{ cat "$work/generate.log" >&2; die "openapi-python-client failed"; }
# Its warnings are paragraphs: "WARNING parsing <op>" or "Unable to ..." then the detail.
python3 - "$work/generate.log" <<-'PY'
	import re, sys
	text = open(sys.argv[1]).read()
	bad = [p for p in re.split(r"\n(?=WARNING |Unable to |Failure to |Warning\(s\))", text)
	       if p.startswith(("WARNING ", "Unable to ", "Failure to "))
	       and "Unsupported content type application/yaml" not in p]
	if bad:
	    print(text, file=sys.stderr)
	    sys.exit(f"client-walkthrough.sh: the generator could not use {len(bad)} part(s) of the document")
PY

until [[ -s "$work/cluster.out" ]]; do
	kill -0 "$cluster_pid" 2>/dev/null || { cat "$work/cluster.err" >&2; die "the test cluster did not start"; }
	((SECONDS - t0 < 180)) || die "the test cluster was not ready within 180 s"
	sleep 0.5
done
kubeconfig="$(tail -n 1 "$work/cluster.out")"
start_daemon
echo "$token" > "$work/token"
PYTHONPATH="$work" "$venv/bin/python" "$repo/tests/client/walkthrough.py" "$base" "$work/token" "$kubeconfig"
say "passed in $((SECONDS - t0)) s"
