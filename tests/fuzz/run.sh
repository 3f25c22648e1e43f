#!/bin/sh
# T08 (docs/testing.md): build the libFuzzer targets in a clang build
# directory and run each for SECONDS (default 60) against a scratch copy of
# its seed corpus. Fails on any crash, leak, timeout or out-of-memory
# (-rss_limit_mb=512) and prints each target's execution count. Crash inputs
# are kept in <build>/fuzz-artifacts for `fuzz_<name> <file>` to replay.
# Ends with the README's figure line, "FIGURE T08 quick: ..." (see
# tests/reliability/figures.py --log).
#
#   tests/fuzz/run.sh [SECONDS]
#   PORTD_FUZZ_BUILD=dir   build directory (default: build-fuzz in the source tree)
set -eu

seconds=${1:-60}
case $seconds in
  '' | *[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;;
esac
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${PORTD_FUZZ_BUILD:-$src/build-fuzz}

if [ ! -f "$build/build.ninja" ]; then
  CXX=${CXX:-clang++} CC=${CC:-clang} meson setup "$build" "$src" \
    -Dfuzzing=true -Dtests=enabled -Dbuildtype=debugoptimized
fi
# corpus directory name : target
targets="frame:fuzz_frame request:fuzz_request"
if [ -f "$src/tests/fuzz/fuzz_dispatch.cpp" ] && grep -q dispatch "$src/tests/fuzz/meson.build"; then
  targets="$targets request:fuzz_dispatch"
fi
ninja_targets=
for t in $targets; do ninja_targets="$ninja_targets tests/fuzz/${t#*:}"; done
# shellcheck disable=SC2086 # one word per target
ninja -C "$build" -j"${PORTD_JOBS:-2}" $ninja_targets

work=$(mktemp -d "${TMPDIR:-/tmp}/portd-fuzz-XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
artifacts=$build/fuzz-artifacts
status=0
figure=
crashes=0
for t in $targets; do
  corpus=${t%%:*}
  name=${t#*:}
  # A copy: new inputs found in this run must not land in the source tree.
  mkdir -p "$work/$name"
  cp "$src/tests/fuzz/corpus/$corpus/"* "$work/$name/"
  log=$work/$name.log
  if "$build/tests/fuzz/$name" -max_total_time="$seconds" -rss_limit_mb=512 -max_len=70000 \
      -timeout=10 -print_final_stats=1 -artifact_prefix="$work/$name-" "$work/$name" \
      >"$log" 2>&1; then
    result=ok
  else
    result=FAILED
    status=1
    crashes=$((crashes + 1))
    mkdir -p "$artifacts"
    for f in "$work/$name"-*; do
      [ -e "$f" ] && cp "$f" "$artifacts/"
    done
    tail -n 60 "$log" >&2
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  echo "$name: $result, ${execs:-?} execs in ${seconds}s (${rate:-?}/s)"
  # 1401980 -> 1,401,980, as README.md writes counts.
  grouped=$(printf '%s' "${execs:-?}" | sed -e ':a' -e 's/\([0-9]\)\([0-9]\{3\}\)\($\|,\)/\1,\2\3/' -e 'ta')
  figure="${figure:+$figure, }$grouped execs (${name#fuzz_})"
done
# The README figures line (tests/reliability/figures.py --log reads it).
tier=quick
case ${PORTD_LONG:-0} in 0 | '') ;; *) tier=long ;; esac
echo "FIGURE T08 $tier: $figure in $seconds s each, $crashes targets failed"
if [ "$status" -ne 0 ]; then
  echo "fuzzing found a failure; inputs kept in $artifacts" >&2
fi
exit "$status"
