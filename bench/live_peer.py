#!/usr/bin/python3
"""Live feed, same offered load: kernel vxlan + tcpdump against vxcollector on net_af_packet.

Run through bench/live_peer.sh (it builds the binaries and documents the options); the header
comment there says what is measured and how. Everything here runs as root in network
namespaces named vxlive-<tag>-snd / vxlive-<tag>-rcv that this script makes per step and
deletes afterwards (also on SIGINT/SIGTERM and at exit).
"""

import argparse
import atexit
import glob
import json
import os
import re
import signal
import subprocess
import sys
import time

PREFIX = "vxlive-"
SND_DEV = "s-feed"
RCV_DEV = "r-feed"
VXLAN_DEV = "vxlan0"
MTU = 9001  # the feed's data segments are 1564-byte outer frames; a 1500 veth would drop them
RCV_MAC = "02:00:00:00:00:01"  # the feed's outer destination MAC (bench/frames.cpp)
RCV_IP = "10.0.0.10/24"  # the feed's outer IPv4 destination
VNI = 100  # vxbench --vnis 1
SNAPLEN = 128
HTTP_PORT = 9469  # vxcollector's /metrics inside the receiver namespace
QUIET_SECONDS = 2.0  # the receiver has drained when its counters stop moving this long
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---- small helpers -----------------------------------------------------------------------------

def sh(args, check=True, **kw):
    p = subprocess.run(args, capture_output=True, text=True, **kw)
    if check and p.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(args), p.returncode, (p.stderr or p.stdout).strip()))
    return p


def pinned(cpu):
    return lambda: os.sched_setaffinity(0, {cpu})


def proc_cpu(pid):
    """utime + stime of the whole process (all threads), seconds; None once it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return None


def thread_cpu(pid):
    """{thread name: utime + stime seconds} over the threads of `pid` (same names summed)."""
    out = {}
    for path in glob.glob("/proc/%d/task/*/stat" % pid):
        try:
            with open(path) as f:
                text = f.read()
        except OSError:
            continue
        name = text[text.index("(") + 1:text.rindex(")")]
        fields = text.rsplit(")", 1)[1].split()
        out[name] = out.get(name, 0) + (int(fields[11]) + int(fields[12])) / CLK_TCK
    return out


def machine_cpu():
    """(busy, softirq) CPU seconds of the whole machine from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = v[:8]
    return (user + nice + system + irq + softirq + steal) / CLK_TCK, softirq / CLK_TCK


def softnet_dropped():
    """Frames the kernel dropped because a CPU's input backlog was full (all CPUs, whole machine)."""
    total = 0
    with open("/proc/net/softnet_stat") as f:
        for line in f:
            total += int(line.split()[1], 16)
    return total


def capinfos_count(paths):
    n = 0
    for path in paths:
        m = re.search(r"Number of packets:\s+(\d+)", sh(["capinfos", "-M", "-c", path]).stdout)
        if not m:
            raise RuntimeError("capinfos gave no count for " + path)
        n += int(m.group(1))
    return n


# ---- the namespace pair ------------------------------------------------------------------------

def delete_stale(tag_alive):
    """Deletes vxlive-* namespaces whose tag (a pid) names no live process."""
    for line in sh(["ip", "netns", "list"], check=False).stdout.splitlines():
        m = re.match(r"^(%s(\d+)-\w+)" % re.escape(PREFIX), line)
        if m and not tag_alive(int(m.group(2))):
            kill_inside(m.group(1))
            sh(["ip", "netns", "del", m.group(1)], check=False)


def kill_inside(ns):
    for pid in sh(["ip", "netns", "pids", ns], check=False).stdout.split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Pair:
    """A sender namespace and a receiver namespace joined by one veth (s-feed <-> r-feed)."""

    live = []  # pairs not yet deleted, for the exit handler

    def __init__(self, tag, side, rps_cpu=None):
        self.snd = "%s%s-snd" % (PREFIX, tag)
        self.rcv = "%s%s-rcv" % (PREFIX, tag)
        self.side = side
        self.procs = []
        Pair.live.append(self)
        for ns in (self.snd, self.rcv):
            sh(["ip", "netns", "add", ns])
            sh(["ip", "-n", ns, "link", "set", "lo", "up"])
            # No frames of the namespaces' own (router solicitations, MLD, DAD).
            sh(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                "net.ipv6.conf.default.disable_ipv6=1"])
        sh(["ip", "-n", self.snd, "link", "add", SND_DEV, "mtu", str(MTU), "type", "veth", "peer", "name",
            RCV_DEV, "netns", self.rcv])
        sh(["ip", "-n", self.rcv, "link", "set", RCV_DEV, "mtu", str(MTU), "address", RCV_MAC])
        for ns, dev in ((self.snd, SND_DEV), (self.rcv, RCV_DEV)):
            sh(["ip", "-n", ns, "link", "set", dev, "up"])
            sh(["ip", "netns", "exec", ns, "ethtool", "-K", dev, "tso", "off", "gso", "off", "gro", "off",
                "tx", "off"])
        if rps_cpu is not None:
            # Receive work on the receiver's CPU (as a NIC's interrupt would put it), not in tcpreplay's
            # send(): the veth queues each frame to that CPU's input backlog (netdev_max_backlog).
            sh(["ip", "netns", "exec", self.rcv, "sh", "-c", "echo %x > /sys/class/net/%s/queues/rx-0/rps_cpus" %
                (1 << rps_cpu, RCV_DEV)])
        if side == "kernel":
            # The mirror target as a kernel host: owns the outer destination address, one vxlan device
            # for the session's VNI bound to UDP 4789 on any address. nolearning: the feed's 16 outer
            # sources carry the same inner MACs, and learning would rewrite the FDB per frame, an
            # artefact of the synthetic feed (a real session has one source per VNI).
            sh(["ip", "-n", self.rcv, "addr", "add", RCV_IP, "dev", RCV_DEV])
            sh(["ip", "-n", self.rcv, "route", "add", "default", "dev", RCV_DEV])
            sh(["ip", "netns", "exec", self.rcv, "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0",
                "net.ipv4.conf.%s.rp_filter=0" % RCV_DEV.replace(".", "/")])
            sh(["ip", "-n", self.rcv, "link", "add", VXLAN_DEV, "type", "vxlan", "id", str(VNI), "dstport",
                "4789", "dev", RCV_DEV, "nolearning"])
            sh(["ip", "-n", self.rcv, "link", "set", VXLAN_DEV, "up"])
        else:
            # As in the project's FeedLab: no address, and an nftables ingress chain with policy drop,
            # so the kernel handles no frame past the AF_PACKET taps (a DPDK NIC hides them from it).
            sh(["ip", "netns", "exec", self.rcv, "nft", "add table netdev vxlive"])
            sh(["ip", "netns", "exec", self.rcv, "nft", 'add chain netdev vxlive ingress { type filter '
                'hook ingress device "%s" priority 0; policy drop; }' % RCV_DEV])

    def start(self, ns, args, cpu, **kw):
        p = subprocess.Popen(["ip", "netns", "exec", ns] + args, preexec_fn=pinned(cpu), **kw)
        self.procs.append(p)
        return p

    def link(self, ns, dev):
        """rtnl_link_stats64 of `dev` in `ns` as `ip -s -s -j link` shows them."""
        return json.loads(sh(["ip", "-n", ns, "-s", "-s", "-j", "link", "show", "dev", dev]).stdout)[0]["stats64"]

    def snmp_udp(self):
        """The receiver namespace's Udp counters (/proc/net/snmp is per namespace)."""
        text = sh(["ip", "netns", "exec", self.rcv, "cat", "/proc/net/snmp"]).stdout
        rows = [line.split()[1:] for line in text.splitlines() if line.startswith("Udp:")]
        return {k: int(v) for k, v in zip(rows[0], rows[1])}

    def counters(self):
        c = {"s-feed tx": self.link(self.snd, SND_DEV)["tx"], "r-feed rx": self.link(self.rcv, RCV_DEV)["rx"],
             "softnet dropped": softnet_dropped()}
        if self.side == "kernel":
            c["vxlan0 rx"] = self.link(self.rcv, VXLAN_DEV)["rx"]
            c["udp"] = self.snmp_udp()
        return c

    def delete(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for ns in (self.snd, self.rcv):
            kill_inside(ns)
            sh(["ip", "netns", "del", ns], check=False)
        if self in Pair.live:
            Pair.live.remove(self)


def delete_all():
    for pair in list(Pair.live):
        pair.delete()


def diff(after, before):
    if isinstance(after, dict):
        return {k: diff(v, before.get(k, 0)) for k, v in after.items() if isinstance(v, (int, dict))}
    return after - before


# ---- the two receivers -------------------------------------------------------------------------

def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise RuntimeError("timed out waiting for " + what)


def read(path):
    with open(path) as f:
        return f.read()


class Tcpdump:
    """tcpdump -i vxlan0 -s 128 -w FILE with its defaults (2 MiB buffer), as the mirror target runs it."""

    def __init__(self, pair, outdir, cpu):
        self.path = os.path.join(outdir, "vxlan0.pcap")
        self.err_path = os.path.join(outdir, "tcpdump.stderr")
        self.err = open(self.err_path, "w")
        self.proc = pair.start(pair.rcv, ["tcpdump", "-n", "-i", VXLAN_DEV, "-s", str(SNAPLEN), "-w", self.path],
                               cpu, stdout=subprocess.DEVNULL, stderr=self.err)
        self.pair = pair
        wait_for(lambda: "listening on" in read(self.err_path) or self.proc.poll() is not None, 60,
                 "tcpdump to listen")
        if self.proc.poll() is not None:
            raise RuntimeError("tcpdump exited: " + read(self.err_path))

    def progress(self):
        """Grows while frames still arrive or tcpdump still writes them."""
        size = os.path.getsize(self.path) if os.path.exists(self.path) else 0
        return size, self.pair.link(self.pair.rcv, VXLAN_DEV)["rx"]["packets"]

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=60)
        self.err.close()
        text = read(self.err_path)

        def num(pattern):
            m = re.search(r"(\d+) packets? " + pattern, text)
            return int(m.group(1)) if m else 0

        stats = {"captured": num("captured"), "received by filter": num("received by filter"),
                 "dropped by kernel": num("dropped by kernel"),
                 "dropped by interface": num("dropped by interface")}
        return stats, [self.path]


class Collector:
    """vxcollector on net_af_packet (its default 32768-frame ring), one lane, snaplen 128."""

    def __init__(self, pair, binary, outdir, cpu, tag):
        self.outdir = outdir
        self.out_path = os.path.join(outdir, "vxcollector.stdout")
        self.err_path = os.path.join(outdir, "vxcollector.stderr")
        self.out = open(self.out_path, "w")
        self.err = open(self.err_path, "w")
        args = [binary, "--output-dir", outdir, "--http-listen", "127.0.0.1:%d" % HTTP_PORT,
                "--lane", "name=feed,vni=%d" % VNI, "--snaplen", str(SNAPLEN),
                "--", "-l", str(cpu), "--no-huge", "--no-pci", "--no-shconf", "--no-telemetry", "-m", "1024",
                "--file-prefix", "vxlive%s" % tag, "--vdev", "net_af_packet0,iface=%s" % RCV_DEV]
        self.pair = pair
        self.proc = pair.start(pair.rcv, args, cpu, stdout=self.out, stderr=self.err)
        wait_for(lambda: "RX queue(s)" in read(self.err_path) or self.proc.poll() is not None, 90,
                 "vxcollector to start its port")
        wait_for(lambda: self.proc.poll() is not None or self.metrics() is not None, 60, "/metrics")
        if self.proc.poll() is not None:
            raise RuntimeError("vxcollector exited at start:\n" + read(self.err_path)[-2000:])

    def metrics(self):
        p = sh(["ip", "netns", "exec", self.pair.rcv, "curl", "-sS", "-m", "5",
                "http://127.0.0.1:%d/metrics" % HTTP_PORT], check=False)
        if p.returncode != 0:
            return None
        out = {}
        for line in p.stdout.splitlines():
            m = re.match(r"^([a-zA-Z_:][\w:]*)(\{.*\})?\s+(\S+)", line)
            if m and not line.startswith("#"):
                out[m.group(1)] = out.get(m.group(1), 0) + float(m.group(3))
        return out

    def progress(self):
        m = self.metrics() or {}
        return m.get("vxcollector_port_rx_packets_total"), m.get("vxcollector_port_missed_packets_total")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)
        self.out.close()
        self.err.close()
        summary = None
        for line in read(self.out_path).splitlines():
            if line.startswith("{") and '"summary"' in line:
                summary = json.loads(line)
        if summary is None:
            raise RuntimeError("vxcollector printed no summary (exit %s):\n%s" %
                               (self.proc.returncode, read(self.err_path)[-2000:]))
        # Every lane: with --vnis above 1 the other VNIs get lanes of their own (--unknown-vni auto).
        files = sorted(glob.glob(os.path.join(self.outdir, "*", "*.pcap")))
        return summary, files


# ---- one step: one side, one rate --------------------------------------------------------------

def replay(pair, feed, count, rate, cpu):
    """tcpreplay of the first `count` frames of `feed`; returns (sent, failed, seconds, CPU seconds)."""
    # No --preload-pcap: it loads the file before sending, which would count in the receiver's CPU
    # window; the feed is on tmpfs, so reading it as it goes is cheap.
    args = ["tcpreplay", "-i", SND_DEV, "--limit=%d" % count]
    args += ["--topspeed"] if rate == "top" else ["--pps=%d" % rate]
    p = pair.start(pair.snd, args + [feed], cpu, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)  # `ip netns exec` execs tcpreplay: this is its own rusage
    p.returncode = os.waitstatus_to_exitcode(status)
    ok = re.search(r"Successful packets:\s+(\d+)", out)
    failed = re.search(r"Failed packets:\s+(\d+)", out)
    secs = re.search(r"sent in ([\d.]+) seconds", out)
    if p.returncode != 0 or not ok:
        raise RuntimeError("tcpreplay: exit %d: %s" % (p.returncode, out[-2000:]))
    return int(ok.group(1)), int(failed.group(1)) if failed else 0, float(secs.group(1)) if secs else None, \
        ru.ru_utime + ru.ru_stime


def settle(receiver, pid):
    """Waits until the receiver's progress stops changing for QUIET_SECONDS; returns the process's CPU
    seconds, its threads' CPU and the time, at the last change (a busy-polling lcore keeps burning
    CPU after the last frame)."""
    last, at_change, since = None, None, time.monotonic()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        sample = (proc_cpu(pid), thread_cpu(pid), time.monotonic())
        now = receiver.progress()
        if now != last:
            last, at_change, since = now, sample, time.monotonic()
        elif time.monotonic() - since >= QUIET_SECONDS:
            break
        time.sleep(0.2)
    return at_change


def run_step(opts, rx_on, side, rate, count, feed, work, cpus, tag):
    """rx_on: "snd": the kernel's receive work runs in tcpreplay's send() on its CPU (a veth's own way);
    "rcv": RPS moves it to the receiver's CPU, as a NIC interrupt on the capture host's CPU would."""
    rcv_cpu, snd_cpu = cpus
    outdir = os.path.join(work, "%s-%s-%s" % (rx_on, side, rate))
    os.makedirs(outdir)
    pair = Pair(tag, side, rcv_cpu if rx_on == "rcv" else None)
    try:
        if side == "kernel":
            receiver = Tcpdump(pair, outdir, rcv_cpu)
        else:
            receiver = Collector(pair, opts.vxcollector, outdir, rcv_cpu, tag)
        pid = receiver.proc.pid  # `ip netns exec` execs the receiver: same pid
        time.sleep(0.5)
        before = pair.counters()
        cpu0, threads0, m0 = proc_cpu(pid), thread_cpu(pid), machine_cpu()
        t0 = time.monotonic()
        sent, failed, secs, replay_cpu = replay(pair, feed, count, rate, snd_cpu)
        m1 = machine_cpu()
        cpu1, threads1, t1 = settle(receiver, pid)
        window = t1 - t0
        after = pair.counters()
        stats, files = receiver.stop()
        written = capinfos_count(files)
    finally:
        pair.delete()
    d = diff(after, before)
    r = {"rx_work_on": rx_on, "side": side, "rate": rate, "requested": count, "offered": sent,
         "tcpreplay_failed": failed,
         "replay_seconds": secs, "achieved_pps": round(sent / secs) if secs else None, "written": written,
         "cpu_seconds": round(cpu1 - cpu0, 3), "window_seconds": round(window, 2),
         "cpu_by_thread": {k: round(v - threads0.get(k, 0), 3) for k, v in threads1.items()},
         "tcpreplay_cpu_seconds": round(replay_cpu, 3),
         "machine_busy_seconds_during_replay": round(m1[0] - m0[0], 2),
         "machine_softirq_seconds_during_replay": round(m1[1] - m0[1], 2),
         "kernel_counters": {"s-feed tx packets": d["s-feed tx"]["packets"],
                             "s-feed tx dropped": d["s-feed tx"]["dropped"],
                             "r-feed rx packets": d["r-feed rx"]["packets"],
                             "r-feed rx dropped": d["r-feed rx"]["dropped"],
                             "softnet backlog dropped (machine)": d["softnet dropped"]}}
    k = r["kernel_counters"]
    # Drops the kernel reports below either receiver, on the veth and the CPU backlog.
    below = k["s-feed tx dropped"] + k["r-feed rx dropped"] + k["softnet backlog dropped (machine)"]
    if side == "kernel":
        udp = d["udp"]
        k.update({"vxlan0 rx packets": d["vxlan0 rx"]["packets"], "vxlan0 rx dropped": d["vxlan0 rx"]["dropped"],
                  "vxlan0 rx errors": d["vxlan0 rx"]["errors"],
                  "udp InDatagrams": udp["InDatagrams"], "udp InErrors": udp["InErrors"],
                  "udp RcvbufErrors": udp["RcvbufErrors"], "udp NoPorts": udp["NoPorts"]})
        r["tcpdump"] = stats
        # "dropped by interface" is libpcap's reading of vxlan0's rx_dropped (+fifo, missed): not added
        # twice. RcvbufErrors are part of InErrors.
        r["reported_dropped"] = (stats["dropped by kernel"] + stats["dropped by interface"] +
                                 k["vxlan0 rx errors"] + udp["InErrors"] + udp["NoPorts"] + below)
    else:
        s = stats
        p0 = s["ports"]["0"]
        r["summary"] = {"received": s["received"], "written": s["written"], "filtered": s["filtered"],
                        "drops": {kk: v for kk, v in s["drops"].items() if v}, "port": p0}
        r["reported_dropped"] = (sum(s["drops"].values()) + s["filtered"] + p0["missed"] + p0["errors"] +
                                 p0["nombuf"] + below)
    r["unreported_loss"] = sent - written - r["reported_dropped"]
    r["cpu_s_per_mframe"] = round(r["cpu_seconds"] / sent * 1e6, 2) if sent else None
    r["cpu_s_per_mframe_written"] = round(r["cpu_seconds"] / written * 1e6, 2) if written else None
    subprocess.run(["rm", "-rf", outdir])
    return r


# ---- report ------------------------------------------------------------------------------------

COLUMNS = ("rx work", "rate", "side", "pps sent", "offered", "written", "rep. dropped", "unreported", "CPU s",
           "CPU s/Mf", "tcpreplay s/Mf", "softirq s/Mf")


def row(r):
    softirq = r["machine_softirq_seconds_during_replay"] / r["offered"] * 1e6 if r["offered"] else 0
    return (r["rx_work_on"] + " CPU", str(r["rate"]), "tcpdump" if r["side"] == "kernel" else "vxcollector",
            str(r["achieved_pps"]), str(r["offered"]), str(r["written"]), str(r["reported_dropped"]),
            str(r["unreported_loss"]), "%.2f" % r["cpu_seconds"], "%.2f" % r["cpu_s_per_mframe"],
            "%.2f" % (r["tcpreplay_cpu_seconds"] / r["offered"] * 1e6 if r["offered"] else 0), "%.2f" % softirq)


def table(results):
    rows = [COLUMNS] + [row(r) for r in results]
    widths = [max(len(x[i]) for x in rows) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(x, widths)) for x in rows)


def details(r):
    k = r["kernel_counters"]
    line = "  %s @ %s, rx work on %s CPU: veth tx %d rx %d (dropped %d/%d), softnet dropped %d" % (
        r["side"], r["rate"], r["rx_work_on"], k["s-feed tx packets"], k["r-feed rx packets"],
        k["s-feed tx dropped"], k["r-feed rx dropped"], k["softnet backlog dropped (machine)"])
    if r["side"] == "kernel":
        t = r["tcpdump"]
        line += ("; vxlan0 rx %d dropped %d errors %d; udp in %d InErrors %d RcvbufErrors %d NoPorts %d; "
                 "tcpdump captured %d, received by filter %d, dropped by kernel %d, by interface %d" % (
                     k["vxlan0 rx packets"], k["vxlan0 rx dropped"], k["vxlan0 rx errors"], k["udp InDatagrams"],
                     k["udp InErrors"], k["udp RcvbufErrors"], k["udp NoPorts"], t["captured"],
                     t["received by filter"], t["dropped by kernel"], t["dropped by interface"]))
    else:
        s = r["summary"]
        line += "; summary received %d written %d filtered %d drops %s port %s" % (
            s["received"], s["written"], s["filtered"], s["drops"] or "{}", s["port"])
    line += "; CPU by thread %s; tcpreplay CPU %.2f s" % (r["cpu_by_thread"], r["tcpreplay_cpu_seconds"])
    return line


def parse_rates(text):
    out = []
    for item in text.split(","):
        item = item.strip().lower()
        if item in ("top", "topspeed"):
            out.append("top")
        elif item.endswith("k"):
            out.append(int(float(item[:-1]) * 1000))
        elif item.endswith("m"):
            out.append(int(float(item[:-1]) * 1000000))
        else:
            out.append(int(item))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vxcollector", required=True)
    ap.add_argument("--vxbench", required=True)
    ap.add_argument("--frames", type=int, default=1000000, help="most frames per step")
    ap.add_argument("--seconds", type=float, default=10, help="a paced step offers rate x this many frames")
    ap.add_argument("--rates", default="50k,100k,200k,400k,top")
    ap.add_argument("--sides", default="kernel,vxc")
    ap.add_argument("--payload", type=int, default=1448, help="TCP payload of the feed's data segments")
    ap.add_argument("--rx-on", default="snd,rcv",
                    help="where the kernel's receive work runs: snd (tcpreplay's CPU), rcv (RPS to the "
                    "receiver's)")
    ap.add_argument("--vnis", type=int, default=1, help="VNIs in the feed (100, 101, ...); the kernel side has "
                    "a vxlan device for VNI 100 only, as a target set up for one mirror session")
    ap.add_argument("--tag", default=str(os.getpid()), help="namespace tag (a live pid: the owner)")
    ap.add_argument("--txt")
    ap.add_argument("--json")
    opts = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("live_peer: needs root (network namespaces)")
    rates = parse_rates(opts.rates)
    sides = opts.sides.split(",")
    atexit.register(delete_all)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: sys.exit(128 + signum))
    delete_stale(pid_alive)
    allowed = sorted(os.sched_getaffinity(0))
    cpus = (allowed[0], allowed[-1])  # (receiver, tcpreplay)

    base = "/dev/shm" if os.statvfs("/dev/shm").f_bavail * os.statvfs("/dev/shm").f_frsize > 6 << 30 else "/tmp"
    work = subprocess.run(["mktemp", "-d", base + "/vxlive.XXXXXX"], capture_output=True, text=True,
                          check=True).stdout.strip()
    atexit.register(lambda: subprocess.run(["rm", "-rf", work]))
    counts = {r: opts.frames if r == "top" else min(opts.frames, int(r * opts.seconds)) for r in rates}
    most = max(counts.values())
    # The feed: vxbench's frames with one VNI, outer IPv4 only (the kernel's vxlan device listens on
    # one address family; a quarter of vxbench's frames have an outer IPv6 header).
    raw, feed = os.path.join(work, "raw.pcap"), os.path.join(work, "feed.pcap")
    sh([opts.vxbench, "--write-pcap", raw, "--frames", str(most * 4 // 3 + 64), "--vnis", str(opts.vnis),
        "--payload", str(opts.payload)])
    sh(["tcpdump", "-r", raw, "-w", feed, "ip"])
    os.remove(raw)
    have = capinfos_count([feed])
    if have < most:
        raise RuntimeError("feed has %d frames, want %d" % (have, most))
    feed_bytes = os.path.getsize(feed) - 24 - 16 * have
    print("feed: %d frames, VNIs %d..%d, outer IPv4/UDP 4789 to %s (%s), mean frame %.0f B; receiver on CPU %d, "
          "tcpreplay on CPU %d" % (have, VNI, VNI + opts.vnis - 1, RCV_IP.split("/")[0], RCV_MAC, feed_bytes / have, cpus[0], cpus[1]),
          flush=True)

    results = []
    for rx_on in opts.rx_on.split(","):
        if rx_on not in ("snd", "rcv"):
            sys.exit("live_peer: --rx-on takes snd, rcv")
        for rate in rates:
            for side in sides:
                r = run_step(opts, rx_on, side, rate, counts[rate], feed, work, cpus, opts.tag)
                results.append(r)
                print(table([r]).splitlines()[1], flush=True)
                print(details(r), flush=True)

    text = table(results)
    notes = ("\n".join(details(r) for r in results))
    print("\n" + text)
    meta = {"when": time.strftime("%Y-%m-%d %H:%M:%S"), "kernel": os.uname().release,
            "cpus": os.cpu_count(), "frames_per_step": counts, "payload": opts.payload,
            "feed_frames": have, "feed_mean_frame_bytes": round(feed_bytes / have, 1),
            "rx_on": opts.rx_on, "seconds": opts.seconds, "receiver_cpu": cpus[0], "tcpreplay_cpu": cpus[1],
            "snaplen": SNAPLEN, "vnis": list(range(VNI, VNI + opts.vnis)),
            "loadavg_at_end": open("/proc/loadavg").read().split()[:3]}
    if opts.txt:
        with open(opts.txt, "w") as f:
            f.write("# bench/live_peer.sh --frames %d --rates %s --seconds %g --rx-on %s --vnis %d   (%s, "
                    "kernel %s, %d CPUs, feed mean frame %.0f B, load average at end %s)\n" % (
                        opts.frames, opts.rates, opts.seconds, opts.rx_on, opts.vnis, meta["when"], meta["kernel"],
                        meta["cpus"], meta["feed_mean_frame_bytes"], " ".join(meta["loadavg_at_end"])))
            f.write(text + "\n\n" + notes + "\n")
    if opts.json:
        with open(opts.json, "w") as f:
            json.dump({"meta": meta, "results": results}, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
