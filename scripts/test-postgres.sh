#!/usr/bin/env bash
# The test suite on PostgreSQL: a throwaway server (scripts/pg.sh) in a temporary
# directory, then the library and integration tests with FLUIDFORM_TEST_DATABASE_URL
# pointing at it; every test makes a database of its own there (src/store/scratch.rs),
# and the tests of TLS to PostgreSQL (ignored elsewhere) run too.
# The server is stopped and its directory removed on exit. Extra arguments go to
# `cargo test` (a filter, say: scripts/test-postgres.sh replicas).
set -euo pipefail
cd "$(dirname "$0")/.."
dir="$(mktemp -d "${TMPDIR:-/tmp}/fluidform-pg.XXXXXX")"
# As root the server runs as another user (scripts/pg.sh), who must reach the directory.
chmod 755 "$dir"
cleanup() {
	bash scripts/pg.sh stop "$dir/pg" > /dev/null 2>&1 || true
	rm -rf "$dir"
}
trap cleanup EXIT
url="$(bash scripts/pg.sh start "$dir/pg")"
echo "test-postgres.sh: the suite on $url ($(psql -X -At "$url" -c 'SHOW server_version'))"
# --include-ignored: the tests that need this server's TLS (FLUIDFORM_TEST_PG_CA) too.
FLUIDFORM_TEST_DATABASE_URL="$url" FLUIDFORM_TEST_PG_CA="$dir/pg/ca.crt" \
	cargo test --locked --lib --test it "$@" -- --include-ignored
