#!/usr/bin/env bash
# Runs every test: GoogleTest units, the integration tests that run the real
# binary (judged by tshark, capinfos, promtool and a real Prometheus, plus a
# namespace lab where the kernel mirrors real TCP into the collector), a smoke
# run of the bench (vxbench_smoke: every packet accounted for at full speed), the
# libFuzzer targets (classify for VXC_FUZZ_SECONDS, default 60; the replay's
# record walk for VXC_CAPTURE_FUZZ_SECONDS and the capture filter's classic
# BPF interpreter against libpcap's for VXC_CBPF_FUZZ_SECONDS, default 20
# each), and the unit tests plus the integration tests test_read_pcap,
# test_hostile and test_faults again under AddressSanitizer and
# UndefinedBehaviorSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/build.sh
meson test -C build --print-errorlogs --num-processes 2 "$@"
tests/fuzz/run.sh build-fuzz "${VXC_FUZZ_SECONDS:-60}"
VXC_SANITIZE_INTEGRATION=1 tests/fuzz/sanitize.sh build-sanitize
# One closing line over every meson test run above (main build and sanitized build).
/usr/bin/python3 - build/meson-logs/testlog.json build-sanitize/meson-logs/*.json <<'PY'
import json, sys
passed = failed = 0
for path in sys.argv[1:]:
    if not path.endswith(".json"):
        continue
    for line in open(path):
        r = json.loads(line)
        if r.get("result") == "OK":
            passed += 1
        elif r.get("result") not in ("SKIP",):
            failed += 1
print(f"tests: {passed} passed, {failed} failed")
PY
