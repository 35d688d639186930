#!/usr/bin/env bash
# How baton's cost grows, for BENCHMARKS.md: the support script of bench/support-mock/team.toml
# (triage hands off to technical, which checks the line and answers) run by `baton bench`
# against the Rust mock model (bench/mockllm: it answers at once and costs little, so the
# figures are baton's own), varying one thing at a time:
#   * concurrency: 1 to 1,000 conversations at a time, journal in memory and on SQLite (FULL);
#   * number of agents: 3 to 100 agents, triage offered a transfer tool to each of the others;
#   * transcript length: conversations of 1 to 40 turns (every follow-up turn is one more model
#     call by technical, sent the whole conversation so far).
# Each point is one `baton bench --json` run (its CPU time is the baton process's own).
#
# Usage: bash bench/scaling.sh [--out DIR] [--repeat K]   (default DIR: a new temporary folder; K: 3)
# Every point is measured K times, in K rounds over all the points (so a slow spell of the
# machine falls on all of them); the tables and the plot show the median of each point.
# Writes DIR/scaling.jsonl (one object per run, with "series" and "x" added) and
# DIR/scaling.svg, and prints one markdown table per series on stdout (both by
# bench/scaling_report.py, which redraws them from a scaling.jsonl alone) and progress on stderr. Needs cargo, python3, curl and port 18080 free (the team file points there).
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "scaling.sh: $*" >&2; exit 1; }
out="" repeat=3
while [ $# -gt 0 ]; do
  case $1 in
    --out) [ $# -ge 2 ] || die "--out needs a folder"; out=$2; shift 2 ;;
    --repeat) [ $# -ge 2 ] || die "--repeat needs a number"; repeat=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
[[ $repeat =~ ^[1-9][0-9]*$ ]] || die "--repeat must be a positive integer (got '$repeat')"
[ -n "$out" ] || out=$(mktemp -d)
mkdir -p "$out"
results="$out/scaling.jsonl"
: > "$results"
work=$(mktemp -d)

. bench/lib.sh

baton_and_mock "$work" || die "the release build of baton and baton-mockllm failed"

port=18080
curl -fs "127.0.0.1:$port/stats" >/dev/null 2>&1 && die "port $port is taken (another mock or bench?): stop it first"
"$mockllm" "$port" &
mock=$!
trap 'kill $mock 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -fs "127.0.0.1:$port/stats" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fs "127.0.0.1:$port/stats" >/dev/null || die "the mock did not start on port $port"

# team_with N: a copy of the bench team whose triage can also hand off to N-3 more specialists.
team_with() {
  local agents=$1 dir="$work/agents-$1"
  mkdir -p "$dir"
  cp -r bench/support-mock/data "$dir/"
  python3 - "$agents" bench/support-mock/team.toml "$dir/team.toml" <<'EOF'
import sys
agents, source, target = int(sys.argv[1]), sys.argv[2], sys.argv[3]
team = open(source).read()
extra = [f"specialist_{i}" for i in range(1, agents - 2)]
edges = "".join(f'  {{ to = "{name}", require_reason = false }},\n' for name in extra)
marker = '  { to = "billing", description = "Billing disputes", require_reason = false },\n'
assert marker in team, "bench/support-mock/team.toml changed: update scaling.sh"
team = team.replace(marker, marker + edges)
for name in extra:
    team += f'\n[agents.{name}]\ndescription = "Handles case type {name}."\ninstructions = "You are {name}."\nmodel = "mock"\n'
open(target, "w").write(team)
EOF
  echo "$dir/team.toml"
}

# point SERIES X TEAM N C DB INPUTS...: one bench run, appended to the results.
point() {
  local series=$1 x=$2 team=$3 n=$4 c=$5 db=$6; shift 6
  local inputs=()
  for input in "$@"; do inputs+=(--input "$input"); done
  echo "== round $round/$repeat: $series = $x: $n conversations, $c at a time, journal $db" >&2
  "$baton" bench "$team" "${inputs[@]}" -n "$n" -c "$c" --db "$db" --json |
    python3 -c 'import json,sys
run = json.loads(sys.stdin.read())
run["series"], run["x"], run["round"] = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
if run["failed"]:
    sys.exit(f"{run['failed']} conversations failed: {run['first_error']}")
print(json.dumps(run))' "$series" "$x" "$round" >> "$results"
}

first="My internet is down (customer 42)"
team=bench/support-mock/team.toml
for round in $(seq "$repeat"); do
  for c in 1 10 50 200 1000; do
    n=$(( c * 4 > 1000 ? c * 4 : 1000 ))
    point concurrency-memory "$c" "$team" "$n" "$c" memory "$first"
    point concurrency-sqlite "$c" "$team" "$n" "$c" "$work/c$c-$round.db" "$first"
  done
  for agents in 3 10 30 100; do
    point agents "$agents" "$(team_with "$agents")" 1000 50 memory "$first"
  done
  for turns in 1 5 10 20 40; do
    inputs=("$first")
    for i in $(seq 2 "$turns"); do inputs+=("Thanks. One more question, number $i: is the line still up?"); done
    point turns "$turns" "$team" 200 50 memory "${inputs[@]}"
  done
done

python3 bench/scaling_report.py "$results" "$out/scaling.svg"
echo "== results: $results, plot: $out/scaling.svg" >&2
