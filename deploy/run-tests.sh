#!/usr/bin/env bash
# Runs every test: GoogleTest units, the integration tests that run the real
# binary (judged by tshark, capinfos, promtool and a real Prometheus, plus a
# namespace lab where the kernel mirrors real TCP into the collector), the
# libFuzzer target for VXC_FUZZ_SECONDS (default 60), and the unit tests again
# under AddressSanitizer and UndefinedBehaviorSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/build.sh
meson test -C build --print-errorlogs --num-processes 2 "$@"
tests/fuzz/run.sh build-fuzz "${VXC_FUZZ_SECONDS:-60}"
tests/fuzz/sanitize.sh build-sanitize
