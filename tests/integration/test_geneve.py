#!/usr/bin/python3
"""GENEVE (AWS Gateway Load Balancer) through vxcollector, judged by tshark (oracle.py).

Usage: test_geneve.py /path/to/vxcollector   (env VXC_SOURCE_ROOT = source tree;
the live part needs root, ip, nft, ethtool and tcpreplay, else it is skipped)

The feed (generated with scapy, built on genevefeed.py):
  * GWLB-style GENEVE carrying AWS traffic mirroring: GENEVE (AWS options: ENI
    id, attachment id, flow cookie, or none) -> IPv4/IPv6 -> UDP 4789 -> VXLAN
    -> Ethernet -> IPv4/IPv6; nested VNIs 4242 and 77, nested sources
    172.31.5.10, 172.31.5.11, 2001:db8:5::a, 172.31.6.20; outer IPv4, IPv6,
    802.1Q. VNI 77 also comes once as direct VXLAN, first.
  * GWLB tenant traffic: GENEVE protocol 0x0800/0x86DD with a plain IP packet,
    two ENI ids, without the options, a repeated ENI option, ENI id 0.
  * GENEVE Ethernet (0x6558), with options of other classes, critical bits.
  * genevefeed.cases(): named valid and malformed frames with the verdict their
    author expects (cross-checked against the oracle).
  * malformed: bad option lengths (AWS options of the wrong size, options
    overrunning Opt Len or the datagram), versions 1-3, O bit, other protocol
    types, and four truncation series: a frame cut at every offset; a GWLB
    mirror datagram whose GENEVE payload is cut at every offset (outer lengths
    fixed up); the same with the nested inner Ethernet frame cut at every offset
    (nested lengths fixed up); an IPv6 tenant datagram cut at every offset.
  * noise: GENEVE bytes to UDP 6082 and TCP 6081, ARP, ICMP.

(a) --read-pcap: per lane, the records equal tshark's (bytes[:snaplen],
    orig_len, timestamp, order; gwlbe lanes: 14 synthesized bytes + the L3
    packet); each lane's gwlbe label is the ENI id of its first packet;
    --lane-key vni+source splits VNI 4242 by nested source; the frames tshark
    calls malformed, split by expected reason into one capture per reason, are
    all counted under that reason; the accounting invariant everywhere.
(b) live: the same feed (less outer IPv4 fragments and the frames the kernel
    cannot carry, see live_run()) replayed with tcpreplay
    over a veth into the collector's net_af_packet port in another namespace:
    offered = received, lanes and records as tshark says.
"""

import os
import random
import re
import shutil
import signal
import struct
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
import genevefeed as gf  # noqa: E402
import oracle  # noqa: E402
import vxc  # noqa: E402
from scapy.all import (ARP, ICMP, IP, TCP, UDP, Ether, IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrHopByHop, Raw,  # noqa: E402
                       fragment)
from scapy.contrib.geneve import GENEVE, GeneveOptions  # noqa: E402
from scapy.layers.vxlan import VXLAN  # noqa: E402

SNAPLEN = 128
ENI_A = gf.ENI_ID
ENI_B = 0x1122334455667788
MIRROR_SOURCES = ("172.31.5.10", "172.31.5.11", "2001:db8:5::a")
VNI77_SOURCE = "172.31.6.20"
DIRECT_SOURCE = "10.9.0.1"
GENEVE_AT = 14 + 20 + 8  # GENEVE header in an untagged outer-IPv4 frame
REASONS = ("bad_header", "unsupported_payload", "other")  # oracle dispositions of frames not written


# ---- the feed -------------------------------------------------------------------------------

def options(eni):
    """The three GWLB options with endpoint ENI id `eni`; None: no options at all."""
    return [] if eni is None else gf.gwlb_options(eni=eni)


def mirror(nested_src, vni, eni, payload, outer_v6=False, vlan=None, inner_v6=False):
    """GWLB GENEVE -> IP (nested_src) -> UDP 4789 -> VXLAN vni -> Ethernet."""
    nested = (IPv6(src=nested_src, dst=gf.MIRROR_DST6) if ":" in nested_src
              else IP(src=nested_src, dst=gf.MIRROR_DST4))
    return bytes(gf.outer(outer_v6, vlan) / gf.geneve(options=options(eni)) / nested /
                 UDP(sport=50002, dport=4789) / VXLAN(flags=0x08, vni=vni) / gf.inner_frame(inner_v6, payload))


def direct_vxlan(src, vni, payload):
    return bytes(Ether(src="02:00:00:00:01:03", dst="02:00:00:00:01:02") / IP(src=src, dst=gf.OUTER_DST4) /
                 UDP(sport=50003, dport=4789) / VXLAN(flags=0x08, vni=vni) / gf.inner_frame(False, payload))


def tenant(eni_options, payload, inner_v6=False, outer_v6=False, vni=0):
    return bytes(gf.outer(outer_v6) / gf.geneve(vni=vni, options=eni_options) / gf.inner_ip(inner_v6, payload))


def ethernet(payload, opts=(), vlan=None, outer_v6=False, **flags):
    return bytes(gf.outer(outer_v6, vlan) / gf.geneve(vni=0x123456, options=list(opts), **flags) /
                 gf.inner_frame(False, payload))


def patch(frame, offset, data):
    b = bytearray(frame)
    b[offset:offset + len(data)] = data
    return bytes(b)


def valid_frames(rng):
    """Frames that go to lanes, in a seeded random order (direct VXLAN VNI 77 first)."""
    def payload():
        return bytes(rng.getrandbits(8) for _ in range(rng.choice((0, 40, 300, 900))))

    out = []
    for i in range(60):
        out.append(mirror(MIRROR_SOURCES[i % 3], 4242, ENI_A if i % 4 else ENI_B, payload(),
                          outer_v6=i % 5 == 0, vlan=100 if i % 7 == 0 else None, inner_v6=i % 6 == 0))
    for i in range(5):
        out.append(mirror(MIRROR_SOURCES[0], 4242, None, payload()))
    for i in range(10):
        out.append(mirror(VNI77_SOURCE, 77, ENI_B, payload()))
    for i in range(30):
        out.append(tenant(options(ENI_A), payload(), inner_v6=i % 3 == 0))
    for i in range(20):
        out.append(tenant(options(ENI_B), payload(), inner_v6=True, outer_v6=True))
    for i in range(10):
        out.append(tenant([], payload(), inner_v6=i % 2 == 0, vni=i))
    out.append(tenant(options(0), payload()))  # ENI id 0: the lane of packets without the option
    # Repeated ENI option: the last one counts (gwlbe-<ENI_B>).
    out.append(tenant([gf.aws_option(1, ENI_A, 8), gf.aws_option(1, ENI_B, 8)], payload()))
    for i in range(20):
        opts = [GeneveOptions(classid=0x0102, type=0x80 | i, data=b"\x01" * (4 * (i % 3)))] if i % 2 else []
        out.append(ethernet(payload(), opts, vlan=7 if i % 4 == 1 else None, outer_v6=i % 5 == 0,
                            critical=i % 3 == 0))
    rng.shuffle(out)
    return [direct_vxlan(DIRECT_SOURCE, 77, payload())] + out


def malformed_frames():
    """Bad option lengths, versions, O bit, protocol types, noise and the truncation series."""
    out = []
    base = mirror(MIRROR_SOURCES[0], 4242, ENI_A, b"x" * 30)
    # AWS options of the wrong size, and options overrunning Opt Len / the datagram.
    for kind, size in ((1, 0), (1, 4), (1, 12), (1, 16), (2, 4), (2, 12), (3, 0), (3, 8)):
        opts = [GeneveOptions(classid=gf.AWS_CLASS, type=kind, data=b"\x07" * size)]
        out.append(bytes(gf.outer() / gf.geneve(options=opts) / gf.inner_ip(False, b"z" * 20)))
    for option in range(3):  # each option's length one word too long, then the last one 31 words
        at = GENEVE_AT + 8 + 12 * option + 3
        out.append(patch(base, at, bytes([base[at] + 1])))
    out.append(patch(base, GENEVE_AT + 8 + 24 + 3, bytes([31])))
    for opt_len in (0, 1, 5, 7, 9, 63):  # header Opt Len other than the 8 words of options
        out.append(patch(base, GENEVE_AT, bytes([opt_len])))
    for version in (1, 2, 3):
        out.append(patch(base, GENEVE_AT, bytes([version << 6 | 8])))
    out.append(bytes(gf.outer() / gf.geneve(oam=1, options=options(ENI_A)) / gf.inner_ip(False, b"oam")))
    out.append(bytes(gf.outer() / gf.geneve(oam=1) / gf.inner_frame(False, b"oam")))
    out.append(bytes(gf.outer() / gf.geneve(proto=0x0806) / ARP(psrc="10.0.0.1", pdst="10.0.0.2")))
    out.append(bytes(gf.outer() / gf.geneve(proto=0x88CC) / Raw(b"\x02\x07\x04" + b"\0" * 40)))
    # Not GENEVE: UDP 6082, TCP 6081, ARP, ICMP.
    out.append(bytes(gf.outer() / UDP(sport=50001, dport=6082) / Raw(bytes(gf.geneve()[GENEVE] /
                                                                             gf.inner_frame()))))
    out.append(bytes(gf.outer() / TCP(sport=50001, dport=6081) / Raw(bytes(gf.geneve()[GENEVE]))))
    out.append(bytes(Ether(dst="ff:ff:ff:ff:ff:ff") / ARP(psrc=gf.OUTER_SRC4, pdst=gf.OUTER_DST4)))
    out.append(bytes(gf.outer() / ICMP()))
    # Truncation series.
    full = mirror(MIRROR_SOURCES[2], 4242, ENI_A, b"t" * 40, vlan=100)
    out += [full[:n] for n in range(len(full))]
    geneve_bytes = bytes(gf.gwlb_mirror()[GENEVE])
    out += [bytes(gf.outer() / UDP(sport=50001, dport=6081) / Raw(geneve_bytes[:n]))
            for n in range(len(geneve_bytes))]
    inner = bytes(gf.inner_frame(True, b"i" * 30))
    out += [bytes(gf.outer() / gf.geneve(options=options(ENI_A)) / IP(src=MIRROR_SOURCES[1], dst=gf.MIRROR_DST4) /
                  UDP(sport=50002, dport=4789) / VXLAN(flags=0x08, vni=4242) / Raw(inner[:n]))
            for n in range(len(inner))]
    tenant6 = bytes(gf.geneve_ip(inner_v6=True, outer_v6=True)[GENEVE])
    out += [bytes(gf.outer(True) / UDP(sport=50001, dport=6081) / Raw(tenant6[:n])) for n in range(len(tenant6))]
    return out


def edge_frames():
    """Valid but unusual: the contract's corners of nested headers, padding, fragments, option bits."""
    out = []
    inner = gf.inner_frame(False, b"e" * 60)
    vx = UDP(sport=50002, dport=4789) / VXLAN(flags=0x08, vni=4242) / inner
    gen = gf.geneve(options=options(ENI_A), proto=0x0800)
    src = MIRROR_SOURCES[1]
    out.append(bytes(gf.outer() / gen / IP(src=src, dst=gf.MIRROR_DST4, options=b"\x01" * 8) / vx))  # nested options
    nested6 = IPv6(src=MIRROR_SOURCES[2], dst=gf.MIRROR_DST6) / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() / vx
    out.append(bytes(gf.outer() / gf.geneve(options=options(ENI_A), proto=0x86DD) / nested6))  # extension headers
    out.append(bytes(gf.outer() / gen / nested6))  # protocol type IPv4, an IPv6 packet: not VXLAN to terminate
    out.append(bytes(gf.outer() / gen / IP(src=src, dst=gf.MIRROR_DST4, len=20 + len(vx) + 6) / vx /
                     Raw(b"\xee" * 6)))  # nested IP padding after the UDP datagram
    out.append(bytes(gf.outer() / gen / IP(src=src, dst=gf.MIRROR_DST4) / vx / Raw(b"\xdd" * 10)))  # GENEVE trailer
    nested = IP(bytes(IP(src=src, dst=gf.MIRROR_DST4) / vx))
    for length in (0, 19, 40, len(nested) + 1):  # nested total length 0 / < header / short / past the payload
        b = bytearray(bytes(nested))
        b[2:4] = struct.pack("!H", length)
        out.append(bytes(gf.outer() / gen / Raw(bytes(b))))
    b = bytearray(bytes(nested))
    b[24:26] = struct.pack("!H", 9000)  # nested UDP length past the nested IP packet
    out.append(bytes(gf.outer() / gen / Raw(bytes(b))))
    b[24:26] = struct.pack("!H", 15)  # nested UDP length shorter than UDP + VXLAN
    out.append(bytes(gf.outer() / gen / Raw(bytes(b))))
    out.append(bytes(gf.outer() / gen / IP(src=src, dst=gf.MIRROR_DST4) / UDP(sport=50002, dport=4790) /
                     VXLAN(vni=4242) / inner))  # nested UDP to another port
    # Option bits: the critical bit makes type 0x81 another type; R bits beside the length are ignored.
    crit = [GeneveOptions(classid=gf.AWS_CLASS, type=0x81, data=struct.pack("!Q", ENI_B))] + options(ENI_A)
    out.append(tenant(crit, b"c" * 20))
    rbits = patch(tenant(options(ENI_B), b"r" * 20), GENEVE_AT + 8 + 3, bytes([0xE0 | 2]))
    out.append(rbits)
    # Bytes after the outer IP datagram (an Ethernet trailer) are no part of the record.
    out.append(tenant(options(ENI_B), b"p" * 10) + b"\0\1\2\3")
    out.append(mirror(MIRROR_SOURCES[0], 4242, ENI_A, b"q" * 10) + b"\0\1\2\3")
    # Outer IPv4 fragments: reassembled, then GENEVE.
    for frame in (gf.outer() / gen / gf.inner_ip(False, b"f" * 1400),
                  gf.outer() / gen / IP(src=src, dst=gf.MIRROR_DST4) / UDP(sport=50002, dport=4789) /
                  VXLAN(flags=0x08, vni=4242) / gf.inner_frame(False, b"g" * 1300)):
        eth, ip = frame[Ether], frame[IP]
        ip.id, ip.flags = 4711, 0
        out += [bytes(Ether(src=eth.src, dst=eth.dst) / f) for f in fragment(IP(bytes(ip)), fragsize=600)]
    return out


def write_pcap(path, frames, start=1700000000):
    """Classic pcap, Ethernet, microsecond timestamps 1 ms apart."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, frame in enumerate(frames):
            f.write(struct.pack("<IIII", start + i // 1000, (i % 1000) * 1000, len(frame), len(frame)) + frame)


def build_feed(work):
    rng = random.Random(6081)
    named = gf.cases()
    frames = valid_frames(rng)
    first_case = len(frames) + 1
    frames += [frame for _, frame, _ in named] + edge_frames() + malformed_frames()
    path = os.path.join(work, "geneve-feed.pcap")
    write_pcap(path, frames)
    return path, frames, [(first_case + i, name, expect) for i, (name, _, expect) in enumerate(named)]


# ---- checks ---------------------------------------------------------------------------------

def check_oracle_vs_generator(F, exp, named):
    """The oracle agrees with what genevefeed's author meant each named frame to be."""
    by_frame = {g.frame: g for g in exp.datagrams}
    bad = []
    for number, name, e in named:
        if e["kind"] == "drop":
            want, got = e["reason"], exp.disposition[number]
        else:
            g = by_frame.get(number)
            want = ("gwlbe-%016x" % e.get("gwlbe_eni", 0) if e["kind"] == "ip" else "vni-%d" % e["vni"],
                    e["tunnel_src"] if e["kind"] == "ethernet" else None)
            got = (g.lane(), str(g.tunnel_src) if e["kind"] == "ethernet" else None) if g else exp.disposition[number]
        if want != got:
            bad.append("%s (frame %d): generator %s, tshark %s" % (name, number, want, got))
    F.check(not bad, "oracle: tshark's verdict = genevefeed's for its %d named frames" % len(named), "; ".join(bad))


def check_counts(F, s, exp, frames, label):
    d = s.get("drops", {})
    F.equal(s.get("received"), frames, label + ": received = frames")
    F.equal(s.get("written"), exp.counts["geneve"] + exp.counts["vxlan"], label + ": written = tshark's datagrams")
    for reason in ("bad_header", "unsupported_payload", "fragment"):
        F.equal(d.get(reason), exp.counts[reason], "%s: drops.%s" % (label, reason))
    F.equal(d.get("not_vxlan", 0) + s.get("exception", 0), exp.counts["other"], label + ": not_vxlan + exception")
    others = {r: n for r, n in d.items() if r not in ("bad_header", "unsupported_payload", "fragment", "not_vxlan")
              and n}
    F.equal(others, {}, label + ": no other drops")


def check_lanes(F, run, exp, label, by_source=False, records=True):
    """Lanes = tshark's; each lane's records (vxc.check_lane when `records`) and gwlbe label."""
    s = run.summary
    by_lane = exp.by_lane(by_source)
    F.equal(sorted(s.get("lanes", {})), sorted(by_lane), label + ": lanes = tshark's")
    for lane, dgs in sorted(by_lane.items()):
        if records:
            vxc.check_lane(F, run, lane, dgs, SNAPLEN, label, vni=dgs[0].vni if dgs[0].kind == "ethernet" else None)
        oracle.check_gwlbe_label(F, s, lane, dgs, label)


def check_records_untimed(F, run, lane, datagrams, label):
    """The lane's files hold `datagrams` in order (bytes[:snaplen], orig_len); arrival times are the run's own."""
    records = []
    for path in vxc.lane_files(run.outdir, lane):
        records += vxc.read_capture(path).records
    problems = ["record %d (input frame %d): %d bytes, orig_len %d; expected %d bytes, orig_len %d" %
                (i, g.frame, len(data), orig, min(SNAPLEN, len(g.inner)), len(g.inner))
                for i, ((ts, orig, data), g) in enumerate(zip(records, datagrams))
                if data != g.inner[:SNAPLEN] or orig != len(g.inner)]
    F.check(len(records) == len(datagrams) and not problems,
            "%s: lane %s: %d records = tshark's (bytes[:%d], orig_len, order)" % (label, lane, len(records), SNAPLEN),
            "%d expected; %s" % (len(datagrams), problems[:5]))


# ---- (a) --read-pcap ------------------------------------------------------------------------

def read_pcap_runs(F, binary, work, feed, frames, exp):
    ok = True
    out = os.path.join(work, "default")
    run = vxc.run_collector(binary, feed, out)
    if vxc.check_run(F, run, "default"):
        check_counts(F, run.summary, exp, len(frames), "default")
        check_lanes(F, run, exp, "default")
        labels = {l: i.get("gwlbe") for l, i in run.summary.get("lanes", {}).items()}
        F.equal(labels.get("gwlbe-%016x" % ENI_A), "%016x" % ENI_A, "default: gwlbe-<ENI A> label = ENI A")
        F.check(labels.get("vni-4242") in ("%016x" % ENI_A, "%016x" % ENI_B) and labels.get("vni-77") is None,
                "default: GENEVE->VXLAN lane vni-4242 labelled with an ENI id, vni-77 (direct VXLAN first) not",
                str(labels))

    out = os.path.join(work, "source")
    run = vxc.run_collector(binary, feed, out, "--lane-key", "vni+source")
    if vxc.check_run(F, run, "vni+source"):
        check_counts(F, run.summary, exp, len(frames), "vni+source")
        check_lanes(F, run, exp, "vni+source", by_source=True)
        lanes = set(run.summary.get("lanes", {}))
        want = {"vni-4242-" + s.replace(":", "-") for s in MIRROR_SOURCES}
        want |= {"vni-77-" + VNI77_SOURCE, "vni-77-" + DIRECT_SOURCE}
        F.check(want <= lanes, "vni+source: VNI 4242 split by nested source, VNI 77 by nested/direct source",
                "missing %s" % sorted(want - lanes))

    # Every frame tshark says is dropped, one capture per expected reason.
    for reason in REASONS:
        numbers = [n for n, what in sorted(exp.disposition.items()) if what == reason]
        label = "only-" + reason
        path = os.path.join(work, label + ".pcap")
        write_pcap(path, [frames[n - 1] for n in numbers])
        run = vxc.run_collector(binary, path, os.path.join(work, label))
        if vxc.check_run(F, run, label):
            s = run.summary
            d = s.get("drops", {})
            got = d.get("not_vxlan", 0) + s.get("exception", 0) if reason == "other" else d.get(reason)
            F.equal((s.get("received"), got, s.get("written")), (len(numbers), len(numbers), 0),
                    "%s: all %d frames tshark gives reason %s counted under it (received, %s, written)" %
                    (label, len(numbers), reason, "not_vxlan" if reason == "other" else reason))
    return ok


# ---- (b) live over a veth -------------------------------------------------------------------

SENDER_DEV, COLLECTOR_DEV = "g-send", "g-coll"


def sh(args, check=True, timeout=60):
    p = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(args), p.returncode, (p.stderr or p.stdout).strip()))
    return p


def kernel_delivers(frame):
    """Whether a frame sent on the veth reaches the collector's AF_PACKET socket. A packet socket
    sends nothing shorter than an Ethernet header, and the receiving kernel strips a VLAN tag
    in software (skb_vlan_untag) before any tap sees the frame, dropping a tagged frame without
    the 4-byte tag and 2 bytes after it."""
    if len(frame) < 14:
        return False
    return frame[12:14] not in (b"\x81\x00", b"\x88\xa8") or len(frame) >= 20


def write_live_feed(work, frames):
    path = os.path.join(work, "live.pcap")
    write_pcap(path, frames)
    return path


def live_run(F, binary, work, frames, exp):
    """`exp`: the oracle's view of `frames`. Left out of the live feed: what kernel_delivers() rejects,
    and outer IPv4 fragments: DPDK's net_af_packet joins its sockets to a PACKET_FANOUT group with
    PACKET_FANOUT_FLAG_DEFRAG, so the kernel reassembles them before the collector sees a frame."""
    missing = [t for t in ("ip", "nft", "ethtool", "tcpreplay", "taskset") if not shutil.which(t)]
    if os.geteuid() != 0 or missing:
        print("SKIP live: needs root and %s" % (missing or "ip, nft, ethtool, tcpreplay"))
        return
    pid = os.getpid()
    sender, collector = "vxcg-%d-sender" % pid, "vxcg-%d-collector" % pid
    fragments = {n for g in exp.datagrams if len(g.fragment_frames) > 1 for n in g.fragment_frames}
    live = [f for n, f in enumerate(frames, 1) if kernel_delivers(f) and n not in fragments]
    feed = write_live_feed(work, live)
    exp = oracle.classify(feed)
    out = os.path.join(work, "live")
    os.makedirs(out)
    proc = None
    cpus = sorted(os.sched_getaffinity(0))
    try:
        for ns in (sender, collector):
            sh(["ip", "netns", "add", ns])
            sh(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                "net.ipv6.conf.default.disable_ipv6=1"])
        sh(["ip", "-n", sender, "link", "add", SENDER_DEV, "type", "veth", "peer", "name", COLLECTOR_DEV,
            "netns", collector])
        for ns, dev in ((sender, SENDER_DEV), (collector, COLLECTOR_DEV)):
            sh(["ip", "-n", ns, "link", "set", dev, "up"])
            # Frames stay as written: no VLAN tag moved into metadata, no offload reshaping them.
            sh(["ip", "netns", "exec", ns, "ethtool", "-K", dev, "rxvlan", "off", "txvlan", "off",
                "rx-vlan-stag-hw-parse", "off", "tx-vlan-stag-hw-insert", "off", "tso", "off", "gso", "off",
                "gro", "off"])
        sh(["ip", "netns", "exec", collector, "nft",
            'add table netdev vxc; add chain netdev vxc in { type filter hook ingress device "%s" priority 0; '
            'policy drop; }' % COLLECTOR_DEV])
        args = [binary, "--output-dir", out, "--http-listen", "none", "--", "--no-huge", "--no-pci", "--no-shconf",
                "--no-telemetry", "-m", "512", "-l", str(cpus[0]), "--file-prefix", "vxcg%d" % pid,
                "--vdev", "net_af_packet0,iface=" + COLLECTOR_DEV]
        out_path, err_path = os.path.join(out, "collector.stdout"), os.path.join(out, "collector.stderr")
        with open(out_path, "w") as so, open(err_path, "w") as se:
            t0 = time.monotonic()
            proc = subprocess.Popen(["ip", "netns", "exec", collector] + args, stdout=so, stderr=se)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and proc.poll() is None and "RX queue(s)" not in open(err_path).read():
                time.sleep(0.1)
            started = proc.poll() is None and "RX queue(s)" in open(err_path).read()
            if not F.check(started, "live: collector started its af_packet port",
                           "" if started else open(err_path).read()[-1500:]):
                return
            p = sh(["ip", "netns", "exec", sender, "taskset", "-c", str(cpus[-1]), "tcpreplay", "-i", SENDER_DEV,
                    "--pps", "2000", feed], check=False, timeout=120)
            text = p.stdout + p.stderr
            sent = [int(x) for x in re.findall(r"(?:Successful|Failed) packets:\s+(\d+)", text)]
            all_sent = p.returncode == 0 and sent == [len(live), 0]
            F.check(all_sent, "live: tcpreplay sent all %d frames" % len(live), "" if all_sent else text[-800:])
            time.sleep(2)  # at 2000 pps the collector keeps up; let the last burst through
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        with open(out_path) as so, open(err_path) as se:
            run = vxc.Run(args, proc.returncode, so.read(), se.read(), out, time.monotonic() - t0)
        if vxc.check_run(F, run, "live"):
            s = run.summary
            F.equal(s.get("ports", {}).get("0", {}).get("rx"), len(live), "live: port rx = offered")
            F.equal(s.get("ports", {}).get("0", {}).get("missed"), 0, "live: port missed")
            check_counts(F, s, exp, len(live), "live")
            check_lanes(F, run, exp, "live", records=False)
            for lane, dgs in sorted(exp.by_lane().items()):
                check_records_untimed(F, run, lane, dgs, "live")
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        for ns in (sender, collector):
            sh(["ip", "netns", "del", ns], check=False)


def main():
    binary = vxc.binary_from_argv()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwinds through finally: namespaces go
    F = vxc.Failures("test_geneve")
    work = vxc.tmpdir("geneve")
    t0 = time.monotonic()
    feed, frames, named = build_feed(work)
    exp = oracle.classify(feed)
    print("feed %s: %d frames; tshark: %s; lanes %s" % (
        feed, len(frames), dict(exp.counts), {k: len(v) for k, v in sorted(exp.by_lane().items())}))
    check_oracle_vs_generator(F, exp, named)
    F.check(exp.counts["bad_header"] > 100 and exp.counts["unsupported_payload"] >= 4 and exp.counts["other"] >= 4,
            "feed: frames for every drop reason", str(dict(exp.counts)))
    read_pcap_runs(F, binary, work, feed, frames, exp)
    live_run(F, binary, work, frames, exp)
    print("runtime %.0f s" % (time.monotonic() - t0))
    vxc.cleanup(work, not F.failed)
    return F.finish()


if __name__ == "__main__":
    sys.exit(main())
