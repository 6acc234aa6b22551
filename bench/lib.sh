# shellcheck shell=bash
# Shared by the bench scripts (sourced): the release build, a work directory, test control
# planes and the daemon started on free ports, and one cleanup that stops every process
# they started (each in its own process group) on any exit, failure or signal.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo="$PWD"
version="$(tr -d '[:space:]' < tests/cluster/VERSION)"
export FLUIDFORM_K8S_BIN="${FLUIDFORM_K8S_BIN:-$HOME/.cache/fluidform/k8s/$version/bin}"
bench_name="$(basename "$0" .sh)"

work="$(mktemp -d "${TMPDIR:-/tmp}/fluidform-bench-$bench_name.XXXXXX")"
mkdir -p bench/out
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
out="$repo/bench/out/$bench_name-$stamp"
mkdir -p "$out"
bench_groups=()   # process-group leaders to stop on exit
bench_clusters=() # FLUIDFORM_CLUSTER_DIRs to take down on exit
daemon_pid=""

bench_cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	local p d
	for p in "${bench_groups[@]}"; do
		kill -TERM -- "-$p" 2>/dev/null || true
	done
	for p in "${bench_groups[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	for d in "${bench_clusters[@]}"; do
		FLUIDFORM_CLUSTER_DIR="$d" scripts/test-cluster.sh down >/dev/null 2>&1 || true
	done
	if ((rc != 0)); then
		echo "$bench_name: failed (exit $rc); last log lines:" >&2
		tail -n 15 "$work"/*.log "$work"/*/kube-apiserver.log 2>/dev/null >&2 || true
	fi
	rm -rf "$work"
	exit "$rc"
}
trap bench_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Starts a command in its own process group, in the background; stopped on exit.
bench_spawn() {
	setsid "$@" &
	bench_groups+=($!)
	REPLY=$!
}

# Runs a command in its own process group and waits for it (a signal to this script is
# handled at once, and cleanup stops the command with everything it started).
bench_step() {
	bench_spawn "$@"
	local pid=$REPLY rc=0
	wait "$pid" || rc=$?
	bench_groups=("${bench_groups[@]/$pid/}")
	return "$rc"
}

bench_stop() { # bench_stop PID: stops one process group started by bench_spawn
	kill -TERM -- "-$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
	bench_groups=("${bench_groups[@]/$1/}")
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

bench_build() {
	[[ -x "$FLUIDFORM_K8S_BIN/kube-apiserver" ]] || FLUIDFORM_K8S_BIN="$(bash tests/cluster/build.sh | tail -n 1)"
	cargo build --release --quiet --bin fluidform "$@"
}

# bench_cluster NAME [test-cluster.sh up options]: a control plane in $work/NAME; sets
# REPLY to its kubeconfig.
bench_cluster() {
	local name="$1"; shift
	local dir="$work/$name"
	bench_clusters+=("$dir")
	FLUIDFORM_CLUSTER_DIR="$dir" bench_spawn scripts/test-cluster.sh up "$@" >"$work/$name.out" 2>"$work/$name.log"
	local pid=$REPLY i
	for ((i = 0; i < 1500; i++)); do
		[[ -s "$work/$name.out" ]] && break
		kill -0 "$pid" 2>/dev/null || { echo "cluster $name failed to start" >&2; return 1; }
		sleep 0.2
	done
	REPLY="$(tail -n 1 "$work/$name.out")"
	[[ -f "$REPLY" ]] || { echo "no kubeconfig for cluster $name" >&2; return 1; }
}

# bench_daemon DATA-DIR: the release daemon (drift loop off) on a free port; sets addr,
# token and daemon_pid. Extra environment can be given before the call.
bench_daemon() {
	local data="$1"
	mkdir -p "$data"
	addr="127.0.0.1:$(free_port)"
	token="${token:-bench-admin-token-$$-$RANDOM}"
	FLUIDFORM_LISTEN="$addr" FLUIDFORM_DATA_DIR="$data" FLUIDFORM_ADMIN_TOKEN="$token" \
		FLUIDFORM_DRIFT_INTERVAL=0 FLUIDFORM_LOG="${FLUIDFORM_LOG:-warn}" \
		bench_spawn target/release/fluidform serve >>"$work/daemon.log" 2>&1
	daemon_pid=$REPLY
	local i
	for ((i = 0; i < 300; i++)); do
		curl -sf "http://$addr/readyz" >/dev/null && return 0
		kill -0 "$daemon_pid" 2>/dev/null || { echo "daemon exited" >&2; return 1; }
		sleep 0.1
	done
	echo "daemon not ready" >&2
	return 1
}

bench_header() {
	echo "$bench_name: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), fluidform $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src || echo '+dirty'), kube-apiserver $version"
	echo "raw numbers: $out"
}
