#!/usr/bin/env bash
# Plan benchmark (issue 8, target 1): `POST /v1/plans {"all": true}` without refresh over N
# stored runtimes (SIZES, default 1000,10000), 10 plans in a row (REPS), for a fleet never
# applied (then again after a restart of the daemon, which reads back the renderings the
# first plans kept) and for the same fleet applied and unchanged; time, response bytes,
# daemon RSS.
# Baseline in the same run: reading every runtime through `GET /v1/runtimes` (pages of 1,000).
#
#   bench/plan.sh                 # SIZES=1000,10000 REPS=10 to change
#   FLEETS=never bench/plan.sh    # the never-applied fleet only (no apply)
#
# One real API server (etcd + kube-apiserver) receives the applied fleets. Each size gets
# its own daemon and database; the daemon restarts after the apply, so its peak RSS (VmHWM)
# counts the plans alone. Raw numbers: bench/out/plan-<time>/.
source "$(dirname "$0")/lib.sh"
SIZES="${SIZES:-1000,10000}"
REPS="${REPS:-10}"
FLEETS="${FLEETS:-never,applied}"
case "$FLEETS" in never | never,applied) ;; *) echo "FLEETS must be never or never,applied" >&2; exit 2 ;; esac

bench_build
bench_header
bench_cluster api
kubeconfig="$REPLY"

for n in ${SIZES//,/ }; do
	echo "N=$n"
	data="$work/data-$n"
	bench_daemon "$data"
	py() { bench_step python3 bench/plan.py --addr "$addr" --token "$token" --kubeconfig "$kubeconfig" --n "$n" \
		--reps "$REPS" --daemon-pid "$daemon_pid" "$@"; }
	py --phase seed --json "$out/seed-$n.json"
	echo " never applied (every runtime rendered):"
	py --phase plans --label "N=$n never applied" --json "$out/plans-fresh-$n.json"
	bench_stop "$daemon_pid"
	bench_daemon "$data"
	echo " never applied, daemon restarted (renderings read back from the database):"
	py --phase plans --label "N=$n never applied, restarted" --json "$out/plans-kept-$n.json"
	if [[ "$FLEETS" == never ]]; then
		bench_stop "$daemon_pid"
		continue
	fi
	py --phase apply --json "$out/apply-$n.json"
	bench_stop "$daemon_pid"
	bench_daemon "$data"
	echo " applied, unchanged (daemon restarted):"
	py --phase plans --label "N=$n applied" --json "$out/plans-applied-$n.json"
	bench_stop "$daemon_pid"
done

python3 - "$out" "$SIZES" "$FLEETS" <<'PY'
import json, statistics, sys
out, sizes = sys.argv[1], [int(x) for x in sys.argv[2].split(",")]
fleets = sys.argv[3].split(",")
med = statistics.median
print()
print("Medians over the plans in a row (min–max). Targets at N=10,000: plan ≤ 0.5 s, response ≤ 64 KiB, peak RSS ≤ 200 MB.")
print(f"{'N':>6} {'fleet':<14} {'plan s':>22} {'daemon CPU s':>13} {'max KiB':>8} {'peak RSS MiB':>13} {'list-all s':>22} {'plan/list':>9}")
failed = False
for n in sizes:
    for phase, label in (("fresh", "never applied"), ("kept", "never, restart"), ("applied", "applied"))[:len(fleets) + 1]:
        r = json.load(open(f"{out}/plans-{phase}-{n}.json"))
        p, l = r["plan_s"], r["list_s"]
        kib = max(r["plan_bytes"]) / 1024
        rss = r["peak_rss_kb"] / 1024
        print(f"{n:>6} {label:<14} {med(p):>8.3f} ({min(p):.3f}–{max(p):.3f}) {med(r['cpu_s']):>13.2f} {kib:>8.1f}"
              f" {rss:>13.0f} {med(l):>8.3f} ({min(l):.3f}–{max(l):.3f}) {med(p) / med(l):>9.2f}")
PY
