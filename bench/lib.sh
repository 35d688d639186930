# What the bench scripts share; source it from the repository's root (`. bench/lib.sh`).

# artifact TARGET < CARGO_JSON: the path of the executable cargo built for TARGET, read from
# the output of a cargo command run with --message-format=json.
artifact() {
  python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == sys.argv[1] and m.get("executable"):
        print(m["executable"])' "$1"
}

# release_build DIR PACKAGE...: a release build of the packages, its JSON messages written to
# DIR/build.json; on failure, cargo's last errors on stderr and status 1.
release_build() {
  local dir=$1 packages=() package
  shift
  for package in "$@"; do packages+=(-p "$package"); done
  if ! cargo build --release "${packages[@]}" --message-format=json >"$dir/build.json" 2>"$dir/build.err"; then
    tail -n 30 "$dir/build.err" >&2
    return 1
  fi
}

# baton_and_mock DIR: release builds of baton and the Rust mock model; sets $baton and $mockllm
# to their executables, or returns 1 (cargo's errors on stderr).
baton_and_mock() {
  echo "== building baton and baton-mockllm (release)" >&2
  release_build "$1" baton-cli baton-mockllm || return 1
  baton=$(artifact baton <"$1/build.json")
  mockllm=$(artifact baton-mockllm <"$1/build.json")
  [ -x "$baton" ] && [ -x "$mockllm" ]
}
