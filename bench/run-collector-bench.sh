#!/bin/bash
# Collector end to end (docs/PERFORMANCE.md, "Collector end to end"): in one run, the raw
# insert ceilings (bench_sqlite_ceiling.c, bench_pg_ceiling.c) and the collector over HTTPS
# driven by simulated agents (bench_collector.c), on SQLite and then on a throwaway
# PostgreSQL (tests/server/pg-test-server.sh).
#
#   bench/run-collector-bench.sh [BUILD_DIR]   (default: build-collector-bench in the source tree)
#
# Builds BUILD_DIR first (Release, -DMYNAGUARD_BENCH=ON -DMYNAGUARD_TESTS=OFF; MG_NO_BUILD=1
# skips that). Environment: MG_BENCH_AGENTS (default 200), MG_BENCH_BATCHES (1,000-event
# batches per agent in the ingest phase, default 2), MG_BENCH_THREADS (`serve --threads`,
# default 4, the collector's default), MG_BENCH_WORK_THREADS (`serve --work-threads`, default
# 4, the collector's default), MG_BENCH_PACED_S (default 30), MG_BENCH_POLL_S (default
# 10), MG_BENCH_PG=0 skips PostgreSQL, MG_KEEP=1 keeps the work directory. About 3 minutes
# after the build.
# Prints the machine facts and Markdown tables on stdout. Every wait is bounded (the
# benchmark program kills the collector if it does not stop; the PostgreSQL script's waits are
# bounded); the work directory and the PostgreSQL server are removed at the end.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/.." && pwd)
build=${1:-$src/build-collector-bench}
agents=${MG_BENCH_AGENTS:-200}
batches=${MG_BENCH_BATCHES:-2}
threads=${MG_BENCH_THREADS:-4}
work_threads=${MG_BENCH_WORK_THREADS:-4}
paced=${MG_BENCH_PACED_S:-30}
polls=${MG_BENCH_POLL_S:-10}
rows=$((agents * batches * 1000))

die() {
	echo "run-collector-bench: $*" >&2
	exit 1
}

if [ -z "${MG_NO_BUILD:-}" ]; then
	mkdir -p "$build"
	cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DMYNAGUARD_BENCH=ON \
		-DMYNAGUARD_TESTS=OFF >"$build/run-collector-bench.cmake.log" 2>&1 || {
		cat "$build/run-collector-bench.cmake.log" >&2
		die "cmake failed"
	}
	cmake --build "$build" -j2 --target mynaguard-collector mynaguard-bench-collector \
		mynaguard-bench-sqlite-ceiling mynaguard-bench-pg-ceiling \
		>"$build/run-collector-bench.build.log" 2>&1 || {
		tail -n 40 "$build/run-collector-bench.build.log" >&2
		die "build failed"
	}
fi
collector=$build/server/mynaguard-collector
bench=$build/bench/mynaguard-bench-collector
sq_ceiling=$build/bench/mynaguard-bench-sqlite-ceiling
pg_ceiling=$build/bench/mynaguard-bench-pg-ceiling
for f in "$collector" "$bench" "$sq_ceiling" "$pg_ceiling"; do
	[ -x "$f" ] || die "$f missing"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/mg-collbench.XXXXXX")
pgstate=$work/pg.state
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	sh "$src/tests/server/pg-test-server.sh" stop "$pgstate" || true
	if [ -n "${MG_KEEP:-}" ]; then
		echo "work directory kept: $work" >&2
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

start=$(date +%s)
echo "Run of $(date -u '+%Y-%m-%d %H:%M UTC'):"
echo
echo "- $(nproc) CPUs, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1);" \
	"$(awk '/MemTotal/ {printf "%.0f GiB RAM", $2 / 1048576}' /proc/meminfo); kernel $(uname -r)"
echo "- the load generator runs on the same $(nproc) CPUs as the collector (and the database)"
echo "- work directory on $(df -T "$work" | awk 'NR == 2 {print $2}') ($(df "$work" | awk 'NR == 2 {print $1}'))"
echo "- SQLite $(sqlite3 --version 2>/dev/null | cut -d' ' -f1 || echo '?'), libmicrohttpd" \
	"$(pkg-config --modversion libmicrohttpd), GnuTLS $(pkg-config --modversion gnutls)," \
	"libcurl $(pkg-config --modversion libcurl) (OpenSSL) for the agents," \
	"mynaguard $(git -C "$src" describe --always --dirty 2>/dev/null || echo '?')"
echo "- $agents agents, one keep-alive HTTPS connection each (own client certificate, own" \
	"127.0.x.y source address); \`serve --threads $threads --work-threads $work_threads\`"
echo "- load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

ceil_hdr="| Ceiling | threads | rows per transaction | rows | s | rows/s | p50 ms | p99 ms | JSON B/row |
|---|---|---|---|---|---|---|---|---|"
e2e_args=(-C "$collector" -a "$agents" -n "$batches" -t "$threads" -w "$work_threads" -d "$paced"
	-p "$polls")

# --- SQLite ---------------------------------------------------------------------------
# One agent's rows, then the ingest phase's own rows (every agent's batches in turn).
sq_ceil_row=$("$sq_ceiling" -n "$rows" -s 1 "$work/ceiling.db")
rm -f "$work"/ceiling.db*
sq_ceil_row="$sq_ceil_row
$("$sq_ceiling" -n "$rows" -s "$agents" "$work/ceiling.db")"
rm -f "$work"/ceiling.db*
sq_e2e=$("$bench" "${e2e_args[@]}" -D "$work/sqlite") || die "SQLite end to end failed"
load_sq=$(cut -d' ' -f1-3 /proc/loadavg)
rm -rf "$work/sqlite"

# --- PostgreSQL -----------------------------------------------------------------------
pg_ceil_rows=
pg_e2e=
if [ "${MG_BENCH_PG:-1}" != 0 ]; then
	pg=$(sh "$src/tests/server/pg-test-server.sh" start "$pgstate")
	[ -n "$pg" ] || die "no PostgreSQL: $(cat "$pgstate")"
	base=${pg%/postgres}
	for db in ceil_insert ceil_copy e2e; do
		psql -q "$pg" -c "CREATE DATABASE $db" || die "CREATE DATABASE $db"
	done
	pg_ceil_rows=$("$pg_ceiling" -m insert -n "$rows" "$base/ceil_insert")
	pg_ceil_rows="$pg_ceil_rows
$("$pg_ceiling" -m copy -n "$rows" "$base/ceil_copy")"
	pg_e2e=$("$bench" "${e2e_args[@]}" -D "$work/pg" -u "$base/e2e") ||
		die "PostgreSQL end to end failed"
	pg_version=$(psql -tA "$pg" -c 'SHOW server_version')
	echo "- PostgreSQL $pg_version (tests/server/pg-test-server.sh: default settings, fsync on," \
		"127.0.0.1, same machine)"
	echo
fi

echo "### Raw ceilings (one program, one thread, same rows, 1,000 rows per transaction)"
echo
echo "$ceil_hdr"
echo "$sq_ceil_row"
[ -n "$pg_ceil_rows" ] && echo "$pg_ceil_rows"
echo
echo "### End to end over HTTPS"
echo
echo "$sq_e2e"
[ -n "$pg_e2e" ] && echo "$pg_e2e" | tail -n +3
echo

# Ratio of the ingest phase's events/s to the ceiling's rows/s (column 7 of each row).
rate_of() { # rate_of ROWS PATTERN
	echo "$1" | awk -F'|' -v p="$2" 'index($0, p) {gsub(/ /, "", $7); print $7; exit}'
}
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.0f%%", 100 * a / b; else print "?"}'
}
sq_c1=$(rate_of "$sq_ceil_row" "SQLite raw ceiling, 1 stream")
sq_ca=$(rate_of "$sq_ceil_row" "SQLite raw ceiling, $agents streams")
sq_in=$(rate_of "$sq_e2e" "ingest:")
echo "### End to end against the ceiling"
echo
echo "- SQLite: $sq_in events/s against $sq_c1 rows/s (one agent's rows):" \
	"$(ratio "$sq_in" "$sq_c1"); against $sq_ca rows/s (the ingest phase's rows):" \
	"$(ratio "$sq_in" "$sq_ca")"
if [ -n "$pg_e2e" ]; then
	pg_ci=$(rate_of "$pg_ceil_rows" "prepared INSERT")
	pg_cc=$(rate_of "$pg_ceil_rows" "COPY")
	pg_in=$(rate_of "$pg_e2e" "ingest:")
	echo "- PostgreSQL: $pg_in events/s against $pg_ci rows/s (prepared INSERT):" \
		"$(ratio "$pg_in" "$pg_ci"); against $pg_cc rows/s (COPY): $(ratio "$pg_in" "$pg_cc")"
fi
echo "- load average after SQLite: $load_sq; at the end: $(cut -d' ' -f1-3 /proc/loadavg);" \
	"$(($(date +%s) - start)) s"
