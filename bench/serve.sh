#!/usr/bin/env bash
# Server figures for BENCHMARKS.md: turns/s and latency of `baton serve` at 100 and 1,000
# concurrent conversations against a mock model, and the memory an idle conversation costs, with
# a SQLite journal and then a Postgres one. Needs psql and the Postgres at BATON_BENCH_POSTGRES
# (default postgres://postgres@127.0.0.1:5432/test) for the Postgres rows; without them those
# rows are skipped. Prints a table row per run as it goes, then every run's JSON.
set -euo pipefail
cd "$(dirname "$0")/.."

. bench/lib.sh

echo "== building baton and the benchmark (release)" >&2
BATON_BIN=$(cargo build --release -p baton-cli --message-format=json 2>/dev/null | artifact baton)
export BATON_BIN
bench=$(cargo bench -p baton-server --bench serve --no-run --message-format=json 2>/dev/null | artifact serve)
out=$(mktemp -d)

postgres=${BATON_BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432/test}
schema="serve_bench_$$"
fresh_schema() { # a URL to an empty schema of its own
  psql -q "$postgres" -c "SET client_min_messages = warning; DROP SCHEMA IF EXISTS $schema CASCADE; CREATE SCHEMA $schema" >/dev/null
  echo "$postgres?options=-csearch_path%3D$schema"
}
journals=(sqlite)
if command -v psql >/dev/null && psql -q "$postgres" -c 'SELECT 1' >/dev/null 2>&1; then
  journals+=(postgres)
else
  echo "== no Postgres at $postgres (or no psql): the Postgres rows are skipped" >&2
fi

run() { # name mode journal numbers...
  local name=$1 mode=$2 journal=$3; shift 3
  local db=sqlite
  [ "$journal" = postgres ] && db=$(fresh_schema)
  echo "== $name: $mode $journal $*" >&2
  "$bench" "$mode" "$db" "$@" > "$out/$name.json"
}

for journal in "${journals[@]}"; do
  run "$journal-100" turns "$journal" 100 5000
  run "$journal-1000" turns "$journal" 1000 10000
  run "$journal-idle" idle "$journal" 10000
done
[ "${journals[*]}" = "sqlite" ] || psql -q "$postgres" -c "SET client_min_messages = warning; DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null
cat "$out"/*.json
