#!/usr/bin/env bash
# Builds the classify fuzzer with clang (libFuzzer, ASan, UBSan) and runs it
# for a bounded time on a copy of the seed corpus; then the replay's record
# walk (capture_file_fuzzer.cpp) for VXC_CAPTURE_FUZZ_SECONDS (default 20).
#
# Usage: tests/fuzz/run.sh [build-dir] [seconds]
#   build-dir  default build-fuzz (relative to the source root); the binaries,
#              the working corpora, crash artifacts and the logs go there
#   seconds    default 60 (libFuzzer -max_total_time of the classify fuzzer)
# Exit status: non-zero when the build fails or the fuzzer finds anything
# (crash, sanitizer report, broken invariant, timeout, out-of-memory).
# Needs no network and nothing outside the build dir; fine as root in CI.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-build-fuzz}
seconds=${2:-60}
[[ $build = /* ]] || build=$root/$build
cxx=${FUZZ_CXX:-clang++}

# Debian ships libFuzzer and the sanitizer runtimes for clang in libclang-rt-14-dev,
# which `clang` only recommends.
if ! command -v "$cxx" >/dev/null; then
  echo "fuzz: $cxx not found (apt-get install clang libclang-rt-14-dev)" >&2
  exit 2
fi
runtime="$("$cxx" -print-resource-dir)/lib/linux/libclang_rt.fuzzer-x86_64.a"
if [ ! -f "$runtime" ]; then
  echo "fuzz: libFuzzer runtime missing ($runtime): apt-get install libclang-rt-14-dev" >&2
  exit 2
fi

mkdir -p "$build"
export ASAN_OPTIONS="${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"

# build_target BINARY SOURCE...: a libFuzzer target with ASan and UBSan.
build_target() {
  local out=$1
  shift
  "$cxx" -std=c++20 -g -O1 -fno-omit-frame-pointer \
    -fsanitize=fuzzer,address,undefined,implicit-conversion -fno-sanitize-recover=all \
    -Wall -Wextra -I "$root" -I "$root/dataplane" "$@" -o "$out"
}

# run_target BINARY CORPUS ARTIFACTS LOG SECONDS MAX_LEN: fuzzes for SECONDS;
# sets rc, elapsed, execs and findings (a non-zero exit without an artifact,
# e.g. a death before writing one, counts as one).
run_target() {
  local start
  start=$(date +%s)
  rc=0
  "$1" -max_total_time="$5" -max_len="$6" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$3/" "$2" >"$4" 2>&1 || rc=$?
  elapsed=$(($(date +%s) - start))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$4" | tail -n 1)
  findings=$(find "$3" -type f | wc -l)
  if [ "$rc" -ne 0 ] && [ "$findings" -eq 0 ]; then findings=1; fi
}

# report_target NAME BINARY ARTIFACTS LOG: after run_target, prints the
# target's line; on a finding, the log's tail and the artifacts, and exits 1.
report_target() {
  echo "fuzz: $1: ${execs:-0} executions in ${elapsed} s, ${findings} findings"
  if [ "$findings" -ne 0 ]; then
    tail -n 60 "$4" >&2
    echo "fuzz: $1 FAILED (libFuzzer exit $rc); log $4; reproduce with: $2 <artifact>" >&2
    find "$3" -type f >&2
    exit 1
  fi
}

binary=$build/classify_fuzzer
build_target "$binary" "$root/tests/fuzz/classify_fuzzer.cpp" "$root/dataplane/outer_parse.cpp"

# A fresh copy each run: the checked-in seeds stay as they are.
corpus=$build/fuzz-corpus
artifacts=$build/fuzz-artifacts
rm -rf "$corpus" "$artifacts"
mkdir -p "$corpus" "$artifacts"
cp "$root"/tests/fuzz/corpus/* "$corpus"/

log=$build/fuzz.log
# -max_len 16384: jumbo frames (9216) plus room; larger inputs only slow the search.
run_target "$binary" "$corpus" "$artifacts" "$log" "$seconds" 16384

grep -E '^(#[0-9]+[[:space:]]+(INITED|DONE)|stat::|INFO: +[0-9]+ files found)' "$log" || true
cov=$(grep -E '^#[0-9]+' "$log" | tail -n 1 | sed -n 's/.* cov: \([0-9]*\) ft: \([0-9]*\) corp: \([^ ]*\).*/\1 edges, \2 features, corpus \3/p')
# Source coverage of the dataplane code over the final corpus, when llvm-cov
# is there (Debian: llvm-14); a second build without ASan, run once per input.
profdata=$(command -v llvm-profdata-14 || command -v llvm-profdata || true)
llvmcov=$(command -v llvm-cov-14 || command -v llvm-cov || true)
coverage_report() {
  "$cxx" -std=c++20 -O1 -fsanitize=fuzzer -fprofile-instr-generate -fcoverage-mapping \
    -I "$root/dataplane" "$root/tests/fuzz/classify_fuzzer.cpp" "$root/dataplane/outer_parse.cpp" \
    -o "$build/classify_fuzzer_cov"
  rm -f "$build"/classify.profraw
  LLVM_PROFILE_FILE="$build/classify.profraw" "$build/classify_fuzzer_cov" -runs=0 "$corpus" \
    >"$build/fuzz-cov.log" 2>&1 || true
  "$profdata" merge -sparse "$build/classify.profraw" -o "$build/classify.profdata"
  "$llvmcov" report "$build/classify_fuzzer_cov" -instr-profile="$build/classify.profdata" \
    -show-branch-summary "$root/dataplane/outer_parse.cpp" "$root/dataplane/lanes.h" \
    "$root/dataplane/pcap_record.h" | awk '{printf "fuzz: source coverage %-16s lines %s missed %s (%s), branches %s missed %s (%s)\n", $1, $8, $9, $10, $11, $12, $13}' |
    grep -v -e '^fuzz: source coverage Filename' -e '^fuzz: source coverage ---'
}
if [ -n "$profdata" ] && [ -n "$llvmcov" ]; then
  coverage_report || echo "fuzz: source coverage report failed (not a finding)"
fi

echo "fuzz: coverage ${cov:-unknown}; seeds $(ls "$root"/tests/fuzz/corpus | wc -l), corpus now $(ls "$corpus" | wc -l) inputs"
echo "fuzz: ${execs:-0} executions in ${elapsed} s, ${findings} findings"
if [ "$findings" -ne 0 ]; then
  tail -n 60 "$log" >&2
  echo "fuzz: FAILED (libFuzzer exit $rc); log $log; artifacts:" >&2
  find "$artifacts" -type f >&2
  echo "fuzz: reproduce with: $binary <artifact>" >&2
  exit 1
fi

# The replay's record walk over any file. Inputs up to 300000 bytes: the walk's
# smallest buffer holds 262160, so the longer ones cross a refill. Seed: a
# control byte and a little-endian microsecond pcap of three records.
cbinary=$build/capture_file_fuzzer
build_target "$cbinary" "$root/tests/fuzz/capture_file_fuzzer.cpp" "$root/dataplane/capture_file.cpp"
ccorpus=$build/capture-corpus
cartifacts=$build/capture-artifacts
rm -rf "$ccorpus" "$cartifacts"
mkdir -p "$ccorpus" "$cartifacts"
/usr/bin/python3 - "$ccorpus/seed" <<'PY'
import struct, sys
header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
records = b"".join(struct.pack("<IIII", i, 7 * i, n, n + 4) + bytes(range(n)) for i, n in enumerate([60, 0, 120]))
open(sys.argv[1], "wb").write(b"\x55" + header + records)
PY
clog=$build/capture-fuzz.log
run_target "$cbinary" "$ccorpus" "$cartifacts" "$clog" "${VXC_CAPTURE_FUZZ_SECONDS:-20}" 300000
report_target capture_file "$cbinary" "$cartifacts" "$clog"

# The worker's classic BPF interpreter against libpcap's (cbpf_fuzzer.cpp), for
# VXC_CBPF_FUZZ_SECONDS (default 20). Seeds: tcpdump's programs for a few
# expressions (when tcpdump is there), each over an IPv4 TCP frame.
bbinary=$build/cbpf_fuzzer
build_target "$bbinary" "$root/tests/fuzz/cbpf_fuzzer.cpp" "$root/dataplane/cbpf.cpp" -lpcap
bcorpus=$build/cbpf-corpus
bartifacts=$build/cbpf-artifacts
rm -rf "$bcorpus" "$bartifacts"
mkdir -p "$bcorpus" "$bartifacts"
if command -v tcpdump >/dev/null; then
  i=0
  for expression in 'tcp or vlan 42' 'tcp port 443' 'ip[2:2] - ((ip[0] & 0xf) << 2) > 40' \
    'tcp[tcpflags] & tcp-rst != 0' 'len > 100 and udp[4:2] % 7 = 1'; do
    i=$((i + 1))
    tcpdump -ddd "$expression" 2>/dev/null | /usr/bin/python3 -c '
import struct, sys
lines = sys.stdin.read().split("\n")
count = int(lines[0])
insns = b"".join(struct.pack("<HBBI", *map(int, l.split())) for l in lines[1:1 + count])
frame = bytes.fromhex("020000000002020000000001080045000028000140004006000"
                      "00a0000010a0000029c4001bb000003e8000007d05010ffff00000000")
sys.stdout.buffer.write(bytes([count % 64]) + insns + bytes([len(frame)]) + frame)
' >"$bcorpus/seed$i" || rm -f "$bcorpus/seed$i"
  done
fi
blog=$build/cbpf-fuzz.log
run_target "$bbinary" "$bcorpus" "$bartifacts" "$blog" "${VXC_CBPF_FUZZ_SECONDS:-20}" 1024
report_target cbpf "$bbinary" "$bartifacts" "$blog"
