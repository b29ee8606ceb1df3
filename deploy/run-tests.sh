#!/usr/bin/env bash
# Runs every test: GoogleTest units and the integration tests that run the
# real binary (judged by tshark, capinfos, promtool and a real Prometheus).
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/build.sh
meson test -C build --print-errorlogs --num-processes 2 "$@"
