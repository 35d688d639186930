#!/usr/bin/env bash
# Side by side with the peer frameworks, in one run on this machine: baton, the OpenAI Agents SDK
# and LangGraph swarm each run the same support script (../shared/peers/README.md: triage hands
# off to technical, technical checks the line, then answers; 3 model calls, 1 handoff, 1 tool
# call per conversation) against the same mock model (the shared Python mock,
# ../shared/peers/mockllm.py, on 127.0.0.1:18080), N conversations, C at a time, in memory and
# then durable (baton: a fresh SQLite file at its default durability, synchronous = FULL; the
# Agents SDK: a SQLiteSession per conversation; LangGraph: AsyncSqliteSaver). Each framework
# measures its own process (CPU time, wall time, peak RSS) over the counted conversations after
# 5 warm-up ones, so the mock's cost is not counted. Then baton runs again against the Rust mock
# (bench/mockllm, `baton-mockllm`, same answers, a fraction of the CPU) as "baton's ceiling".
#
# The work is checked, not assumed: the mock's call counter (/stats) must grow by exactly
# 3 × (N + 5) over each baton run, and baton must report 0 failed, 3N model calls, N handoffs,
# N tool calls and every conversation ending with technical; the peers' counts are reported.
#
# Usage: bash bench/peers.sh [CONVERSATIONS=500] [CONCURRENCY=50] [--repeat K=3] [--out FILE]
#   --repeat K: run every configuration K times, in interleaved rounds; the table shows medians.
#   --out FILE (or BATON_PEERS_OUT=FILE): also write the raw results there, one JSON object per run.
#   BATON_PEERS=DIR       the peer kit (default: <repo>/../shared/peers)
#   BATON_PEERS_VENV=DIR  its Python venv (default /tmp/baton-peers; made by $BATON_PEERS/setup.sh
#                         when DIR/bin/python is missing: needs network access to PyPI once)
#   BATON_THREADS=N       passed to `baton bench --threads N` (default: baton's own default)
# Needs: cargo, python3 (stdlib only here), curl, and port 18080 free (the team file
# bench/support-mock/team.toml points at it).
# Prints: progress (`== ...`) on stderr; on stdout one markdown table, then the raw results as
# JSON lines (the peers' `key=value` lines converted).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

die() { echo "peers.sh: $*" >&2; exit 1; }

n=500 c=50 repeat=3 out=${BATON_PEERS_OUT:-}
positional=()
while [ $# -gt 0 ]; do
  case $1 in
    --out) [ $# -ge 2 ] || die "--out needs a file"; out=$2; shift 2 ;;
    --out=*) out=${1#--out=}; shift ;;
    --repeat) [ $# -ge 2 ] || die "--repeat needs a number"; repeat=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) positional+=("$1"); shift ;;
  esac
done
[ ${#positional[@]} -le 2 ] || die "too many arguments (usage: bash bench/peers.sh [CONVERSATIONS] [CONCURRENCY] [--repeat K] [--out FILE])"
[ ${#positional[@]} -ge 1 ] && n=${positional[0]}
[ ${#positional[@]} -ge 2 ] && c=${positional[1]}
[[ $n =~ ^[1-9][0-9]*$ && $c =~ ^[1-9][0-9]*$ ]] || die "CONVERSATIONS and CONCURRENCY must be positive integers (got '$n' '$c')"
[[ $repeat =~ ^[1-9][0-9]*$ ]] || die "--repeat must be a positive integer (got '$repeat')"

warmup=5 # what the peers' scripts warm up with (hard-coded there)
port=18080
input="My internet is down (customer 7)"
team=bench/support-mock/team.toml
peers=${BATON_PEERS:-$repo/../shared/peers}
venv=${BATON_PEERS_VENV:-/tmp/baton-peers}
for file in mockllm.py oai_agents_run.py langgraph_swarm_run.py setup.sh; do
  [ -f "$peers/$file" ] || die "the peer kit is not at $peers (no $file): set BATON_PEERS to its directory"
done
peers=$(cd "$peers" && pwd)
threads=()
[ -n "${BATON_THREADS:-}" ] && threads=(--threads "$BATON_THREADS")

tmp=$(mktemp -d)
mock_pid=
cleanup() {
  if [ -n "$mock_pid" ]; then kill "$mock_pid" 2>/dev/null || true; wait "$mock_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

. bench/lib.sh

baton_and_mock "$tmp" || die "the release build of baton and baton-mockllm failed"
"$baton" bench --help >/dev/null 2>&1 || die "this baton has no 'bench' command"

if [ ! -x "$venv/bin/python" ]; then
  echo "== creating the peers' venv in $venv ($peers/setup.sh)" >&2
  "$peers/setup.sh" "$venv" >/dev/null || die "$peers/setup.sh $venv failed"
fi
py=$venv/bin/python

stats() { # the mock's call count
  curl -fsS "http://127.0.0.1:$port/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["n"])'
}

start_mock() { # name command...: starts a mock on $port and waits until it answers /stats
  local name=$1; shift
  if ! python3 -c 'import socket,sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a connection in TIME_WAIT is no server
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)' "$port"; then
    die "port $port is taken (another mock or bench?); free it and run again"
  fi
  echo "== starting the $name mock on 127.0.0.1:$port" >&2
  "$@" >"$tmp/mock-$name.log" 2>&1 &
  mock_pid=$!
  for _ in $(seq 100); do
    stats >/dev/null 2>&1 && return 0
    kill -0 "$mock_pid" 2>/dev/null || break
    sleep 0.1
  done
  cat "$tmp/mock-$name.log" >&2
  die "the $name mock did not start"
}

stop_mock() {
  kill "$mock_pid" 2>/dev/null || true
  wait "$mock_pid" 2>/dev/null || true
  mock_pid=
}

results=$tmp/results.jsonl
: >"$results"

run_baton() { # mock mode db
  local mock=$1 mode=$2 db=$3 before after rc=0
  echo "== round $ROUND/$repeat: baton, $mode, $mock mock: $n conversations, $c at a time (--db $db)" >&2
  before=$(stats)
  "$baton" bench "$team" --input "$input" -n "$n" -c "$c" --db "$db" --warmup "$warmup" "${threads[@]}" --json \
    >"$tmp/baton.json" || rc=$?
  after=$(stats)
  python3 - "$tmp/baton.json" "$mock" "$mode" "$((after - before))" "$n" "$warmup" "$rc" >>"$results" <<'EOF' || exit 1
import json, os, sys
path, mock, mode, calls, n, warmup, rc = sys.argv[1], sys.argv[2], sys.argv[3], *map(int, sys.argv[4:])
try:
    with open(path) as f:
        run = json.load(f)
except (OSError, ValueError) as e:
    sys.exit(f"peers.sh: baton bench printed no JSON object (exit code {rc}): {e}")
problems = []
want = {"conversations": n, "failed": 0, "model_calls": 3 * n, "handoffs": n, "tool_calls": n,
        "agents": {"technical": n}}
for key, value in want.items():
    if run.get(key) != value:
        problems.append(f"{key} is {run.get(key)!r}, expected {value!r}")
if calls != 3 * (n + warmup):
    problems.append(f"the mock answered {calls} calls, expected 3 x ({n} + {warmup} warm-up) = {3 * (n + warmup)}")
if rc != 0:
    problems.append(f"baton bench exited with {rc}")
if problems:
    sys.exit(f"peers.sh: baton ({mode}, {mock} mock) did not do the expected work:\n  " + "\n  ".join(problems)
             + "\n  its JSON: " + json.dumps(run))
print(json.dumps({"framework": "baton", "mode": mode, "mock": mock, "round": int(os.environ["ROUND"]), "mock_calls": calls, **run}))
EOF
}

run_peer() { # framework script durable
  local framework=$1 script=$2 durable=$3 mode=in-memory before after line rc=0
  [ "$durable" = 1 ] && mode=durable
  echo "== round $ROUND/$repeat: $framework, $mode, python mock: $n conversations, $c at a time" >&2
  before=$(stats)
  MOCK_URL="http://127.0.0.1:$port/v1" PEER_DURABLE=$durable PEER_DB="$tmp/$framework-$durable-$ROUND.db" \
    "$py" "$peers/$script" "$n" "$c" >"$tmp/peer.out" 2>"$tmp/peer.err" || rc=$?
  after=$(stats)
  line=$(grep 'cpu_ms_per_conv=' "$tmp/peer.out" | tail -n 1 || true)
  if [ "$rc" != 0 ] || [ -z "$line" ]; then
    tail -n 20 "$tmp/peer.err" >&2
    die "$framework ($mode) failed (exit code $rc)"
  fi
  python3 - "$framework" "$mode" "$((after - before))" "$n" "$warmup" "$line" >>"$results" <<'EOF'
import json, os, sys
framework, mode, calls, n, warmup, line = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
record = {"framework": framework, "mode": mode, "mock": "python", "round": int(os.environ["ROUND"]), "mock_calls": calls}
for token in line.split():
    if "=" not in token:
        record["name"] = token
        continue
    key, value = token.split("=", 1)
    for kind in (int, float):
        try:
            value = kind(value)
            break
        except ValueError:
            pass
    record[key] = value
if calls != 3 * (n + warmup):
    print(f"peers.sh: note: {framework} ({mode}) made {calls} model calls, not 3 x ({n} + {warmup})", file=sys.stderr)
print(json.dumps(record))
EOF
}

# Rounds interleave the frameworks, so that a slow spell of the machine falls on all of them.
start_mock python "$py" "$peers/mockllm.py" "$port"
for round in $(seq "$repeat"); do
  export ROUND=$round
  run_baton python in-memory memory
  run_peer openai-agents oai_agents_run.py 0
  run_peer langgraph-swarm langgraph_swarm_run.py 0
  run_baton python durable "$tmp/baton-python-$round.db"
  run_peer openai-agents oai_agents_run.py 1
  run_peer langgraph-swarm langgraph_swarm_run.py 1
done
stop_mock

start_mock rust "$mockllm" "$port"
for round in $(seq "$repeat"); do
  export ROUND=$round
  run_baton rust in-memory memory
  run_baton rust durable "$tmp/baton-rust-$round.db"
done
stop_mock

if [ -n "$out" ]; then
  cp "$results" "$out"
  echo "== raw results written to $out" >&2
fi

python3 - "$results" "$n" "$c" "$repeat" <<'EOF'
import json, statistics, sys
runs = [json.loads(line) for line in open(sys.argv[1])]
n, c, repeat = sys.argv[2], sys.argv[3], int(sys.argv[4])
store = {("baton", "in-memory"): "journal in memory", ("baton", "durable"): "SQLite, synchronous = FULL",
         ("openai-agents", "in-memory"): "no session", ("openai-agents", "durable"): "SQLiteSession",
         ("langgraph-swarm", "in-memory"): "InMemorySaver", ("langgraph-swarm", "durable"): "AsyncSqliteSaver"}

def of(framework, mode, mock):
    return [r for r in runs if (r["framework"], r["mode"], r["mock"]) == (framework, mode, mock)]

def median(rs, key):
    return statistics.median(r[key] for r in rs)

def row(name, kind, mode, rs, ratio):
    return (f"| {name} | {mode} ({store[(kind, mode)]}) | {median(rs, 'cpu_ms_per_conv'):.2f} "
            f"| {median(rs, 'conv_per_s'):.1f} | {max(r['maxrss_mb'] for r in rs):.1f} | {ratio} |")

print(f"{n} conversations, {c} at a time, each configuration run {repeat} times in interleaved rounds: the median "
      "of the runs (peak RSS: the largest). The ratio is the peer's median CPU per conversation over baton's, with "
      "the range of the per-round ratios. The shared Python mock unless said otherwise.\n")
print("| framework | mode | CPU ms per conversation | conversations/s | peak RSS MB | baton is N× cheaper in CPU |")
print("|---|---|---:|---:|---:|---:|")
for mode in ("in-memory", "durable"):
    baton = of("baton", mode, "python")
    print(row("baton", "baton", mode, baton, "—"))
    by_round = {r["round"]: r["cpu_ms_per_conv"] for r in baton}
    for peer in ("openai-agents", "langgraph-swarm"):
        rs = of(peer, mode, "python")
        ratios = [r["cpu_ms_per_conv"] / by_round[r["round"]] for r in rs]
        ratio = median(rs, "cpu_ms_per_conv") / median(baton, "cpu_ms_per_conv")
        print(row(peer, peer, mode, rs, f"{ratio:.1f}× ({min(ratios):.0f}–{max(ratios):.0f})"))
for mode in ("in-memory", "durable"):
    print(row("baton, ceiling (Rust mock)", "baton", mode, of("baton", mode, "rust"), "—"))
print()
for r in runs:
    print(json.dumps(r))
EOF
