#!/bin/sh
# A throwaway PostgreSQL server for the collector's store tests and benchmarks.
#
#   pg-test-server.sh start STATEFILE   start it; print its URL; write STATEFILE
#   pg-test-server.sh stop STATEFILE    stop it and remove its directory
#
# The server runs from a new temporary directory (data, log, unix socket), listens on
# 127.0.0.1 only, on a free port, with trust authentication for the superuser "mgtest". As
# root it runs as the user "nobody" (PostgreSQL refuses root). STATEFILE lines:
#   url postgresql://mgtest@127.0.0.1:PORT/postgres
#   dir /tmp/mg-pg.XXXXXX
#   user nobody
#   pid 12345
# When the PostgreSQL server binaries are missing: under CI (CI set) this fails; otherwise
# STATEFILE says "skip <reason>" and the tests skip. Every wait is bounded.
set -eu

action=${1:-}
state=${2:-}
if [ -z "$action" ] || [ -z "$state" ]; then
  echo "usage: $0 start|stop STATEFILE" >&2
  exit 2
fi
case "$state" in
/*) ;;
*) state="$PWD/$state" ;;
esac

# MG_PG_BINDIR, when set, is the only place looked at.
find_bindir() {
  if [ -n "${MG_PG_BINDIR:-}" ]; then
    [ -x "$MG_PG_BINDIR/initdb" ] && [ -x "$MG_PG_BINDIR/pg_ctl" ] || return 1
    echo "$MG_PG_BINDIR"
    return 0
  fi
  for v in 17 16 15 14 13; do
    if [ -x "/usr/lib/postgresql/$v/bin/initdb" ] && [ -x "/usr/lib/postgresql/$v/bin/pg_ctl" ]; then
      echo "/usr/lib/postgresql/$v/bin"
      return 0
    fi
  done
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(command -v initdb)"
    return 0
  fi
  return 1
}

as_user() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u "$pguser" -- "$@"
  else
    "$@"
  fi
}

state_get() {
  sed -n "s/^$1 //p" "$state" 2>/dev/null | head -n 1
}

case "$action" in
start)
  rm -f "$state"
  if ! bindir=$(find_bindir); then
    msg="PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql"
    if [ -n "${CI:-}" ]; then
      echo "pg-test-server: $msg" >&2
      exit 1
    fi
    echo "skip $msg" >"$state"
    echo "pg-test-server: $msg; the PostgreSQL tests will be skipped" >&2
    exit 0
  fi
  pguser=$(id -un)
  [ "$(id -u)" -eq 0 ] && pguser=nobody
  dir=$(mktemp -d /tmp/mg-pg.XXXXXX)
  [ "$(id -u)" -eq 0 ] && chown "$pguser" "$dir"
  chmod 700 "$dir"
  cd "$dir" # the server's user may not enter the caller's directory
  if ! as_user "$bindir/initdb" -D "$dir/data" -A trust -U mgtest -E UTF8 --no-locale \
      --no-sync >"$dir/initdb.log" 2>&1; then
    cat "$dir/initdb.log" >&2
    rm -rf "$dir"
    exit 1
  fi
  attempt=0
  while [ $attempt -lt 8 ]; do
    attempt=$((attempt + 1))
    # A random port in 20000-59999; a port someone holds makes the server exit: try another.
    port=$(( 20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 40000 ))
    as_user "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -W \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=100" \
      start >/dev/null 2>&1 || continue
    ready=0
    tries=0
    while [ $tries -lt 120 ]; do # at most about 30 s
      tries=$((tries + 1))
      if "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" -U mgtest -t 1; then
        ready=1
        break
      fi
      pid=$(head -n 1 "$dir/data/postmaster.pid" 2>/dev/null || true)
      if [ $tries -gt 8 ] && { [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; }; then
        break # the server died (port taken?): next attempt
      fi
      sleep 0.25
    done
    if [ $ready -eq 1 ]; then
      pid=$(head -n 1 "$dir/data/postmaster.pid")
      url="postgresql://mgtest@127.0.0.1:$port/postgres"
      printf 'url %s\ndir %s\nuser %s\npid %s\n' "$url" "$dir" "$pguser" "$pid" >"$state"
      echo "$url"
      exit 0
    fi
    as_user "$bindir/pg_ctl" -D "$dir/data" -m immediate -w -t 10 stop >/dev/null 2>&1 || true
  done
  echo "pg-test-server: the server did not start; its log:" >&2
  tail -n 30 "$dir/server.log" >&2 2>/dev/null || true
  rm -rf "$dir"
  exit 1
  ;;
stop)
  [ -f "$state" ] || exit 0
  dir=$(state_get dir)
  pguser=$(state_get user)
  pid=$(state_get pid)
  cd /
  if [ -n "$dir" ] && [ -d "$dir/data" ]; then
    bindir=$(find_bindir) || bindir=""
    if [ -n "$bindir" ]; then
      as_user "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null 2>&1 || true
    fi
    # Still there after the bounded stop: kill the postmaster we started (by its pid).
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill -9 "$pid" 2>/dev/null || true
    fi
  fi
  case "$dir" in
  /tmp/mg-pg.*) rm -rf "$dir" ;;
  esac
  rm -f "$state"
  ;;
*)
  echo "usage: $0 start|stop STATEFILE" >&2
  exit 2
  ;;
esac
