#!/usr/bin/env bash
# Configures (once) and builds vxcollector into ./build.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f build/build.ninja ] || meson setup build --buildtype=release
ninja -C build
