#!/usr/bin/env bash
# Failover time: the replica driving a rotation is SIGKILLed mid-batch and the time until the
# other replica holds the rotation's driver lease (and so takes the next step) is measured,
# RUNS times (default 5). Each run is the integration test
# replicas::a_rotation_is_taken_over_when_the_replica_driving_it_dies: two real daemons on one
# PostgreSQL database (a throwaway server, scripts/pg.sh) and a real control plane with kwok
# nodes; the test also checks the rotation then succeeds with every batch healthy once.
#
#   bench/failover.sh        # RUNS=5; BACKEND=sqlite for two daemons sharing a SQLite file
source "$(dirname "$0")/lib.sh"
RUNS="${RUNS:-5}"
BACKEND="${BACKEND:-postgres}"
bench_build
bench_header
if [[ "$BACKEND" == postgres ]]; then
	chmod 755 "$work"
	export FLUIDFORM_TEST_DATABASE_URL="$(bash scripts/pg.sh start "$work/pg")"
	trap 'rc=$?; bash scripts/pg.sh stop "$work/pg" >/dev/null 2>&1 || true; (exit $rc); bench_cleanup' EXIT
fi
cargo test --locked --quiet --test it --no-run 2>/dev/null
for i in $(seq "$RUNS"); do
	bench_step cargo test --locked --quiet --test it replicas::a_rotation_is_taken_over -- --nocapture \
		>"$out/run-$i.log" 2>&1 || { tail -n 40 "$out/run-$i.log" >&2; exit 1; }
	grep -o 'failover: the driver lease moved [0-9]* ms' "$out/run-$i.log" | grep -o '[0-9]* ms'
done | tee "$out/times.txt"
python3 - "$out/times.txt" "$BACKEND" <<'PY'
import statistics, sys
ms = [int(l.split()[0]) for l in open(sys.argv[1]) if l.strip()]
print(f"{sys.argv[2]}: kill to the survivor holding the driver lease over {len(ms)} runs: median {statistics.median(ms)} ms, "
      f"min {min(ms)}, max {max(ms)} (driver lease 10 s, driver tick 500 ms)")
PY
