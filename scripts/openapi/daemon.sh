# Sourced by scripts/schemathesis.sh and scripts/client-walkthrough.sh: starts the real
# daemon binary on a free port with a fresh data directory and an admin token, and stops
# it again. Needs $work (a temp dir the caller removes) and $bin (the binary).
#
#   start_daemon        sets daemon_pid, port, base (http://127.0.0.1:PORT) and token
#   stop_daemon         TERM, then KILL after 10 s
#   daemon_log_tail     the last lines of its log, for a failure

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

start_daemon() {
	local name
	port="$(free_port)"
	base="http://127.0.0.1:$port"
	token="$(openssl rand -hex 24)"
	mkdir -p "$work/data"
	# Only the settings given here reach the daemon.
	local clean_env=()
	while read -r name; do
		case "$name" in FLUIDFORM_*) clean_env+=(-u "$name") ;; esac
	done < <(compgen -e)
	env "${clean_env[@]}" FLUIDFORM_LISTEN="127.0.0.1:$port" FLUIDFORM_DATA_DIR="$work/data" \
		FLUIDFORM_ADMIN_TOKEN="$token" FLUIDFORM_DRIFT_INTERVAL=0 "$bin" serve > "$work/daemon.log" 2>&1 &
	daemon_pid=$!
	local i
	for ((i = 0; i < 300; i++)); do
		curl -sf "$base/readyz" > /dev/null 2>&1 && return 0
		kill -0 "$daemon_pid" 2>/dev/null || { daemon_log_tail; echo "the daemon exited" >&2; return 1; }
		sleep 0.1
	done
	daemon_log_tail
	echo "the daemon is not ready after 30 s" >&2
	return 1
}

stop_daemon() {
	[[ -n "${daemon_pid:-}" ]] || return 0
	local i
	kill -TERM "$daemon_pid" 2>/dev/null || { daemon_pid=""; return 0; }
	for ((i = 0; i < 100; i++)); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$daemon_pid" 2>/dev/null || true
	wait "$daemon_pid" 2>/dev/null || true
	daemon_pid=""
}

daemon_log_tail() {
	echo "-- daemon log tail" >&2
	tail -n 40 "$work/daemon.log" >&2 2>/dev/null || true
}
