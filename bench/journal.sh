#!/usr/bin/env bash
# Journal figures for BENCHMARKS.md: appends, commits and disk syncs per turn with SQLite FULL,
# SQLite NORMAL and Postgres, 1 and 64 conversations at a time; then the time to resume 10,000
# interrupted conversations. Needs strace (for the syncs of the SQLite runs) and the Postgres at
# BATON_BENCH_POSTGRES (default postgres://postgres@127.0.0.1:5432/test).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v strace >/dev/null || { echo "bench: strace is required (apt-get install strace)" >&2; exit 1; }

echo "== building the benchmark (release)" >&2
bin=$(cargo bench -p baton --bench journal --no-run --message-format=json 2>/dev/null \
  | python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "journal" and m.get("executable"):
        print(m["executable"])')
out=$(mktemp -d)

run() { # name args...: one run under strace; prints its JSON line with the syncs added
  local name=$1; shift
  echo "== $name: $*" >&2
  strace -f -qq -c -e trace=fsync,fdatasync -o "$out/$name.strace" "$bin" "$@" > "$out/$name.json"
  python3 - "$out/$name.json" "$out/$name.strace" <<'PY'
import json, sys
result = json.load(open(sys.argv[1]))
syncs = 0
for line in open(sys.argv[2]):
    parts = line.split()
    if parts and parts[-1] in ("fsync", "fdatasync"):
        syncs += int(parts[3])
result["process_syncs"] = syncs
print(json.dumps(result))
PY
}

for store in sqlite-full sqlite-normal postgres; do
  run "$store-1" turns "$store" 1 200
  run "$store-64" turns "$store" 64 1280
done
run resume-sqlite resume sqlite-full 10000
run resume-postgres resume postgres 10000
