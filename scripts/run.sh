#!/usr/bin/env bash
# Runs HepDb on its embedded default: a SQLite metadata store and private MariaDB and PostgreSQL servers under
# ./data (override with HEPDB_DATA), the dashboard and API on HEPDB_URL (default http://127.0.0.1:8080).
# Prints a dashboard sign-in (an operator account) and a ready API key. Ctrl-C stops HepDb and its engine servers.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
"$repo/scripts/setup.sh"

export HepDb__DataDir="${HEPDB_DATA:-$repo/data}"
url="${HEPDB_URL:-http://127.0.0.1:8080}"
bin="$repo/src/HepDb/bin/Release/net10.0"
mkdir -p "$HepDb__DataDir"

# Line 1: a fresh API key; line 2: a fresh dashboard password (both rotated on every start; only hashes are kept).
{ read -r key; read -r password; } < <("$repo/scripts/hepdb-admin" quickstart --email admin@hepdb.local)
cat <<MSG

  HepDb is starting (data in $HepDb__DataDir).
  Dashboard:  $url/dashboard/database
  Sign in:    admin@hepdb.local / $password   (an operator: the admin area is at $url/admin)
  Health:     $url/readyz
  Metrics:    http://${Metrics__Host:-127.0.0.1}:${Metrics__Port:-9464}/metrics   (Prometheus; not on the public port)
  API:        $url/api/v1/db   (OpenAPI: $url/openapi/v1.json)
  API key:    $key
  Operators:  scripts/hepdb-admin account list   (same data folder; see docs/operations.md)
  First call: curl -X POST $url/api/v1/db/databases -H "Authorization: Bearer $key" \\
                -H "Content-Type: application/json" -d '{"name":"my-app","engine":"mariadb"}'

MSG
cd "$repo/src/HepDb"
exec dotnet "$bin/HepDb.dll" --urls "$url" --contentRoot "$repo/src/HepDb"
