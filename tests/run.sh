#!/usr/bin/env bash
# Runs the whole test suite from a fresh checkout: installs what is missing
# (Debian/Ubuntu), configures a -Werror build with every feature, builds and
# runs every test. Ends with the line "N passed, N failed, N skipped".
#   tests/run.sh [BUILD_DIR]      (default: build-test)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-test}

packaging/install-deps.sh --test

if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" -Dwerror=true -Dtests=enabled -Dman-pages=enabled -Dsystemd=enabled
fi
ninja -C "$build"

status=0
meson test -C "$build" --print-errorlogs --num-processes 2 || status=$?

# The reliability figures of this run, as README.md's table (see
# docs/testing.md); informational: missing figures do not fail the run.
python3 tests/reliability/figures.py "$build" || true

# Count individual test cases from meson's JUnit log (gtest cases, and the
# Python scenarios' TAP lines, so a skipTest counts as skipped, not passed)
# and print them as the closing line.
junit="$build/meson-logs/testlog.junit.xml"
if [ -f "$junit" ]; then
  python3 - "$junit" <<'PY'
import sys
import xml.etree.ElementTree as ET
passed = failed = skipped = 0
for case in ET.parse(sys.argv[1]).getroot().iter("testcase"):
    tags = {child.tag for child in case}
    if tags & {"failure", "error"}:
        failed += 1
    elif "skipped" in tags:
        skipped += 1
    else:
        passed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
PY
else
  echo "0 passed, 1 failed, 0 skipped"
fi
exit "$status"
