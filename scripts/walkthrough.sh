#!/usr/bin/env bash
# Runs the README's walk-through end to end, so it cannot silently rot: the very blocks the
# README shows, against a fresh test cluster and a fresh daemon, then checks what matters.
#
#   bash scripts/walkthrough.sh          # needs target/debug/fluidform (cargo build) and
#                                        # the test binaries (tests/cluster/build.sh)
#
# The README's fenced blocks are found by their info string:
#   ```sh walkthrough-cluster     the test cluster; started here in the background
#   ```sh walkthrough-daemon      the daemon; `cargo run [...] -- ARGS` runs the binary
#                                 already built ($WALKTHROUGH_BIN) with ARGS
#   ```sh walkthrough             run in order in one bash (set -euo pipefail), from a
#                                 stand-in for the repository root
#   ```json walkthrough-output    (any language) what the walkthrough block before it
#                                 prints: compared exactly (trailing spaces aside)
# Output blocks without that tag are for the reader only (ids, times and pod names differ
# from run to run). The daemon listens on a free port: `localhost:8080` in the blocks
# becomes that address, and any other address in a block is refused.
#
# After the blocks: the rotation in $ID succeeded in three batches, the manual gate waited
# twice, every pod is Ready and each that pulled the old Secret pulls the new one, and the
# old Secret is pruned.
#
# Env: WALKTHROUGH_BIN (default target/debug/fluidform), WALKTHROUGH_TIMEOUT (seconds for
# the blocks, default 600), WALKTHROUGH_KEEP=1 keeps the temp dir; FLUIDFORM_K8S_BIN as for
# scripts/test-cluster.sh. Exits non-zero on any failure, with the daemon's log tail.
set -euo pipefail

repo="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
bin="${WALKTHROUGH_BIN:-$repo/target/debug/fluidform}"
limit="${WALKTHROUGH_TIMEOUT:-600}"
t0=$SECONDS

say() { echo "walkthrough.sh: $*" >&2; }
die() { say "$*"; exit 1; }

for tool in jq curl python3 openssl timeout; do
	command -v "$tool" > /dev/null || die "$tool not found (the walk-through uses it)"
done
[[ -x "$bin" ]] || die "$bin missing: cargo build first (or set WALKTHROUGH_BIN)"

# The README's blocks, and the comparison of their outputs with the ones it shows.
py() {
	python3 - "$@" <<-'PY'
	import difflib, json, pathlib, re, sys

	FENCE = re.compile(r"^(`{3,})\s*(\S*)\s*(.*?)\s*$")
	ADDRESS = re.compile(r"\b(?:localhost|127\.0\.0\.1):\d+")
	MARK = "@@walkthrough-block {}@@"

	def blocks(readme):
	    """(line, language, tags, text) of every fenced block."""
	    lines = readme.read_text().splitlines()
	    out, i = [], 0
	    while i < len(lines):
	        m = FENCE.match(lines[i])
	        if not m:
	            i += 1
	            continue
	        fence, lang, tags = m.group(1), m.group(2), m.group(3).split()
	        start, body = i + 1, []
	        i += 1
	        while i < len(lines) and not lines[i].startswith(fence):
	            body.append(lines[i])
	            i += 1
	        if i == len(lines):
	            sys.exit(f"{readme}:{start}: unclosed code block")
	        out.append((start, lang, tags, "\n".join(body) + "\n"))
	        i += 1
	    return out

	def extract(readme, out, port):
	    readme, out = pathlib.Path(readme), pathlib.Path(out)
	    singles, steps, previous = {}, [], None
	    for line, lang, tags, text in blocks(readme):
	        tag = next((t for t in tags if t.startswith("walkthrough")), None)
	        if tag in ("walkthrough-cluster", "walkthrough-daemon"):
	            if tag in singles:
	                sys.exit(f"{readme}:{line}: a second {tag} block")
	            singles[tag] = text
	        elif tag == "walkthrough":
	            if lang not in ("sh", "bash"):
	                sys.exit(f"{readme}:{line}: walkthrough blocks are sh")
	            for addr in ADDRESS.findall(text):
	                if addr != "localhost:8080":
	                    sys.exit(f"{readme}:{line}: {addr}: the walk-through's daemon is localhost:8080")
	            steps.append([line, text.replace("localhost:8080", f"127.0.0.1:{port}"), None])
	        elif tag == "walkthrough-output":
	            if previous != "walkthrough" or steps[-1][2] is not None:
	                sys.exit(f"{readme}:{line}: an output block must follow a walkthrough block")
	            steps[-1][2] = text
	        elif tag is not None:
	            sys.exit(f"{readme}:{line}: unknown tag {tag}")
	        previous = tag
	    for tag in ("walkthrough-cluster", "walkthrough-daemon"):
	        if tag not in singles:
	            sys.exit(f"{readme}: no {tag} block")
	    if not steps:
	        sys.exit(f"{readme}: no walkthrough blocks")
	    (out / "cluster.sh").write_text(singles["walkthrough-cluster"])
	    (out / "daemon.sh").write_text(singles["walkthrough-daemon"])
	    script = ["set -euo pipefail"]
	    for n, (line, text, _) in enumerate(steps):
	        script += [f"echo '{MARK.format(n)}'", f"echo '-- README.md line {line}' >&2", text]
	    script.append(f"echo '{MARK.format('end')}'")
	    (out / "run.sh").write_text("\n".join(script) + "\n")
	    (out / "steps.json").write_text(json.dumps([{"line": s[0], "expected": s[2]} for s in steps]))
	    checked = sum(1 for s in steps if s[2] is not None)
	    print(f"walkthrough.sh: {len(steps)} blocks, {checked} with the output checked", file=sys.stderr)

	def normal(text):
	    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines())

	def compare(out, stdout):
	    steps = json.loads((pathlib.Path(out) / "steps.json").read_text())
	    got, current = {}, None
	    for line in pathlib.Path(stdout).read_text().splitlines():
	        m = re.fullmatch(r"@@walkthrough-block (\w+)@@", line)
	        if m:
	            current = m.group(1)
	            got[current] = []
	        elif current is not None:
	            got[current].append(line)
	    bad = 0
	    for n, step in enumerate(steps):
	        if step["expected"] is None or str(n) not in got:
	            continue
	        want, have = normal(step["expected"]), normal("\n".join(got[str(n)]))
	        if want != have:
	            bad += 1
	            print(f"walkthrough.sh: README.md line {step['line']}: the block printed something else:", file=sys.stderr)
	            diff = difflib.unified_diff(want.splitlines(), have.splitlines(), "README", "printed", lineterm="")
	            print("\n".join(diff), file=sys.stderr)
	    if "end" not in got:
	        ran = [int(k) for k in got if k != "end"]
	        line = steps[max(ran)]["line"] if ran else steps[0]["line"]
	        sys.exit(f"walkthrough.sh: the blocks stopped in the one at README.md line {line}")
	    if bad:
	        sys.exit(f"walkthrough.sh: {bad} block(s) printed something else than the README shows")
	    checked = sum(1 for s in steps if s["expected"] is not None)
	    print(f"walkthrough.sh: all {checked} checked outputs as the README shows them", file=sys.stderr)

	if sys.argv[1] == "extract":
	    extract(*sys.argv[2:5])
	else:
	    compare(*sys.argv[2:4])
	PY
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

work="$(mktemp -d "${TMPDIR:-/tmp}/fluidform-walkthrough.XXXXXX")"
home="$work/repo" # where the blocks run: the README's commands run from the repository root
mkdir -p "$home" "$work/blocks"
ln -s "$repo/scripts" "$home/scripts"
export FLUIDFORM_CLUSTER_DIR="$work/cluster"

cluster_pid="" daemon_pid="" blocks_pid=""
stop() { # stop PID: TERM, then KILL after 10 s
	local pid="$1" i
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if ((rc != 0)); then
		say "FAILED after $((SECONDS - t0)) s; daemon log tail:"
		tail -n 40 "$work/daemon.log" >&2 2>/dev/null || true
		say "test cluster output tail:"
		tail -n 10 "$work/cluster.err" >&2 2>/dev/null || true
	fi
	[[ -n "$blocks_pid" ]] && stop "$blocks_pid"
	[[ -n "$daemon_pid" ]] && stop "$daemon_pid"
	if [[ -n "$cluster_pid" ]]; then
		stop "$cluster_pid" # test-cluster.sh stops its processes on TERM
		"$repo/scripts/test-cluster.sh" down > /dev/null 2>&1 || true
	fi
	if [[ "${WALKTHROUGH_KEEP:-}" == 1 ]]; then
		say "kept $work"
	else
		rm -rf "$work"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port="$(free_port)"
py extract "$repo/README.md" "$work/blocks" "$port"

# Only the settings the README gives reach the daemon and the cluster.
clean_env=()
while read -r name; do
	case "$name" in FLUIDFORM_K8S_BIN | FLUIDFORM_CLUSTER_DIR) ;; FLUIDFORM_*) clean_env+=(-u "$name") ;; esac
done < <(compgen -e)

say "test cluster: $(tr -d '\n' < "$work/blocks/cluster.sh")"
(cd "$home" && exec env "${clean_env[@]}" bash "$work/blocks/cluster.sh") > "$work/cluster.out" 2> "$work/cluster.err" &
cluster_pid=$!
until [[ -s "$work/cluster.out" ]]; do
	kill -0 "$cluster_pid" 2>/dev/null || { cat "$work/cluster.err" >&2; die "the test cluster did not start"; }
	((SECONDS - t0 < 180)) || die "the test cluster was not ready within 180 s"
	sleep 0.5
done
say "test cluster ready after $((SECONDS - t0)) s"

# `cargo run [--release] -- ARGS` in the daemon block runs the binary already built.
say "daemon: $(tr -d '\n' < "$work/blocks/daemon.sh") on 127.0.0.1:$port"
(
	cd "$home"
	export WALKTHROUGH_BIN="$bin"
	cargo() {
		[[ "${1:-}" == run ]] || { echo "walkthrough.sh: only 'cargo run' is mapped" >&2; return 2; }
		while (($#)) && [[ "$1" != -- ]]; do shift; done
		shift || true
		exec "$WALKTHROUGH_BIN" "$@"
	}
	export -f cargo
	exec env "${clean_env[@]}" FLUIDFORM_LISTEN="127.0.0.1:$port" bash "$work/blocks/daemon.sh"
) > "$work/daemon.log" 2>&1 &
daemon_pid=$!
for ((i = 0; i < 300; i++)); do
	curl -sf "http://127.0.0.1:$port/readyz" > /dev/null 2>&1 && break
	kill -0 "$daemon_pid" 2>/dev/null || die "the daemon exited"
	sleep 0.1
done
curl -sf "http://127.0.0.1:$port/readyz" > /dev/null || die "the daemon is not ready after 30 s"

# The checks after the blocks run in the same shell, with the blocks' variables.
cat >> "$work/blocks/run.sh" <<-'EOF'
	fail() { echo "walkthrough.sh: CHECK FAILED: $*" >&2; exit 1; }
	[[ -n "${ID:-}" ]] || fail "the README's blocks no longer keep the rotation id in \$ID"
	rot="$(curl -s "$FF/v1/rotations/$ID" -H "$H")"
	[[ "$(jq -r .state <<< "$rot")" == succeeded ]] || fail "the rotation did not succeed: $rot"
	[[ "$(jq -c '[.batches[].state]' <<< "$rot")" == '["healthy","healthy","healthy"]' ]] ||
		fail "not three healthy batches: $(jq -c .batches <<< "$rot")"
	[[ "$(jq -r '.error // "none"' <<< "$rot")" == none ]] || fail "a succeeded rotation with an error: $rot"
	events="$(curl -sN --max-time 30 "$FF/v1/rotations/$ID/events" -H "$H" | sed -n 's/^event: //p' | grep -v '^batch_waiting$' | paste -sd' ')"
	gates="$(grep -o 'batch_healthy waiting_approval' <<< "$events" | wc -l)"
	((gates == 2)) || fail "the manual gate waited $gates times, not twice: $events"
	[[ "$events" == *" paused "* ]] || fail "no pause in the events: $events"
	[[ "$events" == *" succeeded" ]] || fail "the events do not end in succeeded: $events"
	pods="$(k get pods -o json)"
	ready="$(jq '[.items[] | select(any(.status.conditions[]?; .type == "Ready" and .status == "True"))] | length' <<< "$pods")"
	((ready == 23)) || fail "$ready of 23 pods Ready after the rotation"
	pulls="$(jq -r '.items[].spec.imagePullSecrets[]?.name' <<< "$pods" | sort | uniq -c)"
	! grep -q 'global-secret-v1' <<< "$pulls" || fail "pods still pull with global-secret-v1: $pulls"
	grep -q ' 18 global-secret-v2$' <<< "$pulls" || fail "not 18 pods on global-secret-v2: $pulls"
	k get secret global-secret-v2 > /dev/null || fail "no Secret global-secret-v2"
	! k get secret global-secret-v1 > /dev/null 2>&1 || fail "the old Secret global-secret-v1 was not pruned"
	echo "walkthrough.sh: checked: 3 healthy batches, 2 gate waits, a pause, 23 pods Ready, 18 on global-secret-v2, v1 pruned" >&2
EOF

say "running the README's blocks (at most $limit s)"
# In the background, so that a signal interrupts the wait (cleanup stops the blocks).
(cd "$home" && exec timeout "$limit" env "${clean_env[@]}" bash "$work/blocks/run.sh") > "$work/stdout" &
blocks_pid=$!
tail -n +1 -f --pid="$blocks_pid" "$work/stdout" &
tail_pid=$!
rc=0
wait "$blocks_pid" || rc=$?
blocks_pid=""
wait "$tail_pid" || true
py compare "$work/blocks" "$work/stdout" || rc=1
((rc != 124)) || die "the blocks did not finish within $limit s"
((rc == 0)) || die "the walk-through failed (exit $rc)"
say "passed in $((SECONDS - t0)) s"
