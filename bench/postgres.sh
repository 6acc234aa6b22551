#!/usr/bin/env bash
# The two backends side by side: GET and PUT runtime throughput under wrk on a daemon on
# SQLite and a daemon on PostgreSQL, each with RUNTIMES runtimes stored, interleaved in the
# same run; and PostgreSQL's own floor, pgbench's simple-update script at the same
# connection count on the same server.
#
#   bench/postgres.sh        # DURATION=10s CONNECTIONS=16 RUNTIMES=2000 REPS=3 to change
#
# PostgreSQL is a throwaway server from Debian's packages (scripts/pg.sh), fsync and
# synchronous_commit on. The table shows medians over the repetitions.
source "$(dirname "$0")/lib.sh"
command -v wrk >/dev/null || { echo "wrk not found: apt-get install wrk" >&2; exit 1; }
command -v pgbench >/dev/null || { echo "pgbench not found: apt-get install postgresql-contrib" >&2; exit 1; }

DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-16}"
REPS="${REPS:-3}"
export RUNTIMES="${RUNTIMES:-2000}"
export TOKEN="bench-admin-token-$$-$RANDOM"
token="$TOKEN"

bench_build
bench_header
chmod 755 "$work"
pg="$(bash scripts/pg.sh start "$work/pg")"
stop_pg() { bash scripts/pg.sh stop "$work/pg" >/dev/null 2>&1 || true; }
trap 'rc=$?; stop_pg; (exit $rc); bench_cleanup' EXIT
psql -X -q "$pg" -c 'CREATE DATABASE fluidform' -c 'CREATE DATABASE pgbench'
base="${pg%/postgres}"
echo "PostgreSQL $(psql -X -At "$pg" -c 'SHOW server_version') at $base"

bench_daemon "$work/sqlite"
sqlite_addr="$addr" sqlite_pid="$daemon_pid"
FLUIDFORM_DATABASE_URL="$base/fluidform" bench_daemon "$work/postgres"
pg_addr="$addr" pg_pid="$daemon_pid"
for a in "$sqlite_addr" "$pg_addr"; do
	bench_step python3 bench/seed.py "$a" "$TOKEN" "$RUNTIMES"
done
bench_step pgbench -q -i -s 1 "$base/pgbench" >/dev/null 2>&1

run() { # rep name wrk-args...
	local rep="$1" name="$2"; shift 2
	bench_step wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency "$@" >"$out/$name.$rep.out"
}
echo "wrk: 2 threads, $CONNECTIONS connections, $DURATION per run, $REPS repetition(s); $RUNTIMES runtimes"
for rep in $(seq "$REPS"); do
	run "$rep" sqlite-get -s bench/get.lua "http://$sqlite_addr"
	run "$rep" postgres-get -s bench/get.lua "http://$pg_addr"
	run "$rep" sqlite-put -s bench/put.lua "http://$sqlite_addr"
	run "$rep" postgres-put -s bench/put.lua "http://$pg_addr"
	bench_step pgbench -b simple-update -c "$CONNECTIONS" -j 2 -T "${DURATION%s}" "$base/pgbench" >"$out/pgbench.$rep.out" 2>&1
	for p in "$sqlite_pid" "$pg_pid"; do kill -0 "$p" 2>/dev/null || { echo "a daemon died" >&2; exit 1; }; done
	echo "  repetition $rep done"
done

python3 - "$out" "$REPS" <<'PY'
import re, statistics, sys
d, reps = sys.argv[1], int(sys.argv[2])
def wrk(path):
    t = open(path).read()
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", t)
    return float(re.search(r"^Requests/sec:\s+([\d.]+)", t, re.M).group(1)), int(bad.group(1)) if bad else 0
def tps(path):
    return float(re.search(r"^tps = ([\d.]+)", open(path).read(), re.M).group(1))
med = statistics.median
names = ["sqlite-get", "postgres-get", "sqlite-put", "postgres-put"]
res = {n: [wrk(f"{d}/{n}.{r}.out") for r in range(1, reps + 1)] for n in names}
pgb = [tps(f"{d}/pgbench.{r}.out") for r in range(1, reps + 1)]
failed = False
print(f"\n{'load':<16} {'req/s (median)':>15} {'runs':>24} {'non-2xx':>8}")
m = {}
for n in names:
    m[n] = med([x[0] for x in res[n]])
    bad = sum(x[1] for x in res[n])
    failed |= bad > 0
    print(f"{n:<16} {m[n]:>15.0f} {' '.join(f'{x[0]:.0f}' for x in res[n]):>24} {bad:>8}")
print(f"{'pgbench simple-update':<16} {med(pgb):>9.0f} tps {' '.join(f'{x:.0f}' for x in pgb):>24}")
print()
print(f"ratio postgres/sqlite: GET {m['postgres-get'] / m['sqlite-get']:.2f}, PUT {m['postgres-put'] / m['sqlite-put']:.2f}")
print(f"ratio postgres PUT/pgbench simple-update (same server, same connections): {m['postgres-put'] / med(pgb):.3f}")
if failed:
    print("FAILED: non-2xx responses during a load run")
    sys.exit(1)
PY
