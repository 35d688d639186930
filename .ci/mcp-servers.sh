#!/usr/bin/env bash
# Installs the MCP servers the baton-tools MCP tests run, servers written by others: the reference
# "everything" server from npm, the time server and the `mcp` SDK (for the tests' tiny fixture
# server) from PyPI. Every version, dependencies included, is pinned in
# crates/baton-tools/tests/mcp/fixtures/{npm/package-lock.json,requirements.txt}. They go into
# .ci/.mcp/ and are reused while those pins hold.
#
# Prints the `export` lines the tests read on stdout (progress goes to stderr), so run it as
#   eval "$(bash .ci/mcp-servers.sh)"
# or, failing on an install error under `set -e`:
#   mcp_env="$(bash .ci/mcp-servers.sh)"; eval "$mcp_env"
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
fixtures="crates/baton-tools/tests/mcp/fixtures"
dir=".ci/.mcp"

need() {
  command -v "$1" >/dev/null 2>&1 || { echo "mcp-servers: '$1' is required but not installed" >&2; exit 1; }
}
need node
need npm
need python3

fingerprint() {
  cksum "$@" | awk '{print $1 "-" $2}' | tr '\n' ' '
}

# npm: `npm ci` installs exactly what the lockfile names.
npm_pins="$(fingerprint "$fixtures/npm/package.json" "$fixtures/npm/package-lock.json")"
if [ "$(cat "$dir/npm/pins" 2>/dev/null)" != "$npm_pins" ]; then
  echo "== installing the npm MCP servers ($fixtures/npm/package-lock.json)" >&2
  rm -rf "$dir/npm"
  mkdir -p "$dir/npm"
  cp "$fixtures/npm/package.json" "$fixtures/npm/package-lock.json" "$dir/npm/"
  npm ci --prefix "$dir/npm" --no-audit --no-fund --loglevel=error >&2
  echo "$npm_pins" > "$dir/npm/pins"
fi
everything="$root/$dir/npm/node_modules/.bin/mcp-server-everything"
[ -x "$everything" ] || { echo "mcp-servers: the everything server did not install at $everything" >&2; exit 1; }

# PyPI: a virtualenv of its own.
python_pins="$(fingerprint "$fixtures/requirements.txt")"
venv="$dir/venv"
if [ "$(cat "$venv/pins" 2>/dev/null)" != "$python_pins" ]; then
  echo "== installing the PyPI MCP servers ($fixtures/requirements.txt)" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$fixtures/requirements.txt" >&2
  echo "$python_pins" > "$venv/pins"
fi
time_server="$root/$venv/bin/mcp-server-time"
python="$root/$venv/bin/python"
[ -x "$time_server" ] || { echo "mcp-servers: the time server did not install at $time_server" >&2; exit 1; }
"$python" -c "import mcp.server.mcpserver" || { echo "mcp-servers: the mcp SDK did not install in $venv" >&2; exit 1; }

printf 'export BATON_TEST_MCP_EVERYTHING=%q\n' "$everything"
printf 'export BATON_TEST_MCP_TIME=%q\n' "$time_server"
printf 'export BATON_TEST_MCP_PYTHON=%q\n' "$python"
