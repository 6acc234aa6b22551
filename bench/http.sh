#!/usr/bin/env bash
# HTTP benchmark of the daemon: GET and PUT runtime throughput and latency under wrk, with
# 10,000 runtimes stored, against GET /healthz (no auth, no database) as the baseline
# measured in the same run; then the daemon's peak RSS (VmHWM).
#
#   bench/http.sh            # DURATION=10s CONNECTIONS=16 RUNTIMES=10000 REPS=3 to change
#
# Each repetition runs healthz, GET and PUT once (interleaved, so the machine's noise hits
# all three alike); the table shows medians over the repetitions and the ratios of the
# medians. Exits non-zero when a load run saw non-2xx responses or the daemon failed.
source "$(dirname "$0")/lib.sh"
command -v wrk >/dev/null || { echo "wrk not found: apt-get install wrk" >&2; exit 1; }

DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-16}"
REPS="${REPS:-3}"
export RUNTIMES="${RUNTIMES:-10000}"
export TOKEN="bench-admin-token-$$-$RANDOM"
token="$TOKEN"

bench_build --example sqlite_commits
bench_header
bench_daemon "$work/db"
pid="$daemon_pid"
data="$out"
bench_step python3 bench/seed.py "$addr" "$TOKEN" "$RUNTIMES"
echo "RSS after seeding: $(awk '/VmRSS/ {print $2, $3}' "/proc/$pid/status")"

run() { # rep name wrk-args...
	local rep="$1" name="$2"; shift 2
	bench_step wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency "$@" >"$data/$name.$rep.out"
	kill -0 "$pid" 2>/dev/null || { echo "daemon died during $name" >&2; exit 1; }
}

echo "wrk: 2 threads, $CONNECTIONS connections, $DURATION per run, $REPS repetition(s)"
for rep in $(seq "$REPS"); do
	run "$rep" healthz-baseline "http://$addr/healthz"
	run "$rep" get-runtime -s bench/get.lua "http://$addr"
	run "$rep" put-runtime -s bench/put.lua "http://$addr"
	mkdir -p "$work/commits-$rep"
	bench_step target/release/examples/sqlite_commits "$work/commits-$rep" "${DURATION%s}" >"$data/sqlite-commits.$rep.out"
	echo "  repetition $rep done"
done

python3 - "$data" "$REPS" <<'PY'
import re, statistics, sys
d, reps = sys.argv[1], int(sys.argv[2])
unit = {"us": 1e-3, "ms": 1.0, "s": 1e3}
def ms(v):
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", v)
    return float(m.group(1)) * unit[m.group(2)]
def parse(path):
    t = open(path).read()
    rps = float(re.search(r"^Requests/sec:\s+([\d.]+)", t, re.M).group(1))
    lat = {p: ms(re.search(rf"^\s+{p}%\s+(\S+)", t, re.M).group(1)) for p in ("50", "99")}
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", t)
    errs = re.search(r"Socket errors:.*", t)
    total = int(re.search(r"(\d+) requests in", t).group(1))
    return rps, lat["50"], lat["99"], int(bad.group(1)) if bad else 0, errs.group(0) if errs else "", total
names = ["healthz-baseline", "get-runtime", "put-runtime"]
res = {n: [parse(f"{d}/{n}.{r}.out") for r in range(1, reps + 1)] for n in names}
med = lambda xs: statistics.median(xs)
print()
print(f"{'endpoint':<18} {'req/s (median)':>15} {'runs req/s':>26} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8}")
m = {}
failed = False
for n in names:
    rs = res[n]
    m[n] = (med([x[0] for x in rs]), med([x[1] for x in rs]), med([x[2] for x in rs]))
    bad = sum(x[3] for x in rs)
    failed |= bad > 0 or any(x[4] for x in rs)
    runs = " ".join(f"{x[0]:.0f}" for x in rs)
    print(f"{n:<18} {m[n][0]:>15.0f} {runs:>26} {m[n][1]:>8.2f} {m[n][2]:>8.2f} {bad:>8}")
    for x in rs:
        if x[4]:
            print(f"   {n}: {x[4]}")
h = m["healthz-baseline"]
print()
for n in names[1:]:
    per = [res[n][i][0] / res["healthz-baseline"][i][0] for i in range(reps)]
    print(f"ratio {n}/healthz: throughput {m[n][0] / h[0]:.3f} (per repetition {min(per):.3f}–{max(per):.3f})"
          f"   p99 {m[n][2] / h[2]:.1f}x")
commits = [float(open(f"{d}/sqlite-commits.{r}.out").read()) for r in range(1, reps + 1)]
per = [res["put-runtime"][i][0] / commits[i] for i in range(reps)]
print(f"bare sqlx commit loop (WAL, synchronous=FULL, one writer): {med(commits):.0f} commits/s (runs "
      + " ".join(f"{c:.0f}" for c in commits) + ")")
print(f"ratio put-runtime/commit loop: {m['put-runtime'][0] / med(commits):.3f} (per repetition {min(per):.3f}–{max(per):.3f})")
print("target: GET ≥ 0.25× healthz")
if failed:
    print("FAILED: non-2xx responses or socket errors during a load run (numbers above are not clean)")
    sys.exit(1)
PY
echo "daemon peak RSS (VmHWM): $(awk '/VmHWM/ {print $2, $3}' "/proc/$pid/status")"
echo "database size: $(du -sh "$work/db" | cut -f1)"
