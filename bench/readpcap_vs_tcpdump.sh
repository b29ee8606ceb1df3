#!/bin/bash
# Replaying a capture: vxcollector --read-pcap against tcpdump on the same feed,
# in the same run, and vxcollector's peak RSS for a 1M- and a 10M-frame feed.
#
#   bench/readpcap_vs_tcpdump.sh [--build DIR] [--runs N] [--json FILE] [--scale K]
#   (--scale K divides every feed's frame count by K: for trying the script out)
#
# Feeds are written by `vxbench --write-pcap` (the frames vxbench sends):
#   mixed: 2 data segments (1448 B payload, 1564-1604 B frames) : 1 bare ACK (116-156 B)
#   small: the same with a 64 B payload (~150 B frames on average)
# Timed commands (wall clock from date +%s%N, peak RSS from /usr/bin/time -v), median of N runs,
# interleaved so that a slow moment of the machine hits every tool alike:
#   vxcollector --read-pcap FEED --output-dir OUT --http-listen none   (snaplen 128 of the inner frame)
#   tcpdump -r FEED -w OUT/y.pcap                                      (whole frames)
#   tcpdump -r FEED -s 128 -w OUT/y.pcap      (tcpdump 4.99 ignores -s when reading a file: whole frames)
#   editcap -F pcap -s 128 FEED OUT/y.pcap     (the peer that does truncate: 128 bytes of the outer frame)
#   tcpdump -r FEED -w /dev/null               (one libpcap read pass, reference)
# and the "one VNI" pair: keep only the frames of one VNI (the feed's lowest; the feed's VNIs
# each carry about a quarter of the frames):
#   vxcollector --read-pcap FEED ... --unknown-vni drop --lane name=one,vni=N   (snaplen 128)
#   tcpdump -r FEED -w OUT/y.pcap 'udp dst port 4789 and ((ip and udp[12:4] & 0xffffff00 = N<<8)
#     or (ip6 and ip6[6] = 17 and ip6[52:4] & 0xffffff00 = N<<8))'          (whole frames)
# The VNI is the 3 bytes at UDP payload offset 4. libpcap's udp[] only reaches IPv4, so the
# IPv6 outer branch reads the VNI at a fixed offset: outer IPv6 without extension headers
# (what the feed has), no VLAN tag. Before timing, the filter is checked against tshark for
# every VNI and outer IP version of the feed, and vxcollector must write as many frames as
# tcpdump keeps.
# ratio = the tool's median / vxcollector's median on the same feed (tcpdump-vni: against
# vxcollector-vni); > 1 means vxcollector was faster.
# vxcollector's snaplen 128 counts from the inner frame (records of 16 + up to 128 bytes).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$ROOT/build-bench
RUNS=5
JSON=
SCALE=1
while [ $# -gt 0 ]; do
  case $1 in
    --build) BUILD=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --json) JSON=$2; shift 2 ;;
    --scale) SCALE=$2; shift 2 ;;
    *) echo "usage: $0 [--build DIR] [--runs N] [--json FILE] [--scale K]" >&2; exit 2 ;;
  esac
done
VXC=$BUILD/collector/vxcollector
VXB=$BUILD/bench/vxbench
if [ ! -x "$VXC" ] || [ ! -x "$VXB" ]; then ninja -C "$BUILD" collector/vxcollector bench/vxbench; fi
[ -x /usr/bin/time ] || apt-get install -y time >/dev/null
for tool in tcpdump editcap capinfos tshark; do
  command -v $tool >/dev/null || { echo "$tool missing" >&2; exit 1; }
done

# Feeds: mixed 1M ~1.1 GB, small 1M ~0.17 GB, small 10M ~1.7 GB; outputs up to ~1.5 GB at a time.
NEED_MB=6000
avail_mb() { df -Pm "$1" | awk 'NR == 2 { print $4 }'; }
BASE=/dev/shm
if [ "$(avail_mb /dev/shm)" -lt $NEED_MB ]; then BASE=/tmp; fi
if [ "$(avail_mb $BASE)" -lt $NEED_MB ]; then echo "need ${NEED_MB} MB free in /dev/shm or /tmp" >&2; exit 1; fi
WORK=$(mktemp -d "$BASE/vxbench-replay.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
OUT=$WORK/out
LOG=$WORK/log

ns_now() { date +%s%N; }
# Busy CPU seconds of the whole machine (all but idle and iowait).
busy_s() { awk '/^cpu / { print ($2 + $3 + $4 + $7 + $8 + $9) / 100; exit }' /proc/stat; }

# run CMD...: runs once with a fresh output dir; sets ELAPSED (s), RSS_KB, OUT_BYTES and
# OTHER (CPU other processes took meanwhile, % of one core).
run() {
  rm -rf "$OUT"
  mkdir -p "$OUT"
  local t0 t1 b0 b1
  b0=$(busy_s)
  t0=$(ns_now)
  if ! /usr/bin/time -v -o "$WORK/time" "$@" >"$LOG.out" 2>"$LOG.err"; then
    echo "FAILED: $*" >&2
    tail -5 "$LOG.err" >&2
    exit 1
  fi
  t1=$(ns_now)
  b1=$(busy_s)
  ELAPSED=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
  RSS_KB=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$WORK/time")
  OUT_BYTES=$(du -sb "$OUT" | awk '{ print $1 }')
  OTHER=$(awk -F': ' -v b0="$b0" -v b1="$b1" -v e="$ELAPSED" '
    /User time|System time/ { own += $2 }
    END { o = (b1 - b0 - own) / e * 100; if (e < 0.3) print "-"; else printf "%.0f", o < 0 ? 0 : o }' "$WORK/time")
}

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
minimum() { tr ' ' '\n' | grep -v '^$' | sort -g | head -1; }
maximum() { tr ' ' '\n' | { grep -v '^-*$' || true; } | sort -g | tail -1; }

# vxcollector must have written every frame (its exit summary is one JSON line).
check_vxc() {
  local frames=$1 written
  written=$(grep -o '"written":[0-9]*' "$LOG.out" | head -1 | cut -d: -f2)
  if [ "$written" != "$frames" ]; then
    echo "vxcollector wrote ${written:-?} of $frames frames:" >&2
    cat "$LOG.out" >&2
    exit 1
  fi
}

echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, $(uname -r); load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "work dir: $WORK ($(df -h --output=fstype "$BASE" | tail -1 | tr -d ' '))"
echo "$("$VXC" --version 2>/dev/null | head -1 || true); $(tcpdump --version 2>&1 | head -1); $(tcpdump --version 2>&1 | sed -n 2p); $(editcap --version | head -1)"

declare -A FRAMES
make_feed() {  # name frames payload
  local t0 t1
  set -- "$1" $(($2 / SCALE)) "$3" b0 b1
  b0=$(busy_s)
  t0=$(ns_now)
  "$VXB" --write-pcap "$WORK/$1.pcap" --frames "$2" --payload "$3"
  t1=$(ns_now)
  local n
  n=$(capinfos -c -M "$WORK/$1.pcap" | awk -F': *' '/Number of packets/ { print $2 }')
  if [ "$n" != "$2" ]; then echo "capinfos counts $n frames in $1, expected $2" >&2; exit 1; fi
  FRAMES[$1]=$2
  printf 'feed %-10s %9d frames %7.0f MB (written in %.1f s, capinfos agrees)\n' "$1" "$2" \
    "$(stat -c %s "$WORK/$1.pcap" | awk '{ print $1 / 1e6 }')" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print (b - a) / 1e9 }')"
}
make_feed mixed-1m 1000000 1448
make_feed small-1m 1000000 64
make_feed small-1k 1000 64

# The one-VNI filter, checked against tshark on a slice of the feed that holds every frame
# template (the feed cycles through 2048), for each VNI and outer IP version.
vni_filter() {  # vni
  local x
  x=$(printf '0x%x' $(($1 << 8)))
  echo "udp dst port 4789 and ((ip and udp[12:4] & 0xffffff00 = $x) or (ip6 and ip6[6] = 17 and ip6[52:4] & 0xffffff00 = $x))"
}
# Lines "VNI outer-ethertype" of a capture, by tshark (the outer Ethernet type is the first).
vni_family() {
  tshark -r "$1" -T fields -E occurrence=f -e vxlan.vni -e eth.type 2>/dev/null |
    awk '{ print $1, ($2 == "0x86dd" ? "ipv6" : $2 == "0x0800" ? "ipv4" : $2) }' | sort | uniq -c
}
editcap -r "$WORK/small-1m.pcap" "$WORK/slice.pcap" 1-4096
vni_family "$WORK/slice.pcap" >"$WORK/slice.vnis"
echo
echo "one-VNI BPF filter against tshark (first 4096 frames of small-1m; frames per VNI and outer IP):"
printf '%-6s %-5s %8s %8s\n' vni outer tshark tcpdump
VNI=
while read -r vni; do
  [ -n "$VNI" ] || VNI=$vni
  rm -f "$WORK/slice.y.pcap"
  tcpdump -r "$WORK/slice.pcap" -w "$WORK/slice.y.pcap" "$(vni_filter "$vni")" 2>/dev/null
  vni_family "$WORK/slice.y.pcap" >"$WORK/slice.y.vnis"
  for family in ipv4 ipv6; do
    want=$(awk -v v="$vni" -v f="$family" '$2 == v && $3 == f { print $1 }' "$WORK/slice.vnis")
    got=$(awk -v v="$vni" -v f="$family" '$2 == v && $3 == f { print $1 }' "$WORK/slice.y.vnis")
    printf '%-6s %-5s %8s %8s\n' "$vni" "$family" "${want:-0}" "${got:-0}"
  done
  other=$(awk -v v="$vni" '$2 != v { n += $1 } END { print n + 0 }' "$WORK/slice.y.vnis")
  if ! cmp -s <(awk -v v="$vni" '$2 == v' "$WORK/slice.vnis") "$WORK/slice.y.vnis" || [ "$other" != 0 ]; then
    echo "the BPF filter for VNI $vni keeps other frames than tshark's vxlan.vni == $vni" >&2
    exit 1
  fi
done < <(awk '{ print $2 }' "$WORK/slice.vnis" | sort -un)
if [ -z "$VNI" ]; then echo "tshark found no VXLAN frames in the slice" >&2; exit 1; fi
VNI_FILTER=$(vni_filter "$VNI")
rm -f "$WORK/slice.pcap" "$WORK/slice.y.pcap"
echo "timed: VNI $VNI ($(awk -v v="$VNI" '$2 == v { printf "%s%s %d", s, $3, $1; s = ", " }' "$WORK/slice.vnis") of the slice)"
# Frames of that VNI per feed: what both tools of the pair must write.
declare -A VNI_FRAMES
for feed in mixed-1m small-1m small-1k; do
  tcpdump -r "$WORK/$feed.pcap" -w "$WORK/vni.pcap" "$VNI_FILTER" 2>/dev/null
  VNI_FRAMES[$feed]=$(capinfos -c -M "$WORK/vni.pcap" | awk -F': *' '/Number of packets/ { print $2 }')
  rm -f "$WORK/vni.pcap"
done

TOOLS=(vxcollector tcpdump tcpdump-s128 editcap-s128 tcpdump-null vxcollector-vni tcpdump-vni)
# The pair each tool is compared with (ratio column).
declare -A BASE_OF=([tcpdump]=vxcollector [tcpdump-s128]=vxcollector [editcap-s128]=vxcollector
  [tcpdump-null]=vxcollector [tcpdump-vni]=vxcollector-vni)
tool_cmd() {  # tool feed: sets CMD
  local feed=$WORK/$2.pcap
  case $1 in
    vxcollector) CMD=("$VXC" --read-pcap "$feed" --output-dir "$OUT" --http-listen none) ;;
    tcpdump) CMD=(tcpdump -r "$feed" -w "$OUT/y.pcap") ;;
    tcpdump-s128) CMD=(tcpdump -r "$feed" -s 128 -w "$OUT/y.pcap") ;;
    editcap-s128) CMD=(editcap -F pcap -s 128 "$feed" "$OUT/y.pcap") ;;
    tcpdump-null) CMD=(tcpdump -r "$feed" -w /dev/null) ;;
    vxcollector-vni) CMD=("$VXC" --read-pcap "$feed" --output-dir "$OUT" --http-listen none
                          --unknown-vni drop --lane "name=one,vni=$VNI") ;;
    tcpdump-vni) CMD=(tcpdump -r "$feed" -w "$OUT/y.pcap" "$VNI_FILTER") ;;
  esac
}

declare -A TIMES RSS OUTB NOISE
for feed in mixed-1m small-1m small-1k; do
  for ((i = 1; i <= RUNS; i++)); do
    for tool in "${TOOLS[@]}"; do
      tool_cmd "$tool" "$feed"
      run "${CMD[@]}"
      if [ "$tool" = vxcollector ]; then check_vxc "${FRAMES[$feed]}"; fi
      if [ "$tool" = vxcollector-vni ]; then check_vxc "${VNI_FRAMES[$feed]}"; fi
      TIMES[$feed/$tool]+="$ELAPSED "
      RSS[$feed/$tool]+="$RSS_KB "
      NOISE[$feed/$tool]+="$OTHER "
      OUTB[$feed/$tool]=$OUT_BYTES
    done
  done
done

echo
echo "Replay, $RUNS runs each (interleaved), wall clock incl. process start:"
printf '%-10s %-15s %8s %8s %8s %9s %9s %9s %9s %8s %6s\n' feed tool median_s min_s max_s Mframes/s feed_MB/s out_MB RSS_MiB other% ratio
JSON_ROWS=()
for feed in mixed-1m small-1m small-1k; do
  feed_mb=$(stat -c %s "$WORK/$feed.pcap" | awk '{ print $1 / 1e6 }')
  for tool in "${TOOLS[@]}"; do
    med=$(echo "${TIMES[$feed/$tool]}" | median)
    lo=$(echo "${TIMES[$feed/$tool]}" | minimum)
    hi=$(echo "${TIMES[$feed/$tool]}" | maximum)
    rss=$(echo "${RSS[$feed/$tool]}" | median)
    read -r mfps mbps outmb rssmb < <(awk -v f="${FRAMES[$feed]}" -v m="$med" -v fm="$feed_mb" -v o="${OUTB[$feed/$tool]}" -v r="$rss" \
      'BEGIN { printf "%.3f %.0f %.1f %.1f\n", f / m / 1e6, fm / m, o / 1e6, r / 1024 }')
    noise=$(echo "${NOISE[$feed/$tool]}" | maximum)
    noise=${noise:--}
    base=${BASE_OF[$tool]:-}
    ratio=-
    pair_json=
    if [ -n "$base" ]; then
      ratio=$(awk -v t="$med" -v b="$(echo "${TIMES[$feed/$base]}" | median)" 'BEGIN { printf "%.2f", t / b }')
      pair_json=", \"pair\": \"$base\", \"ratio_to_pair\": $ratio"
    fi
    printf '%-10s %-15s %8.3f %8.3f %8.3f %9s %9s %9s %9s %8s %6s\n' "$feed" "$tool" "$med" "$lo" "$hi" "$mfps" "$mbps" "$outmb" "$rssmb" "$noise" "$ratio"
    JSON_ROWS+=("{\"feed\": \"$feed\", \"frames\": ${FRAMES[$feed]}, \"tool\": \"$tool\", \"runs_s\": [$(echo "${TIMES[$feed/$tool]}" | xargs | tr ' ' ',')], \"median_s\": $med, \"other_cpu_percent_max\": $([ "$noise" = - ] && echo null || echo "$noise"), \"mframes_per_s\": $mfps, \"output_bytes\": ${OUTB[$feed/$tool]}, \"peak_rss_kib\": $rss$pair_json}")
  done
done

# Peak RSS against feed size: the replay streams, so it should not grow with the feed.
rm -f "$WORK/mixed-1m.pcap"
make_feed small-10m 10000000 64
echo
echo "vxcollector --read-pcap peak RSS (/usr/bin/time -v), one run each:"
printf '%-10s %10s %9s %9s %9s %8s\n' feed frames wall_s Mframes/s RSS_MiB other%
RSS_ROWS=()
for feed in small-1m small-10m; do
  tool_cmd vxcollector "$feed"
  run "${CMD[@]}"
  check_vxc "${FRAMES[$feed]}"
  printf '%-10s %10d %9.3f %9.3f %9.1f %8s\n' "$feed" "${FRAMES[$feed]}" "$ELAPSED" \
    "$(awk -v f="${FRAMES[$feed]}" -v m="$ELAPSED" 'BEGIN { print f / m / 1e6 }')" "$(awk -v r="$RSS_KB" 'BEGIN { print r / 1024 }')" "$OTHER"
  RSS_ROWS+=("{\"feed\": \"$feed\", \"frames\": ${FRAMES[$feed]}, \"wall_s\": $ELAPSED, \"peak_rss_kib\": $RSS_KB}")
done
echo "ratio: the tool's median / the median of its pair on the same feed (vxcollector; tcpdump-vni:"
echo "vxcollector-vni, VNI $VNI only: ${VNI_FRAMES[mixed-1m]}, ${VNI_FRAMES[small-1m]}, ${VNI_FRAMES[small-1k]} frames of mixed-1m, small-1m, small-1k);"
echo "> 1 means vxcollector was faster. Mframes/s counts every frame of the feed."
echo "other%: CPU other processes took during a run, % of one core (replay table: the highest of the runs;"
echo "/proc/stat counts 10 ms ticks, so runs under 0.3 s show -)."
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"

if [ -n "$JSON" ]; then
  {
    echo "{\"machine\": {\"cpu\": \"$(lscpu | sed -n 's/^Model name: *//p')\", \"cores\": $(nproc), \"kernel\": \"$(uname -r)\"},"
    echo " \"work_fs\": \"$BASE\", \"runs\": $RUNS,"
    echo " \"vni\": $VNI, \"vni_filter\": \"$VNI_FILTER\","
    echo " \"vni_frames\": {$(for f in mixed-1m small-1m small-1k; do printf '%s"%s": %s' "${sep:-}" "$f" "${VNI_FRAMES[$f]}"; sep=', '; done)},"
    echo " \"replay\": ["
    (IFS=$'\n'; echo "${JSON_ROWS[*]}" | sed '$!s/$/,/')
    echo " ],"
    echo " \"rss\": ["
    (IFS=$'\n'; echo "${RSS_ROWS[*]}" | sed '$!s/$/,/')
    echo " ]}"
  } >"$JSON"
fi
