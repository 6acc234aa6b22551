#!/usr/bin/env bash
# Rotation benchmark (issue 4): N runtimes (default 1000) across 10 namespaces of one real
# control plane with kwok nodes (pods really restart), rotated with batches
# [1, "10%", "50%", "100%"]. Reports per batch the time fluidform itself spent (driver steps
# plus the apply run, excluding the waits for pods between steps), the wall time, and the
# daemon's peak RSS; baseline in the same run: the plan+apply of the same runtimes before
# the rotation, per runtime.
#
#   bench/rotation.sh            # N=1000 to change
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
N="${N:-1000}"
version="$(tr -d '[:space:]' < tests/cluster/VERSION)"
export FLUIDFORM_K8S_BIN="${FLUIDFORM_K8S_BIN:-$HOME/.cache/fluidform/k8s/$version/bin}"
[[ -x "$FLUIDFORM_K8S_BIN/kwok" ]] || FLUIDFORM_K8S_BIN="$(bash tests/cluster/build.sh | tail -n 1)"
cargo build --release --quiet

work="$(mktemp -d "${TMPDIR:-/tmp}/fluidform-bench-rot.XXXXXX")"
export FLUIDFORM_CLUSTER_DIR="$work/cluster"
cluster_pid="" daemon_pid=""
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	[[ -n "$daemon_pid" ]] && { kill "$daemon_pid" 2>/dev/null || true; wait "$daemon_pid" 2>/dev/null || true; }
	if [[ -n "$cluster_pid" ]]; then
		kill -TERM "$cluster_pid" 2>/dev/null || true
		wait "$cluster_pid" 2>/dev/null || true
		scripts/test-cluster.sh down >/dev/null 2>&1 || true
	fi
	((rc != 0)) && tail -n 20 "$work/daemon.log" "$work/cluster.err" 2>/dev/null >&2
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

nodes=$(( (2 * N) / 100 + 2 ))
scripts/test-cluster.sh up --nodes "$nodes" >"$work/cluster.out" 2>"$work/cluster.err" &
cluster_pid=$!
for _ in $(seq 900); do
	[[ -s "$work/cluster.out" ]] && break
	kill -0 "$cluster_pid" 2>/dev/null || { cat "$work/cluster.err" >&2; exit 1; }
	sleep 0.2
done
kubeconfig="$(tail -n 1 "$work/cluster.out")"

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
addr="127.0.0.1:$port"
token="bench-admin-token-$$-$RANDOM"
mkdir -p "$work/data"
FLUIDFORM_LISTEN="$addr" FLUIDFORM_DATA_DIR="$work/data" FLUIDFORM_ADMIN_TOKEN="$token" \
	FLUIDFORM_DRIFT_INTERVAL=0 FLUIDFORM_LOG=warn target/release/fluidform serve >"$work/daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 200); do curl -sf "http://$addr/readyz" >/dev/null && break; sleep 0.1; done

echo "rotation: $(nproc) CPUs, kube-apiserver $version + kwok ($nodes nodes), N=$N runtimes in 10 namespaces"
python3 bench/rotation.py --addr "$addr" --token "$token" --kubeconfig "$kubeconfig" \
	--kubectl "$FLUIDFORM_K8S_BIN/kubectl" --n "$N"
echo "daemon peak RSS (VmHWM): $(awk '/VmHWM/ {print $2, $3}' "/proc/$daemon_pid/status")"
