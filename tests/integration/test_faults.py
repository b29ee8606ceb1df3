#!/usr/bin/python3
"""Faults while running: SIGKILL and restart, the output directory removed or made
read-only, a post-rotate command that never exits, SIGTERM under load.

Usage: test_faults.py /path/to/vxcollector [scenario ...]   (env VXC_SOURCE_ROOT = source tree)
Scenarios: kill, kill-ring, removed, lane-blocked, readonly, post-rotate, sigterm (default: all).
Needs root (mounts).

The feed is live: without --read-pcap, EAL's net_pcap replays the generated feed
endlessly (infinite_rx=1), so the collector takes traffic as fast as it can, like
from a NIC: nothing waits for the writer (writer_busy drops are allowed). Every
scenario ends with a summary whose accounting invariant holds exactly:
received = written + filtered + exception + fragments_merged + drops + buffered.

  kill:        SIGKILL while files are being written (full snaplen, so the writer is
               busy), several times into one output directory, then a --read-pcap
               restart. Completed files must pass capinfos; a .part holds whole
               records, possibly followed by one record the kill cut (tshark then
               reads every whole record and only warns "cut short in the middle of a
               packet", exit 2); files of earlier runs never change (sha256) and
               every run continues the lane's sequence.
  kill-ring:   the same with a ring (--rotate-mb 1 --ring 2), where each new file is
               written over the ring's oldest: a .part holds whole records, then
               either nothing, one cut record, or an end marker (16 bytes 0xff) and
               the older file's bytes (tshark reads the whole records and stops with
               "appears to be damaged or corrupt"); the restart cuts each such .part
               at its marker (then tshark reads the same records cleanly) and
               deletes any .<lane>.reuse a kill left.
  removed:     a lane directory removed (recreated at once, nothing dropped), then the
               whole output directory: write_error drops, one error line, /healthz
               503; when the directory is back, writing resumes by itself.
  lane-blocked: a file where one lane's directory goes (--read-pcap, lingering):
               exactly that lane's datagrams are write_error, /healthz 503 while it
               fails and 200 again 5 s after its traffic stopped while others wrote.
  readonly:    a read-only bind mount over the output directory (the kernel refuses
               `mount -o remount,ro` of a file system with files open for writing):
               write_error, /healthz 503 "Read-only file system", recovery once it goes.
  post-rotate: a post-rotate command that never exits does not hold up SIGTERM (the
               collector waits 5 s for running commands, then leaves them running).
  sigterm:     SIGTERM under full load exits within a bound, completes every file,
               and every written packet is in a file.
"""

import glob
import hashlib
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
import vxc  # noqa: E402
from test_operations import Live, value  # noqa: E402
from test_prometheus import http_get  # noqa: E402

KILLS = 4
SIGTERM_BOUND_S = 10  # drain + HTTP stop (civetweb polls every 2 s) + completing files + EAL cleanup
POST_ROTATE_WAIT_S = 5  # CompletedFiles::kPostRotateExitWait
THREE_LANES = ["--unknown-vni", "drop", "--lane", "name=web,vni=42", "--lane", "name=five,vni=5",
               "--lane", "name=qinq,vni=4242"]
STATS = {"faults": 0, "kills_cut_record": 0, "kills_end_marker": 0}


# ---- helpers ---------------------------------------------------------------------

def live_eal(feed, prefix, lcores="0"):
    """EAL arguments for an endless replay of `feed` (no --read-pcap)."""
    return ["--", "-l", lcores, "--no-huge", "--no-pci", "--no-shconf", "--no-telemetry", "--file-prefix", prefix,
            "-m", "1024", "--log-level", "*:warning", "--vdev", "net_pcap0,rx_pcap=%s,infinite_rx=1" % feed]


def sh(*cmd):
    p = subprocess.run(list(cmd), capture_output=True, text=True)
    return p.returncode, (p.stdout + p.stderr).strip()


def mount_tmpfs(F, where, size):
    os.makedirs(where, exist_ok=True)
    rc, out = sh("mount", "-t", "tmpfs", "-o", "size=%s" % size, "tmpfs", where)
    return F.check(rc == 0, "mount a %s tmpfs at %s" % (size, where), out)


def unmount_all(where):
    """Unmounts every layer mounted at `where`."""
    for _ in range(10):
        rc, out = sh("umount", where)
        if rc != 0:
            if "not mounted" not in out:
                sh("umount", "-l", where)
            return


def wait_until(pred, timeout, interval=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = pred()
        if r:
            return r
        time.sleep(interval)
    return None


def healthz(live):
    status, body = http_get(live.base + "/healthz", timeout=2)
    return status, (body or "").strip()


def wait_health(live, status, word, timeout):
    """Polls /healthz until it answers `status` with `word` in the body; returns (status, body)."""
    last = [None, ""]

    def pred():
        last[:] = healthz(live)
        return last[0] == status and word in last[1]
    wait_until(pred, timeout, 0.2)
    return tuple(last)


def total(m, name, **labels):
    return value(m, name, **labels) if m else -1


def capture_files(outdir, parts=True):
    pats = ["*.pcap", "*.pcapng"] + (["*.part"] if parts else [])
    return sorted(f for p in pats for f in glob.glob(os.path.join(outdir, "*", p)))


def sha256s(outdir):
    out = {}
    for f in capture_files(outdir):
        with open(f, "rb") as fh:
            out[f] = hashlib.sha256(fh.read()).hexdigest()
    return out


def seq_of(path):
    m = re.search(r"-(\d{6})\.pcap(ng)?(\.part)?$", path)
    return int(m.group(1)) if m else None


def records_to_marker(path):
    """(whole records, offset of an end marker right after them or None, bytes after them)."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24 or data[:4] not in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        return None, None, len(data)
    off, n = 24, 0
    while off + 16 <= len(data):
        if data[off:off + 16] == b"\xff" * 16:
            return n, off, len(data) - off
        incl = int.from_bytes(data[off + 8:off + 12], "little")
        if off + 16 + incl > len(data):
            break
        off += 16 + incl
        n += 1
    return n, None, len(data) - off


def whole_records(path):
    """(whole records, bytes after the last whole record) of a classic pcap file."""
    whole, _, tail = records_to_marker(path)
    return whole, tail


def tshark_count(path):
    """(returncode, frames tshark reads, its stderr without the root notice)."""
    p = subprocess.run(["tshark", "-r", path, "-T", "fields", "-e", "frame.number"], capture_output=True, text=True)
    err = "\n".join(l for l in p.stderr.splitlines() if l.strip() and "Running as user" not in l
                    and "could be dangerous" not in l)
    return p.returncode, len([l for l in p.stdout.splitlines() if l.strip()]), err


def check_killed_part(F, label, path, ring):
    """Checks the .part a kill left (see the kill scenarios). Returns (kind, whole records): "header"
    (killed before its header was whole), "whole", "cut" (one record cut by the kill) or, only when the
    lane had a ring (`ring`), "marker" (whole records, an end marker, an older file's bytes)."""
    whole, marker, tail = records_to_marker(path)
    rc, frames, err = tshark_count(path)
    name = os.path.basename(path)
    if whole is None:  # killed between creating the file and writing its header
        F.check(os.path.getsize(path) < 24, "%s: %s: killed before its header was whole (%d bytes): "
                "no record lost" % (label, name, os.path.getsize(path)))
        return "header", None
    if ring and marker is not None:
        F.check(frames == whole and rc == 2 and "appears to be damaged or corrupt" in err,
                "%s: %s: %d whole records, then an end marker and %d older bytes: tshark reads the "
                "records and stops at the marker" % (label, name, whole, tail - 16),
                "rc %d, %d frames, %r" % (rc, frames, err))
        return "marker", whole
    if tail == 0:
        F.check(rc == 0 and frames == whole and not err,
                "%s: %s: %d whole records, tshark reads them all without a warning" % (label, name, whole),
                "rc %d, %d frames, %r" % (rc, frames, err))
        return "whole", whole
    F.check(frames == whole and rc == 2 and err.endswith("appears to have been cut short in the middle of a packet."),
            "%s: %s: the kill cut a record: tshark reads the %d whole records before the %d cut "
            "bytes, with only the truncation warning" % (label, name, whole, tail),
            "rc %d, %d frames, %r" % (rc, frames, err))
    return "cut", whole


def check_completed(F, files, label):
    """Every completed file opens in capinfos (one call) with the records our reader counts."""
    if not files:
        return {}
    p = subprocess.run(["capinfos", "-c", "-M"] + files, capture_output=True, text=True)
    counts = dict(zip(re.findall(r"^File name:\s+(.*)$", p.stdout, re.M),
                      (int(x) for x in re.findall(r"^Number of packets:\s+(\d+)", p.stdout, re.M))))
    ours = {f: whole_records(f) for f in files}
    bad = [f for f in files if counts.get(f) != ours[f][0] or ours[f][1] != 0]
    ok = p.returncode == 0 and not bad
    F.check(ok, "%s: capinfos opens all %d completed files, packet counts = whole records, no trailing bytes" %
            (label, len(files)), "" if ok else "rc %d, %s; %s" % (
                p.returncode, p.stderr.strip()[-300:], [(f, counts.get(f), ours[f]) for f in bad[:3]]))
    return {f: ours[f][0] for f in files}


def check_summary(F, run, label):
    ok = F.check(run.rc == 0, label + ": exit 0", run.describe() if run.rc != 0 else "")
    ok &= F.check(run.summary is not None and run.summary.get("event") == "summary",
                  label + ": JSON summary is the last stdout line", run.summary_error or "")
    if run.summary is None:
        return False
    holds, received, accounted, text = vxc.invariant(run.summary)
    ok &= F.check(holds and received > 0, label + ": invariant exact", text)
    ok &= F.equal(run.summary.get("buffered", 0), 0, label + ": nothing buffered at exit")
    return ok


def lane_written(run):
    return {l: i.get("written") for l, i in run.summary.get("lanes", {}).items()}


def records_per_lane(counts):
    per = {}
    for f, n in counts.items():
        lane = os.path.basename(os.path.dirname(f))
        per[lane] = per.get(lane, 0) + n
    return per


def stop_and_time(live, sig=signal.SIGTERM, timeout=60):
    """Sends sig; returns (seconds until exit, seconds until the summary was on stdout, finished Run)."""
    t0 = time.monotonic()
    live.proc.send_signal(sig)
    summary_at = None
    while live.proc.poll() is None and time.monotonic() - t0 < timeout:
        if summary_at is None and os.path.getsize(live.out.name) > 0:
            summary_at = time.monotonic() - t0
        time.sleep(0.005)
    took = time.monotonic() - t0
    if summary_at is None:
        summary_at = took
    return took, summary_at, live.stop(None, timeout=1)


def rm_rf(path):
    """rm -rf that wins against a collector recreating directories meanwhile."""
    for _ in range(100):
        try:
            shutil.rmtree(path)
        except FileNotFoundError:
            pass
        except OSError:
            continue
        if not os.path.exists(path):
            return True
    return False


def forget_runtime_dir(prefix):
    shutil.rmtree("/var/run/dpdk/" + prefix, ignore_errors=True)


# ---- 1. SIGKILL and restart --------------------------------------------------------

def scenario_kill(F, binary, work, feed):
    print("\n== kill: SIGKILL while writing, %d times, then a restart" % KILLS)
    mnt = os.path.join(work, "kill-tmpfs")
    # Room for every kill's files and the restart's: a kill lands 0-0.3 s after
    # 40 MB, and at full speed a run writes up to ~0.5 GB by then.
    if not mount_tmpfs(F, mnt, "4g"):
        return
    out = os.path.join(mnt, "out")
    os.makedirs(out)
    prefix = "vxc-faults-kill-%d" % os.getpid()
    rng = random.Random(4789)
    try:
        for k in range(KILLS):
            label = "kill%d" % (k + 1)
            before = sha256s(out)
            last_seq = {}
            for f in before:
                lane = os.path.basename(os.path.dirname(f))
                last_seq[lane] = max(last_seq.get(lane, 0), seq_of(f))
            live = Live(binary, out, THREE_LANES + ["--snaplen", "65535", "--rotate-mb", "16"] +
                        live_eal(feed, prefix), work, label)
            m = live.wait(lambda m: value(m, "vxcollector_lane_written_bytes_total") > 40e6, 60)
            time.sleep(rng.uniform(0, 0.3))
            live.proc.kill()
            live.proc.wait()
            run = live.stop(None)
            forget_runtime_dir(prefix)
            if not F.check(m is not None, label + ": files being written when killed", "" if m else run.stderr[-1500:]):
                return
            print("  %s: killed after %.1fs with %.0f MB written" % (
                label, run.seconds, value(m, "vxcollector_lane_written_bytes_total") / 1e6))
            after = sha256s(out)
            changed = [f for f, h in before.items() if after.get(f) != h]
            F.check(not changed, "%s: the %d files of earlier runs are unchanged (sha256), none removed" %
                    (label, len(before)), str(changed[:3]) if changed else "")
            new = sorted(set(after) - set(before))
            parts = [f for f in new if f.endswith(".part")]
            completed = [f for f in new if not f.endswith(".part")]
            stale = [f for f in new if seq_of(f) <= last_seq.get(os.path.basename(os.path.dirname(f)), 0)]
            F.check(not stale, "%s: the %d new files continue each lane's sequence (after %s)" %
                    (label, len(new), last_seq), str(stale[:3]) if stale else "")
            check_completed(F, completed, label)
            F.check(1 <= len(parts) <= 3, "%s: one .part per lane open at the kill (%d)" % (label, len(parts)))
            for p in parts:
                if check_killed_part(F, label, p, ring=False)[0] == "cut":
                    STATS["kills_cut_record"] += 1
            STATS["faults"] += 1

        # The restart: a replay into the same directory.
        before = sha256s(out)
        last_seq = {}
        for f in before:
            lane = os.path.basename(os.path.dirname(f))
            last_seq[lane] = max(last_seq.get(lane, 0), seq_of(f))
        run = vxc.run_collector(binary, feed, out, *THREE_LANES)
        if not check_summary(F, run, "restart"):
            return
        after = sha256s(out)
        changed = [f for f, h in before.items() if after.get(f) != h]
        F.check(not changed, "restart: the %d files of the killed runs (%d .part) are unchanged" %
                (len(before), len([f for f in before if f.endswith(".part")])), str(changed[:3]) if changed else "")
        new = sorted(set(after) - set(before))
        F.check(all(not f.endswith(".part") for f in new), "restart: leaves no .part of its own",
                str([f for f in new if f.endswith(".part")]))
        F.check(all(seq_of(f) > last_seq.get(os.path.basename(os.path.dirname(f)), 0) for f in new),
                "restart: its %d files continue each lane's sequence %s" % (len(new), last_seq))
        counts = check_completed(F, new, "restart")
        F.equal(records_per_lane(counts), lane_written(run), "restart: records in its files = summary written per lane")
        noted = [l for l in run.stderr.splitlines() if "unfinished file(s) of an earlier run" in l]
        F.check(len(noted) == len({os.path.dirname(f) for f in before if f.endswith(".part")}),
                "restart: logs, once per lane, the .part files it leaves as they are (%d lanes)" % len(noted),
                "" if noted else run.stderr[-800:])
        if noted:
            print("  log: " + noted[0][:300])
        print("  kills that cut a record in a .part: %d of %d" % (STATS["kills_cut_record"], KILLS))
    finally:
        forget_runtime_dir(prefix)
        unmount_all(mnt)


# ---- 1b. SIGKILL and restart with a ring (files written over) -------------------

def scenario_kill_ring(F, binary, work, feed):
    print("\n== kill-ring: SIGKILL while writing over ring files, %d times, then a restart" % KILLS)
    mnt = os.path.join(work, "kill-ring-tmpfs")
    if not mount_tmpfs(F, mnt, "1g"):
        return
    out = os.path.join(mnt, "out")
    os.makedirs(out)
    prefix = "vxc-faults-killring-%d" % os.getpid()
    ring = ["--snaplen", "65535", "--rotate-mb", "1", "--ring", "2"]
    rng = random.Random(6081)
    marked = {}  # .part -> whole records before its end marker
    cut_logged = 0  # "cut at its end marker" lines: each run cuts the .part files of the runs before
    try:
        for k in range(KILLS):
            label = "kill-ring%d" % (k + 1)
            live = Live(binary, out, THREE_LANES + ring + live_eal(feed, prefix), work, label)
            # 40 MB over 3 lanes: each lane's ring of 2 x 1 MB filled many times over.
            m = live.wait(lambda m: value(m, "vxcollector_lane_written_bytes_total") > 40e6, 60)
            time.sleep(rng.uniform(0, 0.3))
            live.proc.kill()
            live.proc.wait()
            run = live.stop(None)
            forget_runtime_dir(prefix)
            cut_logged += sum("cut at its end marker" in l for l in run.stderr.splitlines())
            if not F.check(m is not None, label + ": files being written when killed", "" if m else run.stderr[-1500:]):
                return
            # .part files of this kill, and those of earlier kills that had no marker (unchanged since).
            for p in [f for f in capture_files(out) if f.endswith(".part") and f not in marked]:
                kind, whole = check_killed_part(F, label, p, ring=True)
                if kind == "marker":
                    STATS["kills_end_marker"] += 1
                    marked[p] = whole
            check_completed(F, [f for f in capture_files(out) if not f.endswith(".part")], label)
            STATS["faults"] += 1
        F.check(STATS["kills_end_marker"] > 0, "kill-ring: some kill came while a ring file was written over "
                "(%d .part files with an end marker)" % STATS["kills_end_marker"])

        # The restart: a replay with the same ring into the same directory.
        run = vxc.run_collector(binary, feed, out, *(THREE_LANES + ring))
        if not check_summary(F, run, "kill-ring restart"):
            return
        for p, whole in sorted(marked.items()):
            name = os.path.basename(p)
            after, marker, tail = records_to_marker(p)
            rc, frames, err = tshark_count(p)
            F.check(after == whole and marker is None and tail == 0 and rc == 0 and frames == whole and not err,
                    "kill-ring restart: %s cut at its end marker: %d records, tshark reads them without a warning" %
                    (name, whole), "records %s, marker %s, tail %d, rc %d, %d frames, %r" %
                    (after, marker, tail, rc, frames, err))
        cut_logged += sum("cut at its end marker" in l for l in run.stderr.splitlines())
        F.equal(cut_logged, len(marked), "kill-ring: each .part with an end marker was cut by the next run, "
                "which logged it")
        hidden = glob.glob(os.path.join(out, "*", ".*.reuse"))
        F.check(not hidden, "kill-ring restart: no .<lane>.reuse left", str(hidden))
        check_completed(F, [f for f in capture_files(out) if not f.endswith(".part")], "kill-ring restart")
    finally:
        forget_runtime_dir(prefix)
        unmount_all(mnt)


# ---- 2. output directory removed ----------------------------------------------------

def scenario_removed(F, binary, work, feed):
    print("\n== removed: a lane directory, then the output directory, removed while running")
    mnt = os.path.join(work, "rm-tmpfs")
    if not mount_tmpfs(F, mnt, "512m"):
        return
    out = os.path.join(mnt, "out")
    prefix = "vxc-faults-rm-%d" % os.getpid()
    live = None
    try:
        live = Live(binary, out, ["--rotate-mb", "2", "--ring", "3"] + live_eal(feed, prefix), work, "removed")
        m = live.wait(lambda m: value(m, "vxcollector_lane_packets_total") > 10000, 60)
        if not F.check(m is not None, "removed: traffic is being written", "" if m else live.stderr_text()[-1500:]):
            return
        st, body = wait_health(live, 200, "ok", 10)
        F.check(st == 200, "removed: /healthz 200 before", "%s %r" % (st, body))

        lane = os.path.join(out, "vni-42")
        we0 = total(live.metrics(), "vxcollector_drops_total", reason="write_error")
        F.check(rm_rf(lane), "removed: lane directory vni-42 removed (rm -rf)")
        back = wait_until(lambda: glob.glob(os.path.join(lane, "*.part")), 5)
        F.check(bool(back), "removed: lane directory vni-42 recreated with a new file at once")
        time.sleep(0.5)
        F.equal(total(live.metrics(), "vxcollector_drops_total", reason="write_error"), we0,
                "removed: no write_error for a removed lane directory")
        STATS["faults"] += 1

        t_gone = time.monotonic()
        F.check(rm_rf(out), "removed: output directory removed (rm -rf)")
        m = live.wait(lambda m: value(m, "vxcollector_drops_total", reason="write_error") > we0, 5)
        F.check(m is not None, "removed: drops{reason=write_error} rise (%.0f)" %
                total(m, "vxcollector_drops_total", reason="write_error"))
        st, body = wait_health(live, 503, "No such file or directory", 5)
        F.check(st == 503 and "No such file or directory" in body, "removed: /healthz 503 with the reason",
                "%s %r" % (st, body))
        time.sleep(2.5)
        m1 = live.metrics()
        F.check(total(m1, "vxcollector_drops_total", reason="write_error") > total(m, "vxcollector_drops_total",
                                                                             reason="write_error"),
                "removed: still counted as write_error while the directory is missing")
        F.check(not os.path.exists(out), "removed: the collector does not recreate the output directory itself")
        errors = [l for l in live.stderr_text().splitlines() if "failed: No such file or directory" in l]
        F.check(1 <= len(errors) <= 1 + int((time.monotonic() - t_gone) / 10),
                "removed: the error is logged, rate-limited (%d line(s) in %.1fs)" %
                (len(errors), time.monotonic() - t_gone), "\n".join(errors[:5]))
        if errors:
            print("  log: " + errors[0])

        os.mkdir(out)
        written0 = total(live.metrics(), "vxcollector_lane_packets_total")
        m = live.wait(lambda m: value(m, "vxcollector_lane_packets_total") > written0 + 10000, 10)
        F.check(m is not None, "removed: writing resumes once the output directory is back")
        st, body = wait_health(live, 200, "ok", 5)
        F.check(st == 200, "removed: /healthz 200 again", "%s %r" % (st, body))
        F.check("writing works again" in live.stderr_text(), "removed: the recovery is logged")
        STATS["faults"] += 1

        took, _, run = stop_and_time(live)
        live = None
        print("  removed: SIGTERM -> exit in %.2fs" % took)
        if check_summary(F, run, "removed"):
            d = run.summary["drops"]
            print("  removed: written %d, drops %s" % (run.summary["written"], {k: v for k, v in d.items() if v}))
            F.check(d.get("write_error", 0) > 0, "removed: summary drops.write_error > 0", str(d))
            F.equal(d.get("disk_full"), 0, "removed: no disk_full")
            F.check(not glob.glob(os.path.join(out, "*", "*.part")), "removed: no .part left")
            check_completed(F, capture_files(out, parts=False), "removed")
    finally:
        if live is not None:
            live.kill()
            live.stop(None)
        forget_runtime_dir(prefix)
        unmount_all(mnt)


# ---- 2b. one lane blocked -------------------------------------------------------------

def scenario_lane_blocked(F, binary, work, feed, truth):
    print("\n== lane-blocked: a file where one lane's directory should be; that lane's traffic then stops")
    out = os.path.join(work, "blocked")
    os.makedirs(out)
    vni = 777
    with open(os.path.join(out, "vni-%d" % vni), "w") as f:
        f.write("in the way\n")
    want = truth["vxlan_datagrams"][str(vni)]
    live = Live(binary, out, ["--read-pcap", feed, "--linger-seconds", "30"], work, "lane-blocked")
    run = None
    try:
        st, body = wait_health(live, 503, "Not a directory", 10)
        F.check(st == 503 and "Not a directory" in body, "lane-blocked: /healthz 503 while the lane's writes fail",
                "%s %r" % (st, body))
        m = live.wait(lambda m: value(m, "vxcollector_buffered_packets") == 0 and
                      value(m, "vxcollector_drops_total", reason="write_error") == want, 30)
        F.check(m is not None, "lane-blocked: drops{write_error} = the %d datagrams of VNI %d, no more" % (want, vni))
        t = time.monotonic()
        st, body = wait_health(live, 200, "ok", 10)
        F.check(st == 200, "lane-blocked: /healthz 200 again %.1fs after the lane's traffic stopped while the other "
                "lanes wrote (a failed idle lane counts 5 s)" % (time.monotonic() - t), "%s %r" % (st, body))
        run = live.stop(signal.SIGTERM, timeout=30)
        if check_summary(F, run, "lane-blocked"):
            d = run.summary["drops"]
            F.equal(d.get("write_error"), want, "lane-blocked: summary drops.write_error")
            F.equal(run.summary["lanes"].get("vni-%d" % vni, {}).get("written"), 0,
                    "lane-blocked: nothing written for VNI %d" % vni)
            F.check(any("failed: Not a directory" in l for l in run.stderr.splitlines()),
                    "lane-blocked: the error is logged")
            F.check(not glob.glob(os.path.join(out, "*", "*.part")), "lane-blocked: no .part left")
            check_completed(F, capture_files(out, parts=False), "lane-blocked")
        STATS["faults"] += 1
    finally:
        if run is None:
            live.kill()
            live.stop(None)


# ---- 3. output directory read-only --------------------------------------------------

def scenario_readonly(F, binary, work, feed):
    print("\n== readonly: a read-only mount over the output directory while running")
    mnt = os.path.join(work, "ro-tmpfs")
    out = os.path.join(work, "ro-out")
    if not mount_tmpfs(F, mnt, "512m"):
        return
    os.makedirs(os.path.join(mnt, "data"))
    os.makedirs(out)
    prefix = "vxc-faults-ro-%d" % os.getpid()
    live = None
    try:
        rc, msg = sh("mount", "--bind", os.path.join(mnt, "data"), out)
        if not F.check(rc == 0, "readonly: output directory is a bind mount of a tmpfs", msg):
            return
        live = Live(binary, out, ["--rotate-mb", "1", "--ring", "3"] + live_eal(feed, prefix), work, "readonly")
        m = live.wait(lambda m: value(m, "vxcollector_lane_packets_total") > 10000, 60)
        if not F.check(m is not None, "readonly: traffic is being written", "" if m else live.stderr_text()[-1500:]):
            return
        st, body = wait_health(live, 200, "ok", 10)
        F.check(st == 200, "readonly: /healthz 200 before", "%s %r" % (st, body))
        rc, msg = sh("mount", "-o", "remount,ro", mnt)
        print("  note: `mount -o remount,ro` of the tmpfs while files are open for writing: rc %d %r" % (rc, msg))
        if rc == 0:
            sh("mount", "-o", "remount,rw", mnt)

        # A read-only view made aside (nothing writes through it), then bound over
        # the output directory in one step: the bind keeps the read-only flag.
        ro_view = os.path.join(work, "ro-view")
        os.makedirs(ro_view)
        rc1, msg1 = sh("mount", "--bind", os.path.join(mnt, "data"), ro_view)
        rc2, msg2 = sh("mount", "-o", "remount,bind,ro", ro_view)
        we0 = total(live.metrics(), "vxcollector_drops_total", reason="write_error")
        t_ro = time.monotonic()
        rc3, msg3 = sh("mount", "--bind", ro_view, out)
        if not F.check(rc1 == 0 and rc2 == 0 and rc3 == 0, "readonly: read-only bind mount over the output directory",
                       msg1 + msg2 + msg3):
            return
        m = live.wait(lambda m: value(m, "vxcollector_drops_total", reason="write_error") > we0, 10)
        F.check(m is not None, "readonly: drops{reason=write_error} rise once the open files complete (%.0f)" %
                total(m, "vxcollector_drops_total", reason="write_error"))
        st, body = wait_health(live, 503, "Read-only file system", 5)
        F.check(st == 503 and "Read-only file system" in body, "readonly: /healthz 503 with the reason",
                "%s %r" % (st, body))
        time.sleep(2)
        errors = [l for l in live.stderr_text().splitlines() if "failed: Read-only file system" in l]
        F.check(1 <= len(errors) <= 1 + int((time.monotonic() - t_ro) / 10),
                "readonly: the error is logged, rate-limited (%d line(s) in %.1fs)" %
                (len(errors), time.monotonic() - t_ro), "\n".join(errors[:5]))
        if errors:
            print("  log: " + errors[0])
        # The writer retries every block: it opens the lane directory (read-only
        # opens work there), fails to create a file and closes it again. An
        # umount that lands in that window is "busy"; the next one is not.
        for _ in range(50):
            rc, msg = sh("umount", out)
            if rc == 0 or "busy" not in msg:
                break
            time.sleep(0.1)
        F.check(rc == 0, "readonly: the read-only mount removed", msg)
        written0 = total(live.metrics(), "vxcollector_lane_packets_total")
        m = live.wait(lambda m: value(m, "vxcollector_lane_packets_total") > written0 + 10000, 10)
        F.check(m is not None, "readonly: writing resumes once the directory is writable")
        st, body = wait_health(live, 200, "ok", 5)
        F.check(st == 200, "readonly: /healthz 200 again", "%s %r" % (st, body))
        STATS["faults"] += 1

        took, _, run = stop_and_time(live)
        live = None
        print("  readonly: SIGTERM -> exit in %.2fs" % took)
        if check_summary(F, run, "readonly"):
            d = run.summary["drops"]
            print("  readonly: written %d, drops %s" % (run.summary["written"], {k: v for k, v in d.items() if v}))
            F.check(d.get("write_error", 0) > 0, "readonly: summary drops.write_error > 0", str(d))
            F.check(not glob.glob(os.path.join(out, "*", "*.part")), "readonly: no .part left")
            check_completed(F, capture_files(out, parts=False), "readonly")
    finally:
        if live is not None:
            live.kill()
            live.stop(None)
        forget_runtime_dir(prefix)
        unmount_all(out)
        unmount_all(os.path.join(work, "ro-view"))
        unmount_all(mnt)


# ---- 4. a post-rotate command that never exits --------------------------------------

def scenario_post_rotate(F, binary, work, feed):
    print("\n== post-rotate: a command that never exits does not hold up SIGTERM")
    mnt = os.path.join(work, "pr-tmpfs")
    if not mount_tmpfs(F, mnt, "512m"):
        return
    out = os.path.join(mnt, "out")
    pids = os.path.join(work, "post-rotate-pids")
    prefix = "vxc-faults-pr-%d" % os.getpid()
    cmd = "echo post-rotate-output; echo $$ >>%s; exec sleep 600 #" % pids
    live = None
    try:
        live = Live(binary, out, THREE_LANES + ["--rotate-mb", "1", "--post-rotate", cmd] + live_eal(feed, prefix),
                    work, "post-rotate")
        m = live.wait(lambda m: sum(v for (n, _), v in m.items() if n == "vxcollector_files_completed_total") >= 3, 60)
        if not F.check(m is not None, "post-rotate: files completed, commands started",
                       "" if m else live.stderr_text()[-1500:]):
            return
        took, _, run = stop_and_time(live, timeout=POST_ROTATE_WAIT_S + 30)
        live = None
        running = [int(p) for p in open(pids).read().split()] if os.path.exists(pids) else []
        alive = [p for p in running if os.path.exists("/proc/%d" % p)]
        print("  post-rotate: %d commands started, %d still running at exit; SIGTERM -> exit in %.2fs" %
              (len(running), len(alive), took))
        F.check(took < POST_ROTATE_WAIT_S + SIGTERM_BOUND_S,
                "post-rotate: SIGTERM -> exit in %.1fs (< %d s: waits %d s for the commands, then leaves them)" %
                (took, POST_ROTATE_WAIT_S + SIGTERM_BOUND_S, POST_ROTATE_WAIT_S))
        if check_summary(F, run, "post-rotate"):
            F.check("post-rotate-output" not in run.stdout, "post-rotate: the command's stdout is not ours "
                    "(it goes to stderr), the summary stays the last stdout line")
            F.check("post-rotate-output" in run.stderr, "post-rotate: the command's output is in our stderr")
            F.check(bool(alive) and "still running after" in run.stderr,
                    "post-rotate: the commands still running are logged and left running (%d)" % len(alive))
        STATS["faults"] += 1
        for p in alive:  # ours, by pid
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
    finally:
        if live is not None:
            live.kill()
            live.stop(None)
        forget_runtime_dir(prefix)
        unmount_all(mnt)


# ---- 5. SIGTERM under load -----------------------------------------------------------

def scenario_sigterm(F, binary, work, feed):
    print("\n== sigterm: SIGTERM under full load")
    mnt = os.path.join(work, "term-tmpfs")
    # Room for every kill's files and the restart's: a kill lands 0-0.3 s after
    # 40 MB, and at full speed a run writes up to ~0.5 GB by then.
    if not mount_tmpfs(F, mnt, "4g"):
        return
    times = []
    try:
        for label, extra, lcores in (("sigterm", [], "0"),
                                     ("sigterm-workers1", ["--workers", "1"], "0-1"),
                                     ("sigterm-again", [], "0")):
            out = os.path.join(mnt, label)
            prefix = "vxc-faults-%s-%d" % (label, os.getpid())
            live = Live(binary, out, THREE_LANES + ["--snaplen", "65535", "--rotate-mb", "32"] + extra +
                        live_eal(feed, prefix, lcores), work, label)
            try:
                m = live.wait(lambda m: value(m, "vxcollector_lane_written_bytes_total") > 100e6, 60)
                if not F.check(m is not None, label + ": under load", "" if m else live.stderr_text()[-1500:]):
                    continue
                took, summary_at, run = stop_and_time(live, timeout=60)
                live = None
                times.append(took)
                F.check(took < SIGTERM_BOUND_S, "%s: SIGTERM -> summary in %.2fs, exit in %.2fs (bound %d s)" %
                        (label, summary_at, took, SIGTERM_BOUND_S))
                if not check_summary(F, run, label):
                    continue
                d = run.summary["drops"]
                print("  %s: received %d, written %d, drops %s" % (label, run.summary["received"],
                      run.summary["written"], {k: v for k, v in d.items() if v}))
                F.check(not glob.glob(os.path.join(out, "*", "*.part")), label + ": every file completed, no .part")
                counts = check_completed(F, capture_files(out, parts=False), label)
                F.equal(records_per_lane(counts), lane_written(run),
                        label + ": records in the files = summary written per lane (nothing written is missing)")
                STATS["faults"] += 1
            finally:
                if live is not None:
                    live.kill()
                    live.stop(None)
                forget_runtime_dir(prefix)
                shutil.rmtree(out, ignore_errors=True)
    finally:
        unmount_all(mnt)
    if times:
        print("  SIGTERM under load -> exit: %s s (max %.2f)" % (["%.2f" % t for t in times], max(times)))


SCENARIOS = {
    "kill": scenario_kill,
    "kill-ring": scenario_kill_ring,
    "removed": scenario_removed,
    "lane-blocked": scenario_lane_blocked,
    "readonly": scenario_readonly,
    "post-rotate": scenario_post_rotate,
    "sigterm": scenario_sigterm,
}


def main():
    binary = vxc.binary_from_argv()
    names = sys.argv[2:] or list(SCENARIOS)
    F = vxc.Failures("test_faults")
    if os.geteuid() != 0:
        print("SKIP: needs root (mounts)")
        return 77
    t0 = time.monotonic()
    feed, truth = vxc.feed_path()
    work = vxc.tmpdir("faults")
    print("feed %s, work dir %s" % (feed, work))
    for name in names:
        t = time.monotonic()
        try:
            if name == "lane-blocked":
                SCENARIOS[name](F, binary, work, feed, truth)
            else:
                SCENARIOS[name](F, binary, work, feed)
        except Exception as e:  # a broken scenario must not hide the others
            import traceback
            traceback.print_exc()
            F.check(False, "scenario %s raised %s: %s" % (name, type(e).__name__, e))
        print("  (%.1fs)" % (time.monotonic() - t))
    print("\nfaults survived: %d; kills that cut a record: %d; that left an end marker: %d; total %.1fs" %
          (STATS["faults"], STATS["kills_cut_record"], STATS["kills_end_marker"], time.monotonic() - t0))
    vxc.cleanup(work, not F.failed)
    return F.finish()


if __name__ == "__main__":
    sys.exit(main())
