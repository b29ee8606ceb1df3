#!/usr/bin/python3
"""vxcollector offered more than its disk can take: drops are counted, memory stays flat, /healthz answers.

Usage (root): test_overload.py /path/to/vxcollector   (exit 77 = skipped when not root)

The disk: ext4 on a loop device with direct I/O (every write reaches the
machine's disk), mounted `sync`; about 9 MB/s here for 64 KiB writes. The
feed: `tcpreplay --topspeed` of 1450-byte VXLAN frames for DURATION seconds
into the collector's veth (lab.FeedLab), the collector keeping every byte
(--snaplen 65535) with 4 MiB of write buffers: several times what the disk
takes. The writer falls behind, so packets are dropped as writer_busy (or the
kernel ring overflows: ports.0.missed); every frame is still accounted for:

  offered (tcpreplay, = sender veth tx = collector veth rx) = received + ports.0.missed
  received = written + drops + ...                          (the invariant)

Peak RSS (VmHWM) must not grow once the overload is under way, and /healthz
must answer every poll (every POLL_SECONDS) within HEALTHZ_MAX_SECONDS.
"""

import os
import subprocess
import sys
import re
import threading
import time

sys.dont_write_bytecode = True
import lab  # noqa: E402
import vxc  # noqa: E402

LANE = "feed"
DURATION = 25  # seconds of overload
WARMUP = 4  # seconds into the overload before the first VmHWM sample
WRITE_BUFFER_MB = 4
MAX_HWM_GROWTH_KB = 16 * 1024  # after warm-up: a bounded collector does not grow
POLL_SECONDS = 0.5
HEALTHZ_MAX_SECONDS = 2.0
DISK_MB = 1024  # sparse image; --rotate-mb and --ring keep the files well below it


class SlowDisk:
    """ext4 on a direct-I/O loop device, mounted sync, at `path`; removed on exit."""

    def __init__(self, path):
        self.path = path
        self.image = path + ".img"
        self.loop = None
        self.mounted = False

    def __enter__(self):
        os.makedirs(self.path, exist_ok=True)
        with open(self.image, "wb") as f:
            f.truncate(DISK_MB << 20)
        lab.run(["mkfs.ext4", "-q", "-F", self.image])
        self.loop = lab.run(["losetup", "--find", "--show", "--direct-io=on", self.image]).stdout.strip()
        lab.run(["mount", "-o", "sync", self.loop, self.path])
        self.mounted = True
        return self

    def __exit__(self, *exc):
        if self.mounted:
            lab.run(["umount", self.path], check=False)
        if self.loop:
            lab.run(["losetup", "-d", self.loop], check=False)
        if os.path.exists(self.image):
            os.remove(self.image)


class HealthPoller(threading.Thread):
    """GET /healthz every POLL_SECONDS until stopped: (status, seconds) of each."""

    def __init__(self, collector):
        super().__init__(daemon=True)
        self.collector = collector
        self.results = []
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            status, body, secs = self.collector.get("/healthz", timeout=10)
            self.results.append((status, secs, body.strip()))
            self.done.wait(POLL_SECONDS)


def main():
    binary = vxc.binary_from_argv()
    if os.geteuid() != 0:
        print("SKIP: the namespace lab and the loop device need root")
        return 77
    F = vxc.Failures("test_overload")
    missing = lab.missing_tools(lab.FEED_TOOLS + ("losetup", "mkfs.ext4", "mount"))
    if missing:
        F.check(False, "tools installed", "missing %s" % missing)
        return F.finish()
    cpus = lab.cpus()
    work = vxc.tmpdir("overload")
    t0 = time.monotonic()
    feed = os.path.join(work, "feed.pcap")
    frames = 20000
    lab.write_vxlan_feed(feed, frames, inner_sizes=(1400,))
    label = "overload"
    with lab.FeedLab() as L, SlowDisk(os.path.join(work, "disk")) as disk:
        outdir = os.path.join(disk.path, "out")
        c = lab.Collector(L, binary, outdir, ["name=%s,vni=%d" % (LANE, lab.FEED_VNI)],
                          "net_af_packet0,iface=%s" % lab.COLLECTOR_FEED, cpus[0], http_port=vxc.free_port(),
                          extra=["--snaplen", "65535", "--write-buffer-mb", str(WRITE_BUFFER_MB),
                                 "--rotate-mb", "32", "--ring", "4"])
        c.wait_started()
        lab.wait_for(lambda: c.get("/healthz")[0] == 200, 60, "/healthz 200")
        hwm_start = c.status("VmHWM")
        before = L.counters()
        poller = HealthPoller(c)
        poller.start()
        replay = L.start(L.sender, ["tcpreplay", "-i", lab.SENDER_FEED, "--topspeed", "--preload-pcap",
                                    "--loop", "100000", "--duration", str(DURATION), feed], cpu=cpus[1],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(WARMUP)
        hwm_warm = c.status("VmHWM")
        scrape_warm = c.metrics()
        out, _ = replay.communicate(timeout=DURATION + 120)
        hwm_end = c.status("VmHWM")
        poller.done.set()
        poller.join()
        after = L.counters()
        c.wait_settled()
        run = c.stop(timeout=120)
        m = re.search(r"Successful packets:\s+(\d+)", out or "")
        sent = int(m.group(1)) if m else None
        m = re.search(r"Failed packets:\s+(\d+)", out or "")
        failed = int(m.group(1)) if m else None
        m = re.search(r"Actual: \d+ packets \(\d+ bytes\) sent in ([\d.]+) seconds", out or "")
        secs = float(m.group(1)) if m else None
        files = vxc.lane_files(outdir, LANE)
        caps = [vxc.capinfos(p) for p in files]

    delta = {k: {f: after[k][f] - before[k][f] for f in ("packets", "dropped", "errors")} for k in after}
    vxc.check_run(F, run, label)
    s = run.summary or {}
    p0 = s.get("ports", {}).get("0", {})
    drops = s.get("drops", {})
    received, missed = s.get("received", 0), p0.get("missed", 0)
    print("  info: %s: offered %s frames in %s s (%.0f frames/s, %.0f MB/s of frames); received %d, missed %d; "
          "written %s, writer_busy %s, other drops %s" %
          (label, sent, secs, (sent or 0) / (secs or 1), (sent or 0) * 1450 / (secs or 1) / 1e6, received, missed,
           s.get("written"), drops.get("writer_busy"),
           {k: v for k, v in drops.items() if v and k != "writer_busy"}))
    ok = sent is not None and failed == 0
    F.check(ok, label + ": tcpreplay sent its frames (%s sent, %s failed)" % (sent, failed),
            "" if ok else (out or "")[-1000:])
    F.equal(delta["s-feed tx"]["packets"], sent, label + ": the sender veth transmitted every frame")
    F.equal(delta["k-feed rx"]["packets"], sent, label + ": the collector-side veth received every frame")
    F.equal([delta[k][f] for k in sorted(delta) for f in ("dropped", "errors")], [0, 0, 0, 0],
            label + ": no drops or errors on the veth (s-feed tx, k-feed rx)")
    F.equal(received + missed, sent, label + ": offered = received + ports.0.missed (received %d, missed %d)"
            % (received, missed))
    F.check((drops.get("writer_busy") or 0) + missed > 0,
            label + ": the overload shows as drops (writer_busy %s, missed %d)" % (drops.get("writer_busy"), missed))
    F.equal({k: v for k, v in drops.items() if v and k != "writer_busy"}, {},
            label + ": no drop reason other than writer_busy")
    F.check(scrape_warm.get("vxcollector_drops_total", 0) > 0 or scrape_warm.get(
        "vxcollector_port_missed_packets_total", 0) > 0,
        label + ": /metrics showed drops %d s into the overload" % WARMUP, str({k: v for k, v in scrape_warm.items()
                                                                             if "drops" in k or "missed" in k}))
    print("  info: %s: VmHWM %s kB before the feed, %s kB after %d s of it, %s kB at its end" %
          (label, hwm_start, hwm_warm, WARMUP, hwm_end))
    F.check(None not in (hwm_warm, hwm_end) and hwm_end - hwm_warm <= MAX_HWM_GROWTH_KB,
            label + ": peak RSS stays flat under overload (VmHWM grew %s kB after warm-up, limit %d kB)" %
            (None if None in (hwm_warm, hwm_end) else hwm_end - hwm_warm, MAX_HWM_GROWTH_KB))
    polls = poller.results
    slow = [r for r in polls if r[0] not in (200, 503) or r[1] > HEALTHZ_MAX_SECONDS]
    worst = max((r[1] for r in polls), default=None)
    statuses = sorted(set((r[0], r[2]) for r in polls))
    print("  info: %s: %d /healthz polls, slowest %.3f s; answers %s" % (label, len(polls), worst or 0, statuses))
    F.check(len(polls) >= DURATION / (POLL_SECONDS + HEALTHZ_MAX_SECONDS) and not slow,
            label + ": /healthz answered each of %d polls within %.1f s" % (len(polls), HEALTHZ_MAX_SECONDS),
            "%d slow or failed: %s" % (len(slow), slow[:5]))
    F.check(files and all(rc == 0 for rc, _, _ in caps),
            label + ": capinfos opens the lane's %d completed files" % len(files),
            "; ".join(raw for rc, _, raw in caps if rc)[:500])
    print("overload time %.1fs" % (time.monotonic() - t0))
    vxc.cleanup(work, not F.failed)
    return F.finish()


if __name__ == "__main__":
    sys.exit(main())
