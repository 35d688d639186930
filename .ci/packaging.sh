#!/usr/bin/env bash
# Packaging checks that need no container engine. `bash .ci/packaging.sh [STEP...]`, every step
# by default:
#   crates   every publishable crate packages and builds from its .crate alone (cargo package).
#   image    the Dockerfile's build command builds, from exactly the context .dockerignore lets
#            through, a binary of at most 28 MB that needs only libraries debian:bookworm-slim
#            has; then the runtime stage is replayed in a temporary root: its COPYs, its ENV, its
#            ENTRYPOINT and CMD, run as an unprivileged user (nobody) on loopback; its HEALTHCHECK
#            must pass, the API must refuse a request without a key and take one with a key, the
#            journal must land on the volume, SIGTERM must stop it cleanly; without a keys file,
#            or without BATON_KEYS, the CMD must refuse to start.
#   compose  compose.yaml holds a postgres service with a healthcheck, and a baton service built
#            from the Dockerfile that runs the image's `serve` with a postgres:// --db on that
#            service, after it is healthy, with the keys as the secret the image reads. With
#            BATON_TEST_POSTGRES set, the service's command is also run against that Postgres.
#   install  `cargo install --path crates/baton-cli --locked` into a temporary root; the installed
#            baton prints its version and runs the support example offline from its directory
#            (its refund tool runs python3).
# Not checked here, for want of a container engine: that the base images pull, that apt installs
# ca-certificates, that useradd and the BuildKit cache mounts work, that Docker runs the
# HEALTHCHECK and mounts the volume and the secret as expected, that compose starts the two
# services. The runtime stage is replayed on this machine's glibc, which must be bookworm's.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "packaging: $*" >&2; exit 1; }
note() { echo "packaging: $*"; }
target_dir=${CARGO_TARGET_DIR:-$PWD/target}
scratch=$(mktemp -d)
server_pid=
cleanup() {
  if [[ -n $server_pid ]]; then kill -TERM "$server_pid" 2>/dev/null || true; fi
  rm -rf "$scratch"
}
trap cleanup EXIT
chmod 755 "$scratch"

# The Dockerfile's instructions, continuation lines joined, one per line.
dockerfile_instructions() {
  sed -e ':join' -e '/\\$/{' -e 'N' -e 's/\\\n//' -e 'b join' -e '}' Dockerfile | grep -v '^[[:space:]]*#' | grep -v '^[[:space:]]*$'
}

# The instructions of the runtime stage (after the last FROM).
runtime_stage() {
  dockerfile_instructions | awk '/^FROM /{stage=""} {stage=stage $0 "\n"} END{printf "%s", stage}'
}

# The strings of a JSON array of strings (a Dockerfile exec form), NUL-separated; only the
# escapes \\ and \" are read.
json_strings() {
  local rest=${1#*[} item pattern='^[[:space:],]*"(([^"\\]|\\.)*)"(.*)$'
  while [[ $rest =~ $pattern ]]; do
    item=${BASH_REMATCH[1]}
    rest=${BASH_REMATCH[3]}
    item=${item//\\\"/\"}
    printf '%s\0' "${item//\\\\/\\}"
  done
}

# Runs a command as an unprivileged user when this script is root (as Docker runs USER baton).
unprivileged=()
if [[ $(id -u) -eq 0 ]]; then
  unprivileged=(setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all --)
fi
unprivileged() { "${unprivileged[@]}" "$@"; }

# One HTTP/1.1 request to the server under test: METHOD PATH [KEY] [JSON BODY]; prints the
# status line, headers and body.
http() {
  local method=$1 path=$2 key=${3:-} body=${4:-} connection
  exec {connection}<>"/dev/tcp/127.0.0.1/$port"
  {
    printf '%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n' "$method" "$path"
    if [[ -n $key ]]; then printf 'Authorization: Bearer %s\r\n' "$key"; fi
    if [[ -n $body ]]; then printf 'Content-Type: application/json\r\nContent-Length: %s\r\n' "${#body}"; fi
    printf '\r\n%s' "$body"
  } >&"$connection"
  timeout 10 cat <&"$connection" || true
  exec {connection}>&-
}

# A free loopback port.
free_port() {
  local candidate
  for candidate in $(shuf -i 20000-60000 -n 50); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null; then
      echo "$candidate"
      return
    fi
  done
  fail "no free loopback port found"
}

step_crates() {
  echo "== cargo package: every publishable crate, built from its .crate"
  local started=$SECONDS
  rm -f "$target_dir"/package/*.crate
  # cargo verifies each crate against the others' .crate files through a local registry, which
  # it extracts into $CARGO_HOME/registry/src/-HASH/NAME-VERSION once and then reuses while the
  # version is unchanged: an earlier run's sources would be built instead of these.
  rm -rf "${CARGO_HOME:-$HOME/.cargo}"/registry/src/-*/baton*
  cargo package --workspace --exclude baton-mockllm --exclude baton-sim --exclude xtask --locked --allow-dirty
  note "packaged and verified in $((SECONDS - started)) s:" "$(cd "$target_dir/package" && echo *.crate)"
}

step_image() {
  echo "== the Dockerfile's build stage, outside Docker"
  local context=$target_dir/packaging/context pattern name
  [[ $(grep -v '^#' .dockerignore | grep -v '^$' | head -1) == '*' ]] ||
    fail ".dockerignore must start with '*' and let paths in with '!PATH' (this script replays that form)"
  rm -rf "$context"
  mkdir -p "$context"
  while read -r pattern; do
    case $pattern in
      '' | '#'* | '*') ;;
      '!'*) cp -a --parents "${pattern#!}" "$context/" ;;
      '**/'*)
        name=${pattern#\*\*/}
        find "$context" -name "$name" -prune -exec rm -rf {} +
        ;;
      *) fail ".dockerignore: this script cannot replay the pattern '$pattern' (use '!PATH' or '**/NAME')" ;;
    esac
  done <.dockerignore
  note "build context: $(du -sh "$context" | cut -f1) ($(find "$context" -type f | wc -l) files)"

  local build_commands build_command
  build_commands=$(dockerfile_instructions | grep -o 'cargo build[^&]*' || true)
  [[ $(grep -c . <<<"$build_commands") -eq 1 ]] || fail "expected one 'cargo build' in the Dockerfile, found: $build_commands"
  build_command=$(sed 's/[[:space:]]*$//' <<<"$build_commands")
  # The build arguments' defaults, as docker build without --build-arg sees them.
  local -a arguments=()
  mapfile -t arguments < <(dockerfile_instructions | sed -n 's/^ARG \([A-Za-z_]*\)="\{0,1\}\([^"]*\)"\{0,1\}$/\1=\2/p')
  echo "+ ${arguments[*]} $build_command"
  local started=$SECONDS
  (cd "$context" && env CARGO_TARGET_DIR="$target_dir" "${arguments[@]}" bash -c "$build_command")
  note "built in $((SECONDS - started)) s (target dir $target_dir, so dependencies built before are reused)"
  dockerfile_instructions | grep -q "install -D --mode=0755 target/release/baton /out/baton" ||
    fail "the build stage no longer installs target/release/baton as /out/baton: update this script"
  local binary=$target_dir/release/baton size
  size=$(stat -c %s "$binary")
  note "binary: $size bytes"
  ((size <= 28000000)) || fail "the release binary is $size bytes, more than 28 MB"
  local linked libraries
  command -v ldd >/dev/null || fail "ldd is needed to list the libraries the binary needs (Debian: libc-bin)"
  linked=$(ldd "$binary") || fail "ldd cannot read $binary: $linked"
  libraries=$(awk '{print $1}' <<<"$linked" | grep -v -E '^(linux-vdso\.so\.1|/lib64/ld-linux-x86-64\.so\.2|libc\.so\.6|libm\.so\.6|libgcc_s\.so\.1|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1)$' || true)
  [[ -z $libraries ]] || fail "the binary needs libraries debian:bookworm-slim lacks: $libraries"

  echo "== the runtime stage, replayed in a temporary root as an unprivileged user"
  local root=$scratch/root stage line source destination
  stage=$(runtime_stage)
  mkdir -p "$root"
  while read -r line; do
    case $line in
      'COPY --from=build /out/baton '*) destination=${line##* } && install -D --mode=0755 "$binary" "$root$destination" ;;
      'COPY --from='*) fail "unknown COPY from another stage: $line (teach this script)" ;;
      'COPY '*)
        read -r _ source destination <<<"$line"
        mkdir -p "$(dirname "$root$destination")"
        cp -a "$context/$source" "$root$destination"
        ;;
    esac
  done <<<"$stage"
  local workdir volume
  workdir=$(grep '^WORKDIR ' <<<"$stage" | tail -1 | cut -d' ' -f2)
  volume=$(grep '^VOLUME ' <<<"$stage" | tail -1 | grep -o '"[^"]*"' | tr -d '"')
  [[ $volume == "$workdir" ]] || fail "the volume ($volume) is not the working directory ($workdir)"
  grep -q '^USER baton$' <<<"$stage" || fail "the runtime stage does not run as the user baton"
  mkdir -p "$root$workdir" "$root/run/secrets"
  [[ $(id -u) -ne 0 ]] || chown nobody:nogroup "$root$workdir"

  # The image's environment, its paths moved into the root.
  local -a environment=(PATH="$root/usr/local/bin:/usr/bin:/bin" HOME="$root$workdir")
  local assignment
  for assignment in $(grep '^ENV ' <<<"$stage" | sed 's/^ENV //'); do
    [[ $assignment == *=/* ]] && assignment=${assignment%%=*}=$root${assignment#*=}
    environment+=("$assignment")
  done
  local keys_file
  keys_file=$(printf '%s\n' "${environment[@]}" | sed -n 's/^BATON_KEYS=//p')
  [[ -n $keys_file ]] || fail "the image sets no BATON_KEYS"
  local -a entrypoint command
  mapfile -d '' entrypoint < <(json_strings "$(grep '^ENTRYPOINT ' <<<"$stage")")
  mapfile -d '' command < <(json_strings "$(grep '^CMD ' <<<"$stage")")
  [[ ${entrypoint[*]} == baton && ${command[0]} == serve ]] || fail "the image's command is not baton serve: ${entrypoint[*]} ${command[*]}"
  [[ " ${command[*]} " == *" --addr 0.0.0.0:8080 "* ]] || fail "the image does not serve on 0.0.0.0:8080: ${command[*]}"
  grep -q '^EXPOSE 8080$' <<<"$stage" || fail "the image does not expose 8080"

  port=$(free_port)
  local -a served=() refused=()
  local argument
  for argument in "${command[@]}"; do
    refused+=("${argument/#\//$root/}")
    # Loopback only here: the address a container would listen on, on this machine's loopback.
    argument=${argument/0.0.0.0:8080/127.0.0.1:$port}
    served+=("${argument/#\//$root/}")
  done

  echo "-- without a keys file, and without BATON_KEYS, the image's command refuses to start"
  local output status
  status=0
  output=$(cd "$root$workdir" && unprivileged env -i "${environment[@]}" "${entrypoint[0]}" "${refused[@]}" 2>&1) || status=$?
  [[ $status -ne 0 && $output == *"cannot read the keys file $keys_file"* ]] ||
    fail "with no keys file the server did not refuse to start (exit $status): $output"
  status=0
  output=$(cd "$root$workdir" && unprivileged env -i $(printf '%s\n' "${environment[@]}" | grep -v '^BATON_KEYS=') \
    "${entrypoint[0]}" "${refused[@]}" 2>&1) || status=$?
  [[ $status -ne 0 && $output == *"refusing to serve 0.0.0.0:8080 without API keys"* ]] ||
    fail "without BATON_KEYS the server did not refuse 0.0.0.0 (exit $status): $output"

  echo "-- with a keys file: ${entrypoint[*]} ${served[*]}"
  local key
  PATH=$root/usr/local/bin:$PATH baton keys new --name web --role client >"$keys_file" 2>"$scratch/key"
  chmod 644 "$keys_file"
  key=$(grep -o 'baton_[0-9a-f]\{16,\}' "$scratch/key" | head -1)
  [[ -n $key ]] || fail "baton keys new printed no key: $(cat "$scratch/key")"
  (cd "$root$workdir" && exec "${unprivileged[@]}" env -i "${environment[@]}" "${entrypoint[0]}" "${served[@]}") \
    >"$scratch/serve.log" 2>&1 &
  server_pid=$!

  local healthcheck
  local -a probe
  healthcheck=$(grep '^HEALTHCHECK ' <<<"$stage" | sed 's/.* CMD //')
  mapfile -d '' probe < <(json_strings "$healthcheck")
  [[ ${probe[0]} == bash && ${probe[2]} == *'/dev/tcp/127.0.0.1/8080'* && ${probe[2]} == *'GET /healthz'* ]] ||
    fail "the HEALTHCHECK is not the bash probe of /healthz on 8080 this script knows: ${probe[*]}"
  probe[2]=${probe[2]//127.0.0.1\/8080/127.0.0.1\/$port}
  local attempt healthy=no
  for attempt in $(seq 1 100); do
    kill -0 "$server_pid" 2>/dev/null || fail "the server stopped: $(cat "$scratch/serve.log")"
    if unprivileged "${probe[@]}" 2>/dev/null; then healthy=yes && break; fi
    sleep 0.2
  done
  [[ $healthy == yes ]] || fail "the HEALTHCHECK never passed: $(cat "$scratch/serve.log")"
  note "HEALTHCHECK passed after $attempt attempt(s)"
  http GET /healthz | grep -q '"status":"ok"' || fail "/healthz did not say ok"
  http POST /v1/conversations "" '{"team":"ba-triage"}' | head -1 | grep -q ' 401 ' ||
    fail "a request without a key was not refused with 401"
  local created
  created=$(http POST /v1/conversations "$key" '{"team":"ba-triage"}')
  head -1 <<<"$created" | grep -q ' 201 ' || fail "a client key could not start a conversation: $created"
  local journal
  journal=$(printf '%s\n' "${environment[@]}" | sed -n 's/^BATON_DB=//p')
  [[ -s $journal ]] || fail "no journal at $journal (the volume)"
  if [[ $(id -u) -eq 0 ]]; then
    [[ $(stat -c %U "$journal") == nobody ]] || fail "the journal is not owned by the unprivileged user"
  fi
  kill -TERM "$server_pid"
  status=0
  wait "$server_pid" || status=$?
  server_pid=
  [[ $status -eq 0 ]] || fail "the server did not stop cleanly on SIGTERM (exit $status): $(cat "$scratch/serve.log")"
  grep -q 'baton serve: stopped' "$scratch/serve.log" || fail "the server did not say it stopped"
  note "served as $( [[ $(id -u) -eq 0 ]] && echo nobody || id -un), healthy, keys enforced, journal on the volume, stopped on SIGTERM"
}

# A Python with PyYAML: python3 if it has it, else one in a venv in .ci/.cache/pyyaml.
yaml_python() {
  if python3 -c 'import yaml' 2>/dev/null; then
    echo python3
    return
  fi
  local venv=.ci/.cache/pyyaml
  if ! "$venv/bin/python" -c 'import yaml' 2>/dev/null; then
    { python3 -m venv "$venv" && "$venv/bin/pip" install --quiet pyyaml==6.0.3; } >&2 ||
      fail "cannot install PyYAML into $venv (python3 -m venv and pip from PyPI)"
  fi
  echo "$venv/bin/python"
}

step_compose() {
  echo "== compose.yaml"
  local stage team
  stage=$(runtime_stage)
  local -a command
  mapfile -d '' command < <(json_strings "$(grep '^CMD ' <<<"$stage")")
  team=${command[-1]}
  local keys_target
  keys_target=$(grep -o 'BATON_KEYS=[^ ]*' <<<"$stage" | cut -d= -f2)
  local -a service_command
  local python
  python=$(yaml_python)
  "$python" - "$team" "$keys_target" >"$scratch/service-command" <<'PYTHON'
import re, sys, yaml

team, keys_target = sys.argv[1], sys.argv[2]
compose = yaml.safe_load(open("compose.yaml"))
def check(condition, message):
    if not condition:
        sys.exit(f"packaging: compose.yaml: {message}")
def interpolate(text):
    return re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: m.group(2), text)
services = compose["services"]
postgres, baton = services["postgres"], services["baton"]
check(postgres["image"].startswith("postgres:"), "the postgres service does not run a postgres image")
check("pg_isready" in " ".join(postgres["healthcheck"]["test"]), "the postgres service has no pg_isready healthcheck")
check(baton["build"] == ".", "the baton service is not built from the Dockerfile next to it")
command = [interpolate(str(part)) for part in baton["command"]]
check(command[:3] == ["serve", "--addr", "0.0.0.0:8080"], f"the baton service does not serve on 0.0.0.0:8080: {command}")
check(command[-1] == team, f"the baton service serves {command[-1]}, the image {team}")
check("--db" in command[:-1], f"the baton service names no --db: {command}")
db = command[command.index("--db") + 1]
check(re.fullmatch(r"postgres://\w+:[^@]+@postgres:5432/\w+", db) is not None, f"--db is not the postgres service: {db}")
check(baton["depends_on"]["postgres"]["condition"] == "service_healthy", "baton does not wait for a healthy postgres")
check(baton["secrets"] == ["baton_keys"] and keys_target == "/run/secrets/baton_keys",
      "the keys do not reach the server as the secret baton_keys at the image's BATON_KEYS")
check(compose["secrets"]["baton_keys"]["file"] == "./keys.toml", "the secret baton_keys is not ./keys.toml")
check(any(str(port).endswith(":8080") for port in baton["ports"]), "the baton service does not publish 8080")
sys.stdout.write("\0".join(command) + "\0")
PYTHON
  mapfile -d '' service_command <"$scratch/service-command"
  note "compose.yaml parsed with PyYAML; services, command, healthcheck, secret and dependency checked"
  if [[ -z ${BATON_TEST_POSTGRES:-} ]]; then
    note "BATON_TEST_POSTGRES is unset: the service's command was not run against a Postgres"
    return
  fi
  [[ -x $target_dir/release/baton ]] || fail "run the image step first: it builds the binary the compose step runs"
  port=$(free_port)
  local -a served=()
  local argument previous=
  for argument in "${service_command[@]}"; do
    [[ $previous == --db ]] && argument=$BATON_TEST_POSTGRES
    argument=${argument/0.0.0.0:8080/127.0.0.1:$port}
    served+=("${argument/#\/usr\/share\/baton\//$PWD/}")
    previous=$argument
  done
  "$target_dir/release/baton" "${served[@]}" >"$scratch/compose.log" 2>&1 &
  server_pid=$!
  local attempt healthy=no
  for attempt in $(seq 1 100); do
    kill -0 "$server_pid" 2>/dev/null || fail "the service's command stopped: $(cat "$scratch/compose.log")"
    if http GET /healthz 2>/dev/null | grep -q '"status":"ok"'; then healthy=yes && break; fi
    sleep 0.2
  done
  kill -TERM "$server_pid"
  wait "$server_pid" || true
  server_pid=
  [[ $healthy == yes ]] || fail "the service's command never answered /healthz: $(cat "$scratch/compose.log")"
  note "the service's command served /healthz on the Postgres at BATON_TEST_POSTGRES"
}

step_install() {
  echo "== cargo install --path crates/baton-cli"
  local root=$scratch/install started=$SECONDS
  cargo install --path crates/baton-cli --root "$root" --locked --target-dir "$target_dir"
  note "installed in $((SECONDS - started)) s (target dir $target_dir, so what was built before is reused)"
  local version
  version=$("$root/bin/baton" --version)
  [[ $version == "baton $(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)" ]] ||
    fail "the installed baton says '$version'"
  note "$version"
  # Offline: any HTTP request the example made would go to a closed port and fail.
  local -a baton=(env HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 ALL_PROXY=http://127.0.0.1:9
    "$root/bin/baton")
  local journal=$scratch/install.db turn conversation call refund
  (
    cd examples/support
    "${baton[@]}" check team.toml
    "${baton[@]}" eval team.toml eval.jsonl --min-accuracy 0.9
    "${baton[@]}" run team.toml "Hi, my internet has been down since this morning. My customer number is 7." --db "$journal"
  ) || fail "the installed baton did not run the support example from its directory"
  # The refund is a command tool (python3 tools/refund.py), run once approved.
  turn=$(cd examples/support && "${baton[@]}" run team.toml "please refund invoice INV-2041, it was charged twice" --db "$journal" --json)
  conversation=$(grep -o '"conversation":"[^"]*"' <<<"$turn" | cut -d'"' -f4)
  call=$(grep -o '"call_id":"[^"]*"' <<<"$turn" | cut -d'"' -f4)
  [[ -n $conversation && -n $call ]] || fail "the refund did not wait for approval: $turn"
  refund=$(cd examples/support && "${baton[@]}" approve "$conversation" "$call" --db "$journal" --by ci)
  grep -q 'issue_refund' <<<"$refund" && grep -q 'returned: {"refunded"' <<<"$refund" ||
    fail "the approved refund did not run the command tool: $refund"
  note "the installed baton ran the support example from its directory: check, eval, a turn, an approved command tool"
}

steps=("$@")
[[ ${#steps[@]} -gt 0 ]] || steps=(crates image compose install)
for step in "${steps[@]}"; do
  case $step in
    crates | image | compose | install) "step_$step" ;;
    *) fail "unknown step '$step': the steps are crates, image, compose and install" ;;
  esac
done
echo "packaging: ok (${steps[*]})"
