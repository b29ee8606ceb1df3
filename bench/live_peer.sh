#!/bin/bash
# Peer on a live feed, same offered load: a kernel vxlan interface with `tcpdump -s 128 -w` (the
# mirror target as a plain Linux host runs it) against vxcollector on net_af_packet, both fed the
# same tcpreplay flood over a veth at rising rates.
#
#   bench/live_peer.sh [--build DIR] [--frames N] [--rates LIST] [--seconds S] [--sides kernel,vxc]
#                      [--rx-on snd,rcv] [--payload BYTES] [--vnis N]
#   (root; LIST like 50k,100k,200k,400k,top; defaults: build-live, 1000000, 50k,100k,200k,400k,top,
#   10, both sides, both --rx-on modes, 1448, 1; a full run takes ~15 minutes)
#
# Feed: `vxbench --write-pcap --vnis 1` (bench/frames.h: 2 data segments of 1448 B payload : 1 bare
# ACK, mean frame ~1085 B, outer UDP 4789, VNI 100, to 10.0.0.10 / 02:00:00:00:00:01), outer IPv6
# frames removed (`tcpdump -r raw -w feed ip`) so that one kernel vxlan device takes every frame.
# Both sides get the same file and the same command: `tcpreplay --limit=COUNT --pps=RATE` (or
# --topspeed), COUNT = min(--frames, RATE x --seconds), --frames at topspeed. The feed is on tmpfs
# and not preloaded (--preload-pcap would load it inside the receiver's CPU window). --vnis N: VNIs
# 100..100+N-1 in the feed, the kernel side still has a device for VNI 100 only (a target set up
# for one session when a second one arrives); vxcollector gives each VNI a lane.
#
# Every step (one rate, one side) gets a fresh pair of namespaces vxlive-<pid>-snd / -rcv joined
# by a veth (MTU 9001, offloads off, receiving end MAC 02:00:00:00:00:01):
#   tcpdump side: r-feed owns 10.0.0.10/24; `ip link add vxlan0 type vxlan id 100 dstport 4789
#     dev r-feed nolearning` (one vxlan device per mirror session VNI, as the AWS mirror-target
#     walkthroughs set it up; nolearning because the synthetic feed has 16 outer sources with the
#     same inner MACs); `tcpdump -n -i vxlan0 -s 128 -w FILE` with its default buffer.
#   vxcollector side: r-feed has no address and an nftables ingress drop chain (the kernel handles
#     no frame past the AF_PACKET taps); `vxcollector --lane name=feed,vni=100 --snaplen 128
#     --output-dir /dev/shm/... -- -l CPU --no-huge --no-pci --vdev net_af_packet0,iface=r-feed`
#     (its default 32768-frame ring).
# The receiver process (all its threads: vxcollector's writer and HTTP threads share the lcore's
# CPU) is pinned to the first CPU, tcpreplay to the last: each receiver gets one CPU, and on this
# 2-core VM tcpreplay takes the other itself. Where the kernel's receive work (veth rx, IP/UDP,
# vxlan decap, the AF_PACKET copy into the capture ring) runs is the "rx work" column:
#   snd CPU: a veth's own way: inside tcpreplay's send(), on tcpreplay's CPU; the receiver's CPU
#     only runs the receiver;
#   rcv CPU: RPS on r-feed queues every frame to the receiver CPU's input backlog, as a NIC
#     interrupt on the capture host puts it: the receive softirq and the receiver share one CPU.
#
# Per step: offered = tcpreplay's successful packets (checked against the veth's tx/rx counters);
# written = capinfos count of the receiver's files (after its counters stood still 2 s);
# reported dropped = what some counter admits:
#   tcpdump side: "dropped by kernel" + "dropped by interface" (libpcap's reading of vxlan0's
#     rx_dropped), vxlan0 rx_errors, UDP InErrors (incl. RcvbufErrors) + NoPorts of the namespace,
#   vxcollector side: its summary's drops by reason + filtered + port missed/errors/nombuf,
#   both: veth tx/rx dropped and the CPU backlog drops of /proc/net/softnet_stat (machine-wide);
# unreported = offered - written - reported dropped: frames that vanished with no counter saying so.
# CPU = utime + stime of the receiver process (all threads, /proc/PID/stat) from the start of the
# replay to its last counter change; per Mframes offered. Kernel softirq work (veth, vxlan decap,
# AF_PACKET copy) is not attributable to either process; the "softirq s/Mf" column is the whole
# machine's softirq time during the replay per Mframes (tick-sampled, other loads included), and
# "tcpreplay s/Mf" is the sender's own CPU, which in the snd CPU rows holds most of the receive
# work. This kernel samples CPU time per tick (no IRQ time accounting): softirq work that interrupts
# a process is charged to that process too, so the rcv CPU rows' receiver CPU holds some of it.
# vxcollector's lcore busy-polls: its CPU is ~1 core-second per wall second whatever the load, so
# its CPU s/Mf falls with the rate; the fastest row is the nearest to its per-frame cost, and its
# writer thread's share (JSON cpu_by_thread "vxc-writer-0") is the part that grows with frames.
# tcpreplay cannot always keep the asked rate: "pps sent" is what it reached; other processes
# move to tcpreplay's CPU while the lcore holds the other one, so on a busy machine the sender
# tends to reach less against vxcollector than against tcpdump.
# Results: bench/results/live_peer.txt (table + per-step counters) and bench/results/live_peer.json.
# Figures are rough: other benchmarks may share this machine.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$ROOT/build-live
PASS=()
while [ $# -gt 0 ]; do
  case $1 in
    --build) BUILD=$2; shift 2 ;;
    --frames | --rates | --seconds | --sides | --rx-on | --payload | --vnis) PASS+=("$1" "$2"); shift 2 ;;
    *) echo "usage: $0 [--build DIR] [--frames N] [--rates LIST] [--seconds S] [--sides kernel,vxc]" \
         "[--rx-on snd,rcv] [--payload BYTES] [--vnis N]" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "live_peer: needs root (network namespaces)" >&2; exit 1; }
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
VXC=$BUILD/collector/vxcollector
VXB=$BUILD/bench/vxbench
if [ ! -x "$VXC" ] || [ ! -x "$VXB" ]; then ninja -C "$BUILD" collector/vxcollector bench/vxbench; fi
for tool in ip ethtool nft tcpreplay tcpdump capinfos curl; do
  command -v $tool >/dev/null || { echo "$tool missing (apt-get install -y iproute2 ethtool nftables" \
    "tcpreplay tcpdump tshark curl)" >&2; exit 1; }
done

# The Python driver deletes its namespaces itself; this catches a driver killed with SIGKILL.
cleanup() {
  for ns in $(ip netns list | awk -v p="vxlive-$$-" 'index($1, p) == 1 { print $1 }'); do
    for pid in $(ip netns pids "$ns"); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
  done
}
trap cleanup EXIT

mkdir -p "$ROOT/bench/results"
# In the background and waited for, so that a SIGINT/SIGTERM to this script reaches the driver at
# once (bash runs traps only between commands) and it stops its processes and namespaces itself.
/usr/bin/python3 "$ROOT/bench/live_peer.py" --vxcollector "$VXC" --vxbench "$VXB" --tag $$ "${PASS[@]}" \
  --txt "$ROOT/bench/results/live_peer.txt" --json "$ROOT/bench/results/live_peer.json" &
DRIVER=$!
trap 'kill -TERM $DRIVER 2>/dev/null; wait $DRIVER || true; exit 130' INT TERM
wait $DRIVER
