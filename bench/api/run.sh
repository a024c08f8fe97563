#!/usr/bin/env bash
# The API throughput benchmark (issue 12), with one command: bench/api/run.sh [--seconds S] [--parallel P] [--count N]
# List and create through HepDb's real API, with SQLite and then PostgreSQL metadata, each against a bare Kestrel
# endpoint answering the same bytes. bench/run.sh does the rest: scripts/setup.sh, a Release build, private MariaDB and
# PostgreSQL servers in a temporary folder, and removing them at the end, also after Ctrl-C. See bench/README.md.
set -euo pipefail
exec "$(dirname "$0")/../run.sh" api "$@"
