#!/usr/bin/env bash
# Apply benchmark (issue 8, targets 2 and 3): cold plan + apply of N runtimes (default 500,
# 5 objects each plus the credential Secret) to one real kube-apiserver, against a bare
# concurrent server-side-apply client (bench/bare_ssa.rs: same objects, same concurrency,
# no store) and `kubectl apply --server-side`, all measured in the same run; then the
# no-op plan + apply of the unchanged state (0 writes expected), with and without refresh.
#
#   bench/apply.sh                 # N=500 REPS=3 CONCURRENCY=16 to change
#
# Raw numbers: bench/out/apply-<time>/.
source "$(dirname "$0")/lib.sh"
N="${N:-500}"
REPS="${REPS:-3}"
CONCURRENCY="${CONCURRENCY:-16}"

bench_build --example bare_ssa
bench_header
bench_cluster api
kubeconfig="$REPLY"
bench_daemon "$work/data"
bench_step python3 bench/apply.py --addr "$addr" --token "$token" --kubeconfig "$kubeconfig" \
	--kubectl "$FLUIDFORM_K8S_BIN/kubectl" --bare target/release/examples/bare_ssa --work "$work" \
	--n "$N" --reps "$REPS" --concurrency "$CONCURRENCY" --daemon-pid "$daemon_pid" --json "$out/apply.json" \
	> >(tee "$out/apply.txt")
echo "daemon peak RSS (VmHWM): $(awk '/VmHWM/ {print $2, $3}' "/proc/$daemon_pid/status")"
