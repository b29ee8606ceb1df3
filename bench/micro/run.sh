#!/usr/bin/env bash
# Builds (if needed) and runs vxmicro, the per-stage micro-benchmarks: 5
# repetitions, aggregates only, the console table on stdout and the JSON in
# bench/results/vxmicro.json.
# Usage: bench/micro/run.sh [--build DIR] [more Google Benchmark flags]
#   --build DIR   build directory (default build-bench; created as a release build if missing)
#   e.g. bench/micro/run.sh --build build-micro --benchmark_filter=BM_Parse
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=build-bench
extra=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --build) build=${2:?--build needs a directory}; shift 2 ;;
    --build=*) build=${1#*=}; shift ;;
    *) extra+=("$1"); shift ;;
  esac
done

cd "$root"
[[ -d $build ]] || meson setup "$build" -Dbuildtype=release
ninja -C "$build" bench/micro/vxmicro

buildtype=$(/usr/bin/python3 -c 'import json, sys
print(next(o["value"] for o in json.load(open(sys.argv[1])) if o["name"] == "buildtype"))' \
  "$build/meson-info/intro-buildoptions.json")
[[ $buildtype == release ]] || echo "run.sh: warning: $build is a '$buildtype' build; numbers are for release" >&2

mkdir -p bench/results
"$build/bench/micro/vxmicro" \
  --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \
  --benchmark_out=bench/results/vxmicro.json --benchmark_out_format=json "${extra[@]}"
