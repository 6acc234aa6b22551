#!/usr/bin/env bash
# HTTP benchmark of the daemon: GET and PUT runtime throughput and latency under wrk, with
# 10,000 runtimes stored, against GET /healthz (no auth, no database) as the baseline
# measured in the same run; then the daemon's peak RSS.
#
#   bench/http.sh            # DURATION=20s CONNECTIONS=16 RUNTIMES=10000 to change
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }

DURATION="${DURATION:-20s}"
CONNECTIONS="${CONNECTIONS:-16}"
export RUNTIMES="${RUNTIMES:-10000}"
export TOKEN="bench-admin-token-$$"

cargo build --release --quiet
data="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
addr="127.0.0.1:$port"
FLUIDFORM_LISTEN="$addr" FLUIDFORM_DATA_DIR="$data" FLUIDFORM_ADMIN_TOKEN="$TOKEN" FLUIDFORM_LOG=warn \
  target/release/fluidform serve >"$data/daemon.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 100); do curl -sf "http://$addr/readyz" >/dev/null && break; sleep 0.1; done

start=$(date +%s.%N)
python3 bench/seed.py "$addr" "$TOKEN" "$RUNTIMES"
echo "seeded $RUNTIMES runtimes in $(python3 -c "print(round($(date +%s.%N)-$start,1))") s (sequential PUTs, one client)"

run() { # name, wrk args...
  local name="$1"; shift
  local out
  out="$(wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency "$@")"
  local rps p50 p99 errs
  rps="$(awk '/^Requests\/sec/ {print $2}' <<<"$out")"
  p50="$(awk '$1=="50%" {print $2}' <<<"$out")"
  p99="$(awk '$1=="99%" {print $2}' <<<"$out")"
  errs="$(awk '/Non-2xx/ {print $NF}' <<<"$out")"
  printf '%-22s %10s req/s   p50 %8s   p99 %8s   non-2xx %s\n' "$name" "$rps" "$p50" "$p99" "${errs:-0}"
  echo "$rps" >"$data/$name.rps"
}

echo "wrk: 2 threads, $CONNECTIONS connections, $DURATION each"
run healthz-baseline "http://$addr/healthz"
run get-runtime -s bench/get.lua "http://$addr"
run put-runtime -s bench/put.lua "http://$addr"
python3 - "$data" <<'PY'
import sys
d = sys.argv[1]
r = {n: float(open(f"{d}/{n}.rps").read()) for n in ("healthz-baseline", "get-runtime", "put-runtime")}
print(f"ratio get/healthz {r['get-runtime']/r['healthz-baseline']:.2f}   put/healthz {r['put-runtime']/r['healthz-baseline']:.2f}")
PY
echo "daemon peak RSS: $(awk '/VmHWM/ {print $2, $3}' /proc/$pid/status)"
echo "database size: $(du -sh "$data" | cut -f1)"
