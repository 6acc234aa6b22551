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
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "wrk not found: apt-get install wrk" >&2; exit 1; }

DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-16}"
REPS="${REPS:-3}"
export RUNTIMES="${RUNTIMES:-10000}"
export TOKEN="bench-admin-token-$$-$RANDOM"

cargo build --release --quiet
data="$(mktemp -d "${TMPDIR:-/tmp}/fluidform-bench-http.XXXXXX")"
pid=""
child=""
# Runs a long step in its own process group, in the background, so a signal to this script
# is handled at once (bash defers traps while a foreground command runs).
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
	if [[ -n "$pid" ]]; then
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	((rc == 0)) || tail -n 20 "$data/daemon.log" >&2 2>/dev/null || true
	rm -rf "$data"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
addr="127.0.0.1:$port"
FLUIDFORM_LISTEN="$addr" FLUIDFORM_DATA_DIR="$data/db" FLUIDFORM_ADMIN_TOKEN="$TOKEN" FLUIDFORM_LOG=warn \
	FLUIDFORM_DRIFT_INTERVAL=0 target/release/fluidform serve >"$data/daemon.log" 2>&1 &
pid=$!
for _ in $(seq 200); do
	curl -sf "http://$addr/readyz" >/dev/null && break
	kill -0 "$pid" 2>/dev/null || { echo "daemon exited" >&2; exit 1; }
	sleep 0.1
done
curl -sf "http://$addr/readyz" >/dev/null || { echo "daemon not ready" >&2; exit 1; }

echo "http: $(nproc) CPUs, fluidform $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src || echo '+dirty')"
start=$(date +%s.%N)
step python3 bench/seed.py "$addr" "$TOKEN" "$RUNTIMES"
echo "seeded $RUNTIMES runtimes in $(python3 -c "print(round($(date +%s.%N)-$start,1))") s (sequential PUTs, one client)"
echo "RSS after seeding: $(awk '/VmRSS/ {print $2, $3}' "/proc/$pid/status")"

run() { # rep name wrk-args...
	local rep="$1" name="$2"; shift 2
	step wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency "$@" >"$data/$name.$rep.out"
	kill -0 "$pid" 2>/dev/null || { echo "daemon died during $name" >&2; exit 1; }
}

echo "wrk: 2 threads, $CONNECTIONS connections, $DURATION per run, $REPS repetition(s)"
for rep in $(seq "$REPS"); do
	run "$rep" healthz-baseline "http://$addr/healthz"
	run "$rep" get-runtime -s bench/get.lua "http://$addr"
	run "$rep" put-runtime -s bench/put.lua "http://$addr"
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
    print(f"ratio {n}/healthz: throughput {m[n][0] / h[0]:.3f}   p99 {m[n][2] / h[2]:.1f}x")
if failed:
    print("FAILED: non-2xx responses or socket errors during a load run (numbers above are not clean)")
    sys.exit(1)
PY
echo "daemon peak RSS (VmHWM): $(awk '/VmHWM/ {print $2, $3}' "/proc/$pid/status")"
echo "database size: $(du -sh "$data/db" | cut -f1)"
