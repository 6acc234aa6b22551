#!/usr/bin/env bash
# Rotation benchmark (issue 8, target 4): N runtimes (default 1000) over three real control
# planes (etcd, kube-apiserver with an audit log, controller-manager, scheduler, kwok fake
# nodes: pods really restart), rotated from `global-secret` v1 to v2 in batches of BATCH
# (default 50) runtimes. Reports fluidform's own time per batch (the daemon's CPU time,
# waits for pods cost none) against the plan + apply of the same runtimes in the same run,
# and the most mutating requests in flight per API server (from its audit log).
#
#   bench/rotation.sh              # N=1000 BATCH=50 CLUSTERS=3 to change
#
# Raw numbers: bench/out/rotation-<time>/.
source "$(dirname "$0")/lib.sh"
N="${N:-1000}"
BATCH="${BATCH:-50}"
CLUSTERS="${CLUSTERS:-3}"
# 3 pods per runtime (master, worker, one fuse), at most 110 pods per fake node.
NODES="${NODES:-$(( (3 * N / CLUSTERS + 3) / 100 + 2 ))}"

bench_build
bench_header
kcs=() audits=()
for ((i = 0; i < CLUSTERS; i++)); do
	bench_cluster "k$i" --nodes "$NODES" --audit
	kcs+=("$REPLY")
	audits+=("$work/k$i/audit.log")
done
echo "$CLUSTERS clusters with $NODES kwok nodes each"
bench_daemon "$work/data"
join() { local IFS=,; echo "$*"; }
bench_step python3 bench/rotation.py --addr "$addr" --token "$token" --kubeconfigs "$(join "${kcs[@]}")" \
	--audits "$(join "${audits[@]}")" --kubectl "$FLUIDFORM_K8S_BIN/kubectl" --db "$work/data/fluidform.db" \
	--n "$N" --batch "$BATCH" --nodes "$NODES" --daemon-pid "$daemon_pid" --json "$out/rotation.json" \
	> >(tee "$out/rotation.txt")
echo "daemon peak RSS (VmHWM): $(awk '/VmHWM/ {print $2, $3}' "/proc/$daemon_pid/status")"
