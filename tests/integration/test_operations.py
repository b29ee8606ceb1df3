#!/usr/bin/python3
"""Operating vxcollector: worker lcores, SIGHUP, post-rotate, ring, config file and
bad options, time rotation, /healthz and a full disk.

Usage: test_operations.py /path/to/vxcollector   (env VXC_SOURCE_ROOT = source tree)

Scenarios (each prints what it compared; the oracle is tshark, as in test_read_pcap):
  1. workers: the RX -> worker ring path (--workers 1 and 2) gives the same
     per-lane files and summary as the default single-lcore replay, also with
     a pool smaller than the feed and the ring (--mbufs 1100). The replay
     adds EAL `-l 0` itself, so the worker runs are also made without
     --read-pcap, with the net_pcap vdev given to EAL directly; per-thread
     write counts in /proc show which writer wrote which lanes.
  2. SIGHUP completes every lane's open file while lingering; SIGTERM then exits 0.
  3. --post-rotate runs `CMD FILE` once for every completed file, after it is complete.
  4. --ring 2 keeps the 2 newest completed files per lane.
  5. --config FILE (lanes, snaplen, filters) and bad options (exit 2, one line).
  6. --rotate-seconds 1 while lingering: an idle lane's file is completed by time.
  7. /healthz, and a run on a full tmpfs: disk_full drops and /healthz 503.
  8. hugepages (root): the EAL on 2 MiB pages (no --no-huge), as on a real
     NIC, with --in-memory (the service's config) and on a private hugetlbfs:
     same files and summary as the replay; the machine's page count is restored.
"""

import glob
import hashlib
import os
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
import oracle  # noqa: E402
import vxc  # noqa: E402
from test_prometheus import http_get, parse_exposition, series  # noqa: E402
from test_read_pcap import bpf_oracle  # noqa: E402

BULK = 4000000  # feedgen bulk_bytes: ~4 MB more in VNI 5569041


# ---- a collector in the background, watched over HTTP --------------------------

class Live:
    """A collector started with Popen and an HTTP endpoint on loopback."""

    def __init__(self, binary, outdir, args, work, label):
        self.label = label
        self.outdir = outdir
        self.port = vxc.free_port()
        self.base = "http://127.0.0.1:%d" % self.port
        os.makedirs(outdir, exist_ok=True)
        self.args = [binary, "--output-dir", outdir, "--http-listen", "127.0.0.1:%d" % self.port] + list(args)
        self.out = open(os.path.join(work, label + ".stdout"), "w+")
        self.err = open(os.path.join(work, label + ".stderr"), "w+")
        print("[%s] running: %s" % (label, " ".join(self.args)), flush=True)
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(self.args, stdout=self.out, stderr=self.err)

    def metrics(self):
        status, body = http_get(self.base + "/metrics")
        if status != 200:
            return None
        try:
            return parse_exposition(body)
        except ValueError:
            return None

    def wait(self, pred, timeout, interval=0.1):
        """Polls /metrics until pred(samples) is true; returns the samples or None."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            m = self.metrics()
            if m is not None and pred(m):
                return m
            time.sleep(interval)
        print("[%s] gave up waiting after %.1fs (rc=%s)" % (self.label, timeout, self.proc.poll()))
        return None

    def stop(self, sig=signal.SIGTERM, timeout=15):
        """Sends sig (None: just wait for the exit) and returns the finished vxc.Run."""
        if sig is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            rc = "still running %ds after %s" % (timeout, sig)
            self.kill()
        self.out.seek(0)
        self.err.seek(0)
        run = vxc.Run(self.args, rc, self.out.read(), self.err.read(), self.outdir, time.monotonic() - self.t0)
        self.out.close()
        self.err.close()
        return run

    def stderr_text(self):
        self.err.flush()
        with open(self.err.name) as f:
            return f.read()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
            print("[%s] killed pid %d" % (self.label, self.proc.pid))


def value(m, name, **labels):
    want = set(labels.items())
    return sum(v for (n, l), v in m.items() if n == name and want <= set(l))


def settled(frames):
    """pred: every frame counted, nothing buffered, the invariant holds on /metrics."""
    def pred(m):
        received = value(m, "vxcollector_received_packets_total")
        accounted = sum(value(m, n) for n in (
            "vxcollector_lane_packets_total", "vxcollector_filtered_packets_total",
            "vxcollector_exception_packets_total", "vxcollector_fragments_merged_total",
            "vxcollector_drops_total", "vxcollector_buffered_packets"))
        return received == frames and accounted == frames and value(m, "vxcollector_buffered_packets") == 0
    return pred


def lane_bytes(outdir, lane, include_part=False):
    return [open(f, "rb").read() for f in vxc.lane_files(outdir, lane, include_part)]


def lane_records(outdir, lane):
    return [r for f in vxc.lane_files(outdir, lane) for r in vxc.read_capture(f).records]


def worker_for_vni(vni, workers):
    """dataplane/lanes.h worker_for_key(LaneKey::for_vni(vni)), to know which worker should own a lane."""
    m = 0xFFFFFFFFFFFFFFFF
    h = (vni * 0x9E3779B97F4A7C15) & m  # the key's other 16 bytes are zero
    h = (h ^ (h >> 29) ^ (h >> 47)) & 0xFFFFFFFF
    return (h >> 8) % workers


def thread_io(pid):
    """[(tid, comm, wchar, cpus_allowed_list)] of every thread of pid."""
    out = []
    for t in sorted(glob.glob("/proc/%d/task/*" % pid), key=lambda p: int(os.path.basename(p))):
        try:
            comm = open(t + "/comm").read().strip()
            io = dict(l.split(": ") for l in open(t + "/io").read().splitlines())
            cpus = [l.split(":\t")[1] for l in open(t + "/status").read().splitlines()
                    if l.startswith("Cpus_allowed_list")][0]
            out.append((int(os.path.basename(t)), comm, int(io["wchar"]), cpus))
        except (OSError, KeyError, IndexError):
            pass
    return out


# ---- 1. worker lcores --------------------------------------------------------

def eal_replay_args(feed, prefix, lcores):
    """EAL arguments that replay `feed` without --read-pcap (which adds its own -l 0)."""
    return ["--"] + lcores + ["--no-huge", "--no-pci", "--no-shconf", "--no-telemetry", "--file-prefix", prefix,
                              "-m", "1024", "--log-level", "*:warning", "--vdev", "net_pcap0,rx_pcap=" + feed]


def compare_runs(F, base, run, label, exact_files):
    """run's summary and per-lane output equal base's (the default single-lcore replay)."""
    diff = sorted(k for k in set(run.summary) | set(base.summary) if run.summary.get(k) != base.summary.get(k))
    F.check(not diff, label + ": summary (every counter, per lane too) = single-lcore replay's",
            "; ".join("%s: %s vs %s" % (k, run.summary.get(k), base.summary.get(k)) for k in diff))
    lanes = sorted(base.summary.get("lanes", {}))
    F.equal(vxc.lane_dirs(run.outdir), vxc.lane_dirs(base.outdir), label + ": lane directories")
    for lane in lanes:
        if exact_files:
            a, b = lane_bytes(run.outdir, lane), lane_bytes(base.outdir, lane)
            F.check(a == b, "%s: lane %s: %d file(s), byte for byte = single-lcore replay's (%d bytes)" %
                    (label, lane, len(b), sum(map(len, b))),
                    "%d files of %s bytes vs %d of %s" % (len(a), [len(x) for x in a], len(b), [len(x) for x in b]))
        else:
            a, b = lane_records(run.outdir, lane), lane_records(base.outdir, lane)
            F.check(a == b, "%s: lane %s: %d records (bytes, orig_len, time, order) = single-lcore replay's" %
                    (label, lane, len(b)), "%d vs %d records" % (len(a), len(b)))


def is_subsequence(short, long):
    it = iter(long)
    return all(any(x == y for y in it) for x in short)


def compare_with_drops(F, base, run, label):
    """With worker_busy drops: each lane holds an in-order subset of base's records, and the
    records missing from the lanes are exactly the worker_busy drops."""
    busy = run.summary["drops"].get("worker_busy", 0)
    missing = 0
    for lane in sorted(base.summary.get("lanes", {})):
        a, b = lane_records(run.outdir, lane), lane_records(base.outdir, lane)
        F.check(is_subsequence(a, b), "%s: lane %s: its %d records are an in-order subset of the single-lcore "
                "replay's %d (bytes, orig_len, time)" % (label, lane, len(a), len(b)))
        F.equal(run.summary["lanes"].get(lane, {}).get("written"), len(a), "%s: lane %s written = records on disk" %
                (label, lane))
        missing += len(b) - len(a)
    F.equal(missing, busy, label + ": records missing from the lanes = drops.worker_busy")
    F.equal(run.summary["written"] + busy, base.summary["written"], label + ": written + worker_busy = replay's written")


def worker_run(F, binary, feed, frames, work, label, workers, lcores, extra, by_vni, may_drop):
    """--workers N without --read-pcap; returns the finished Run (None if it never settled)."""
    prefix = "vxc-ops-%d-%s" % (os.getpid(), label)
    out = os.path.join(work, label)
    live = Live(binary, out, ["--workers", str(workers), "--rx-lcores", "1"] + extra +
                eal_replay_args(feed, prefix, lcores), work, label)
    try:
        m = live.wait(settled(frames), 60)
        if not F.check(m is not None, "%s: /metrics shows all %d frames accounted for, nothing buffered" %
                       (label, frames), "" if m else live.stderr_text()[-1500:]):
            return None
        busy = value(m, "vxcollector_drops_total", reason="worker_busy")
        if may_drop:
            print("  %s: drops{worker_busy} = %d" % (label, busy))
        else:
            F.equal(busy, 0, label + ": drops{worker_busy} = 0 (every ring can hold the whole feed)")
        threads = thread_io(live.proc.pid)
        eal = [(c, cpus) for _, c, _, cpus in threads if c.startswith("rte-worker-")]
        print("  %s: EAL lcore threads (name, CPUs allowed): %s" % (label, eal))
        F.equal(len(eal), workers, label + ": EAL started one worker lcore thread per worker")
        # Writer threads are named vxc-writer-<worker>. Each must have written
        # exactly its lanes' bytes (file headers included): the .part files of
        # the lanes worker_for_vni gives it.
        writers = [w for _, c, w, _ in sorted(threads, key=lambda t: t[1]) if c.startswith("vxc-writer-")]
        want = [0] * workers
        owners = {}
        for vni in by_vni:
            lane = "vni-%d" % vni
            w = worker_for_vni(vni, workers)
            owners.setdefault(w, []).append(lane)
            want[w] += sum(os.path.getsize(f) for f in vxc.lane_files(out, lane, include_part=True))
        print("  %s: lanes per worker %s" % (label, {w: sorted(l) for w, l in sorted(owners.items())}))
        F.equal(writers, want, label + ": bytes written per writer thread (/proc/TID/io wchar) = its lanes' files")
        if workers > 1:
            F.check(all(want), label + ": every worker owns lanes with data", str(want))
    finally:
        run = live.stop()
        vxc.cleanup("/var/run/dpdk/" + prefix, True)  # no --read-pcap: the collector leaves it
    return run


def scenario_workers(F, binary, work, feed, frames, by_vni, bulk, bframes, bvni):
    print("\n== 1. worker lcores: RX -> worker rings")
    base = vxc.run_collector(binary, feed, os.path.join(work, "w-base"))
    bbase = vxc.run_collector(binary, bulk, os.path.join(work, "w-bbase"), "--snaplen", "4096", "--rotate-mb", "1")
    if not (vxc.check_run(F, base, "workers/base") and vxc.check_run(F, bbase, "workers/bulk-base")):
        return

    # As given in the brief: the replay's own `-l 0` and a later -l.
    r = vxc.run_collector(binary, feed, os.path.join(work, "w-replay-l"), "--workers", "1", "--rx-lcores", "1",
                          "--", "-l", "0-1")
    eal_err = [l for l in r.stderr.splitlines() if "EAL" in l or "critical" in l][:3]
    if F.check(r.rc == 0, "replay --workers 1 -- -l 0-1: EAL takes the later -l (exit 0)",
               "rc=%s, stderr: %s" % (r.rc, " | ".join(eal_err))):
        if vxc.check_run(F, r, "replay-workers1"):
            compare_runs(F, base, r, "replay-workers1", exact_files=True)

    # A replay waits for its worker instead of dropping, and must not let the
    # RX -> worker ring take the whole mbuf pool: net_pcap loses a frame it has
    # read when no mbuf is left for it (before the fix: 4,107-6,820 of these 8,320).
    r = vxc.run_collector(binary, bulk, os.path.join(work, "w-replay-small-pool"), "--workers", "1",
                          "--mbufs", "1100", "--snaplen", "4096", "--rotate-mb", "1")
    if vxc.check_run(F, r, "replay-workers1-small-pool"):
        port = r.summary.get("ports", {}).get("0", {})
        F.equal((r.summary.get("received"), port.get("nombuf", 0), port.get("errors", 0)),
                (bbase.summary.get("received"), 0, 0),
                "replay-workers1-small-pool: every frame read, none lost for want of an mbuf")
        compare_runs(F, bbase, r, "replay-workers1-small-pool", exact_files=True)

    # The ring path without --read-pcap: the vdev replays the feed, then SIGTERM.
    # The feed's 3018 datagrams fit in one RX -> worker ring (4095 slots), so
    # those runs cannot drop. The bulk feed (7462) can overflow a ring when its
    # worker is descheduled (workers 1 and 2 share CPU 1, and the machine may be
    # busy): the replay has no back-pressure, so worker_busy drops are allowed
    # there and the rest is checked against them.
    for label, workers, lcores, feed_, n, vni_map, extra, b in (
            ("workers1", 1, ["-l", "0-1"], feed, frames, by_vni, [], base),
            ("workers2", 2, ["--lcores", "0@0,1@1,2@1"], feed, frames, by_vni, [], base),
            ("workers2-bulk", 2, ["--lcores", "0@0,1@1,2@1"], bulk, bframes, bvni,
             ["--snaplen", "4096", "--rotate-mb", "1"], bbase)):
        run = worker_run(F, binary, feed_, n, work, label, workers, lcores, extra, vni_map, may_drop=bool(extra))
        if run is None or not vxc.check_run(F, run, label):
            continue
        if run.summary["drops"].get("worker_busy"):
            print("  note: %s: %d worker_busy drops (ring full); checking the rest" %
                  (label, run.summary["drops"]["worker_busy"]))
            compare_with_drops(F, b, run, label)
            continue
        # Rotated files may split at other records (blocks are flushed by time).
        compare_runs(F, b, run, label, exact_files=not extra)
        snap = 4096 if extra else 128
        for vni, dgs in sorted(vni_map.items()):
            vxc.check_lane(F, run, "vni-%d" % vni, dgs, snap, label, vni=vni)


# ---- 2. SIGHUP ------------------------------------------------------------------

def cpus_allowed(pid, tid):
    with open("/proc/%d/task/%d/status" % (pid, tid)) as f:
        for line in f:
            if line.startswith("Cpus_allowed_list:"):
                cpus = set()
                for part in line.split(":", 1)[1].strip().split(","):
                    lo, _, hi = part.partition("-")
                    cpus.update(range(int(lo), int(hi or lo) + 1))
                return cpus
    return set()


def check_threads_off_lcore(F, pid, label):
    """The writer, control and HTTP threads run on CPUs the lcore (the main
    thread of a one-lcore replay) is not pinned to, when there are any."""
    if len(os.sched_getaffinity(0)) < 2:
        print("[%s] one CPU: thread placement not checked" % label)
        return
    lcore = cpus_allowed(pid, pid)
    for tid in map(int, os.listdir("/proc/%d/task" % pid)):
        with open("/proc/%d/task/%d/comm" % (pid, tid)) as f:
            name = f.read().strip()
        if name.startswith("vxc-writer") or name == "vxc-control":
            cpus = cpus_allowed(pid, tid)
            F.check(cpus and not cpus & lcore, "%s: thread %s runs off the lcore's CPUs %s" % (label, name, sorted(lcore)),
                    "allowed %s" % sorted(cpus))


def scenario_sighup(F, binary, work, feed, frames, by_vni):
    print("\n== 2. SIGHUP completes every lane's file while lingering")
    out = os.path.join(work, "hup")
    live = Live(binary, out, ["--read-pcap", feed, "--linger-seconds", "60"], work, "sighup")
    run = None
    try:
        m = live.wait(settled(frames), 60)
        if not F.check(m is not None, "sighup: /metrics shows received = %d and everything accounted" % frames,
                       "" if m else live.stderr_text()[-1500:]):
            return
        check_threads_off_lcore(F, live.proc.pid, "sighup")
        lanes = sorted("vni-%d" % v for v in by_vni)
        before = series(m, "vxcollector_files_completed_total", "lane")
        F.equal(before, {l: 0.0 for l in lanes}, "sighup: files_completed_total before SIGHUP")
        parts = sorted(os.path.basename(p) for p in glob.glob(os.path.join(out, "*", "*.part")))
        F.equal(len(parts), len(lanes), "sighup: one open .part per lane before SIGHUP")
        status, body = http_get(live.base + "/healthz")
        F.check(status == 200 and body.strip() == "ok", "sighup: /healthz 200 ok while lingering",
                "%s %r" % (status, body[:200]))
        live.proc.send_signal(signal.SIGHUP)
        m = live.wait(lambda m: all(v >= 1 for v in series(m, "vxcollector_files_completed_total", "lane").values()),
                      10)
        after = series(m or {}, "vxcollector_files_completed_total", "lane")
        F.equal(after, {l: 1.0 for l in lanes}, "sighup: files_completed_total rose to 1 for every lane")
        F.check(live.proc.poll() is None, "sighup: still lingering after SIGHUP", "rc=%s" % live.proc.poll())
        time.sleep(0.5)
        parts = glob.glob(os.path.join(out, "*", "*.part"))
        F.check(not parts, "sighup: no .part left after SIGHUP", str(parts))
        digests = {}
        for vni, dgs in sorted(by_vni.items()):
            lane = "vni-%d" % vni
            files = vxc.lane_files(out, lane)
            ok = len(files) == 1
            for f in files:
                rc, ci, raw = vxc.capinfos(f)
                ok &= rc == 0 and ci.get("Number of packets") == str(len(dgs))
                digests[f] = hashlib.sha256(open(f, "rb").read()).hexdigest()
            F.check(ok, "sighup: lane %s: one completed file, capinfos opens it and counts %d packets" %
                    (lane, len(dgs)), str([vxc.capinfos(f)[2] for f in files])[:600])
        # A second SIGHUP with nothing new written creates no empty file.
        live.proc.send_signal(signal.SIGHUP)
        time.sleep(1.0)
        m = live.metrics() or {}
        F.equal(series(m, "vxcollector_files_completed_total", "lane"), {l: 1.0 for l in lanes},
                "sighup: a second SIGHUP with no new packets completes nothing")
        F.equal(sorted(glob.glob(os.path.join(out, "*", "*"))), sorted(digests),
                "sighup: no new (empty) file after the second SIGHUP")
        t0 = time.monotonic()
        run = live.stop(signal.SIGTERM, timeout=10)
        F.equal(run.rc, 0, "sighup: SIGTERM -> exit 0 (in %.1fs)" % (time.monotonic() - t0))
        F.check("SIGHUP: completing every lane's file" in run.stderr, "sighup: the log says SIGHUP was handled")
        if vxc.check_run(F, run, "sighup"):
            for vni, dgs in sorted(by_vni.items()):
                vxc.check_lane(F, run, "vni-%d" % vni, dgs, 128, "sighup", vni=vni)
            same = {f: hashlib.sha256(open(f, "rb").read()).hexdigest() for f in digests if os.path.exists(f)}
            F.equal(same, digests, "sighup: the files completed by SIGHUP are unchanged after exit")
    finally:
        if run is None:
            live.kill()
            live.stop(None)


# ---- 3. post-rotate and 4. ring ---------------------------------------------

def scenario_post_rotate(F, binary, work, bulk, bvni):
    print("\n== 3. --post-rotate runs `CMD FILE` for every completed file")
    out = os.path.join(work, "post rotate out")  # a space: FILE must arrive as one argument
    marker = os.path.join(work, "marker")
    assert "'" not in marker and '"' not in marker
    cmd = "sh -c 'printf \"%%s %%s\\n\" \"$0\" \"$(stat -c %%s \"$0\")\" >> %s'" % marker
    run = vxc.run_collector(binary, bulk, out, "--snaplen", "4096", "--rotate-mb", "1", "--post-rotate", cmd)
    print("  post-rotate command: %s" % cmd)
    if not vxc.check_run(F, run, "post-rotate"):
        return None
    for vni, dgs in sorted(bvni.items()):
        vxc.check_lane(F, run, "vni-%d" % vni, dgs, 4096, "post-rotate", vni=vni)
    completed = {os.path.abspath(f): os.path.getsize(f) for d in vxc.lane_dirs(out) for f in vxc.lane_files(out, d)}
    lines = open(marker).read().splitlines() if os.path.exists(marker) else []
    seen = [l.rsplit(" ", 1) for l in lines]
    named = [p for p, _ in seen]
    F.equal(sorted(named), sorted(completed), "post-rotate: MARKER lists exactly the %d completed files" % len(completed))
    F.equal(len(named), len(set(named)), "post-rotate: each file once")
    sizes = {p: int(s) for p, s in seen if s.isdigit()}
    F.equal(sizes, completed, "post-rotate: the command saw each file at its final size (complete, renamed)")
    many = max(len(vxc.lane_files(out, "vni-5569041")), 0)
    F.check(many >= 3, "post-rotate: the bulk lane rotated (%d files)" % many)
    return run


def scenario_ring(F, binary, work, bulk, bvni):
    print("\n== 4. --ring 2 keeps the 2 newest completed files per lane")
    out = os.path.join(work, "ring")
    run = vxc.run_collector(binary, bulk, out, "--snaplen", "4096", "--rotate-mb", "1", "--ring", "2")
    if not vxc.check_run(F, run, "ring"):
        return
    for vni, dgs in sorted(bvni.items()):
        lane = "vni-%d" % vni
        files = vxc.lane_files(out, lane)
        names = [vxc.FILE_NAME_RE.match(os.path.basename(f)) for f in files]
        seqs = [int(n.group("seq")) for n in names if n]
        info = run.summary.get("lanes", {}).get(lane, {})
        completed = info.get("files")
        print("  ring: %s: %s completed, on disk seq %s" % (lane, completed, seqs))
        F.check(1 <= len(files) <= 2, "ring: %s keeps at most 2 files" % lane, "%d" % len(files))
        # seq counts from 000001; summary "files" counts every completed file, deleted ones too.
        F.equal(seqs, list(range(completed - len(files) + 1, completed + 1)) if isinstance(completed, int) else None,
                "ring: %s keeps the newest seqs of the %s completed" % (lane, completed))
        recs = lane_records(out, lane)
        want = [(len(g.inner), g.inner[:4096]) for g in dgs[len(dgs) - len(recs):]] if recs else []
        F.check(bool(recs) and [(o, d) for _, o, d in recs] == want,
                "ring: %s: the kept files hold the last %d of the lane's %d datagrams, in order" %
                (lane, len(recs), len(dgs)))
        for f in files:
            rc, _, raw = vxc.capinfos(f)
            F.check(rc == 0, "ring: capinfos %s" % os.path.basename(f), raw if rc else "")
        if completed == 1:
            F.equal(len(recs), len(dgs), "ring: lane %s with a single file keeps all its records" % lane)
        else:
            F.check(len(files) == 2, "ring: lane %s with %s completed files keeps 2" % (lane, completed))


# ---- 5. config file and bad options ------------------------------------------

def scenario_config(F, binary, work, feed, by_vni):
    print("\n== 5. --config FILE and bad options")
    cfg = os.path.join(work, "vxc.conf")
    with open(cfg, "w") as f:
        f.write("# vxcollector test config\n"
                "snaplen = 64\n"
                "unknown-vni = drop\n"
                "format = pcap-ns\n"
                "lane = name=web,vni=42,filter=tcp port 80,snaplen=200\n"
                "lane = name=five,vni=5,filter=tcp and (port 80 or port 443)\n"
                "lane = name=dns,vni=0\n")
    print("  config:\n    " + open(cfg).read().strip().replace("\n", "\n    "))
    out = os.path.join(work, "config")
    run = vxc.run_collector(binary, feed, out, "--config", cfg)
    if vxc.check_run(F, run, "config"):
        s = run.summary
        F.equal(sorted(s.get("lanes", {})), ["dns", "five", "web"], "config: only the three lanes of the file")
        web = [by_vni[42][i] for i in bpf_oracle([g.inner for g in by_vni[42]], "tcp port 80")]
        five = [by_vni[5][i] for i in bpf_oracle([g.inner for g in by_vni[5]], "tcp and (port 80 or port 443)")]
        print("  tcpdump keeps %d of %d (web), %d of %d (five)" % (len(web), len(by_vni[42]), len(five), len(by_vni[5])))
        vxc.check_lane(F, run, "web", web, 200, "config", vni=42, filtered=len(by_vni[42]) - len(web), fmt="pcap-ns")
        vxc.check_lane(F, run, "five", five, 64, "config", vni=5, filtered=len(by_vni[5]) - len(five), fmt="pcap-ns")
        vxc.check_lane(F, run, "dns", by_vni[0], 64, "config", vni=0, fmt="pcap-ns")
        unknown = sum(len(d) for v, d in by_vni.items() if v not in (42, 5, 0))
        F.equal(s["drops"].get("unknown_vni"), unknown, "config: drops.unknown_vni (unknown-vni = drop)")

    # Bad options: exit 2, nothing on stdout, one line on stderr naming the problem.
    bad_cfg = os.path.join(work, "bad.conf")
    with open(bad_cfg, "w") as f:
        f.write("snaplen = 5\n")
    unknown_cfg = os.path.join(work, "unknown.conf")
    with open(unknown_cfg, "w") as f:
        f.write("colour = red\n")
    cases = [
        (["--no-such-option"], "no-such-option"),
        (["--snaplen", "5"], "snaplen"),
        (["--lane", "name=web"], "vni"),
        (["--lane", "name=a,vni=1,colour=red"], "colour"),
        (["--format", "foo"], "foo"),
        (["--unknown-vni", "maybe"], "maybe"),
        (["--config", os.path.join(work, "missing.conf")], "missing.conf"),
        (["--config", bad_cfg], "snaplen"),
        (["--config", unknown_cfg], "colour"),
        (["--rotate-mb", "-1"], "rotate-mb"),
        (["--ring", "-1"], "ring"),
    ]
    for args, word in cases:
        r = vxc.run_collector(binary, feed, os.path.join(work, "bad"), *args, timeout=60)
        lines = r.stderr.splitlines()
        F.check(r.rc == 2 and len(lines) == 1 and word in lines[0] and not r.stdout,
                "bad option %s: exit 2, one stderr line naming %r, no stdout" % (" ".join(args), word),
                "rc=%s stdout=%r stderr=%r" % (r.rc, r.stdout[-200:], r.stderr[-600:]))
    # Checked after EAL init (by the dataplane): exit 1 today, not 2. pcap
    # filters have no comma syntax, so a filter with a comma can only be
    # rejected by libpcap; the point is that the lane parser kept it whole.
    for args, word in ((["--allow-source", "10.0.0.0/33"], "10.0.0.0/33"),
                       (["--lane", "name=x,vni=42,filter=tcp port 80,443"], "tcp port 80,443")):
        cmd = [binary, "--read-pcap", feed, "--output-dir", os.path.join(work, "bad"), "--http-listen", "none"] + args
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out, err = p.communicate(timeout=60)
        r = vxc.Run(cmd, p.returncode, out, err, os.path.join(work, "bad"), 0)
        runtime_dir = "/var/run/dpdk/vxc-%d" % p.pid
        if os.path.isdir(runtime_dir):
            print("  note: the failed replay left its EAL runtime dir %s behind (removed by the test)" % runtime_dir)
            vxc.cleanup(runtime_dir, True)
        lines = r.stderr.splitlines()
        F.check(r.rc in (1, 2) and len(lines) == 1 and word in lines[0] and not r.stdout,
                "bad option %s: exit non-zero, one stderr line naming %r" % (" ".join(args), word),
                "rc=%s stdout=%r stderr=%r" % (r.rc, r.stdout[-200:], r.stderr[-600:]))
        if r.rc != 2:
            print("  note: %s exits %s (cli.md: 2): %s" % (" ".join(args), r.rc, lines[0] if lines else ""))


# ---- 6. time rotation while lingering ------------------------------------------

def scenario_rotate_seconds(F, binary, work, feed, frames, by_vni):
    print("\n== 6. --rotate-seconds 1 --linger-seconds 4")
    out = os.path.join(work, "rotsec")
    live = Live(binary, out, ["--read-pcap", feed, "--rotate-seconds", "1", "--linger-seconds", "4",
                              "--post-rotate", "false"], work, "rotate-seconds")
    lanes = sorted("vni-%d" % v for v in by_vni)
    run = None
    try:
        m = live.wait(settled(frames), 60)
        F.check(m is not None, "rotate-seconds: replay accounted on /metrics", "" if m else live.stderr_text()[-1500:])
        timeline = []
        last = {}
        while live.proc.poll() is None:
            m = live.metrics()
            if m is not None:
                done = series(m, "vxcollector_files_completed_total", "lane")
                parts = len(glob.glob(os.path.join(out, "*", "*.part")))
                timeline.append((round(time.monotonic() - live.t0, 1), int(sum(done.values())), parts,
                                 int(value(m, "vxcollector_post_rotate_failures_total"))))
                last = m
            time.sleep(0.5)
        print("  (seconds, files completed, .part open, post-rotate failures): %s" % timeline)
        lingering = [t for t in timeline if t[0] >= 3.0]
        F.check(bool(lingering) and lingering[-1][1] >= len(lanes) and lingering[-1][2] == 0,
                "rotate-seconds: while still lingering, every lane's file was completed by time, no .part open",
                str(timeline[-3:]))
        completed = sum(series(last, "vxcollector_files_completed_total", "lane").values())
        F.equal(value(last, "vxcollector_post_rotate_failures_total"), completed,
                "rotate-seconds: post_rotate_failures_total counts every `false` (%d)" % completed)
        run = live.stop(None, timeout=15)
        F.check(run.seconds < 12, "rotate-seconds: exits on its own after the linger (%.1fs)" % run.seconds)
        if vxc.check_run(F, run, "rotate-seconds"):
            counts = {l: len(vxc.lane_files(out, l)) for l in lanes}
            print("  files per lane: %s" % counts)
            F.check(all(n >= 1 for n in counts.values()),
                    "rotate-seconds: idle lanes get no new files after the replay (no empty files)", str(counts))
            for vni, dgs in sorted(by_vni.items()):
                vxc.check_lane(F, run, "vni-%d" % vni, dgs, 128, "rotate-seconds", vni=vni)
    finally:
        if run is None:
            live.kill()
            live.stop(None)


# ---- 7. /healthz and a full disk ----------------------------------------------

def scenario_disk_full(F, binary, work, feed, frames, exp):
    print("\n== 7. a full disk: disk_full drops, /healthz 503")
    mnt = os.path.join(work, "tmpfs")
    os.makedirs(mnt)
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt], capture_output=True, text=True)
    if not F.check(p.returncode == 0, "disk-full: mount a 1 MiB tmpfs", p.stderr.strip()):
        return
    live = run = None
    try:
        out = os.path.join(mnt, "out")
        os.makedirs(out)
        with open(os.path.join(mnt, "fill"), "wb") as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError as e:
                print("  filled the tmpfs: %s" % e)
        st = os.statvfs(mnt)
        F.equal(st.f_bavail, 0, "disk-full: no block free on the tmpfs")
        live = Live(binary, out, ["--read-pcap", feed, "--linger-seconds", "30"], work, "disk-full")
        m = live.wait(settled(frames), 60)
        F.check(m is not None, "disk-full: replay accounted on /metrics", "" if m else live.stderr_text()[-1500:])
        deadline = time.monotonic() + 5
        while True:
            status, body = http_get(live.base + "/healthz")
            if status == 503 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        print("  /healthz: %s %r" % (status, body.strip()))
        F.check(status == 503 and "No space left" in body, "disk-full: /healthz 503 with the reason",
                "%s %r" % (status, body))
        run = live.stop(signal.SIGTERM, timeout=10)
        F.equal(run.rc, 0, "disk-full: SIGTERM -> exit 0")
        if vxc.check_run(F, run, "disk-full"):
            d = run.summary["drops"]
            print("  disk-full: written %d, drops %s" % (run.summary["written"], {k: v for k, v in d.items() if v}))
            F.check(d.get("disk_full", 0) > 0, "disk-full: drops.disk_full > 0", str(d))
            F.equal(run.summary["written"] + d.get("disk_full", 0), exp.counts["vxlan"],
                    "disk-full: written + disk_full = VXLAN datagrams")
            F.equal(d.get("write_error"), 0, "disk-full: no write_error (ENOSPC is disk_full)")
            F.check("No space left on device" in run.stderr, "disk-full: the log names ENOSPC")
            F.check("tmpfs with 4 KiB pages" in run.stderr,
                    "disk-full: the log says the output is on tmpfs with 4 KiB pages")
        # The same tmpfs with transparent huge pages: no such hint.
        p = subprocess.run(["mount", "-o", "remount,huge=within_size", mnt], capture_output=True, text=True)
        if F.check(p.returncode == 0, "disk-full: remount the tmpfs huge=within_size", p.stderr.strip()):
            os.remove(os.path.join(mnt, "fill"))
            again = vxc.run_collector(binary, feed, out, timeout=120)
            vxc.check_run(F, again, "huge tmpfs")
            F.check("tmpfs with 4 KiB pages" not in again.stderr,
                    "disk-full: no 4 KiB-page hint on a tmpfs with huge=within_size",
                    again.stderr[-800:])
    finally:
        if live is not None and run is None:
            live.kill()
            live.stop(None)
        p = subprocess.run(["umount", mnt], capture_output=True, text=True)
        F.check(p.returncode == 0, "disk-full: unmount the tmpfs", p.stderr.strip())


# ---- 8. hugepages ----------------------------------------------------------------

HUGE_NR = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"
HUGE_FREE = "/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages"
HUGE_PAGES = 256  # 512 MiB: the EAL's -m 256 below plus room


def read_int(path):
    with open(path) as f:
        return int(f.read())


def write_int(path, v):
    with open(path, "w") as f:
        f.write(str(v))


def hugepage_mappings(pid, where):
    """The process's file mappings whose path starts with `where` (a hugetlbfs mount or "/memfd:")."""
    with open("/proc/%d/maps" % pid) as f:
        fields = [l.split(None, 5) for l in f]
    return [f[5].strip() for f in fields if len(f) == 6 and f[5].startswith(where)]


def huge_run(F, binary, work, feed, frames, by_vni, base, label, eal, where):
    """One collector on hugepages: frames accounted, memory from hugepages (at
    least the -m 256 = 128 pages taken, mapped from `where`), files and summary
    equal to the --no-huge replay's. Returns the pages still taken after exit."""
    free_before = read_int(HUGE_FREE)
    live = Live(binary, os.path.join(work, label),
                ["--", "-l", "0", "--no-pci", "--no-telemetry", "-m", "256", "--log-level", "*:warning",
                 "--vdev", "net_pcap0,rx_pcap=" + feed] + eal, work, label)
    try:
        m = live.wait(settled(frames), 60)
        F.check(m is not None, "%s: /metrics shows all %d frames accounted for, nothing buffered" % (label, frames),
                "" if m else live.stderr_text()[-1500:])
        if live.proc.poll() is None:
            maps = hugepage_mappings(live.proc.pid, where)
            used = free_before - read_int(HUGE_FREE)
            print("  %s: %d hugepages taken, %d mappings of %s (e.g. %s)" %
                  (label, used, len(maps), where, sorted(set(maps))[:2]))
            F.check(used >= 128 and maps, "%s: the collector's memory is on hugepages (-m 256: at least 128 "
                    "2 MiB pages taken, mapped from %s)" % (label, where), "%d pages, %d mappings" % (used, len(maps)))
    finally:
        run = live.stop()
    if vxc.check_run(F, run, label):
        compare_runs(F, base, run, label, exact_files=True)
        for vni, dgs in sorted(by_vni.items()):
            vxc.check_lane(F, run, "vni-%d" % vni, dgs, 128, label, vni=vni)
    return free_before - read_int(HUGE_FREE)


def scenario_hugepages(F, binary, work, feed, frames, by_vni):
    """A real NIC's set-up: the EAL on 2 MiB hugepages (no --no-huge), the mbuf
    pool, rings and reassembly tables in them. Two ways: --in-memory (what
    deploy/systemd/vxcollector.conf passes: pages from the kernel's pool, no
    files) and a hugetlbfs mount (DPDK's default: a file a page). Needs root to
    reserve pages and mount; the machine's page count is restored after."""
    print("\n== 8. hugepages: the dataplane with the EAL on 2 MiB pages (no --no-huge)")
    if os.geteuid() != 0 or not os.path.exists(HUGE_NR):
        print("  SKIP: needs root and 2 MiB hugepages in sysfs")
        return
    base = vxc.run_collector(binary, feed, os.path.join(work, "h-base"))
    if not vxc.check_run(F, base, "hugepages/base"):
        return
    before = read_int(HUGE_NR)
    mnt = os.path.join(work, "hugetlbfs")
    os.makedirs(mnt)
    mounted = False
    prefix = "vxc-ops-%d-huge" % os.getpid()
    try:
        write_int(HUGE_NR, before + HUGE_PAGES)
        got = read_int(HUGE_NR) - before
        if not F.check(got >= HUGE_PAGES, "hugepages: the kernel reserved %d more 2 MiB pages" % HUGE_PAGES,
                       "got %d" % got):
            return
        left = huge_run(F, binary, work, feed, frames, by_vni, base, "hugepages-in-memory", ["--in-memory"],
                        "/memfd:")
        F.equal(left, 0, "hugepages-in-memory: every page back in the kernel's pool after exit")
        p = subprocess.run(["mount", "-t", "hugetlbfs", "-o", "pagesize=2M", "nodev", mnt],
                           capture_output=True, text=True)
        mounted = p.returncode == 0
        if not F.check(mounted, "hugepages: a private hugetlbfs mounted at " + mnt, p.stderr.strip()):
            return
        huge_run(F, binary, work, feed, frames, by_vni, base, "hugepages-hugetlbfs",
                 ["--huge-dir", mnt, "--file-prefix", prefix], mnt + "/")
        # DPDK keeps the page files after exit (a secondary process could attach);
        # the next start with the same prefix reclaims them. They go with the mount.
        print("  hugepages-hugetlbfs: %d page files left on the mount after exit (DPDK's, removed with it)" %
              len(os.listdir(mnt)))
    finally:
        if mounted:
            subprocess.run(["umount", mnt])
        write_int(HUGE_NR, before)
        F.equal(read_int(HUGE_NR), before, "hugepages: the machine's hugepage count restored")
        vxc.cleanup("/var/run/dpdk/" + prefix, True)


def main():
    binary = vxc.binary_from_argv()
    F = vxc.Failures("test_operations")
    t0 = time.monotonic()
    feed, _ = vxc.feed_path()
    exp = oracle.classify(feed)
    by_vni = exp.by_vni()
    frames = len(exp.disposition)
    bulk, _ = vxc.feed_path(bulk_bytes=BULK)
    bexp = oracle.classify(bulk)
    bvni = bexp.by_vni()
    bframes = len(bexp.disposition)
    print("feed %s: %d frames; bulk feed %s: %d frames" % (feed, frames, bulk, bframes))
    work = vxc.tmpdir("ops")
    print("work dir " + work)
    for scenario in (
            lambda: scenario_workers(F, binary, work, feed, frames, by_vni, bulk, bframes, bvni),
            lambda: scenario_sighup(F, binary, work, feed, frames, by_vni),
            lambda: scenario_post_rotate(F, binary, work, bulk, bvni),
            lambda: scenario_ring(F, binary, work, bulk, bvni),
            lambda: scenario_config(F, binary, work, feed, by_vni),
            lambda: scenario_rotate_seconds(F, binary, work, feed, frames, by_vni),
            lambda: scenario_disk_full(F, binary, work, feed, frames, exp),
            lambda: scenario_hugepages(F, binary, work, feed, frames, by_vni)):
        t = time.monotonic()
        try:
            scenario()
        except Exception as e:  # a broken scenario must not hide the others
            import traceback
            traceback.print_exc()
            F.check(False, "scenario raised %s: %s" % (type(e).__name__, e))
        print("  (%.1fs)" % (time.monotonic() - t))
    print("\ntotal %.1fs" % (time.monotonic() - t0))
    vxc.cleanup(work, not F.failed)
    return F.finish()


if __name__ == "__main__":
    sys.exit(main())
