#!/usr/bin/env bash
# The embedded default: builds vxcollector, generates a multi-session VXLAN
# mirror feed, pushes it through the DPDK dataplane (--read-pcap, no NIC, no
# hugepages) and shows the per-lane files, a /metrics scrape and the summary.
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/build.sh >/dev/null
work=${VXC_DEMO_DIR:-/tmp/vxcollector-demo}
rm -rf "$work" && mkdir -p "$work"
/usr/bin/python3 tests/integration/feedgen.py "$work/feed.pcap" >/dev/null
echo "== mirror feed: $(capinfos -c -M "$work/feed.pcap" | awk -F': *' '/Number of packets/{print $2}') frames in $work/feed.pcap"

port=${VXC_DEMO_PORT:-9469}
build/collector/vxcollector --read-pcap "$work/feed.pcap" --output-dir "$work/out" \
  --lane name=web,vni=42,filter='tcp' --http-listen "127.0.0.1:$port" --linger-seconds 30 \
  >"$work/summary.json" 2>"$work/collector.log" &
pid=$!
# Wait for the replay to finish, then scrape while the collector lingers.
for _ in $(seq 1 100); do
  grep -q "all .* frames taken" "$work/collector.log" 2>/dev/null && break
  sleep 0.1
done
sleep 0.5
echo "== GET /metrics (lanes and drops)"
curl -fsS "http://127.0.0.1:$port/metrics" | grep -E '^vxcollector_(lane_packets_total|drops_total|received_packets_total)' | grep -v ' 0$' || true
echo "== GET /healthz: $(curl -sS "http://127.0.0.1:$port/healthz")"
kill -TERM "$pid"
wait "$pid"
echo "== lane files"
for f in "$work"/out/*/*.pcap; do
  printf '%-60s %s packets, snaplen %s\n' "${f#$work/}" \
    "$(capinfos -c -M "$f" | awk -F': *' '/Number of packets/{print $2}')" \
    "$(capinfos -l "$f" | awk -F': *' '/file hdr/{print $3}')"
done
echo "== summary (last line of stdout)"
tail -n 1 "$work/summary.json"
