#!/bin/bash
# Every benchmark, one command (as root, on an otherwise quiet machine):
#
#   bench/run.sh [--build DIR] [--quick]
#
# 1. vxbench: the dataplane against this machine's ceiling (same-core and
#    cross-core sources; sweeps of snaplen, lanes, filter, sink, workers),
#    3 runs per case, median: bench/results/vxbench.{txt,json}
# 2. vxmicro: per-stage Google Benchmark figures: bench/results/vxmicro.{txt,json}
#    and what a capture filter costs, in adjacent on/off pairs:
#    bench/results/filters-paired.txt
# 3. --read-pcap against tcpdump and editcap on the same files, median of 5:
#    bench/results/readpcap_vs_tcpdump.{txt,json}
# 4. a live feed: kernel vxlan + tcpdump -s 128 against vxcollector on
#    net_af_packet, tcpreplay at rising rates: bench/results/live_peer.{txt,json}
# 5. a 5 s and a 60 s run paced below the sustained rate (drops, peak RSS):
#    bench/results/rss_over_time.txt
# 6. the plot: bench/results/vxbench.png
# --quick: 1 run per case and shorter windows, for trying the scripts out
# (the figures are then not the ones to publish).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$ROOT/build-bench
QUICK=0
while [ $# -gt 0 ]; do
  case $1 in
    --build) BUILD=$(realpath -m "$2"); shift 2 ;;
    --quick) QUICK=1; shift ;;
    *) echo "usage: $0 [--build DIR] [--quick]" >&2; exit 2 ;;
  esac
done
cd "$ROOT"
[ -d "$BUILD" ] || meson setup "$BUILD" -Dbuildtype=release
ninja -C "$BUILD" collector/vxcollector bench/vxbench bench/micro/vxmicro
/usr/bin/python3 -c 'import matplotlib' 2>/dev/null || apt-get install -y -qq python3-matplotlib
R=bench/results
mkdir -p $R
stamp="# measured $(date -u +%F\ %H:%M) UTC on commit $(git rev-parse --short HEAD), $(basename "$BUILD")"

if [ $QUICK = 1 ]; then
  vx=(--repeat 1 --duration 2 --warmup 0.5); runs=1; live=(--frames 200000 --rates "50k,top")
else
  vx=(--repeat 3); runs=5; live=()
fi

echo "== vxbench" >&2
{ echo "$stamp"; "$BUILD/bench/vxbench" "${vx[@]}" --json $R/vxbench.json; } | tee $R/vxbench.txt
echo "== vxmicro" >&2
{ echo "$stamp"; bench/micro/run.sh --build "$BUILD"; } | tee $R/vxmicro.txt
echo "== capture filter, paired runs" >&2
pairs=(); [ $QUICK = 1 ] && pairs=(--pairs 2)  # else filter_pairs.sh's default
bench/filter_pairs.sh --build "$BUILD" "${pairs[@]}" | tee $R/filters-paired.txt
echo "== read-pcap peers" >&2
bench/readpcap_vs_tcpdump.sh --build "$BUILD" --runs $runs --json $R/readpcap_vs_tcpdump.json |
  { echo "$stamp"; cat; } | tee $R/readpcap_vs_tcpdump.txt
echo "== live peer" >&2
bench/live_peer.sh --build "$BUILD" "${live[@]}"
echo "== a 5 s and a 60 s run, paced below the sustained rate: peak RSS and drops" >&2
# RATE: below what this machine sustains at snaplen 128 into /dev/shm. The
# default suits a slow host; the published run (README) used PACE_MPPS=12 on
# a host that sustains ~19-20 Mpps.
RATE=${PACE_MPPS:-6}
long=60; [ $QUICK = 1 ] && long=10
for secs in 5 $long; do
  "$BUILD/bench/vxbench" --only pipe-4l-s128 --repeat 1 --retries 0 --duration "$secs" \
    --rate-mpps "$RATE" --json "/tmp/vxbench-rss-$secs.json" >/dev/null
done
/usr/bin/python3 - $long "$RATE" <<'PY' | { echo "$stamp"; cat; } | tee $R/rss_over_time.txt
import json, sys
long, rate = int(sys.argv[1]), sys.argv[2]
for s in (5, long):
    c = json.load(open(f"/tmp/vxbench-rss-{s}.json"))["cases"][0]
    drops = {k: v for k, v in c["drops"].items() if v}
    print(f"pipe-4l-s128 paced at {rate} Mpps, {s:2d} s: received {c['received_total']}, "
          f"written {c['written_mpps']:.3f} Mpps, drops {drops or 0}, "
          f"accounting {'ok' if c['accounting_ok'] else 'MISMATCH'}, peak RSS {c['peak_rss_kib'] / 1024:.1f} MiB")
PY
echo "== plot" >&2
/usr/bin/python3 bench/plot.py --json $R/vxbench.json --out $R/vxbench.png
echo "results in $R/" >&2
