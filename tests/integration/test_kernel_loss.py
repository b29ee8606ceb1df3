#!/usr/bin/python3
"""Frames the kernel drops in net_af_packet's ring are reported as the port's `missed`.

Usage (root): test_kernel_loss.py /path/to/vxcollector   (exit 77 = skipped when not root)

A sender namespace replays a numbered VXLAN feed (lab.write_vxlan_feed) with
`tcpreplay --topspeed` into a veth whose other end, in the collector's
namespace, has no address and an nftables ingress chain with policy drop, so
the kernel itself never handles a frame there (lab.FeedLab). vxcollector reads
that end with net_af_packet. The offered count is tcpreplay's, checked against
the veth's own counters (sender tx = collector-side rx, nothing dropped on the
way); then offered = received + ports.0.missed must hold exactly, with the
accounting invariant, and the lane must hold an in-order subsequence of the
feed, each frame once.

The collector's lcore and tcpreplay share one CPU in the live cases, as on a
busy machine: the collector is off the CPU for whole scheduler slices while
frames keep coming, which is what the ring must absorb.

Cases:
  pmd-ring      the PMD's own ring (512 frames of 2 KiB), collector running:
                what the ring could not hold is missed (measured here: 2-7% of
                a 6000-frame burst; the amount varies, the sum is exact).
  pmd-ring-stopped
                the same ring, the collector stopped (SIGSTOP) during the replay:
                exactly 512 frames received, the rest missed.
  default-ring  no ring arguments: the collector's default (32768 frames),
                collector running: a burst smaller than the ring loses nothing.
  default-ring-stopped
                the default ring, collector stopped, a feed larger than the ring:
                exactly the ring's frame count received, the rest missed.
"""

import os
import shutil
import sys
import time

sys.dont_write_bytecode = True
import lab  # noqa: E402
import vxc  # noqa: E402

LANE = "feed"
SNAPLEN = 128
PMD_RING = 512
DEFAULT_RING = 32768  # af_packet_default_ring(2048): 64 MiB of 2048-byte frames, 2 per 4 KiB block
BURST = 6000  # the measured burst
BIG = DEFAULT_RING + 8000


def vdev(ring):
    if ring == "pmd":
        return lab.af_packet_vdev(lab.COLLECTOR_FEED, framesz=2048, framecnt=PMD_RING, blocksz=4096)
    return "net_af_packet0,iface=%s" % lab.COLLECTOR_FEED  # the collector picks the ring


def run_case(F, L, binary, work, cpus, label, ring, feed, count, stopped):
    outdir = os.path.join(work, label)
    port = vxc.free_port()
    c = lab.Collector(L, binary, outdir, ["name=%s,vni=%d" % (LANE, lab.FEED_VNI)], vdev(ring), cpus[1],
                      http_port=port)
    c.wait_started()
    lab.wait_for(lambda: c.get("/healthz")[0] == 200, 60, "/healthz 200")
    before = L.counters()
    if stopped:
        c.pause()
    try:
        sent, failed, secs, _ = L.replay(feed, cpu=cpus[1], extra=["--topspeed", "--preload-pcap"])
    finally:
        if stopped:
            c.resume()
    after = L.counters()
    delta = {k: {f: after[k][f] - before[k][f] for f in ("packets", "dropped", "errors")} for k in after}
    c.wait_settled(want=count)
    run = c.stop()
    vxc.check_run(F, run, label)
    s = run.summary or {}
    p0 = s.get("ports", {}).get("0", {})
    received, missed = s.get("received"), p0.get("missed")
    print("  info: %s: offered %d in %.3f s (%.0f frames/s); received %s, missed %s (%.1f%% lost)" %
          (label, count, secs or 0, count / secs if secs else 0, received, missed,
           100.0 * (missed or 0) / count))
    F.equal((sent, failed), (count, 0), label + ": tcpreplay sent every frame (successful, failed)")
    F.equal(delta["s-feed tx"]["packets"], count, label + ": the sender veth transmitted every frame")
    F.equal(delta["k-feed rx"]["packets"], count, label + ": the collector-side veth received every frame")
    F.equal([delta[k][f] for k in sorted(delta) for f in ("dropped", "errors")], [0, 0, 0, 0],
            label + ": no drops or errors on the veth (s-feed tx, k-feed rx)")
    if not s:
        return None
    F.equal((received or 0) + (missed or 0), count, label + ": offered = received + ports.0.missed "
            "(received %s, missed %s)" % (received, missed))
    F.equal(p0.get("rx"), received, label + ": ports.0.rx = received")
    F.equal((p0.get("errors"), p0.get("nombuf")), (0, 0), label + ": ports.0 errors, nombuf")
    F.equal(s.get("written"), received, label + ": written = received (one lane, every frame VXLAN)")
    records = []
    for path in vxc.lane_files(outdir, LANE):
        records += vxc.read_capture(path).records
    seqs = lab.feed_seqs(records)
    F.check(len(seqs) == received and all(0 <= a < b < count for a, b in zip(seqs, seqs[1:])) and
            (not seqs or seqs[-1] < count),
            label + ": the lane holds %d frames of the feed, each once, in order" % len(seqs),
            "%d records, received %s" % (len(seqs), received))
    shutil.rmtree(outdir, ignore_errors=True)
    return received, missed


def main():
    binary = vxc.binary_from_argv()
    if os.geteuid() != 0:
        print("SKIP: the namespace lab needs root")
        return 77
    F = vxc.Failures("test_kernel_loss")
    missing = lab.missing_tools(lab.FEED_TOOLS)
    if missing:
        F.check(False, "lab tools installed", "missing %s (apt-get install -y iproute2 ethtool nftables "
                "tcpreplay curl)" % missing)
        return F.finish()
    cpus = lab.cpus()
    work = vxc.tmpdir("kernel-loss")
    t0 = time.monotonic()
    burst = os.path.join(work, "burst.pcap")
    big = os.path.join(work, "big.pcap")
    lab.write_vxlan_feed(burst, BURST)
    lab.write_vxlan_feed(big, BIG, inner_sizes=(110,))
    results = {}
    with lab.FeedLab() as L:
        results["pmd"] = run_case(F, L, binary, work, cpus, "pmd-ring", "pmd", burst, BURST, stopped=False)
        r = run_case(F, L, binary, work, cpus, "pmd-ring-stopped", "pmd", burst, BURST, stopped=True)
        if r:
            F.equal(r, (PMD_RING, BURST - PMD_RING),
                    "pmd-ring-stopped: the stopped collector received exactly the ring (received, missed)")
        results["default"] = run_case(F, L, binary, work, cpus, "default-ring", "default", burst, BURST,
                                      stopped=False)
        if results["default"]:
            F.equal(results["default"][1], 0, "default-ring: a %d-frame burst fits the default ring: "
                    "nothing missed" % BURST)
        r = run_case(F, L, binary, work, cpus, "default-ring-stopped", "default", big, BIG, stopped=True)
        if r:
            F.equal(r, (DEFAULT_RING, BIG - DEFAULT_RING), "default-ring-stopped: the stopped collector "
                    "received exactly the default ring of %d frames (received, missed)" % DEFAULT_RING)
    if results.get("pmd") and results.get("default"):
        print("  info: a %d-frame --topspeed burst: PMD ring %d frames -> %d received, %d missed; "
              "default ring %d frames -> %d received, %d missed" %
              ((BURST, PMD_RING) + results["pmd"] + (DEFAULT_RING,) + results["default"]))
    print("kernel-loss time %.1fs" % (time.monotonic() - t0))
    vxc.cleanup(work, not F.failed)
    return F.finish()


if __name__ == "__main__":
    sys.exit(main())
