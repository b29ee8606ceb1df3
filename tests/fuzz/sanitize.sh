#!/usr/bin/env bash
# Unit tests (and optionally the integration tests that drive the binary
# through its error paths) under AddressSanitizer and
# UndefinedBehaviorSanitizer, in a build directory of their own.
#
# Usage: tests/fuzz/sanitize.sh [build-dir] [extra meson test names...]
#   build-dir defaults to build-sanitize (relative to the source root).
#   VXC_SANITIZE_INTEGRATION=1 also runs test_read_pcap, test_hostile and
#   test_faults with the sanitized vxcollector binary (about 2 minutes here;
#   test_faults needs root, as in CI, and skips otherwise).
# Exit status: non-zero when a test fails or any sanitizer report appears in
# the test logs (even one a test binary survived).
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build-sanitize}
shift || true

if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" -Dbuildtype=debug -Db_lto=false -Db_sanitize=address,undefined >/dev/null
fi
ninja -C "$build"

# halt_on_error: the first report ends the process with a non-zero status, so
# the test fails. Leak checking stays on: the EAL tests (bpf_filter, and
# vxcollector in the integration tests) free their mempools and call
# rte_eal_cleanup, and LeakSanitizer finds nothing left (tests/fuzz/README.md).
# An integration test sees a sanitizer report as the collector's non-zero exit.
# DPDK's own libraries are not instrumented: ASan does not see inside
# rte_malloc or mbuf memory, which is why the fuzzer models those buffers.
export ASAN_OPTIONS="${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1:print_summary=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1:print_summary=1}"

status=0
start=$(date +%s)
logs=(unit)
meson test -C "$build" --suite unit --print-errorlogs --num-processes 2 --logbase unit || status=$?
if [ "${VXC_SANITIZE_INTEGRATION:-0}" = 1 ]; then
  logs+=(integration)
  meson test -C "$build" test_read_pcap test_hostile test_faults --print-errorlogs \
    --logbase integration || status=$?
fi
if [ $# -gt 0 ]; then
  logs+=(extra)
  meson test -C "$build" --print-errorlogs --logbase extra "$@" || status=$?
fi
end=$(date +%s)

# A report from a process that still exited 0 (e.g. a child) fails the run too.
pattern='ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: (Address|Undefined|Leak)'
for log in "${logs[@]}"; do
  if grep -E -q "$pattern" "$build/meson-logs/$log.txt"; then
    echo "sanitize: sanitizer reports in $build/meson-logs/$log.txt:"
    grep -E -n "$pattern" "$build/meson-logs/$log.txt" | head -20
    status=1
  fi
done
echo "sanitize: tests took $((end - start)) s, exit status $status"
exit $status
