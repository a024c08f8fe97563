#!/usr/bin/env bash
# The benchmarks, with one command: bench/run.sh [--count N] [other HepDb.Bench options; see bench/README.md]
# Installs what is missing (scripts/setup.sh), builds in Release, runs the quota-watcher benchmark (or the one named:
# create, frozen, api, backup, history, placement, watcher-fleet) on private MariaDB and PostgreSQL servers in a
# temporary folder, and removes servers and folder at the end, also after Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet build bench/HepDb.Bench/HepDb.Bench.csproj -c Release -v quiet -nologo -clp:ErrorsOnly

root=$(mktemp -d /tmp/hepdb-bench.XXXXXX)
chmod 755 "$root"   # PostgreSQL runs as the postgres user and must be able to reach its folder inside
bench_pid=
cleanup() {
  trap - EXIT INT TERM
  # The benchmark stops its servers itself; this is the backstop if it was killed before it could.
  [ -n "$bench_pid" ] && kill -TERM "$bench_pid" 2>/dev/null && wait "$bench_pid" 2>/dev/null || true
  # "$root/b": the second MariaDB of the watcher-fleet benchmark.
  for pidfile in "$root/engines/mariadb/run/mysqld.pid" "$root/b/engines/mariadb/run/mysqld.pid" "$root/engines/postgres/data/postmaster.pid"; do
    pid=$(head -n1 "$pidfile" 2>/dev/null || true)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
  done
  rm -rf "$root"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Started in the background and waited for, so a Ctrl-C reaches the trap at once (bash defers traps while a
# foreground child runs); cleanup then sends SIGTERM, on which the benchmark stops its servers cleanly. setsid keeps
# the terminal's SIGINT away from the engine servers, which would otherwise die under the benchmark mid-run.
setsid dotnet bench/HepDb.Bench/bin/Release/net10.0/HepDb.Bench.dll --root "$root" "$@" &
bench_pid=$!
rc=0
wait "$bench_pid" || rc=$?
bench_pid=
exit "$rc"
