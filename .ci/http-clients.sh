#!/usr/bin/env bash
# Installs the HTTP clients the baton-server tests run against `baton serve`, clients written by
# others, from PyPI: the official `openai` Python client and Schemathesis. Their versions are pinned
# in .ci/http-clients.txt. They go into the virtualenv .ci/.venv-http/, reused while that file is
# unchanged.
#
# Prints the `export` line the tests read on stdout (progress goes to stderr), so run it as
#   eval "$(bash .ci/http-clients.sh)"
# or, failing on an install error under `set -e`:
#   http_env="$(bash .ci/http-clients.sh)"; eval "$http_env"
# The tests then run `$BATON_TEST_HTTP_PYTHON crates/baton-server/tests/python/openai_client.py ...`
# and `$BATON_TEST_HTTP_PYTHON -m schemathesis.cli run ...`.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
pins_file=".ci/http-clients.txt"
venv=".ci/.venv-http"

fail() { echo "http-clients: $*" >&2; exit 1; }

command -v python3 >/dev/null 2>&1 || fail "'python3' is required but not installed"
[ -f "$pins_file" ] || fail "the pins file $pins_file is missing"

pins="$(cksum "$pins_file" | awk '{print $1 "-" $2}')"
if [ "$(cat "$venv/pins" 2>/dev/null)" != "$pins" ]; then
  echo "== installing the HTTP clients ($pins_file)" >&2
  rm -rf "$venv"
  python3 -m venv "$venv" >&2 || fail "could not create the virtualenv $venv (is python3-venv installed?)"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$pins_file" >&2 \
    || fail "pip could not install $pins_file into $venv"
  echo "$pins" > "$venv/pins"
fi

python="$root/$venv/bin/python"
[ -x "$python" ] || fail "the virtualenv's python is missing at $python"
# Both packages import, at exactly the pinned versions (a stale or half-built venv fails here).
"$python" - "$pins_file" >&2 <<'PY' || fail "the HTTP clients in $venv do not match $pins_file; delete $venv and rerun"
import sys
from importlib.metadata import version

import openai  # noqa: F401
import schemathesis.cli  # noqa: F401

for line in open(sys.argv[1]):
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    name, _, want = line.partition("==")
    have = version(name.split("[", 1)[0])
    if have != want:
        sys.exit(f"http-clients: {name} is {have}, pinned {want}")
PY

printf 'export BATON_TEST_HTTP_PYTHON=%q\n' "$python"
