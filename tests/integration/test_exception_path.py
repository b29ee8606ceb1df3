#!/usr/bin/python3
"""Exception path, drain and port xstats, end to end through a DPDK-owned port.

Usage: test_exception_path.py /path/to/vxcollector   (as root)

    lb ns: lb0 10.78.0.1/24  <------ veth ------>  col0 (collector ns, no address,
           vx42 (kernel vxlan, VNI 42,              nft netdev ingress policy drop:
           remote 10.78.0.2)                        the kernel never handles a frame)
                                                    vxcollector on net_af_packet(col0)
                                                    --exception-path tap -> vxc0 10.78.0.2/24

col0 plays a NIC that DPDK owns: only the collector sees its frames. The "load
balancer" namespace ARPs for 10.78.0.2, pings it, opens a TCP health probe and
GETs /healthz through the DPDK port, and sends VXLAN with the kernel's own vxlan
device (which needs that ARP answered first). Then the drain: POST /drain from
the lb namespace is refused (403, not loopback); from the collector's own
namespace it is accepted, /healthz seen from the load balancer turns 503 at
once while RX still runs (VXLAN sent during the drain is still written), and
the collector stops by itself after --drain-seconds with exit 0 and the
accounting invariant holding. Also: vxcollector_port_xstats_total is exported.
First, on a lingering replay: SIGTERM with --drain-seconds turns /healthz 503
at once and stops RX after the delay; a second SIGTERM stops at once.
"""

import json
import os
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True
import vxc  # noqa: E402

PID = os.getpid()
LB, COL = f"vxce-{PID}-lb", f"vxce-{PID}-col"
LB_IP, COL_IP = "10.78.0.1", "10.78.0.2"
HTTP_PORT = 9469
DRAIN_SECONDS = 6


def sh(*args, ns=None, check=True, **kw):
    """A command, inside network namespace `ns` when given."""
    cmd = (["ip", "netns", "exec", ns] if ns else []) + list(args)
    return subprocess.run(cmd, check=check, capture_output=True, text=True, **kw)


def setup():
    for ns in (LB, COL):
        sh("ip", "netns", "add", ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")
    sh("ip", "link", "add", "lb0", "netns", LB, "type", "veth", "peer", "name", "col0", "netns", COL)
    sh("ip", "-n", LB, "addr", "add", f"{LB_IP}/24", "dev", "lb0")
    sh("ip", "-n", LB, "link", "set", "lb0", "up")
    sh("ip", "-n", COL, "link", "set", "col0", "up")
    # A wire carries finished checksums: the veth must not leave them to an offload.
    sh("ethtool", "-K", "lb0", "tx", "off", "tso", "off", "gso", "off", ns=LB)
    sh("sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", ns=COL)
    sh("nft", 'add table netdev vxc; add chain netdev vxc in '
       '{ type filter hook ingress device "col0" priority 0; policy drop; }', ns=COL)
    sh("ip", "-n", LB, "link", "add", "vx42", "type", "vxlan", "id", "42", "remote", COL_IP,
       "dstport", "4789", "dev", "lb0")
    sh("ip", "-n", LB, "addr", "add", "192.168.42.1/24", "dev", "vx42")
    sh("ip", "-n", LB, "link", "set", "vx42", "up")


def teardown():
    for ns in (LB, COL):
        subprocess.run(["ip", "netns", "pids", ns], capture_output=True)
        sh("ip", "netns", "del", ns, check=False)


def http(ns, method, url, timeout=5):
    r = sh("curl", "-s", "-m", str(timeout), "-X", method, "-w", "\n%{http_code}", url, ns=ns, check=False)
    body, _, code = r.stdout.rpartition("\n")
    return (int(code) if code.isdigit() else 0), body


def metrics(F):
    code, text = http(COL, "GET", f"http://127.0.0.1:{HTTP_PORT}/metrics")
    F.check(code == 200, "GET /metrics inside the collector namespace", str(code))
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            values[key] = float(value)
    return values


def send_vxlan(count):
    """Frames into VNI 42 through the kernel's vxlan device (UDP to a blackhole
    neighbour behind it: only the VXLAN copy matters)."""
    sh("ip", "-n", LB, "neigh", "replace", "192.168.42.2", "lladdr", "02:00:00:00:00:42", "dev", "vx42")
    script = ("import socket\n"
              "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
              f"for i in range({count}): s.sendto(b'x' * 100, ('192.168.42.2', 9999))\n")
    sh("/usr/bin/python3", "-c", script, ns=LB)


def sigterm_drain(F, binary):
    """SIGTERM with --drain-seconds on a replay that lingers: /healthz 503 at once, RX on for the drain,
    then exit 0; a second SIGTERM during the drain stops at once."""
    feed, _ = vxc.feed_path()
    for label, signals in (("sigterm-drain", 1), ("sigterm-twice", 2)):
        out = vxc.tmpdir(label)
        port = vxc.free_port()
        proc = subprocess.Popen([binary, "--read-pcap", feed, "--output-dir", out, "--linger-seconds", "60",
                                 "--drain-seconds", str(DRAIN_SECONDS), "--http-listen", f"127.0.0.1:{port}"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        url = f"http://127.0.0.1:{port}/healthz"
        code = 0
        for _ in range(100):
            code, _ = http(None, "GET", url, timeout=2)
            if code == 200:
                break
            time.sleep(0.1)
        F.equal(code, 200, label + ": healthy before the signal")
        t0 = time.time()
        proc.send_signal(signal.SIGTERM)
        time.sleep(1.0)
        code, body = http(None, "GET", url, timeout=2)
        if signals == 1:
            F.equal((code, body.strip()), (503, "draining"), label + ": /healthz 503 draining right after SIGTERM")
        else:
            proc.send_signal(signal.SIGTERM)
        try:
            stdout, stderr = proc.communicate(timeout=DRAIN_SECONDS + 30)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
        elapsed = time.time() - t0
        F.equal(proc.returncode, 0, label + ": exit 0")
        if signals == 1:
            F.check(DRAIN_SECONDS - 0.5 <= elapsed < DRAIN_SECONDS + 10,
                    label + ": RX stops after --drain-seconds %d (exit after %.1f s)" % (DRAIN_SECONDS, elapsed))
        else:
            F.check(elapsed < DRAIN_SECONDS, label + ": a second SIGTERM stops at once (exit after %.1f s)" % elapsed)
        summary = json.loads(stdout.strip().splitlines()[-1]) if stdout.strip() else {}
        holds, _, _, text = vxc.invariant(summary)
        F.check(holds, label + ": accounting invariant", text)
        vxc.cleanup(out, not F.failed)


def main():
    binary = vxc.binary_from_argv()
    F = vxc.Failures("test_exception_path")
    sigterm_drain(F, binary)
    if os.geteuid() != 0:
        F.check(False, "runs as root (namespaces, TAP)")
        return F.finish()
    out = vxc.tmpdir("exception")
    teardown()
    proc = None
    try:
        setup()
        args = [binary, "--output-dir", out, "--exception-path", "tap", "--drain-seconds",
                str(DRAIN_SECONDS), "--http-listen", f"0.0.0.0:{HTTP_PORT}", "--",
                "--no-huge", "--no-pci", "--no-shconf", "--no-telemetry", "-m", "512", "-l", "0",
                "--file-prefix", f"vxce{PID}", "--vdev", "net_af_packet0,iface=col0"]
        proc = subprocess.Popen(["ip", "netns", "exec", COL] + args, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 60
        while time.time() < deadline and sh("ip", "link", "show", "vxc0", ns=COL, check=False).returncode:
            time.sleep(0.2)
        F.check(sh("ip", "link", "show", "vxc0", ns=COL, check=False).returncode == 0,
                "the collector created TAP interface vxc0")
        sh("ip", "addr", "add", f"{COL_IP}/24", "dev", "vxc0", ns=COL)
        col_mac = sh("cat", "/sys/class/net/col0/address", ns=COL).stdout.strip()

        # Health probes from the load balancer, through the DPDK port.
        code, body = 0, ""
        for _ in range(50):
            code, body = http(LB, "GET", f"http://{COL_IP}:{HTTP_PORT}/healthz", timeout=2)
            if code == 200:
                break
            time.sleep(0.2)
        F.equal(code, 200, "GET /healthz from the load balancer through the DPDK port")
        tap_mac = sh("cat", "/sys/class/net/vxc0/address", ns=COL).stdout.strip()
        F.equal(tap_mac, col_mac, "vxc0 has the DPDK port's MAC")
        neigh = sh("ip", "neigh", "show", COL_IP, "dev", "lb0", ns=LB).stdout
        F.check(col_mac in neigh, "the load balancer's ARP entry for the collector has the port's MAC", neigh)
        probe = sh("bash", "-c", f"exec 3<>/dev/tcp/{COL_IP}/{HTTP_PORT} && echo open", ns=LB, check=False)
        F.equal(probe.stdout.strip(), "open", "TCP health probe (connect) to the health port")
        ping = sh("/usr/bin/python3", "-c",
                  "from scapy.all import IP, ICMP, sr1, conf\nconf.verb = 0\n"
                  f"r = sr1(IP(dst='{COL_IP}')/ICMP(), timeout=3, iface='lb0')\n"
                  "print('reply' if r is not None and r.haslayer(ICMP) and r[ICMP].type == 0 else 'none')",
                  ns=LB, check=False)
        F.equal(ping.stdout.strip(), "reply", "ICMP echo answered through the exception path")

        send_vxlan(300)
        time.sleep(1.5)
        m = metrics(F)
        F.check(m.get("vxcollector_exception_packets_total", 0) >= 5, "frames went to the kernel",
                str(m.get("vxcollector_exception_packets_total")))
        F.check(m.get("vxcollector_exception_sent_packets_total", 0) >= 3,
                "the kernel's answers went out of the port",
                str(m.get("vxcollector_exception_sent_packets_total")))
        F.equal(m.get("vxcollector_exception_send_failures_total"), 0.0, "no answer lost")
        written = m.get('vxcollector_lane_packets_total{lane="vni-42",vni="42",source="",gwlbe=""}')
        F.check(written is not None and written >= 300, "VXLAN from the load balancer's kernel lands in vni-42",
                str(written))
        F.check(any(k.startswith("vxcollector_port_xstats_total{") for k in m), "port xstats are exported")
        F.equal(m.get("vxcollector_draining"), 0.0, "not draining yet")
        F.check(m.get("vxcollector_output_free_bytes", 0) > 0, "output free bytes exported")
        snmp = [l.split() for l in sh("cat", "/proc/net/snmp", ns=COL).stdout.splitlines() if l.startswith("Ip:")]
        ip = dict(zip(snmp[0][1:], map(int, snmp[1][1:])))
        F.equal((m.get("vxcollector_kernel_reassembly_failures_total"),
                 m.get("vxcollector_kernel_reassembly_fragments_total")),
                (float(ip["ReasmFails"]), float(ip["ReasmReqds"])),
                "net_af_packet port: the namespace's kernel reassembly counters are exported")

        # Drain: refused from elsewhere, accepted from the host itself.
        code, _ = http(LB, "POST", f"http://{COL_IP}:{HTTP_PORT}/drain")
        F.equal(code, 403, "POST /drain from another host is refused")
        code, body = http(COL, "POST", f"http://127.0.0.1:{HTTP_PORT}/drain")
        F.equal(code, 202, "POST /drain from loopback is accepted")
        t0 = time.time()
        code, body = 0, ""
        while time.time() - t0 < 3:
            code, body = http(LB, "GET", f"http://{COL_IP}:{HTTP_PORT}/healthz", timeout=2)
            if code == 503:
                break
            time.sleep(0.1)
        F.equal(code, 503, "/healthz from the load balancer turns 503 during the drain")
        F.equal(body.strip(), "draining", "and says why")
        m = metrics(F)
        F.equal(m.get("vxcollector_draining"), 1.0, "vxcollector_draining is 1")
        send_vxlan(200)  # RX still runs while draining
        try:
            stdout, stderr = proc.communicate(timeout=DRAIN_SECONDS + 30)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
            F.check(False, "the collector stops by itself after --drain-seconds")
        elapsed = time.time() - t0
        F.equal(proc.returncode, 0, "exit code after the drain")
        F.check(elapsed >= DRAIN_SECONDS - 0.5, f"RX ran on for the drain ({elapsed:.1f} s)")
        summary = json.loads(stdout.strip().splitlines()[-1])
        holds, _, _, text = vxc.invariant(summary)
        F.check(holds, "accounting invariant", text)
        lane = summary["lanes"].get("vni-42", {})
        F.check(lane.get("written", 0) >= 500, "VXLAN sent during the drain was written too",
                json.dumps(lane))
        F.check("POST /drain: draining" in stderr, "the drain is logged")
        files = vxc.lane_files(out, "vni-42")
        F.check(len(files) >= 1 and all(not f.endswith(".part") for f in files), "files completed", str(files))
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        teardown()
    vxc.cleanup(out, not F.failed)
    return F.finish()


if __name__ == "__main__":
    sys.exit(main())
