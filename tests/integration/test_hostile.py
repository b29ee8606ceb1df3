#!/usr/bin/python3
"""Hostile input through --read-pcap: broken, lying and odd frames, each with the
reason the collector must count it under, computed here from how it was built.

Usage: test_hostile.py /path/to/vxcollector   (env VXC_SOURCE_ROOT = source tree)

What feedgen.py / test_read_pcap.py already cover is not repeated here: I flag
clear, a 4-byte VXLAN header, an inner frame of 10 bytes, a frame cut by the
capture snaplen, trailers after the IP datagram, 802.1Q and QinQ, IPv4 options,
an IPv6 destination-options header, an outer IPv6 fragment, incomplete and
reordered IPv4 fragment trains, VNI 0 and 2^24-1, UDP 8472 and 4790.

Added here (the corpus is built by this script with scapy and struct):
  * every truncation offset of an IPv4 and of an 802.1Q/IPv6 VXLAN frame, and
    every inner length 0..14 with consistent outer lengths;
  * VXLAN flag and reserved-field values;
  * UDP length larger and smaller than the datagram, 0, under 16; bad checksums;
  * IPv4 IHL 0..4, IHL past the total length, options, wrong version, total
    length longer and shorter than the frame, 0, under the header;
  * IPv6 hop-by-hop, routing, destination options, a chain of all three, 8 and 9
    headers, fragment headers (first and atomic), a header running past the
    payload, No Next Header, payload length longer than the frame;
  * VXLAN in VXLAN (the inner one is just the outer lane's Ethernet frame);
  * jumbo frames of 9000-16000 bytes (multi-segment mbufs at the default 2048-byte
    data room), in a lane with snaplen 16384 so every byte is compared;
  * three VLAN tags, TCP to port 4789, a lone last fragment;
  * a fragment flood: 6000 first fragments that never complete, with VXLAN
    frames between them, in a run with --frag-max-flows 256: the table stays
    bounded (drops at once when full), the held ones time out while the
    collector runs, all are counted under `fragment`.

Each run: no crash, exit 0, the invariant exact, every reason's count equal to
the sum of the expected reasons, the frames that land in lanes the ones tshark
finds VXLAN in (with the contract's known differences listed below), tshark's
VNI and inner frame equal to the ones built, and the lanes' files equal to
them byte for byte over the snaplen. tshark is asked directly (tshark_view)
rather than through oracle.py, so that the hostile frames judge the collector
and not the oracle.
"""

import collections
import os
import re
import signal
import struct
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
import vxc  # noqa: E402
from test_operations import Live, value  # noqa: E402

from scapy.all import IP, TCP, Ether, Raw  # noqa: E402

COLL_MAC = bytes.fromhex("02000a000064")
SRC_MAC = bytes.fromhex("02000a01000b")
SRC4 = bytes([10, 1, 0, 11])
DST4 = bytes([10, 0, 0, 100])
SRC6 = bytes.fromhex("20010db8000a00000000000000000011")
DST6 = bytes.fromhex("20010db8000c00000000000000000100")
START_US = 1709294400 * 1000000
VX = "vxlan"
JUMBO_VNI = 9000
JUMBO_SNAPLEN = 16384
FLOOD = 6000
FLOOD_MAX_FLOWS = 256
FLOOD_TIMEOUT_MS = 1500

# Frames where tshark and the collector's contract disagree on purpose:
# name prefix -> why. Everything else must agree on whether the frame lands.
CONTRACT_DIFFERENCES = {
    "ipv6-9-dstopts": "the collector skips at most 8 IPv6 extension headers (bad_header); tshark decodes any number",
    "ipv4-total-0": "IPv4 total length 0 is bad_header; tshark 4.0 takes it for TSO and decodes the frame",
    "ipv6-frag-atomic": "an IPv6 atomic fragment (offset 0, M clear) is dropped as fragment like any IPv6 fragment; "
                        "tshark (and RFC 6946) take it as a whole packet",
    "jumbo-frag": "an IPv4 fragment larger than one mbuf (multi-segment) is not reassembled (fragment); "
                  "tshark reassembles it",
}


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def eth(ethertype, dst=COLL_MAC):
    return dst + SRC_MAC + struct.pack("!H", ethertype)


def vlan(vid, ethertype):
    return struct.pack("!HH", vid, ethertype)


def ipv4(payload, proto=17, ihl=5, options=b"", total=None, version=4, frag=0, ident=0x1234, bad_csum=False):
    """An IPv4 header whose fields may lie; the header physically has 20 + len(options) bytes."""
    if total is None:
        total = 20 + len(options) + len(payload)
    h = struct.pack("!BBHHHBBH4s4s", (version << 4) | ihl, 0, total & 0xFFFF, ident, frag, 64, proto, 0,
                    SRC4, DST4) + options
    c = csum(h) ^ (0x5555 if bad_csum else 0)
    return h[:10] + struct.pack("!H", c) + h[12:] + payload


def ipv6(payload, nh=17, plen=None):
    if plen is None:
        plen = len(payload)
    return struct.pack("!IHBB16s16s", 6 << 28, plen & 0xFFFF, nh, 64, SRC6, DST6) + payload


def ext(nh, body=b"", length_field=None):
    """A generic IPv6 extension header (hop-by-hop / routing / dest-opts layout): 8 bytes min."""
    body = body or b"\x01\x04\0\0\0\0"  # PadN option: 6 bytes
    if length_field is None:
        assert (2 + len(body)) % 8 == 0
        length_field = (2 + len(body)) // 8 - 1
    return struct.pack("!BB", nh, length_field) + body


def routing(nh):
    # type 0, segments left 0, reserved; no addresses (length 0 -> 8 bytes)
    return struct.pack("!BBBBI", nh, 0, 0, 0, 0)


def frag6(nh, offset=0, more=1, ident=0xabcd):
    return struct.pack("!BBHI", nh, 0, (offset << 3) | more, ident)


def udp(payload, dport=4789, sport=50000, length=None, csum_value=0):
    if length is None:
        length = 8 + len(payload)
    return struct.pack("!HHHH", sport, dport, length & 0xFFFF, csum_value) + payload


def vxlan(vni, flags=0x08, rsvd1=b"\0\0\0", rsvd2=0):
    return bytes([flags]) + rsvd1 + struct.pack("!I", (vni << 8) | rsvd2)


def inner_frame(tag, size=100):
    """An inner Ethernet/IPv4/TCP frame of `size` bytes, tagged in its MACs and payload."""
    base = Ether(src="0a:00:00:00:%02x:%02x" % (tag >> 8 & 0xFF, tag & 0xFF), dst="0a:00:00:00:00:02") / \
        IP(src="172.31.0.1", dst="172.31.0.2") / TCP(sport=40000 + tag % 20000, dport=443, flags="PA")
    pad = max(0, size - len(base))
    data = bytes(base / Raw(bytes((tag + i) & 0xFF for i in range(pad))))
    return data[:size] if size >= 14 else data[:size]


class Corpus:
    """Frames with their expected treatment: a drop reason, or (VX, vni, inner bytes)."""

    def __init__(self):
        self.frames = []  # (name, bytes, expected, wire_len, t_us)
        self.tag = 0
        self.last_inner = b""  # the inner frame the last inner()/v4() call made

    def add(self, name, data, expected, inner=None):
        if expected == VX or isinstance(expected, tuple):
            expected = (VX, expected[1], inner if inner is not None else self.last_inner)
        self.frames.append((name, bytes(data), expected, len(data), START_US + len(self.frames) * 10))

    def inner(self, size=100):
        self.tag += 1
        self.last_inner = inner_frame(self.tag, size)
        return self.last_inner

    def v4(self, vni, inner=None, **kw):
        inner = inner if inner is not None else self.inner()
        self.last_inner = inner
        return eth(0x0800) + ipv4(udp(vxlan(vni) + inner), **kw)

    def write(self, path):
        with open(path, "wb") as f:
            f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
            for _, data, _, wire_len, t in self.frames:
                f.write(struct.pack("<IIII", t // 1000000, t % 1000000, len(data), wire_len) + data)


def build_main():
    c = Corpus()
    # -- truncation at every offset (the frame itself is that short)
    full = c.v4(101)
    for k in range(len(full)):
        c.add("trunc-v4-%d" % k, full[:k], "bad_header")
    c.add("trunc-v4-full", full, (VX, 101))
    full6 = eth(0x8100) + vlan(100, 0x86DD) + ipv6(udp(vxlan(102) + c.inner()))
    for k in range(len(full6)):
        c.add("trunc-v6vlan-%d" % k, full6[:k], "bad_header")
    c.add("trunc-v6vlan-full", full6, (VX, 102))
    for n in range(15):  # inner frame of n bytes, outer lengths consistent
        c.add("inner-len-%d" % n, c.v4(103, c.inner(14)[:n] if n else b""), (VX, 103) if n >= 14 else "bad_header")

    # -- VXLAN flags and reserved fields
    for flags in (0x00, 0x01, 0x80, 0xF7, 0x08, 0x0C, 0x88, 0xFF):
        c.add("flags-%02x" % flags, eth(0x0800) + ipv4(udp(vxlan(104, flags=flags) + c.inner())),
              (VX, 104) if flags & 0x08 else "bad_header")
    c.add("reserved-set", eth(0x0800) + ipv4(udp(vxlan(104, rsvd1=b"\xff\xff\xff", rsvd2=0xFF) + c.inner())),
          (VX, 104))

    # -- UDP length
    payload = vxlan(105) + c.inner()
    for delta in (1, 100, 65535 - 8 - len(payload)):
        c.add("udp-len-long-%d" % delta, eth(0x0800) + ipv4(udp(payload, length=8 + len(payload) + delta)),
              "bad_header")
    for length in (0, 8, 15, 16, 8 + 8 + 13):
        c.add("udp-len-%d" % length, eth(0x0800) + ipv4(udp(vxlan(105) + c.inner(), length=length)), "bad_header")
    for inner_len in (14, 40):  # UDP length shorter than the datagram: the inner frame ends there
        c.add("udp-len-short-inner-%d" % inner_len,
              eth(0x0800) + ipv4(udp(vxlan(105) + c.inner(), length=8 + 8 + inner_len)), (VX, 105),
              inner=c.last_inner[:inner_len])
    c.add("udp-bad-checksum", eth(0x0800) + ipv4(udp(vxlan(105) + c.inner(), csum_value=0xBEEF)), (VX, 105))
    c.add("udp-sport-4789-dport-other", eth(0x0800) + ipv4(udp(vxlan(105) + c.inner(), sport=4789, dport=9999)),
          "not_vxlan")
    c.add("udp-sport-dport-4789", eth(0x0800) + ipv4(udp(vxlan(105) + c.inner(), sport=4789)), (VX, 105))

    # -- IPv4 header
    dg = udp(vxlan(106) + c.inner())
    for ihl in range(5):
        c.add("ipv4-ihl-%d" % ihl, eth(0x0800) + ipv4(dg, ihl=ihl), "bad_header")
    c.add("ipv4-ihl-6-nop", eth(0x0800) + ipv4(udp(vxlan(106) + c.inner()), ihl=6, options=b"\x01\x01\x01\x00"),
          (VX, 106))
    c.add("ipv4-ihl-15-nop", eth(0x0800) + ipv4(udp(vxlan(106) + c.inner()), ihl=15, options=b"\x01" * 40),
          (VX, 106))
    c.add("ipv4-ihl-past-total", eth(0x0800) + ipv4(dg, ihl=15, total=50), "bad_header")
    for version in (0, 5, 6, 15):
        c.add("ipv4-version-%d" % version, eth(0x0800) + ipv4(dg, version=version), "bad_header")
    for name, total in (("total-longer-1", 20 + len(dg) + 1), ("total-longer-500", 20 + len(dg) + 500),
                        ("total-0", 0), ("total-under-header", 12), ("total-shorter-cuts-udp", 20 + len(dg) - 20)):
        c.add("ipv4-" + name, eth(0x0800) + ipv4(dg, total=total), "bad_header")
    c.add("ipv4-total-shorter-trailer", eth(0x0800) + ipv4(udp(vxlan(106) + c.inner())) + b"\xee" * 100, (VX, 106))
    c.add("ipv4-bad-header-checksum", eth(0x0800) + ipv4(udp(vxlan(106) + c.inner()), bad_csum=True), (VX, 106))
    c.add("ipv4-tcp-to-4789", eth(0x0800) + ipv4(struct.pack("!HHIIBBHHH", 50000, 4789, 1, 0, 0x50, 0x18, 1024, 0, 0)
                                                 + vxlan(106) + c.inner(), proto=6), "not_vxlan")
    c.add("ipv4-lone-last-fragment", eth(0x0800) + ipv4(udp(vxlan(106) + c.inner()), frag=100, ident=0x7777),
          "fragment")

    # -- IPv6 extension headers (hop-by-hop 0, routing 43, dest-opts 60, fragment 44)
    def v6(chain, vni=107, plen=None, inner=None):
        # chain: list of (kind, ...) from the outermost; builds next-header values.
        kinds = {"hbh": 0, "rt": 43, "dst": 60, "frag": 44, "frag-atomic": 44, "none": 59}
        body = udp(vxlan(vni) + (inner if inner is not None else c.inner()))
        nh = 17
        for kind in reversed(chain):
            if kind == "none":
                nh = 59
                body = b""
                continue
            if kind == "rt":
                body = routing(nh) + body
            elif kind == "frag":
                body = frag6(nh, 0, 1) + body
            elif kind == "frag-atomic":
                body = frag6(nh, 0, 0) + body
            else:
                body = ext(nh) + body
            nh = kinds[kind]
        return eth(0x86DD) + ipv6(body, nh=nh, plen=plen)

    c.add("ipv6-hbh", v6(["hbh"]), (VX, 107))
    c.add("ipv6-routing", v6(["rt"]), (VX, 107))
    c.add("ipv6-dstopts", v6(["dst"]), (VX, 107))
    c.add("ipv6-hbh-rt-dst", v6(["hbh", "rt", "dst"]), (VX, 107))
    c.add("ipv6-8-dstopts", v6(["hbh"] + ["dst"] * 7), (VX, 107))
    c.add("ipv6-9-dstopts", v6(["hbh"] + ["dst"] * 8), "bad_header")
    c.add("ipv6-frag-first", v6(["frag"]), "fragment")
    c.add("ipv6-frag-atomic", v6(["frag-atomic"]), "fragment")
    c.add("ipv6-hbh-frag", v6(["hbh", "frag"]), "fragment")
    c.add("ipv6-no-next-header", v6(["hbh", "none"]), "not_vxlan")
    long_ext = eth(0x86DD) + ipv6(ext(17, length_field=200) + udp(vxlan(107) + c.inner()), nh=60)
    c.add("ipv6-ext-past-payload", long_ext, "bad_header")
    good6 = v6([])
    c.add("ipv6-plain", good6, (VX, 107))
    c.add("ipv6-plen-longer", v6([], plen=len(good6) - 54 + 1), "bad_header")
    c.add("ipv6-plen-0", v6([], plen=0), "bad_header")

    # -- VXLAN in VXLAN: the inner one is just an Ethernet frame of the outer lane
    nested = c.v4(201)
    c.add("nested-2", c.v4(108, nested), (VX, 108))
    c.add("nested-3", c.v4(108, c.v4(202, c.v4(203))), (VX, 108))
    c.add("nested-inner-i-clear", c.v4(108, eth(0x0800) + ipv4(udp(vxlan(204, flags=0) + c.inner()))), (VX, 108))

    # -- jumbo frames: multi-segment mbufs (default data room 2048)
    for size in (9000, 9216, 16000):
        c.add("jumbo-v4-%d" % size, c.v4(JUMBO_VNI, c.inner(size)), (VX, JUMBO_VNI))
    c.add("jumbo-v6-vlan", eth(0x8100) + vlan(7, 0x86DD) + ipv6(udp(vxlan(JUMBO_VNI) + c.inner(9100))),
          (VX, JUMBO_VNI))
    jumbo = c.v4(JUMBO_VNI, c.inner(9000))
    c.add("jumbo-cut", jumbo[:5000], "bad_header")
    c.add("jumbo-total-longer", eth(0x0800) + ipv4(udp(vxlan(JUMBO_VNI) + c.inner(9000)), total=9100),
          "bad_header")
    # A fragmented jumbo datagram: first fragment 9000 bytes, then the rest.
    whole = udp(vxlan(JUMBO_VNI) + c.inner(12000))
    cut = 8976  # multiple of 8
    c.add("jumbo-frag-first", eth(0x0800) + ipv4(whole[:cut], frag=0x2000, ident=0x4242, total=20 + cut),
          "fragment")
    c.add("jumbo-frag-last", eth(0x0800) + ipv4(whole[cut:], frag=cut // 8, ident=0x4242, total=20 + len(whole) - cut),
          "fragment")

    # -- Ethernet oddities
    c.add("three-vlan-tags", eth(0x8100) + vlan(1, 0x8100) + vlan(2, 0x8100) + vlan(3, 0x0800) +
          ipv4(udp(vxlan(109) + c.inner())), "not_vxlan")
    c.add("broadcast-dst-mac", eth(0x0800, dst=b"\xff" * 6) + ipv4(udp(vxlan(109) + c.inner())), (VX, 109))
    c.add("ethertype-other", eth(0x88B5) + ipv4(udp(vxlan(109) + c.inner())), "not_vxlan")
    return c


def build_flood():
    c = Corpus()
    for i in range(FLOOD):
        first = udp(vxlan(110) + c.inner(400))
        c.add("flood-%d" % i, eth(0x0800) + ipv4(first[:200], frag=0x2000, ident=i & 0xFFFF, total=220), "fragment")
        if i % 100 == 99:
            c.add("flood-between-%d" % i, c.v4(111), (VX, 111))
    return c


def expected_counts(corpus):
    counts = collections.Counter()
    for _, _, exp, _, _ in corpus.frames:
        counts[VX if isinstance(exp, tuple) else exp] += 1
    return counts


def summary_counts(s):
    d = s.get("drops", {})
    out = collections.Counter({k: v for k, v in d.items() if v})
    out["not_vxlan"] += s.get("exception", 0)  # no exception path in a replay: either way "not for us"
    if not out["not_vxlan"]:
        del out["not_vxlan"]
    out[VX] = s.get("written", 0)
    if s.get("fragments_merged"):
        out["fragments_merged"] = s["fragments_merged"]
    return out


class Landed:
    """A frame that lands in a lane, in the shape vxc.check_lane takes."""

    def __init__(self, frame, vni, inner, time_ns):
        self.frame = frame
        self.vni = vni
        self.inner = inner
        self.times = [time_ns]
        self.fragment_frames = [frame]


TSHARK_FIELDS = ["frame.number", "frame.cap_len", "frame.protocols", "ip.len", "ip.flags.mf", "ip.frag_offset",
                 "ip.fragment", "ipv6.plen", "udp.dstport", "udp.length", "udp.payload", "vxlan.flag_i", "vxlan.vni"]
TSHARK_VXLAN_RE = re.compile(r"^eth:ethertype(?::(?:vlan|ieee8021ad):ethertype){0,2}:"
                             r"(?P<l3>ip|ipv6(?::ipv6\.\w+)*):udp:vxlan(?::|$)")


def tshark_view(pcap):
    """{frame number: (vni, inner bytes)} of the frames tshark decodes as VXLAN on UDP 4789.

    From one tshark pass (default preferences: IPv4 reassembly on), outermost
    occurrence of each field. A frame counts when its stack is Ethernet, up to
    two VLAN tags, IPv4/IPv6 (+ extension headers), UDP to 4789, VXLAN with the
    I flag; its outer IP datagram is all in the frame; it is not an IPv4
    fragment tshark did not complete; its UDP length fits in the IP payload;
    and the UDP datagram holds the VXLAN header and an inner Ethernet header. The inner frame is tshark's UDP payload
    up to the UDP length (tshark's udp.payload field runs on to the end of the
    IP payload when the UDP length is shorter; its dissection does not).
    """
    args = ["tshark", "-r", pcap, "-T", "fields", "-E", "occurrence=a", "-E", "separator=/t"]
    for f in TSHARK_FIELDS:
        args += ["-e", f]
    p = subprocess.run(args, capture_output=True, text=True, check=True)
    out = {}
    for line in p.stdout.splitlines():
        cols = line.split("\t") + [""] * len(TSHARK_FIELDS)
        f = {k: (v.split(",") if v else []) for k, v in zip(TSHARK_FIELDS, cols)}
        first = {k: v[0] if v else None for k, v in f.items()}
        n = int(first["frame.number"])
        m = TSHARK_VXLAN_RE.match(first["frame.protocols"] or "")
        if not m or first["udp.dstport"] != "4789" or first["vxlan.flag_i"] not in ("1", "True"):
            continue
        l2 = 14 + 4 * (m.group(0).count(":ethertype") - 1)
        v4 = m.group("l3") == "ip"
        ip_end = l2 + (int(first["ip.len"] or 0) if v4 else 40 + int(first["ipv6.plen"] or 0))
        if ip_end > int(first["frame.cap_len"]):
            continue
        if v4 and (first["ip.flags.mf"] in ("1", "True") or (first["ip.frag_offset"] or "0") != "0") and \
                str(n) not in f["ip.fragment"]:
            continue
        udp_len = int(first["udp.length"] or 0)
        payload = bytes.fromhex(first["udp.payload"] or "")
        if udp_len - 8 > len(payload):  # the UDP length runs past the IP payload
            continue
        payload = payload[:max(0, udp_len - 8)]
        if len(payload) < 8 + 14:
            continue
        out[n] = (int(first["vxlan.vni"]), payload[8:])
    return out


def check_against_tshark(F, corpus, pcap, run, label, snaplens):
    """Frames that land = the ones tshark finds VXLAN in (bar the listed differences); lanes = the bytes built
    here, which must be tshark's inner frames."""
    view = tshark_view(pcap)
    names = {i + 1: f[0] for i, f in enumerate(corpus.frames)}
    built = {i + 1: f[2] for i, f in enumerate(corpus.frames) if isinstance(f[2], tuple)}
    differ = sorted(set(built) ^ set(view))
    known = [n for n in differ if any(names[n].startswith(p) for p in CONTRACT_DIFFERENCES)]
    unknown = [n for n in differ if n not in known]
    F.check(not unknown, "%s: the %d frames that land in lanes are the ones tshark decodes as VXLAN" %
            (label, len(built)),
            "differ: %s" % [(n, names[n], "expected to land" if n in built else "tshark: vxlan") for n in unknown[:10]])
    for p, why in CONTRACT_DIFFERENCES.items():
        hits = [names[n] for n in known if names[n].startswith(p)]
        if hits:
            print("  contract differs from tshark on %s: %s" % (hits, why))
    agreed = sorted(set(built) & set(view))
    bad = [names[n] for n in agreed if view[n] != (built[n][1], built[n][2])]
    F.check(not bad, "%s: tshark's VNI and inner frame = the ones built, for all %d frames" % (label, len(agreed)),
            str(bad[:5]))
    by_vni = collections.defaultdict(list)
    for n, (_, vni, inner) in sorted(built.items()):
        by_vni[vni].append(Landed(n, vni, inner, corpus.frames[n - 1][4] * 1000))
    for vni, landed in sorted(by_vni.items()):
        lane = "jumbo" if vni == JUMBO_VNI else "vni-%d" % vni
        vxc.check_lane(F, run, lane, landed, snaplens.get(vni, 128), label, vni=vni)


def run_main(F, binary, work):
    corpus = build_main()
    pcap = os.path.join(work, "hostile.pcap")
    corpus.write(pcap)
    want = expected_counts(corpus)
    print("\n== hostile corpus: %d frames, expected %s" % (len(corpus.frames), dict(sorted(want.items()))))
    out = os.path.join(work, "main")
    run = vxc.run_collector(binary, pcap, out, "--lane", "name=jumbo,vni=%d,snaplen=%d" % (JUMBO_VNI, JUMBO_SNAPLEN))
    if not vxc.check_run(F, run, "hostile"):
        return 0
    s = run.summary
    F.equal(s.get("received"), len(corpus.frames), "hostile: received = frames in the corpus")
    F.equal(dict(sorted(summary_counts(s).items())), dict(sorted(want.items())),
            "hostile: count per reason = the expected reasons of the frames, summed")
    check_against_tshark(F, corpus, pcap, run, "hostile", {JUMBO_VNI: JUMBO_SNAPLEN})
    groups = collections.Counter(f[0].split("-")[0] for f in corpus.frames)
    print("  frame groups: %s" % dict(groups))
    return len(corpus.frames)


def run_flood(F, binary, work):
    corpus = build_flood()
    pcap = os.path.join(work, "flood.pcap")
    corpus.write(pcap)
    want = expected_counts(corpus)
    frames = len(corpus.frames)
    print("\n== fragment flood: %d first fragments that never complete, %d VXLAN frames between them; "
          "--frag-max-flows %d --frag-timeout-ms %d" % (want["fragment"], want[VX], FLOOD_MAX_FLOWS, FLOOD_TIMEOUT_MS))
    out = os.path.join(work, "flood")
    live = Live(binary, out, ["--read-pcap", pcap, "--frag-max-flows", str(FLOOD_MAX_FLOWS),
                              "--frag-timeout-ms", str(FLOOD_TIMEOUT_MS), "--linger-seconds", "8"], work, "flood")
    run = None
    try:
        m = live.wait(lambda m: value(m, "vxcollector_received_packets_total") == frames and
                      value(m, "vxcollector_lane_packets_total") == want[VX], 60, interval=0.02)
        t_replayed = time.monotonic()
        if not F.check(m is not None, "flood: replay taken, VXLAN frames between the fragments written",
                       "" if m else live.stderr_text()[-1500:]):
            return 0
        held = want["fragment"] - value(m, "vxcollector_drops_total", reason="fragment")
        print("  flood: right after the replay, %d fragments held, %d already dropped" %
              (held, want["fragment"] - held))
        F.check(0 < held <= FLOOD_MAX_FLOWS,
                "flood: the reassembly table holds at most --frag-max-flows %d (%d held, the rest dropped at once)" %
                (FLOOD_MAX_FLOWS, held))
        m = live.wait(lambda m: value(m, "vxcollector_drops_total", reason="fragment") == want["fragment"], 10)
        waited = time.monotonic() - t_replayed
        F.check(m is not None and live.proc.poll() is None,
                "flood: the held fragments time out while running (all %d counted as fragment after %.1fs)" %
                (want["fragment"], waited))
        run = live.stop(signal.SIGTERM, timeout=30)
        if vxc.check_run(F, run, "flood"):
            F.equal(dict(sorted(summary_counts(run.summary).items())), dict(sorted(want.items())),
                    "flood: count per reason = expected")
            check_against_tshark(F, corpus, pcap, run, "flood", {})
    finally:
        if run is None:
            live.kill()
            live.stop(None)
    return frames


def main():
    binary = vxc.binary_from_argv()
    F = vxc.Failures("test_hostile")
    t0 = time.monotonic()
    work = vxc.tmpdir("hostile")
    tried = 0
    for step in (run_main, run_flood):
        try:
            tried += step(F, binary, work)
        except Exception as e:  # a broken step must not hide the other
            import traceback
            traceback.print_exc()
            F.check(False, "%s raised %s: %s" % (step.__name__, type(e).__name__, e))
    print("\nframes tried: %d; total %.1fs" % (tried, time.monotonic() - t0))
    vxc.cleanup(work, not F.failed)
    return F.finish()


if __name__ == "__main__":
    sys.exit(main())
