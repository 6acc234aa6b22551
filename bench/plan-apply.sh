#!/usr/bin/env bash
# Plan + apply benchmark against one real kube-apiserver (issue 3): for N = 10, 100, 500
# runtimes in a fresh namespace, the time of POST /v1/plans (refresh, createNamespaces) and
# of applying it (POST /v1/plans/{id}/apply, polling GET /v1/runs/{id}), the API requests it
# sent per runtime, and the time of re-planning and re-applying the unchanged state (no
# writes expected). Baseline in the same run: the same rendered manifests applied with
# `kubectl apply --server-side` (kubectl built from the same Go module as the API server)
# into another fresh namespace, and re-applied unchanged. Medians of REPS repetitions.
#
#   bench/plan-apply.sh            # SIZES=10,100,500 REPS=3 to change
#
# Needs the Kubernetes test binaries (tests/cluster/build.sh builds them when missing).
# Writes the raw numbers to bench/out/plan-apply-<time>.json. Cleans up every process it
# starts (daemon, etcd, kube-apiserver) on any exit.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"

SIZES="${SIZES:-10,100,500}"
REPS="${REPS:-3}"
version="$(tr -d '[:space:]' < tests/cluster/VERSION)"
export FLUIDFORM_K8S_BIN="${FLUIDFORM_K8S_BIN:-$HOME/.cache/fluidform/k8s/$version/bin}"
if [[ ! -x "$FLUIDFORM_K8S_BIN/kube-apiserver" || ! -x "$FLUIDFORM_K8S_BIN/kubectl" ]]; then
	FLUIDFORM_K8S_BIN="$(bash tests/cluster/build.sh | tail -n 1)"
fi
kubectl="$FLUIDFORM_K8S_BIN/kubectl"

cargo build --release --quiet

work="$(mktemp -d "${TMPDIR:-/tmp}/fluidform-bench-plan.XXXXXX")"
export FLUIDFORM_CLUSTER_DIR="$work/cluster"
cluster_pid=""
daemon_pid=""
child=""
# Runs a long step in its own process group, in the background, so a signal to this script
# is handled at once (bash defers traps while a foreground command runs) and cleanup can
# stop the step with everything it started (kubectl).
step() {
	setsid "$@" &
	child=$!
	wait "$child"
	child=""
}
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [[ -n "$child" ]]; then
		kill -TERM -- "-$child" 2>/dev/null || kill -TERM "$child" 2>/dev/null || true
		wait "$child" 2>/dev/null || true
	fi
	if [[ -n "$daemon_pid" ]]; then
		kill "$daemon_pid" 2>/dev/null || true
		wait "$daemon_pid" 2>/dev/null || true
	fi
	if [[ -n "$cluster_pid" ]]; then
		# test-cluster.sh's own trap kills etcd and kube-apiserver on TERM.
		kill -TERM "$cluster_pid" 2>/dev/null || true
		wait "$cluster_pid" 2>/dev/null || true
		scripts/test-cluster.sh down >/dev/null 2>&1 || true
	fi
	if ((rc != 0)); then
		echo "plan-apply.sh: failed (exit $rc); logs:" >&2
		tail -n 20 "$work/daemon.log" "$work"/cluster/kube-apiserver.log "$work/cluster.err" 2>/dev/null >&2 || true
	fi
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# One real API server (etcd + kube-apiserver), on free ports chosen by the script.
scripts/test-cluster.sh up >"$work/cluster.out" 2>"$work/cluster.err" &
cluster_pid=$!
for _ in $(seq 600); do
	[[ -s "$work/cluster.out" ]] && break
	kill -0 "$cluster_pid" 2>/dev/null || { cat "$work/cluster.err" >&2; echo "test cluster failed to start" >&2; exit 1; }
	sleep 0.2
done
kubeconfig="$(tail -n 1 "$work/cluster.out")"
[[ -f "$kubeconfig" ]] || { echo "no kubeconfig from test-cluster.sh" >&2; exit 1; }

# The release daemon, drift loop off so nothing else talks to the API server.
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
addr="127.0.0.1:$port"
token="bench-admin-token-$$-$RANDOM"
mkdir -p "$work/data"
FLUIDFORM_LISTEN="$addr" FLUIDFORM_DATA_DIR="$work/data" FLUIDFORM_ADMIN_TOKEN="$token" \
	FLUIDFORM_DRIFT_INTERVAL=0 FLUIDFORM_LOG=warn \
	target/release/fluidform serve >"$work/daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 200); do
	curl -sf "http://$addr/readyz" >/dev/null && break
	kill -0 "$daemon_pid" 2>/dev/null || { cat "$work/daemon.log" >&2; exit 1; }
	sleep 0.1
done
curl -sf "http://$addr/readyz" >/dev/null || { echo "daemon not ready" >&2; exit 1; }

mkdir -p bench/out
json="$repo/bench/out/plan-apply-$(date -u +%Y%m%dT%H%M%SZ).json"
echo "plan-apply: $(nproc) CPUs, kube-apiserver $version, fluidform $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src || echo '+dirty'), sizes $SIZES, $REPS repetition(s)"
step python3 bench/plan_apply.py --addr "$addr" --token "$token" --kubeconfig "$kubeconfig" --kubectl "$kubectl" \
	--work "$work" --sizes "$SIZES" --reps "$REPS" --daemon-pid "$daemon_pid" --json "$json"
echo "daemon peak RSS (VmHWM): $(awk '/VmHWM/ {print $2, $3}' "/proc/$daemon_pid/status")"
echo "database size: $(du -sh "$work/data" | cut -f1)"
echo "raw numbers: $json"
