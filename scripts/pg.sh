#!/usr/bin/env bash
# A throwaway PostgreSQL server for tests and CI, from the distribution's packages (Debian:
# postgresql-15 or newer), without root and without containers.
#
#   scripts/pg.sh start DIR   # initialise a cluster in DIR (once) and start it; prints
#                             #   postgres://postgres@127.0.0.1:PORT/postgres
#   scripts/pg.sh url DIR     # the URL of the server running in DIR (fails if none)
#   scripts/pg.sh stop DIR    # stop it (fast mode: open sessions are cut); no-op if stopped
#
# Every command is idempotent: `start` on a running server prints its URL again, `start`
# on a stopped one restarts it (on its previous port when that port is still free). Only
# the URL goes to stdout; messages go to stderr, the server's log to DIR/log.
#
# Layout: DIR/data is the cluster (initdb --auth=trust --username=postgres --encoding=UTF8
# --locale=C.UTF-8, or --no-locale where C.UTF-8 is missing), DIR/log the log, DIR/port the
# last port; the server listens on 127.0.0.1 only, on a free TCP port, and on a unix socket
# in DIR (so `psql -h DIR -p PORT -U postgres` works too). Settings: fsync and
# synchronous_commit on (the defaults: numbers measured here are durable ones),
# max_connections=200, TLS on with a certificate for 127.0.0.1 from a CA of its own
# (DIR/ca.crt, for `sslmode=verify-full&sslrootcert=DIR/ca.crt`). Trust authentication: for
# throwaway servers only.
#
# As root (PostgreSQL refuses to run as root) the server runs as the user PG_SH_USER, by
# default `postgres` (which Debian's packages create) or else `nobody`, via runuser; DIR is
# made theirs, and every directory above DIR must be traversable by that user.
#
# Env: PG_BINDIR (directory with initdb, pg_ctl, postgres; default the newest of
# /usr/lib/postgresql/*/bin, then `pg_config --bindir`, then PATH), PG_SH_PORT (a fixed
# port instead of a free one), PG_SH_USER (see above).
set -euo pipefail

say() { echo "pg.sh: $*" >&2; }
die() { say "$*"; exit 1; }
usage() { die "usage: $0 start|stop|url DIR"; }

[[ $# -eq 2 ]] || usage
cmd="$1"
case "$cmd" in start | stop | url) ;; *) usage ;; esac
[[ -n "$2" ]] || usage

# --- binaries ---------------------------------------------------------------------------
find_bindir() {
	if [[ -n "${PG_BINDIR:-}" ]]; then
		[[ -x "$PG_BINDIR/initdb" && -x "$PG_BINDIR/pg_ctl" ]] || die "PG_BINDIR=$PG_BINDIR has no initdb/pg_ctl"
		echo "$PG_BINDIR"
		return
	fi
	local d best=""
	# Newest major version first (version sort of /usr/lib/postgresql/<major>/bin).
	while read -r d; do
		[[ -x "$d/initdb" && -x "$d/pg_ctl" && -x "$d/postgres" ]] && { best="$d"; break; }
	done < <(printf '%s\n' /usr/lib/postgresql/*/bin | sort -t/ -k5,5 -V -r)
	if [[ -z "$best" ]] && command -v pg_config > /dev/null; then
		d="$(pg_config --bindir 2> /dev/null || true)"
		[[ -n "$d" && -x "$d/initdb" && -x "$d/pg_ctl" ]] && best="$d"
	fi
	if [[ -z "$best" ]] && command -v initdb > /dev/null && command -v pg_ctl > /dev/null; then
		best="$(dirname "$(command -v initdb)")"
	fi
	[[ -n "$best" ]] || die "no PostgreSQL server binaries (initdb, pg_ctl, postgres) found in" \
		"/usr/lib/postgresql/*/bin, pg_config --bindir or PATH: install postgresql (apt-get install postgresql) or set PG_BINDIR"
	echo "$best"
}
bindir="$(find_bindir)"

# --- who runs the server ----------------------------------------------------------------
runas=""
if [[ "$(id -u)" -eq 0 ]]; then
	runas="${PG_SH_USER:-}"
	if [[ -z "$runas" ]]; then
		if getent passwd postgres > /dev/null; then runas=postgres; else runas=nobody; fi
	fi
	getent passwd "$runas" > /dev/null || die "running as root, and user $runas (PG_SH_USER) does not exist"
	[[ "$(id -u "$runas")" -ne 0 ]] || die "PG_SH_USER=$runas is root: PostgreSQL refuses to run as root"
	command -v runuser > /dev/null || die "running as root, and runuser (util-linux) is missing to run PostgreSQL as $runas"
fi
# Runs a command as the server's user (ourselves unless we are root).
# fd 9 (the lock below) is closed for it, so a server started never holds the lock.
as_pg() {
	if [[ -n "$runas" ]]; then runuser -u "$runas" -- "$@" 9>&-; else "$@" 9>&-; fi
}

# --- the directory ----------------------------------------------------------------------
if [[ "$cmd" == start ]]; then
	mkdir -p -- "$2" || die "cannot create $2"
fi
[[ -d "$2" ]] || die "$2: no such directory (nothing was started there)"
dir="$(cd -- "$2" && pwd -P)"
data="$dir/data"
log="$dir/log"
portfile="$dir/port"
# The servers' commands run from DIR (whatever our working directory, which the server's
# user may not be able to read).
cd -- "$dir"
# One start or stop at a time per DIR.
if [[ "$cmd" != url ]] && command -v flock > /dev/null; then
	exec 9> "$dir/.pg.sh.lock"
	flock -w 120 9 || die "another pg.sh holds $dir/.pg.sh.lock"
fi

is_cluster() { [[ -f "$data/PG_VERSION" ]]; }
# The port of the server running in DIR, from postmaster.pid (line 4), when it answers.
running_port() {
	is_cluster || return 1
	as_pg "$bindir/pg_ctl" status -D "$data" > /dev/null 2>&1 || return 1
	local port
	port="$(sed -n 4p "$data/postmaster.pid" 2> /dev/null)" || return 1
	[[ "$port" =~ ^[0-9]+$ ]] || return 1
	echo "$port"
}
url_of() { echo "postgres://postgres@127.0.0.1:$1/postgres"; }

# True when nothing accepts TCP connections on 127.0.0.1:$1 (the server's bind is the real
# test: a port taken between this check and the start makes the start retry another).
port_free() {
	! (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null
}
pick_port() {
	local p i
	if [[ -f "$portfile" ]]; then
		p="$(< "$portfile")"
		[[ "$p" =~ ^[0-9]+$ ]] && port_free "$p" && { echo "$p"; return; }
	fi
	for i in $(seq 1 200); do
		p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000)) # 20000..59999, below the ephemeral range's top
		port_free "$p" && { echo "$p"; return; }
	done
	die "no free TCP port found on 127.0.0.1"
}

case "$cmd" in
url)
	port="$(running_port)" || die "no PostgreSQL server is running in $dir (start it: $0 start $dir)"
	url_of "$port"
	exit 0
	;;
stop)
	if ! is_cluster; then
		say "no cluster in $dir: nothing to stop"
		exit 0
	fi
	if ! running_port > /dev/null; then
		say "the server in $dir is not running"
		exit 0
	fi
	as_pg "$bindir/pg_ctl" stop -D "$data" -m fast -w -t 60 >> "$log" 2>&1 ||
		die "pg_ctl stop failed; see $log"
	say "stopped the server in $dir"
	exit 0
	;;
esac

# --- start ------------------------------------------------------------------------------
if port="$(running_port)"; then
	say "already running in $dir"
	url_of "$port"
	exit 0
fi

if [[ -n "$runas" ]]; then
	as_pg test -x "$(dirname "$dir")" ||
		die "$runas cannot reach $dir: every directory above it must be traversable by $runas (chmod o+x, or choose a DIR under /tmp)"
	touch "$log"
	chown -R "$runas:$(id -gn "$runas")" "$dir" || die "cannot chown $dir to $runas"
fi
touch "$log"

# The unix socket's path (DIR/.s.PGSQL.PORT.lock is the longest) must fit sockaddr_un.
((${#dir} + 22 <= 107)) || die "$dir is too long for a unix socket path (at most 85 characters)"

if ! is_cluster; then
	if [[ -e "$data" ]] && [[ -n "$(ls -A "$data" 2> /dev/null)" ]]; then
		die "$data exists and is not a PostgreSQL cluster: remove it or choose another DIR"
	fi
	locale_opt=(--locale=C.UTF-8)
	if command -v locale > /dev/null && ! locale -a 2> /dev/null | grep -qiE '^c\.utf-?8$'; then
		say "locale C.UTF-8 missing: initdb --no-locale"
		locale_opt=(--no-locale)
	fi
	initdb_run() {
		as_pg "$bindir/initdb" -D "$data" --auth=trust --username=postgres --encoding=UTF8 "$@" >> "$log" 2>&1
	}
	if ! initdb_run "${locale_opt[@]}"; then
		if [[ "${locale_opt[0]}" != --no-locale ]] && grep -qi locale "$log"; then
			say "initdb with C.UTF-8 failed (locale): again with --no-locale"
			rm -rf -- "$data"
			initdb_run --no-locale || { tail -n 20 "$log" >&2; die "initdb failed; see $log"; }
		else
			tail -n 20 "$log" >&2
			die "initdb failed; see $log"
		fi
	fi
	# Our settings, in a file of their own that postgresql.conf includes (the port is
	# given at each start instead, since it may change).
	cat > "$data/pg_sh.conf" << EOF
# Written by scripts/pg.sh: a throwaway server for tests and CI.
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
max_connections = 200
fsync = on
synchronous_commit = on
full_page_writes = on
ssl = on
ssl_cert_file = 'server.crt'
ssl_key_file = 'server.key'
EOF
	echo "include = 'pg_sh.conf'" >> "$data/postgresql.conf"
	# TLS: a CA of its own (DIR/ca.crt, what a client verifies against:
	# ?sslmode=verify-full&sslrootcert=DIR/ca.crt) and a server certificate it signed for
	# 127.0.0.1 and localhost; plain connections stay allowed.
	{
		openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=pg.sh test CA" \
			-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" \
			-keyout "$dir/ca.key" -out "$dir/ca.crt" &&
			openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$data/server.key" -out "$dir/server.csr" &&
			printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > "$dir/server.ext" &&
			openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
				-days 30 -extfile "$dir/server.ext" -out "$data/server.crt"
	} > /dev/null 2>&1 || die "openssl could not make the server certificate"
	chmod 600 "$data/server.key" "$dir/ca.key"
	chmod 644 "$dir/ca.crt"
	[[ -z "$runas" ]] || chown "$runas:$(id -gn "$runas")" "$data/pg_sh.conf" "$data/server.key" "$data/server.crt"
	say "initialised a cluster in $data ($("$bindir/postgres" --version))"
fi

tries=5
[[ -z "${PG_SH_PORT:-}" ]] || tries=1
for ((try = 1; try <= tries; try++)); do
	if [[ -n "${PG_SH_PORT:-}" ]]; then
		[[ "$PG_SH_PORT" =~ ^[0-9]+$ ]] && ((PG_SH_PORT >= 1 && PG_SH_PORT <= 65535)) ||
			die "PG_SH_PORT=$PG_SH_PORT is not a port"
		port_free "$PG_SH_PORT" || die "port $PG_SH_PORT (PG_SH_PORT) is in use on 127.0.0.1"
		port="$PG_SH_PORT"
	else
		port="$(pick_port)"
	fi
	mark=$(wc -l 2> /dev/null < "$log" || echo 0)
	if as_pg "$bindir/pg_ctl" start -D "$data" -l "$log" -w -t 60 -o "-p $port" >&2; then
		echo "$port" > "$portfile"
		url_of "$port"
		exit 0
	fi
	if [[ -z "${PG_SH_PORT:-}" ]] && tail -n +"$((mark + 1))" "$log" | grep -q "could not bind\|Address already in use"; then
		say "port $port was taken meanwhile"
		rm -f -- "$portfile"
		continue
	fi
	tail -n 20 "$log" >&2
	die "the server did not start; see $log"
done
die "the server did not start: every port tried was taken (see $log)"
