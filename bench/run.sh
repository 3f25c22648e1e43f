#!/usr/bin/env bash
# bench/run.sh: portd against its physical floors and against its peers, in
# one run, written to bench/RESULTS.md.
#
# Benchmarks, not tests: nothing here fails on a number. Every figure is a
# median (min-max) over REPS repetitions, and every comparison is a ratio of
# two measurements taken side by side (interleaved, repetition by
# repetition) in this run, because a shared VM's absolute numbers drift
# from minute to minute while ratios measured together hold.
#
# Environment:
#   REPS=5         repetitions per figure (>= 5 for RESULTS.md)
#   DURATION=1     seconds per load measurement (plus a short warm-up)
#   BUILD_DIR=...  build tree (default bench/out/build; kept between runs so
#                  that only the first run pays the full build)
#   SHARED=1       note in RESULTS.md that the machine was shared while it ran
#
# Every daemon runs on a private socket and state directory under a
# temporary directory; the user's own portd, socket and state are never
# touched. The only network fetch is `npm install get-port` into bench/
# (git-ignored); all traffic is on this machine (Unix sockets; the peers
# bind on localhost). The Python peer is Debian's python3-portpicker
# (with its portserver), which this script does not install.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
BUILD=${BUILD_DIR:-$HERE/out/build}
REPS=${REPS:-5}
DURATION=${DURATION:-1}
WARMUP=0.2
SHARED=${SHARED:-0}
PY=/usr/bin/python3 # Debian's python: it has portpicker; pyenv's does not
CHECK_PORT=29999    # a port nothing uses, for `check` (a used one adds a /proc scan)
SCALE_CHECK_PORT=64999

log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

# --- build ------------------------------------------------------------------------

build_started=$(date +%s)
if [[ ! -f $BUILD/build.ninja ]]; then
  log "configuring $BUILD"
  meson setup "$BUILD" "$ROOT" -Dbench=true --buildtype=release -Dportctl_link=static \
    -Dtests=disabled -Dman-pages=disabled >/dev/null
else
  meson configure "$BUILD" -Dbench=true --buildtype=release -Dportctl_link=static >/dev/null
fi
log "building (ninja -j2)"
ninja -C "$BUILD" -j2 daemon/portd client/portctl bench/loadgen bench/echo_floor \
  bench/noop_static bench/connect_floor bench/lmdb_floor bench/probe_floor >/dev/null
build_seconds=$(($(date +%s) - build_started))

PORTD=$BUILD/daemon/portd
PORTCTL=$BUILD/client/portctl
LOADGEN=$BUILD/bench/loadgen
ECHO=$BUILD/bench/echo_floor
NOOP=$BUILD/bench/noop_static
CONNECT=$BUILD/bench/connect_floor
LMDBF=$BUILD/bench/lmdb_floor
PROBE=$BUILD/bench/probe_floor

# --- scratch space on a real disk ---------------------------------------------------

# Durable-commit figures mean nothing on tmpfs: use /tmp only when it is a
# disk, else a directory under bench/out (on the repository's disk).
scratch_parent=${TMPDIR:-/tmp}
if [[ $(stat -f -c %T "$scratch_parent") =~ ^(tmpfs|ramfs)$ ]]; then
  scratch_parent=$HERE/out
fi
WORK=$(mktemp -d "$scratch_parent/portd-bench.XXXXXX")
chmod 700 "$WORK"
RES=$WORK/results
mkdir -p "$RES"
declare -a PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  # Keep the raw figures and logs of the last run for a closer look.
  rm -rf "$HERE/out/last-run"
  cp -r "$RES" "$HERE/out/last-run" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

fs_type=$(stat -f -c %T "$WORK")
fs_device=$(df -P "$WORK" | awk 'NR == 2 { print $1 }')
log "scratch: $WORK ($fs_type on $fs_device)"

# --- helpers --------------------------------------------------------------------------

# Records the command line of a measurement once (with the temporary
# directory shown as $WORK), for RESULTS.md.
note_command() {
  local key=$1
  shift
  if ! grep -q "^$key	" "$RES/commands.tsv" 2>/dev/null; then
    printf '%s\t%s\n' "$key" "$(printf '%q ' "$@" | sed "s|$WORK|\$WORK|g; s|$BUILD|\$BUILD|g")" \
      >>"$RES/commands.tsv"
  fi
}

# measure KEY REP CMD...: runs CMD, appends its JSON line (tagged with the
# repetition) to $RES/KEY.jsonl. A command that fails (loadgen exits 1 when
# any reply was an error) or prints no JSON line is not used: the repetition
# of KEY is recorded in $RES/failed.tsv with the command's last stderr line,
# and RESULTS.md counts and lists it.
measure() {
  local key=$1 rep=$2
  shift 2
  note_command "$key" "$@"
  local line status=0 err=$RES/measure.err
  line=$("$@" 2>"$err" | tail -n 1) || status=$?
  cat "$err" >>"$RES/stderr.log"
  if ((status != 0)) || [[ $line != "{"* ]]; then
    local why
    why=$(tail -n 1 "$err" | tr '\t' ' ')
    log "FAILED: $key (repetition $rep): ${why:-no output}"
    printf '%s\t%d\t%s\n' "$key" "$rep" "${why:-exit status $status, no output}" \
      >>"$RES/failed.tsv"
    return 0
  fi
  printf '{"rep":%d,"data":%s}\n' "$rep" "$line" >>"$RES/$key.jsonl"
}

wait_socket() {
  local sock=$1 i
  for ((i = 0; i < 500; i++)); do
    if "$CONNECT" "$sock" "$CHECK_PORT" >/dev/null 2>&1; then return 0; fi
    sleep 0.01
  done
  log "nothing answers on $sock"
  return 1
}

# start_portd NAME CONFIG: a daemon pinned to CPU 0 with its own socket and
# state dir under $WORK/NAME; sets PORTD_PID.
start_portd() {
  local name=$1 config=$2
  mkdir -p -m 700 "$WORK/$name" "$WORK/$name/run" "$WORK/$name/state"
  note_command "portd" taskset -c 0 "$PORTD" --socket "$WORK/$name/run/portd.sock" \
    --state-dir "$WORK/$name/state" --config "$config" --log-level warn
  taskset -c 0 "$PORTD" --socket "$WORK/$name/run/portd.sock" --state-dir "$WORK/$name/state" \
    --config "$config" --log-level warn 2>>"$RES/stderr.log" &
  PORTD_PID=$!
  PIDS+=("$PORTD_PID")
  wait_socket "$WORK/$name/run/portd.sock"
}

stop_pid() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

sock() { echo "$WORK/$1/run/portd.sock"; }

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# A pool as wide as the port space, no freeze: repetitions release their
# allocations and the next one may reuse the ports. Auto-assign still skips
# the kernel's ephemeral range inside it.
CONFIG=$WORK/portd.toml
cat >"$CONFIG" <<'EOF'
freeze_hours = 0

[[pool]]
name = "default"
range = "1024-65000"
EOF

LG=("$LOADGEN" load --duration "$DURATION" --warmup "$WARMUP")

# --- machine facts ---------------------------------------------------------------------

{
  echo "nproc=$(nproc)"
  echo "cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
  echo "kernel=$(uname -sr)"
  echo "os=$(. /etc/os-release && echo "$PRETTY_NAME")"
  echo "fs=$fs_type on $fs_device ($(df -P "$WORK" | awk 'NR == 2 { print $6 }'))"
  echo "ephemeral=$(tr -s '\t ' '-' </proc/sys/net/ipv4/ip_local_port_range)"
  echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "reps=$REPS"
  echo "duration=$DURATION"
  echo "build_seconds=$build_seconds"
  echo "shared=$SHARED"
  echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet -- . ':!bench/RESULTS.md' 2>/dev/null || echo ' (with uncommitted changes)')"
  echo "node=$(node --version 2>/dev/null || echo none)"
  echo "portpicker=$(dpkg-query -W -f '${Version}' python3-portpicker 2>/dev/null || echo none)"
} >"$RES/facts.txt"
run_started=$(date +%s)

# --- A: read ops over persistent connections, portd vs the echo floor -----------------

log "A: read ops vs the libuv+msgpack echo floor"
start_portd read "$CONFIG"
READ_PID=$PORTD_PID
echo "rss_idle_kib=$(rss_kib "$READ_PID")" >>"$RES/facts.txt"
# The floor answers with replies as long as portd's, so both move the same bytes.
health_bytes=$("$LOADGEN" load --socket "$(sock read)" --ops health --duration 0.2 --warmup 0 \
  2>/dev/null | sed 's/.*"reply_bytes":\([0-9.]*\).*/\1/')
check_bytes=$("$LOADGEN" load --socket "$(sock read)" --ops check --port $CHECK_PORT \
  --duration 0.2 --warmup 0 2>/dev/null | sed 's/.*"reply_bytes":\([0-9.]*\).*/\1/')
mkdir -p -m 700 "$WORK/echo"
ECHO_SOCK=$WORK/echo/echo.sock
note_command "echo_floor" taskset -c 0 "$ECHO" --socket "$ECHO_SOCK" \
  --reply "health=${health_bytes%.*}" --reply "check=${check_bytes%.*}"
taskset -c 0 "$ECHO" --socket "$ECHO_SOCK" --reply "health=${health_bytes%.*}" \
  --reply "check=${check_bytes%.*}" 2>>"$RES/stderr.log" &
ECHO_PID=$!
PIDS+=("$ECHO_PID")
wait_socket "$ECHO_SOCK"

# name | loadgen arguments. "pin 0" shares the daemon's CPU (latency);
# "pin 1" gives the generator the other CPU (throughput).
read_cases=(
  "health_c1|--ops health --pin 0"
  "check_c1|--ops check --port $CHECK_PORT --pin 0"
  "health_c16|--ops health --connections 16 --pin 1"
  "check_c16|--ops check --port $CHECK_PORT --connections 16 --pin 1"
  "health_pipe|--ops health --connections 4 --depth 128 --pin 1"
  "check_pipe|--ops check --port $CHECK_PORT --connections 4 --depth 128 --pin 1"
  "check_pipe_span|--ops check --port $CHECK_PORT --port-span 512 --connections 4 --depth 128 --pin 1"
  "health_newconn|--ops health --new-conn --pin 0"
  "readmix_c16|--ops alloc-existing:4,health:2,check:2,list:1 --port $CHECK_PORT --connections 16 --pin 1"
)
for ((rep = 1; rep <= REPS; rep++)); do
  # What one check's OS probe costs, pinned like the c1 cases.
  measure A_probe_floor "$rep" taskset -c 0 "$PROBE" "$CHECK_PORT" --duration "$DURATION"
  for c in "${read_cases[@]}"; do
    name=${c%%|*}
    read -r -a args <<<"${c#*|}"
    measure "A_${name}_echo" "$rep" "${LG[@]}" --socket "$ECHO_SOCK" "${args[@]}" --app "rm$rep"
    measure "A_${name}_portd" "$rep" "${LG[@]}" --socket "$(sock read)" "${args[@]}" --app "rm$rep"
  done
done

# --- B: durability: allocate vs one synced LMDB commit; group commit ------------------------

log "B: durable allocate vs the LMDB floor; group commit"
start_portd durable "$CONFIG"
mkdir -p -m 700 "$WORK/lmdb"
for ((rep = 1; rep <= REPS; rep++)); do
  rm -f "$WORK/lmdb/"*.mdb
  measure B_lmdb_floor "$rep" taskset -c 0 "$LMDBF" "$WORK/lmdb" --duration "$DURATION"
  measure B_rtt_echo_floor "$rep" "${LG[@]}" --socket "$ECHO_SOCK" --ops health --pin 0
  measure B_alloc_c1_lat "$rep" "${LG[@]}" --socket "$(sock durable)" --ops alloc-new --pin 0 \
    --app "lat$rep"
  "$LOADGEN" release-app --socket "$(sock durable)" --app "lat$rep" >/dev/null
  for n in 1 4 16 64; do
    # The cap keeps a fast run inside the pool; the window ends at the cap.
    measure "B_alloc_c${n}_rate" "$rep" "${LG[@]}" --socket "$(sock durable)" --ops alloc-new \
      --connections "$n" --requests 20000 --pin 1 --app "tp${n}r$rep"
    "$LOADGEN" release-app --socket "$(sock durable)" --app "tp${n}r$rep" >/dev/null
  done
done
stop_pid "$PORTD_PID"
stop_pid "$ECHO_PID"

# --- C: whole-process `portctl check` vs the static floor and the peers ---------------------

log "C: portctl check vs floor binaries, portpicker and get-port"
peers_note=""
if [[ ! -d $HERE/node_modules/get-port ]]; then
  log "installing get-port from npm into $HERE (git-ignored)"
  if ! (cd "$HERE" && npm install --no-audit --no-fund --silent get-port >/dev/null 2>&1); then
    peers_note+="get-port could not be installed (npm registry unreachable); "
  fi
fi
getport_version=$(cd "$HERE" && node -e "console.log(require('./node_modules/get-port/package.json').version)" 2>/dev/null || echo none)
echo "get_port=$getport_version" >>"$RES/facts.txt"
mkdir -p -m 700 "$WORK/portserver"
PS_SOCK=$WORK/portserver/portserver.sock
note_command portserver /usr/bin/portserver --portserver_address "$PS_SOCK"
/usr/bin/portserver --portserver_address "$PS_SOCK" 2>>"$RES/stderr.log" &
PS_PID=$!
PIDS+=("$PS_PID")
for ((i = 0; i < 300; i++)); do [[ -S $PS_SOCK ]] && break || sleep 0.02; done

# Commands are timed round-robin (loadgen spawn: one run of each in turn),
# so that bursts of other load on a shared machine hit all of them alike.
fast_cmds=(
  "$NOOP"
  ::: "$CONNECT" "$(sock read)" "$CHECK_PORT"
  ::: "$PORTCTL" --socket "$(sock read)" --no-autostart check --port "$CHECK_PORT"
)
slow_cmds=(
  "$PORTCTL" --socket "$(sock read)" --no-autostart check --port "$CHECK_PORT"
  ::: "$PY" -c 'import portpicker; print(portpicker.pick_unused_port())'
  ::: "$PY" -c "import portpicker; print(portpicker.pick_unused_port(portserver_address='$PS_SOCK'))"
)
# A peer that is not installed would fail every run (loadgen spawn rejects
# a non-zero exit), so say which one is missing instead.
if ! "$PY" -c 'import portpicker' 2>/dev/null || [[ ! -S $PS_SOCK ]]; then
  peers_note+="python3-portpicker is not installed (apt-get install python3-portpicker); "
fi
if [[ $getport_version != none ]]; then
  slow_cmds+=(::: node -e "import('get-port').then(m=>m.default()).then(console.log)")
fi
for ((rep = 1; rep <= REPS; rep++)); do
  # get-port resolves from bench/node_modules: run from bench/.
  cd "$HERE"
  measure C_fast "$rep" "$LOADGEN" spawn --count 60 -- "${fast_cmds[@]}"
  measure C_slow "$rep" "$LOADGEN" spawn --count 8 -- "${slow_cmds[@]}"
  cd - >/dev/null
done
stop_pid "$PS_PID"
stop_pid "$READ_PID"

# --- D: scaling with the number of allocations; start-up; memory ------------------------------

log "D: scaling to 50,000 allocations"
# Populated allocations take explicit ports 1024, 1025, ... (import places
# explicit ports anywhere, the ephemeral range included). At 50,000 they
# cover 1024-51023, so auto-assign must skip past all of them and the
# ephemeral range to 61000-65000: the worst case for the free-port search.
scales=(0 1000 10000 50000)
declare -A SCALE_PID
for n in "${scales[@]}"; do
  start_portd "s$n" "$CONFIG"
  SCALE_PID[$n]=$PORTD_PID
  if ((n > 0)); then
    measure "D_populate_$n" 1 "$LOADGEN" populate --socket "$(sock "s$n")" --count "$n" \
      --first-port 1024 --app pop
  fi
  echo "rss_after_populate_${n}_kib=$(rss_kib "$PORTD_PID")" >>"$RES/facts.txt"
done
for ((rep = 1; rep <= REPS; rep++)); do
  for n in "${scales[@]}"; do
    measure "D_alloc_${n}" "$rep" "${LG[@]}" --socket "$(sock "s$n")" --ops alloc-new --pin 0 \
      --requests 1000 --app "sc$rep"
    "$LOADGEN" release-app --socket "$(sock "s$n")" --app "sc$rep" >/dev/null
    measure "D_existing_${n}" "$rep" "${LG[@]}" --socket "$(sock "s$n")" --ops alloc-existing \
      --pin 0 --app "ex$rep"
    measure "D_check_${n}" "$rep" "${LG[@]}" --socket "$(sock "s$n")" --ops check \
      --port $SCALE_CHECK_PORT --pin 0
  done
done
for n in "${scales[@]}"; do stop_pid "${SCALE_PID[$n]}"; done

log "D: start-up time and memory"
mkdir -p -m 700 "$WORK/empty" "$WORK/empty/state" "$WORK/empty/run"
for ((rep = 1; rep <= REPS; rep++)); do
  for which in empty s50000; do
    measure "D_startup_$which" "$rep" "$LOADGEN" startup --socket "$(sock "$which")" --pin 0 -- \
      "$PORTD" --socket "$(sock "$which")" --state-dir "$WORK/$which/state" --config "$CONFIG" \
      --log-level warn
  done
done
# Resident memory of a freshly started daemon after one request, with no
# allocations and with 50,000 (the import traffic of populate is not in it).
for which in empty s50000; do
  taskset -c 0 "$PORTD" --socket "$(sock "$which")" --state-dir "$WORK/$which/state" \
    --config "$CONFIG" --log-level warn 2>>"$RES/stderr.log" &
  pid=$!
  PIDS+=("$pid")
  wait_socket "$(sock "$which")"
  "$LOADGEN" load --socket "$(sock "$which")" --ops health,check --port $CHECK_PORT \
    --duration 0.2 --warmup 0 >/dev/null 2>&1
  echo "rss_fresh_${which}_kib=$(rss_kib "$pid")" >>"$RES/facts.txt"
  stop_pid "$pid"
done

echo "run_seconds=$(($(date +%s) - run_started))" >>"$RES/facts.txt"
echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$RES/facts.txt"
[[ -n $peers_note ]] && echo "peers_note=$peers_note" >>"$RES/facts.txt"

log "writing $HERE/RESULTS.md"
"$PY" "$HERE/report.py" "$RES" >"$HERE/RESULTS.md"
cat "$HERE/RESULTS.md"
