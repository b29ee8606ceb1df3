#!/usr/bin/python3
"""vxcollector on real kernel-mirrored traffic in a network-namespace lab (lab.py), judged by tcpdump.

Usage (root): test_lab_mirror.py /path/to/vxcollector   (exit 77 = skipped when not root)

The client namespace mirrors both directions of its veth to the server with tc
mirred into a kernel VXLAN device (VNI 4242) towards the collector namespace,
where vxcollector reads the mirror feed with net_af_packet. An HTTP transfer
(python3 -m http.server, curl) and an iperf3 run are the traffic; tcpdump on
the mirrored interface is the judge.

Scenarios:
  mirror     every frame tcpdump saw on the mirrored interface is in the lane's
             files, first 128 bytes and original length equal, in the same
             order in each direction (split by source MAC); counters, the
             accounting invariant, the kernel's interface counters, capinfos
             and tshark agree.
  ring-loss  the collector is stopped (SIGSTOP) while traffic flows, so the
             kernel's AF_PACKET ring (512 frames) overflows: what the
             collector wrote is still an in-order subsequence of the judge,
             and the loss is measured against the kernel's interface counter.
  jumbo      the mirrored link at MTU 8950 (outer frames of 9014 bytes on the
             MTU 9001 mirror path): frames that fit the af_packet ring frame
             are written, every other frame is accounted for.

Known gaps (collector behaviour that issue 3 asks for but that does not hold
here) are printed as "GAP" lines and counted; with VXC_LAB_STRICT=1 they fail
the test.
"""

import collections
import glob
import json
import os
import shutil
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
import lab  # noqa: E402
import vxc  # noqa: E402

SNAPLEN = 128
LANE = "web"
LANE_SPEC = "name=%s,vni=%d" % (LANE, lab.VNI)
HTTP_PORT = 8080
IPERF_PORT = 5201
HTTP_FILE_BYTES = 4 * 1024 * 1024
SETTLE_SECONDS = 1.0
MAX_CLOCK_SKEW_NS = 100 * 1000 * 1000  # lane timestamp vs tcpdump's, either way
ZERO_DROPS = ("not_vxlan", "bad_header", "source_not_allowed", "fragment", "unknown_vni", "lane_limit",
              "worker_busy", "writer_busy", "write_error", "disk_full")


class Gaps:
    def __init__(self, F):
        self.F = F
        self.strict = os.environ.get("VXC_LAB_STRICT") == "1"
        self.lines = []

    def check(self, ok, what, detail):
        if ok:
            return self.F.check(True, what)
        line = "GAP %s: %s" % (what, detail)
        self.lines.append(line)
        if self.strict:
            return self.F.check(False, what, detail)
        print(line, flush=True)
        return False


# ---- captures ------------------------------------------------------------------

def lane_records(F, outdir, label):
    """Records of the lane's completed files in name order; capinfos opens each."""
    records = []
    for path in vxc.lane_files(outdir, LANE):
        cap = vxc.read_capture(path)
        rc, info, raw = vxc.capinfos(path)
        name = os.path.basename(path)
        F.check(rc == 0, "%s: capinfos opens %s" % (label, name), raw if rc else "")
        F.equal(info.get("Number of packets"), str(len(cap.records)), "%s: capinfos packet count of %s" % (label, name))
        F.equal((cap.format, cap.snaplen, cap.linktype), ("pcap", SNAPLEN, 1),
                "%s: header of %s (format, snaplen, linktype)" % (label, name))
        records += cap.records
    return records


def by_direction(records, snaplen=None):
    """{source MAC: [(orig_len, bytes[:snaplen], ts_ns), ...]} in capture order."""
    out = collections.OrderedDict()
    for ts, orig, data in records:
        out.setdefault(data[6:12].hex(":"), []).append((orig, data[:snaplen] if snaplen else data, ts))
    return out


def compare_in_order(judge, lane):
    """Problems (empty: equal) between the judge's frames and the lane's, per direction."""
    problems = []
    jd, ld = by_direction(judge, SNAPLEN), by_direction(lane)
    for mac in sorted(set(jd) | set(ld)):
        a = [(o, d) for o, d, _ in jd.get(mac, [])]
        b = [(o, d) for o, d, _ in ld.get(mac, [])]
        if a == b:
            continue
        i = next((k for k in range(min(len(a), len(b))) if a[k] != b[k]), min(len(a), len(b)))
        same_set = collections.Counter(a) == collections.Counter(b)
        problems.append("from %s: judge %d frames, lane %d; first difference at frame %d%s" %
                        (mac, len(a), len(b), i, "; same frames, other order" if same_set else ""))
    return problems


def subsequence(judge, lane):
    """(lane frames matched in order inside the judge's, lane frames not matched) per direction, summed."""
    matched = unmatched = 0
    jd, ld = by_direction(judge, SNAPLEN), by_direction(lane)
    for mac, b in ld.items():
        a = [(o, d) for o, d, _ in jd.get(mac, [])]
        i = 0
        for o, d, _ in b:
            while i < len(a) and a[i] != (o, d):
                i += 1
            if i < len(a):
                matched += 1
                i += 1
            else:
                unmatched += 1
    return matched, unmatched


def timestamp_skew(judge, lane):
    """Lane timestamp minus tcpdump's for the same frame: (min, median, max) ns and the drift in ppm."""
    pairs = []
    jd, ld = by_direction(judge, SNAPLEN), by_direction(lane)
    for mac in jd:
        pairs += [(j[2], l[2] - j[2]) for j, l in zip(jd[mac], ld.get(mac, []))]
    if len(pairs) < 2:
        return None
    deltas = sorted(d for _, d in pairs)
    n = len(pairs)
    mt = sum(t for t, _ in pairs) / n
    md = sum(d for _, d in pairs) / n
    var = sum((t - mt) ** 2 for t, _ in pairs)
    slope = sum((t - mt) * (d - md) for t, d in pairs) / var if var else 0.0
    return deltas[0], deltas[n // 2], deltas[-1], slope * 1e6


# ---- traffic ---------------------------------------------------------------------

def http_get(L, cpu, label, F):
    p = L.run_in(L.client, ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{size_download}",
                            "http://%s:%d/blob.bin" % (lab.SERVER_IP, HTTP_PORT)], cpu=cpu, check=False)
    F.equal(p.stdout.strip(), "200 %d" % HTTP_FILE_BYTES, label + ": curl downloads the file (status, bytes)")


def iperf(L, cpu, args, label, F):
    p = L.run_in(L.client, ["iperf3", "-J", "-c", lab.SERVER_IP, "-p", str(IPERF_PORT)] + args, cpu=cpu,
                 check=False)
    try:
        end = json.loads(p.stdout)["end"]
        sent, rate, retr = end["sum_sent"]["bytes"], end["sum_sent"]["bits_per_second"], end["sum_sent"].get("retransmits")
    except (ValueError, KeyError) as e:
        F.check(False, label + ": iperf3 " + " ".join(args), "rc %d, %s: %s %s" % (p.returncode, e, p.stdout[-500:], p.stderr[-500:]))
        return
    F.check(p.returncode == 0 and sent > 0, label + ": iperf3 %s sent %.1f MB at %.0f Mbit/s, %s retransmits" %
            (" ".join(args), sent / 1e6, rate / 1e6, retr))


class Window:
    """One capture window: kernel counters, collector, judge; traffic in between."""

    def __init__(self, L, binary, outdir, vdev, cpus, extra=()):
        self.L = L
        self.before = self.counters()
        self.collector = lab.Collector(L, binary, outdir, [LANE_SPEC], vdev, cpus[0], extra)
        self.collector.wait_started()
        self.judge = lab.Tcpdump(L, L.client, lab.CLIENT_TO_SERVER, os.path.join(outdir, "judge.pcap"), cpu=cpus[1])

    def counters(self):
        return {"k-mir rx": self.L.link_stats(self.L.collector, lab.COLLECTOR_MIRROR)["rx"],
                "vxlan tx": self.L.link_stats(self.L.client, lab.VXLAN_DEV)["tx"],
                "c-mir tx": self.L.link_stats(self.L.client, lab.CLIENT_MIRROR)["tx"]}

    def close(self):
        time.sleep(SETTLE_SECONDS)
        self.judge.stop()
        self.run = self.collector.stop()
        after = self.counters()
        self.delta = {k: {f: after[k][f] - self.before[k][f] for f in ("packets", "dropped", "errors")}
                      for k in after}
        self.judge_records = vxc.read_capture(self.judge.path).records
        return self


def check_window(F, w, label):
    """Checks every window shares: exit, summary, invariant, judge sanity, kernel path."""
    ok = vxc.check_run(F, w.run, label)
    n = len(w.judge_records)
    F.equal(w.judge.dropped, 0, label + ": judge tcpdump dropped nothing")
    F.equal(w.judge.captured, n, label + ": judge file holds what tcpdump counted")
    F.equal(w.delta["c-mir tx"]["packets"], n, label + ": the mirror path sent one VXLAN datagram per judge frame")
    F.equal(w.delta["k-mir rx"]["packets"], n, label + ": collector-side veth received every mirror datagram")
    F.equal((w.delta["vxlan tx"]["dropped"], w.delta["c-mir tx"]["dropped"], w.delta["k-mir rx"]["dropped"]),
            (0, 0, 0), label + ": no kernel drops on the mirror path (vxlan tx, veth tx, veth rx)")
    s = w.run.summary or {}
    port = s.get("ports", {}).get("0", {})
    print("  %s: judge %d frames; kernel %s; summary received %s, written %s, ports %s" %
          (label, n, {k: v["packets"] for k, v in w.delta.items()}, s.get("received"), s.get("written"),
           s.get("ports")))
    if s:
        F.equal(port.get("rx"), s.get("received"), label + ": ports.0.rx = received")
        F.equal((port.get("errors"), port.get("nombuf")), (0, 0), label + ": ports.0 errors, nombuf")
    return s


# ---- scenarios -------------------------------------------------------------------

def scenario_mirror(F, L, binary, work, cpus):
    label = "mirror"
    outdir = os.path.join(work, label)
    w = Window(L, binary, outdir, lab.af_packet_vdev(lab.COLLECTOR_MIRROR, framecnt=4096), cpus)
    http_get(L, cpus[1], label, F)
    iperf(L, cpus[1], ["-t", "3"], label, F)
    w.close()
    judge = w.judge_records
    F.check(len(judge) > 20000, label + ": the judge saw real traffic (%d frames, %.1f MB)" %
            (len(judge), sum(r[1] for r in judge) / 1e6))
    s = check_window(F, w, label)
    if not s:
        return
    n = len(judge)
    F.equal(s.get("received"), n, label + ": received = judge frames")
    F.equal(s.get("written"), n, label + ": written = judge frames")
    F.equal((s.get("filtered"), s.get("exception"), s.get("fragments_merged")), (0, 0, 0),
            label + ": filtered, exception, fragments_merged")
    for r in ZERO_DROPS:
        F.equal(s.get("drops", {}).get(r), 0, label + ": drops." + r)
    F.equal(s.get("ports", {}).get("0", {}).get("missed"), 0, label + ": ports.0.missed")
    info = s.get("lanes", {}).get(LANE, {})
    F.equal((info.get("vni"), info.get("written"), info.get("filtered")), (lab.VNI, n, 0),
            label + ": lane web (vni, written, filtered)")
    F.equal(info.get("bytes"), sum(r[1] for r in judge), label + ": lane bytes = judge frame bytes")
    F.equal(info.get("written_bytes"), sum(16 + min(SNAPLEN, r[1]) for r in judge),
            label + ": lane written_bytes = pcap record bytes")
    records = lane_records(F, outdir, label)
    F.equal(info.get("files"), len(vxc.lane_files(outdir, LANE)), label + ": lane files = files on disk")
    directions = {mac: len(v) for mac, v in by_direction(judge).items()}
    problems = compare_in_order(judge, records)
    F.check(not problems, label + ": lane = judge frame for frame (bytes[:%d], orig_len), same order in each "
            "direction %s" % (SNAPLEN, directions), "; ".join(problems))
    if not problems:
        same_total = [(r[1], r[2][:SNAPLEN]) for r in judge] == [(r[1], r[2]) for r in records]
        print("  info: %s: the order across both directions is %s as well" % (label, "the same" if same_total else "NOT the same"))
    skew = timestamp_skew(judge, records)
    if skew:
        lo, med, hi, ppm = skew
        print("  info: %s: lane timestamp - tcpdump timestamp: min %+.3f ms, median %+.3f ms, max %+.3f ms; "
              "drift %+.0f ppm of elapsed time" % (label, lo / 1e6, med / 1e6, hi / 1e6, ppm))
        F.check(-MAX_CLOCK_SKEW_NS < lo and hi < MAX_CLOCK_SKEW_NS,
                label + ": lane timestamps within %d ms of tcpdump's" % (MAX_CLOCK_SKEW_NS // 1000000),
                "min %d ns, max %d ns" % (lo, hi))
    # tshark decodes the cut frames: the HTTP request and its response header.
    files = vxc.lane_files(outdir, LANE)
    http = []
    for path in files:
        p = subprocess.run(["tshark", "-r", path, "-Y", "http.request.uri == \"/blob.bin\" or http.response.code == 200",
                            "-T", "fields", "-e", "http.request.method", "-e", "http.response.code"],
                           capture_output=True, text=True)
        http += [l.strip() for l in p.stdout.splitlines() if l.strip()]
    F.equal(sorted(http), ["200", "GET"], label + ": tshark finds the GET and its 200 response in the lane")
    return w


def scenario_ring_loss(F, gaps, L, binary, work, cpus):
    label = "ring-loss"
    outdir = os.path.join(work, label)
    ring = 512
    w = Window(L, binary, outdir, lab.af_packet_vdev(lab.COLLECTOR_MIRROR, framecnt=ring), cpus)
    w.collector.pause()
    try:
        iperf(L, cpus[1], ["-n", "8M"], label, F)
    finally:
        w.collector.resume()
    w.close()
    s = check_window(F, w, label)
    if not s:
        return
    n = len(w.judge_records)
    lost = n - s.get("received", 0)
    F.check(lost > 0, label + ": the stopped collector lost frames (judge %d > received %d, ring %d frames)" %
            (n, s.get("received", 0), ring))
    F.check(s.get("received", 0) >= ring, label + ": the full ring was read after SIGCONT (received %d >= %d)" %
            (s.get("received", 0), ring))
    F.equal(s.get("written"), s.get("received"), label + ": written = received")
    records = lane_records(F, outdir, label)
    matched, unmatched = subsequence(w.judge_records, records)
    F.check(unmatched == 0 and matched == len(records),
            label + ": the %d lane records are an in-order subsequence of the judge's frames" % len(records),
            "%d matched, %d not" % (matched, unmatched))
    missed = s.get("ports", {}).get("0", {}).get("missed")
    print("  info: %s: kernel AF_PACKET ring drops = k-mir rx %d - received %d = %d; ports.0.missed = %s" %
          (label, w.delta["k-mir rx"]["packets"], s.get("received", 0), lost, missed))
    gaps.check(missed == lost, label + ": ports.0.missed counts the kernel ring drops",
               "%d frames reached k-mir but not the collector; ports.0.missed = %s (net_af_packet in DPDK 22.11 "
               "reports no imissed; the drops are only in the socket's PACKET_STATISTICS)" % (lost, missed))


def scenario_jumbo(F, gaps, L, binary, work, cpus):
    label = "jumbo"
    inner_mtu = lab.MIRROR_MTU - lab.VXLAN_OVERHEAD  # 8951, the VXLAN device's MTU: outer IPv4 packets of 9001
    framesz = 2048
    fits = lab.af_packet_max_frame(framesz)
    # A ring frame big enough for the mirror path's frames: the PMD refuses it
    # unless the collector's mbufs hold it.
    outdir = os.path.join(work, label + "-framesz9216")
    c = lab.Collector(L, binary, outdir, [LANE_SPEC], lab.af_packet_vdev(lab.COLLECTOR_MIRROR, framesz=9216,
                                                                          blocksz=65536, framecnt=512), cpus[0])
    try:
        rc = c.proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        rc = None
    run = c.stop()
    why = [l for l in run.stderr.splitlines() if "mbuf" in l or "critical" in l]
    gaps.check(rc is None, label + ": vxcollector starts with net_af_packet framesz=9216 (MTU 9001 frames whole)",
               "exit %s: %s" % (rc, " | ".join(why)[-400:]))

    L.set_mtu(inner_mtu)
    try:
        outdir = os.path.join(work, label)
        w = Window(L, binary, outdir, lab.af_packet_vdev(lab.COLLECTOR_MIRROR, framesz=framesz, framecnt=4096), cpus)
        http_get(L, cpus[1], label, F)
        w.close()
    finally:
        L.set_mtu(1500)
    s = check_window(F, w, label)
    if not s:
        return
    judge = w.judge_records
    whole = [r for r in judge if r[1] + lab.VXLAN_OVERHEAD <= fits]
    cut = len(judge) - len(whole)
    biggest = max(r[1] for r in judge)
    F.check(biggest > 8000, label + ": the judge saw jumbo frames (largest %d bytes)" % biggest)
    F.equal(s.get("received"), len(judge), label + ": received = judge frames")
    F.equal(s.get("written"), len(whole), label + ": written = frames whose outer frame fits the %d-byte ring "
            "frame (<= %d bytes)" % (framesz, fits))
    F.equal(s.get("drops", {}).get("bad_header"), cut,
            label + ": drops.bad_header = frames the kernel cut to the ring frame")
    records = lane_records(F, outdir, label)
    problems = compare_in_order(whole, records)
    F.check(not problems, label + ": lane = the judge's fitting frames, in order in each direction", "; ".join(problems))
    gaps.check(cut == 0, label + ": every frame of the MTU %d link is written" % inner_mtu,
               "%d of %d frames (inner up to %d bytes, outer %d) arrive cut at %d bytes and are dropped as "
               "bad_header" % (cut, len(judge), biggest, biggest + lab.VXLAN_OVERHEAD, fits))


def main():
    binary = vxc.binary_from_argv()
    if os.geteuid() != 0:
        print("SKIP: the namespace lab needs root")
        return 77
    F = vxc.Failures("test_lab_mirror")
    missing = lab.missing_tools()
    if missing:
        F.check(False, "lab tools installed", "missing %s (apt-get install -y iproute2 ethtool tcpdump curl iperf3)"
                % missing)
        return F.finish()
    gaps = Gaps(F)
    cpus = lab.cpus()
    print("collector lcore on CPU %d, all lab traffic on CPU %d" % cpus)
    work = vxc.tmpdir("lab")
    t0 = time.monotonic()
    with lab.Lab() as L:
        blob_dir = os.path.join(work, "www")
        os.makedirs(blob_dir)
        with open(os.path.join(blob_dir, "blob.bin"), "wb") as f:
            f.write(os.urandom(HTTP_FILE_BYTES))
        L.start(L.server, ["/usr/bin/python3", "-m", "http.server", "--bind", lab.SERVER_IP, "--directory", blob_dir,
                           str(HTTP_PORT)], cpu=cpus[1], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        L.start(L.server, ["iperf3", "-s", "-B", lab.SERVER_IP, "-p", str(IPERF_PORT)], cpu=cpus[1],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        L.wait_listening(L.server, HTTP_PORT)
        L.wait_listening(L.server, IPERF_PORT)
        scenarios = {"mirror": lambda: scenario_mirror(F, L, binary, work, cpus),
                     "ring-loss": lambda: scenario_ring_loss(F, gaps, L, binary, work, cpus),
                     "jumbo": lambda: scenario_jumbo(F, gaps, L, binary, work, cpus)}
        chosen = os.environ.get("VXC_LAB_SCENARIOS", ",".join(scenarios)).split(",")
        for name in chosen:
            scenarios[name]()
    print("lab time %.1fs" % (time.monotonic() - t0))
    if gaps.lines and not gaps.strict:
        print("\n%d known gap(s) (not failures; VXC_LAB_STRICT=1 makes them fail):" % len(gaps.lines))
        for line in gaps.lines:
            print("  " + line)
    vxc.cleanup(work, not F.failed)
    return F.finish()


if __name__ == "__main__":
    sys.exit(main())
