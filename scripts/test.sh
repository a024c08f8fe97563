#!/usr/bin/env bash
# Builds HepDb and runs the whole test suite against real MariaDB and PostgreSQL servers (started by the tests
# themselves), real clients and a real headless Chromium. Ends with one line: "N passed, N failed, N skipped".
set -uo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
"$repo/scripts/setup.sh" || exit 1

results="$repo/TestResults"
rm -rf "$results" && mkdir -p "$results"
cd "$repo"
dotnet test tests/HepDb.Tests -c Release --no-build --logger "trx;LogFileName=results.trx" --logger "console;verbosity=normal" \
  --results-directory "$results" "$@" 2>&1 | tee "$results/console.log"
status=$?

trx="$results/results.trx"
if [ ! -f "$trx" ]; then
  echo "0 passed, 1 failed, 0 skipped (no test results were written)"
  exit 1
fi
counters=$(grep -o '<Counters [^>]*>' "$trx")
count() { echo "$counters" | grep -o " $1=\"[0-9]*\"" | grep -o '[0-9]*' || echo 0; }
passed=$(count passed); failed=$(count failed); errors=$(count error)
# Skipped tests are counted as neither executed nor notExecuted by the TRX logger: they are the total minus the executed.
skipped=$(( $(count total) - $(count executed) ))
failed=$((failed + errors))
if [ "$failed" -gt 0 ]; then
  # The failures again, each with its message (not its stack), so the last lines of a long log say what broke.
  echo "Failed tests:"
  awk '/^  Failed /{show=1; n=0} /^  Stack Trace:/{show=0} show && n++ < 25' "$results/console.log"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
