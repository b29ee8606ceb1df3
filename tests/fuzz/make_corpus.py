#!/usr/bin/python3
"""Writes the classify fuzzer's seed corpus (tests/fuzz/corpus/).

Usage: /usr/bin/python3 tests/fuzz/make_corpus.py [--captures DIR] [--repro-dir DIR]

Each seed is the fuzzer's 5-byte control header (classify_fuzzer.cpp: format
and lane flags, first-segment length, snaplen) followed by one Ethernet frame:
  * synth-*: frames built with scapy: VXLAN over IPv4/IPv6, VLAN/QinQ, IPv4
    options, IPv6 extension headers, fragments, other ports and protocols,
    cut headers, trailers, split first segments, every record format, frames
    for the exception path (ARP, ICMP, ICMPv6, TCP to the health port);
  * synth-geneve-*: every frame of tests/integration/genevefeed.py (AWS GWLB
    options, GENEVE -> VXLAN, inner IPv4/IPv6 packets, malformed GENEVE),
    some with split first segments;
  * cap-*: the first few frames of each tunnel-related capture in DIR
    (default /work/shared/corpus), read with plain struct parsing of
    pcap/pcapng.
--repro-dir also writes the inputs that reproduce the findings described in
tests/fuzz/README.md (not seeds: the fuzzer fails on them).

Run with Debian's python3 (scapy). Output is deterministic; the seeds are
checked in, so CI never runs this.
"""

import argparse
import glob
import os
import struct
import sys

from scapy.all import (IP, TCP, UDP, ICMP, ARP, Ether, Dot1Q, IPv6, IPv6ExtHdrDestOpt, ICMPv6ND_NS,
                       IPv6ExtHdrFragment, IPv6ExtHdrHopByHop, IPv6ExtHdrRouting, IPOption,
                       Raw, fragment)
from scapy.layers.vxlan import VXLAN

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.dont_write_bytecode = True  # keep the source tree clean
import genevefeed  # noqa: E402
WHOLE = 0xFFFF  # first segment = whole frame (clamped by the fuzzer)
FMT = {"usec": 0, "nsec": 1, "pcapng": 2}
MAX_CAPTURE_FRAME = 9216  # jumbo; longer frames are cut to TRUNCATE_TO
TRUNCATE_TO = 4096
FRAMES_PER_CAPTURE = 3
RELEVANT = ("vxlan", "geneve", "bigtcp", "gso", "icmp6", "erspan")


def control(fmt="usec", port_8472=False, no_auto=False, auto_cap=4, contiguous=WHOLE, snaplen=128,
            exception=False):
    assert 0 <= auto_cap <= 7
    flags = (FMT[fmt] | (0x04 if port_8472 else 0) | (0x08 if no_auto else 0) | (auto_cap << 4) |
             (0x80 if exception else 0))
    return struct.pack(">BHH", flags, contiguous, snaplen)


def inner(payload=20):
    return bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") /
                 IP(src="10.1.0.1", dst="10.1.0.2") /
                 TCP(sport=40000, dport=80, flags="S") / Raw(b"x" * payload))


def eth(tags=(), ethertype=None):
    """Outer Ethernet header with VLAN tags given as TPIDs, outermost first."""
    e = Ether(src="02:00:00:00:01:01", dst="02:00:00:00:01:02")
    if not tags:
        return e
    e.type = tags[0]
    layers = e
    for i, _ in enumerate(tags):
        nxt = tags[i + 1] if i + 1 < len(tags) else None
        tag = Dot1Q(vlan=100 + i)
        if nxt is not None:
            tag.type = nxt
        layers = layers / tag
    return layers


def v4(**kw):
    return IP(src="192.0.2.1", dst="192.0.2.200", **kw)


def v6(**kw):
    return IPv6(src="2001:db8::1", dst="2001:db8::c8", **kw)


def vxlan(vni=4242, flags=0x08, dport=4789, payload=None):
    return (UDP(sport=50000, dport=dport) / VXLAN(flags=flags, vni=vni) /
            Raw(inner() if payload is None else payload))


def synthetic():
    s = {}
    s["v4-basic"] = control() + bytes(eth() / v4() / vxlan())
    s["v6-basic"] = control() + bytes(eth() / v6() / vxlan())
    s["v4-vlan"] = control() + bytes(eth((0x8100,)) / v4() / vxlan())
    s["v6-qinq"] = control() + bytes(eth((0x88A8, 0x8100)) / v6() / vxlan())
    s["v4-three-tags"] = control() + bytes(eth((0x88A8, 0x8100, 0x8100)) / v4() / vxlan())
    s["v4-options"] = control() + bytes(eth() / v4(options=IPOption(b"\x01" * 40)) / vxlan())
    s["v6-ext-headers"] = control() + bytes(eth() / v6() / IPv6ExtHdrHopByHop() /
                                            IPv6ExtHdrDestOpt() / IPv6ExtHdrRouting() / vxlan())
    s["v6-fragment"] = control() + bytes(eth() / v6() / IPv6ExtHdrFragment(m=1) / vxlan())
    frags = fragment(v4() / vxlan(payload=inner(400)), fragsize=128)
    s["v4-frag-first"] = control() + bytes(eth() / frags[0])
    s["v4-frag-middle"] = control() + bytes(eth() / frags[1])
    s["v4-frag-last"] = control() + bytes(eth() / frags[-1])
    s["v4-frag-first-split"] = control(contiguous=40) + bytes(eth() / frags[0])
    s["v4-port-8472"] = control(port_8472=True) + bytes(eth() / v4() / vxlan(dport=8472))
    s["v4-port-8472-unset"] = control() + bytes(eth() / v4() / vxlan(dport=8472))
    s["v4-i-flag-clear"] = control() + bytes(eth() / v4() / vxlan(flags=0x00))
    s["v4-reserved-set"] = control() + bytes(eth() / v4() / vxlan(flags=0xFF))
    s["v4-inner-14"] = control() + bytes(eth() / v4() / vxlan(payload=inner()[:14]))
    s["v4-inner-13"] = control() + bytes(eth() / v4() / vxlan(payload=inner()[:13]))
    s["v4-padding"] = control() + bytes(eth() / v4() / vxlan(payload=inner()[:14])) + b"\0" * 20
    s["v4-trailer-split"] = control(contiguous=100) + bytes(eth() / v4() / vxlan()) + b"\xee" * 300
    s["v4-split-inner-offset"] = control(contiguous=50) + bytes(eth() / v4() / vxlan())
    s["v4-split-short"] = control(contiguous=49) + bytes(eth() / v4() / vxlan())
    s["v6-split-70"] = control(contiguous=70) + bytes(eth() / v6() / vxlan())
    s["v4-pcapng-snap14"] = control("pcapng", snaplen=14) + bytes(eth() / v4() / vxlan())
    s["v6-nsec-snapmax"] = control("nsec", snaplen=65535) + bytes(eth() / v6() / vxlan())
    s["v4-pcapng-snapmax"] = control("pcapng", snaplen=65535) + bytes(eth() / v4() / vxlan(payload=inner(1000)))
    s["v4-vni-max-no-auto"] = control(no_auto=True) + bytes(eth() / v4() / vxlan(vni=0xFFFFFF))
    s["v4-vni-unknown-no-auto"] = control(no_auto=True) + bytes(eth() / v4() / vxlan(vni=7))
    s["v4-vni-unknown-cap0"] = control(auto_cap=0) + bytes(eth() / v4() / vxlan(vni=7))
    s["v4-vni-unknown-cap7"] = control(auto_cap=7) + bytes(eth() / v4() / vxlan(vni=7))
    s["v4-nested-vxlan"] = control() + bytes(eth() / v4() / vxlan(payload=bytes(eth() / v4() / vxlan(vni=1))))
    s["v4-jumbo"] = control(snaplen=9000) + bytes(eth() / v4() / vxlan(payload=inner(8900)))
    s["v4-total-len-0"] = control() + bytes(eth() / v4(len=0) / vxlan())
    s["v6-payload-len-0"] = control() + bytes(eth() / v6(plen=0) / vxlan())
    s["v4-udp-len-short"] = control() + bytes(eth() / v4() / UDP(dport=4789, len=15) / VXLAN(vni=1) / Raw(inner()))
    s["v4-tcp-4789"] = control() + bytes(eth() / v4() / TCP(dport=4789) / Raw(inner()))
    s["v4-icmp"] = control() + bytes(eth() / v4() / ICMP() / Raw(b"ping" * 8))
    s["arp"] = control() + bytes(eth() / ARP(psrc="192.0.2.1", pdst="192.0.2.200"))
    # The exception path (control bit 7; TCP 9469 is the exception port).
    exc = control(exception=True)
    s["exc-arp"] = exc + bytes(eth() / ARP(psrc="192.0.2.1", pdst="192.0.2.200"))
    s["exc-arp-vlan"] = exc + bytes(eth((0x8100,)) / ARP(psrc="192.0.2.1", pdst="192.0.2.200"))
    s["exc-icmp"] = exc + bytes(eth() / v4() / ICMP() / Raw(b"ping" * 8))
    s["exc-icmpv6-nd"] = exc + bytes(eth() / v6(hlim=255) / IPv6ExtHdrHopByHop() /
                                     ICMPv6ND_NS(tgt="2001:db8::c8"))
    s["exc-tcp-health"] = exc + bytes(eth() / v4() / TCP(sport=40000, dport=9469, flags="S"))
    s["exc-tcp-health-v6"] = exc + bytes(eth() / v6() / TCP(sport=40000, dport=9469, flags="S"))
    s["exc-tcp-80"] = exc + bytes(eth() / v4() / TCP(sport=40000, dport=80, flags="S"))
    s["exc-tcp-health-split"] = control(exception=True, contiguous=14 + 20 + 3) + s["exc-tcp-health"][5:]
    s["exc-vxlan"] = exc + bytes(eth() / v4() / vxlan())
    # GENEVE: every genevefeed case, and the GWLB mirror frame cut at the
    # interesting first-segment lengths (in the options, the nested IPv4
    # header, one byte before and at the inner frame).
    for name, frame, _ in genevefeed.cases():
        s["geneve-" + name] = control() + frame
    gwlb = bytes(genevefeed.gwlb_mirror())
    for cut in (14 + 20 + 16 + 20, 14 + 20 + 16 + 32 + 10, 14 + 20 + 16 + 32 + 20 + 15,
                14 + 20 + 16 + 32 + 20 + 16):
        s["geneve-gwlb-mirror-split-%d" % cut] = control(contiguous=cut) + gwlb
    s["geneve-gwlb-mirror-exc-pcapng"] = control("pcapng", exception=True, snaplen=65535) + gwlb
    s["geneve-gwlb-tenant-nsec"] = control("nsec", snaplen=40) + bytes(genevefeed.geneve_ip())
    return {"synth-" + k: v for k, v in s.items()}


def read_capture(path):
    """(linktype, [frame bytes]) from a pcap or pcapng file."""
    with open(path, "rb") as f:
        data = f.read()
    magic = data[:4]
    frames = []
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = "<" if magic[0] in (0xD4, 0x4D) else ">"
        linktype = struct.unpack(e + "I", data[20:24])[0]
        off = 24
        while off + 16 <= len(data):
            incl = struct.unpack(e + "I", data[off + 8:off + 12])[0]
            frames.append(data[off + 16:off + 16 + incl])
            off += 16 + incl
        return linktype, frames
    if magic == b"\x0a\x0d\x0d\x0a":
        e = "<" if data[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
        linktypes = []
        off = 0
        while off + 12 <= len(data):
            btype, blen = struct.unpack(e + "II", data[off:off + 8])
            body = data[off + 8:off + blen - 4]
            if btype == 1:  # Interface Description Block
                linktypes.append(struct.unpack(e + "H", body[:2])[0])
            elif btype == 6:  # Enhanced Packet Block
                caplen = struct.unpack(e + "I", body[12:16])[0]
                frames.append(body[20:20 + caplen])
            off += blen
        return (linktypes[0] if linktypes else None), frames
    return None, []


def from_captures(directory):
    s = {}
    for path in sorted(glob.glob(os.path.join(directory, "*.pcap*"))):
        name = os.path.basename(path).rsplit(".", 1)[0]
        if not any(k in name for k in RELEVANT):
            continue
        linktype, frames = read_capture(path)
        if linktype != 1:  # Ethernet only: what a DPDK port delivers
            print("skip %s: linktype %s" % (name, linktype), file=sys.stderr)
            continue
        for i, frame in enumerate(frames[:FRAMES_PER_CAPTURE]):
            if len(frame) > MAX_CAPTURE_FRAME:
                frame = frame[:TRUNCATE_TO]
            s["cap-%s-%d" % (name, i)] = control() + frame
    return s


def repro():
    """Inputs that make the fuzzer fail: see tests/fuzz/README.md."""
    r = {}
    # IPv6 VXLAN datagram of 65535 payload bytes: inner_len 65519, a pcapng
    # record of 65552 bytes with snaplen 65535 (> kWriteBlockBytes).
    big = bytes(eth() / v6() / vxlan(payload=inner(65519 - 54)))
    r["pcapng-record-over-write-block"] = control("pcapng", snaplen=65535) + big
    # Two segments (first 200 bytes, then the rest): the UDP datagram ends at
    # byte 124, so the 300 trailer bytes are longer than the 224-byte last
    # segment and rte_pktmbuf_trim refuses to cut them.
    r["trim-longer-than-last-segment"] = (control(contiguous=200) +
                                          bytes(eth() / v4() / vxlan()) + b"\xee" * 300)
    return r


def write_pcap(path, frames):
    """A classic pcap (snaplen 262144) for the end-to-end reproducer."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        for i, frame in enumerate(frames):
            f.write(struct.pack("<IIII", 1700000000 + i, 0, len(frame), len(frame)) + frame)


def write_all(directory, seeds):
    os.makedirs(directory, exist_ok=True)
    for name, data in sorted(seeds.items()):
        with open(os.path.join(directory, name), "wb") as f:
            f.write(data)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--captures", default="/work/shared/corpus")
    ap.add_argument("--repro-dir")
    args = ap.parse_args()
    seeds = synthetic()
    seeds.update(from_captures(args.captures))
    out = os.path.join(HERE, "corpus")
    for old in glob.glob(os.path.join(out, "*")):
        os.remove(old)
    write_all(out, seeds)
    total = sum(len(v) for v in seeds.values())
    print("%d seeds, %d bytes in %s" % (len(seeds), total, out))
    if args.repro_dir:
        r = repro()
        write_all(args.repro_dir, r)
        # vxcollector --read-pcap F --format pcapng --snaplen 65535 --http-listen none
        big = r["pcapng-record-over-write-block"][5:]
        small = bytes(eth() / v4() / vxlan())
        write_pcap(os.path.join(args.repro_dir, "pcapng-record-over-write-block.pcap"),
                   [small, big, small, big] + [small] * 20)
        print("reproducers in %s" % args.repro_dir)


if __name__ == "__main__":
    main()
