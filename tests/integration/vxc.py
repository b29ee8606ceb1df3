"""Helpers for the integration tests: run vxcollector, read its summary and files."""

import collections
import glob
import hashlib
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import feedgen  # noqa: E402

DROP_REASONS_DEF = "dataplane/drop_reasons.def"


class Failures:
    """Collects check results; a test exits non-zero if any check failed."""

    def __init__(self, name):
        self.name = name
        self.failed = []
        self.passed = 0

    def check(self, ok, what, detail=""):
        line = "%s %s%s" % ("PASS" if ok else "FAIL", what, (": " + detail) if detail else "")
        print(line, flush=True)
        if ok:
            self.passed += 1
        else:
            self.failed.append(line)
        return ok

    def equal(self, got, want, what):
        return self.check(got == want, what, "got %r, expected %r" % (got, want))

    def finish(self):
        print("\n%s: %d checks passed, %d failed" % (self.name, self.passed, len(self.failed)))
        for f in self.failed:
            print("  " + f)
        return 1 if self.failed else 0


def source_root():
    return os.environ.get("VXC_SOURCE_ROOT", os.path.dirname(os.path.dirname(HERE)))


def drop_reasons():
    with open(os.path.join(source_root(), DROP_REASONS_DEF)) as f:
        return re.findall(r"^X\((\w+),", f.read(), re.M)


def feed_path(seed=4789, bulk_bytes=0):
    """The generated feed, cached in the temp dir by generator source and arguments."""
    with open(feedgen.__file__, "rb") as f:
        key = hashlib.sha256(f.read() + ("%d/%d" % (seed, bulk_bytes)).encode()).hexdigest()[:16]
    path = os.path.join(tempfile.gettempdir(), "vxc-feed-%s.pcap" % key)
    if not os.path.exists(path):
        tmp = path + ".%d.tmp" % os.getpid()
        truth = feedgen.generate(tmp, seed, bulk_bytes=bulk_bytes)
        with open(path + ".json", "w") as f:
            json.dump(truth, f)
        os.replace(tmp, path)
    with open(path + ".json") as f:
        return path, json.load(f)


class Run:
    """One finished vxcollector run."""

    def __init__(self, args, rc, stdout, stderr, outdir, seconds):
        self.args = args
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.outdir = outdir
        self.seconds = seconds
        self.summary = None
        self.summary_error = None
        lines = [l for l in stdout.splitlines() if l.strip()]
        if lines:
            try:
                self.summary = json.loads(lines[-1])
            except ValueError as e:
                self.summary_error = "last stdout line is not JSON (%s): %r" % (e, lines[-1][:300])
        else:
            self.summary_error = "no output on stdout"

    def describe(self):
        return "rc=%s in %.1fs\n  cmd: %s\n  stdout tail: %s\n  stderr tail: %s" % (
            self.rc, self.seconds, " ".join(self.args), self.stdout[-800:], self.stderr[-1500:])


def run_collector(binary, pcap, outdir, *extra, timeout=300, http="none"):
    os.makedirs(outdir, exist_ok=True)
    args = [binary, "--read-pcap", pcap, "--output-dir", outdir, "--http-listen", http] + list(extra)
    t0 = time.monotonic()
    try:
        p = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
        rc, out, err = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        rc, out, err = "timeout", (e.stdout or b"").decode(errors="replace"), (e.stderr or b"").decode(errors="replace")
    return Run(args, rc, out, err, outdir, time.monotonic() - t0)


def invariant(summary):
    """(holds, received, accounted, text) for the accounting invariant of cli.md.

    "buffered" (packets handed to a lane but not yet in a file; an addition of
    the implementation, not in cli.md) joins the right-hand side when present.
    """
    drops = summary.get("drops", {})
    parts = {k: summary.get(k, 0) for k in ("written", "filtered", "exception", "fragments_merged", "buffered")}
    total = sum(parts.values()) + sum(drops.values())
    text = "received %d == written %d + filtered %d + exception %d + fragments_merged %d + buffered %d + drops %d (%s)" % (
        summary.get("received", -1), parts["written"], parts["filtered"], parts["exception"],
        parts["fragments_merged"], parts["buffered"], sum(drops.values()),
        ", ".join("%s=%d" % kv for kv in sorted(drops.items()) if kv[1]))
    return summary.get("received") == total, summary.get("received"), total, text


def lane_files(outdir, lane, include_part=False):
    """Completed files of a lane, in name order."""
    files = sorted(glob.glob(os.path.join(outdir, lane, lane + "-*.pcap*")))
    return [f for f in files if include_part or not f.endswith(".part")]


def lane_dirs(outdir):
    return sorted(d for d in os.listdir(outdir) if os.path.isdir(os.path.join(outdir, d)))


FILE_NAME_RE = re.compile(r"^(?P<lane>.+)-(?P<ts>\d{8}T\d{6}Z)-(?P<seq>\d{6})\.(pcap|pcapng)$")


class Capture:
    def __init__(self, path):
        self.path = path
        self.format = None
        self.snaplen = None
        self.linktype = None
        self.records = []  # (ts_ns, orig_len, data)


def read_capture(path):
    """Reads a classic pcap (usec or nsec) by hand, or pcapng through scapy."""
    cap = Capture(path)
    with open(path, "rb") as f:
        data = f.read()
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
        nsec = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
        cap.format = "pcap-ns" if nsec else "pcap"
        _, vmaj, vmin, _, _, cap.snaplen, cap.linktype = struct.unpack(endian + "IHHiIII", data[:24])
        off = 24
        while off < len(data):
            if off + 16 > len(data):
                raise ValueError("%s: record header cut at offset %d" % (path, off))
            sec, frac, incl, orig = struct.unpack(endian + "IIII", data[off:off + 16])
            off += 16
            if off + incl > len(data):
                raise ValueError("%s: record data cut at offset %d" % (path, off))
            cap.records.append((sec * 1000000000 + (frac if nsec else frac * 1000), orig, data[off:off + incl]))
            off += incl
    elif magic == b"\x0a\x0d\x0d\x0a":
        from scapy.utils import RawPcapNgReader
        cap.format = "pcapng"
        r = RawPcapNgReader(path)
        try:
            for pkt, meta in r:
                ts = (meta.tshigh << 32 | meta.tslow)
                cap.records.append((ts * 1000000000 // meta.tsresol, meta.wirelen, pkt))
            cap.linktype = r.interfaces[0][0] if r.interfaces else None
            cap.snaplen = r.interfaces[0][1] if r.interfaces else None
        finally:
            r.close()
    else:
        raise ValueError("%s: unknown magic %s" % (path, magic.hex()))
    return cap


def capinfos(path):
    """(returncode, {key: value}, raw output) of `capinfos -c -l -t -E -M`."""
    p = subprocess.run(["capinfos", "-c", "-l", "-t", "-E", "-M", path], capture_output=True, text=True)
    info = {}
    for line in p.stdout.splitlines():
        k, sep, v = line.partition(":")
        if sep:
            info.setdefault(k.strip(), v.strip())
            info.setdefault("all " + k.strip(), []).append(v.strip())
    return p.returncode, info, p.stdout + p.stderr


def capinfos_snaplen(info):
    """The snaplen capinfos reads from the file header ("Packet size limit: file hdr: N bytes")."""
    for v in info.get("all Packet size limit", []):
        m = re.match(r"file hdr: (\d+) bytes", v)
        if m:
            return int(m.group(1))
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tmpdir(prefix):
    return tempfile.mkdtemp(prefix="vxc-%s-" % prefix)


def cleanup(path, ok):
    """Keeps the output of a failed test for inspection."""
    if ok:
        shutil.rmtree(path, ignore_errors=True)
    else:
        print("output kept in " + path)


def binary_from_argv():
    if len(sys.argv) < 2:
        sys.exit("usage: %s /path/to/vxcollector" % sys.argv[0])
    return os.path.abspath(sys.argv[1])


# ---- checks shared by the tests ----------------------------------------------

def check_run(F, run, label):
    ok = F.check(run.rc == 0, label + ": exit 0", run.describe() if run.rc != 0 else "")
    ok &= F.check(run.summary is not None and run.summary.get("event") == "summary",
                  label + ": JSON summary is the last stdout line", run.summary_error or "")
    if run.summary is None:
        return False
    s = run.summary
    holds, received, total, text = invariant(s)
    ok &= F.check(holds, label + ": invariant", text)
    ok &= F.equal(s.get("buffered", 0), 0, label + ": nothing left buffered at exit")
    missing = [r for r in drop_reasons() if r not in s.get("drops", {})]
    ok &= F.check(not missing, label + ": every reason of drop_reasons.def in summary.drops", "missing %s" % missing)
    parts = glob.glob(os.path.join(run.outdir, "*", "*.part"))
    ok &= F.check(not parts, label + ": no .part file left after exit", str(parts))
    return ok


def check_lane(F, run, lane, datagrams, snaplen, label, vni=None, filtered=0, fmt="pcap"):
    """The lane's files hold exactly `datagrams` (in order), cut at snaplen."""
    files = lane_files(run.outdir, lane)
    info = (run.summary or {}).get("lanes", {}).get(lane)
    where = "%s: lane %s" % (label, lane)
    if not F.check(info is not None, where + " in summary", "lanes: %s" % sorted((run.summary or {}).get("lanes", {}))):
        return
    if vni is not None:
        F.equal(info.get("vni"), vni, where + " vni")
    F.equal(info.get("written"), len(datagrams), where + " written")
    F.equal(info.get("filtered"), filtered, where + " filtered")
    inner_bytes = sum(len(g.inner) for g in datagrams)
    F.equal(info.get("bytes"), inner_bytes, where + " bytes (inner bytes before truncation)")
    # written_bytes is not defined in cli.md; the implementation counts whole
    # records (record header + captured bytes [+ pcapng padding]), not the
    # file header.
    caplen = [min(snaplen, len(g.inner)) for g in datagrams]
    if fmt == "pcapng":
        record_bytes = sum(32 + (c + 3) // 4 * 4 for c in caplen)
    else:
        record_bytes = sum(16 + c for c in caplen)
    file_bytes = sum(os.path.getsize(f) for f in files)
    F.equal(info.get("written_bytes"), record_bytes,
            where + " written_bytes = bytes of the %s records (files hold %d bytes)" % (fmt, file_bytes))
    F.equal(info.get("files"), len(files), where + " files = completed files on disk")
    records = []
    bad_names = [os.path.basename(f) for f in files
                 if not (FILE_NAME_RE.match(os.path.basename(f)) and
                         FILE_NAME_RE.match(os.path.basename(f)).group("lane") == lane)]
    F.check(not bad_names, where + " file names <lane>-<YYYYmmddTHHMMSSZ>-<seq6>.<ext>", str(bad_names))
    for path in files:
        cap = read_capture(path)
        rc, ci, raw = capinfos(path)
        name = os.path.basename(path)
        F.check(rc == 0, "%s: capinfos %s" % (where, name), raw if rc else "")
        if fmt != "pcapng":  # pcapng keeps the snaplen per interface; capinfos says "(not set)"
            F.equal(capinfos_snaplen(ci), snaplen, "%s: capinfos snaplen of %s" % (where, name))
        F.equal(ci.get("Number of packets"), str(len(cap.records)), "%s: capinfos packet count of %s" % (where, name))
        F.equal((cap.format, cap.snaplen, cap.linktype), (fmt, snaplen, 1),
                "%s: header of %s (format, snaplen, linktype)" % (where, name))
        records += cap.records
    problems = []
    ts_kind = collections.Counter()
    for i, (rec, g) in enumerate(zip(records, datagrams)):
        ts, orig, data = rec
        want = g.inner[:snaplen]
        if data != want:
            at = next((k for k in range(min(len(data), len(want))) if data[k] != want[k]), min(len(data), len(want)))
            problems.append("record %d (input frame %d): %d bytes, expected %d; first difference at byte %d" %
                            (i, g.frame, len(data), len(want), at))
        if orig != len(g.inner):
            problems.append("record %d (input frame %d): orig_len %d, expected %d" % (i, g.frame, orig, len(g.inner)))
        if ts not in g.times and ts not in [t - t % 1000 for t in g.times]:  # usec files truncate
            problems.append("record %d (input frame %d): timestamp %d ns not among the input's %s" %
                            (i, g.frame, ts, g.times))
        elif len(g.fragment_frames) > 1:
            ts_kind["first-arrived fragment" if ts == g.times[0] else
                    "completing fragment" if ts == max(g.times) else "a middle fragment"] += 1
    F.check(len(records) == len(datagrams) and not problems,
            "%s: %d records in %d file(s) equal tshark's inner frames (bytes[:%d], orig_len, timestamp, order)" %
            (where, len(records), len(files), snaplen),
            "%d records, %d expected; %d problems: %s" % (len(records), len(datagrams), len(problems), problems[:5]))
    if ts_kind:
        print("  info: %s reassembled datagrams are stamped with the time of the %s" % (where, dict(ts_kind)))
    back = [i for i in range(1, len(records)) if records[i][0] < records[i - 1][0]]
    if back:
        print("  info: %s timestamps go backwards at %d record(s), first at record %d (input frame %d)" %
              (where, len(back), back[0], datagrams[back[0]].frame if back[0] < len(datagrams) else -1))
