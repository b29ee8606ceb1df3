#!/usr/bin/python3
"""GENEVE frames the way AWS Gateway Load Balancer delivers them, and broken ones.

Library (Debian's python3 with scapy):
  gwlb_mirror(...)     Ether / IPv4|IPv6 / UDP 6081 / GENEVE (AWS options class
                       0x0108: type 1 GWLB endpoint ENI id, 2 attachment id,
                       3 flow cookie) / IPv4|IPv6 / UDP 4789 / VXLAN / Ether /
                       IPv4 / TCP: AWS traffic mirroring to a GWLB endpoint
  geneve_ip(...)       GENEVE with protocol 0x0800 / 0x86DD and a plain inner
                       IPv4 / IPv6 packet (the GWLB tenant-traffic format)
  geneve_ethernet(...) GENEVE with protocol 0x6558 and an inner Ethernet frame
  cases()              named frames, valid and malformed, each with the verdict
                       dataplane/outer_parse.h gives it (default ParseConfig)
  write_pcap(path, frames)
  tshark_decode(path)  per frame, what tshark 4.0 makes of it (dict of fields)
  oracle_verdict(row)  the verdict outer_parse.h should give, from tshark's
                       fields alone (the integration test's judge)
CLI:  genevefeed.py OUT.pcap [--quiet]   writes cases(), prints tshark's decode
      and whether oracle_verdict agrees with each expected verdict (exit 1 if not)

Expected verdicts use the names of outer_parse.h: kind (ethernet, ip, drop),
encap (vxlan, geneve, geneve_vxlan), vni (the VNI the lane is keyed by: the
nested VXLAN VNI for geneve_vxlan), reason for drops, inner_ethertype for ip,
tunnel_src (the source of the IP header in front of the tunnel header that
carried the VNI), and the GWLB option values.
"""

import argparse
import struct
import subprocess
import sys

from scapy.all import IP, TCP, UDP, ARP, Ether, Dot1Q, IPv6, Raw
from scapy.contrib.geneve import GENEVE, GeneveOptions
from scapy.layers.vxlan import VXLAN

GENEVE_PORT = 6081
VXLAN_PORT = 4789
AWS_CLASS = 0x0108

OUTER_SRC4, OUTER_DST4 = "192.0.2.1", "192.0.2.200"  # GWLB node -> appliance
OUTER_SRC6, OUTER_DST6 = "2001:db8::1", "2001:db8::c8"
MIRROR_SRC4, MIRROR_DST4 = "172.31.5.10", "172.31.9.9"  # mirror source ENI -> GWLB endpoint
MIRROR_SRC6, MIRROR_DST6 = "2001:db8:5::a", "2001:db8:9::9"

ENI_ID = 0x0A1B2C3D4E5F6071
ATTACHMENT_ID = 0x8091A2B3C4D5E6F7
FLOW_COOKIE = 0xC0FFEE01
GENEVE_VNI = 0  # GWLB sends VNI 0
MIRROR_VNI = 4242  # the traffic mirror session's VXLAN VNI


def aws_option(kind, value, length):
    """One class 0x0108 option: `length` bytes of `value`, big-endian."""
    return GeneveOptions(classid=AWS_CLASS, type=kind, data=value.to_bytes(length, "big"))


def gwlb_options(eni=ENI_ID, attachment=ATTACHMENT_ID, cookie=FLOW_COOKIE):
    return [aws_option(1, eni, 8), aws_option(2, attachment, 8), aws_option(3, cookie, 4)]


def outer(v6=False, vlan=None):
    """Ether [802.1Q] / IPv4|IPv6 from the GWLB node to the appliance."""
    e = Ether(src="02:00:00:00:01:01", dst="02:00:00:00:01:02")
    if vlan is not None:
        e = e / Dot1Q(vlan=vlan)
    return e / (IPv6(src=OUTER_SRC6, dst=OUTER_DST6) if v6 else IP(src=OUTER_SRC4, dst=OUTER_DST4))


def inner_ip(v6=False, payload=b"GET / HTTP/1.1\r\n\r\n"):
    """The mirrored (or tenant) packet: IPv4|IPv6 / TCP 40000 -> 80 / payload."""
    ip = IPv6(src="fd00::1", dst="fd00::2") if v6 else IP(src="10.0.0.1", dst="10.0.0.2")
    return ip / TCP(sport=40000, dport=80, flags="PA", seq=1, ack=1) / Raw(payload)


def inner_frame(v6=False, payload=b"GET / HTTP/1.1\r\n\r\n"):
    return Ether(src="02:00:00:00:20:01", dst="02:00:00:00:20:02") / inner_ip(v6, payload)


def geneve(vni=GENEVE_VNI, options=(), **kw):
    return UDP(sport=50001, dport=GENEVE_PORT) / GENEVE(vni=vni, options=list(options), **kw)


def gwlb_mirror(outer_v6=False, nested_v6=False, vlan=None, options=None, vni=MIRROR_VNI,
                vxlan_flags=0x08, nested_frag=0, payload=b"GET / HTTP/1.1\r\n\r\n"):
    """GWLB GENEVE carrying the VXLAN of a traffic mirror session."""
    nested = (IPv6(src=MIRROR_SRC6, dst=MIRROR_DST6) if nested_v6
              else IP(src=MIRROR_SRC4, dst=MIRROR_DST4, flags=nested_frag >> 13,
                      frag=nested_frag & 0x1FFF))
    return (outer(outer_v6, vlan) / geneve(options=gwlb_options() if options is None else options) /
            nested / UDP(sport=50002, dport=VXLAN_PORT) / VXLAN(flags=vxlan_flags, vni=vni) /
            inner_frame(payload=payload))


def geneve_ip(inner_v6=False, outer_v6=False, options=None, vni=GENEVE_VNI):
    """GENEVE protocol 0x0800 / 0x86DD: the tenant's packet, no Ethernet header."""
    return (outer(outer_v6) / geneve(vni=vni, options=gwlb_options() if options is None else options) /
            inner_ip(inner_v6))


def geneve_ethernet(outer_v6=False, options=(), vni=0x123456, vlan=None):
    return outer(outer_v6, vlan) / geneve(vni=vni, options=options) / inner_frame()


def _patch(frame, offset, data):
    b = bytearray(bytes(frame))
    b[offset:offset + len(data)] = data
    return bytes(b)


GENEVE_AT = 14 + 20 + 8  # GENEVE header in an untagged outer-IPv4 frame


def _expect(kind, encap=None, vni=None, reason=None, inner_ethertype=None, tunnel_src=None,
            gwlb=False, eni=ENI_ID, attachment=ATTACHMENT_ID, cookie=FLOW_COOKIE):
    e = {"kind": kind}
    if kind == "drop":
        e["reason"] = reason
        return e
    e.update(encap=encap, vni=vni, tunnel_src=tunnel_src)
    if inner_ethertype is not None:
        e["inner_ethertype"] = inner_ethertype
    if gwlb:
        e.update(gwlbe_eni=eni, attachment_id=attachment, flow_cookie=cookie)
    return e


def cases():
    """[(name, frame bytes, expected verdict)], valid frames first."""
    c = []

    def add(name, frame, expect):
        c.append((name, bytes(frame), expect))

    mirror = dict(kind="ethernet", encap="geneve_vxlan", vni=MIRROR_VNI, gwlb=True)
    add("gwlb-mirror-v4", gwlb_mirror(), _expect(tunnel_src=MIRROR_SRC4, **mirror))
    add("gwlb-mirror-nested-v6", gwlb_mirror(nested_v6=True), _expect(tunnel_src=MIRROR_SRC6, **mirror))
    add("gwlb-mirror-outer-v6", gwlb_mirror(outer_v6=True), _expect(tunnel_src=MIRROR_SRC4, **mirror))
    add("gwlb-mirror-vlan", gwlb_mirror(vlan=100), _expect(tunnel_src=MIRROR_SRC4, **mirror))
    add("gwlb-mirror-no-options", gwlb_mirror(options=[]),
        _expect("ethernet", "geneve_vxlan", MIRROR_VNI, tunnel_src=MIRROR_SRC4))
    add("gwlb-tenant-v4", geneve_ip(),
        _expect("ip", "geneve", GENEVE_VNI, inner_ethertype=0x0800, tunnel_src=OUTER_SRC4, gwlb=True))
    add("gwlb-tenant-v6-outer-v6", geneve_ip(inner_v6=True, outer_v6=True),
        _expect("ip", "geneve", GENEVE_VNI, inner_ethertype=0x86DD, tunnel_src=OUTER_SRC6, gwlb=True))
    add("geneve-ip-v6-no-options", geneve_ip(inner_v6=True, options=[], vni=77),
        _expect("ip", "geneve", 77, inner_ethertype=0x86DD, tunnel_src=OUTER_SRC4))
    add("geneve-ethernet-other-class",
        geneve_ethernet(options=[GeneveOptions(classid=0x0102, type=0x80, data=b"\x00" * 4)]),
        _expect("ethernet", "geneve", 0x123456, tunnel_src=OUTER_SRC4))
    add("geneve-ethernet-v6-vlan", geneve_ethernet(outer_v6=True, vlan=7),
        _expect("ethernet", "geneve", 0x123456, tunnel_src=OUTER_SRC6))
    # Left as the IP packets they are: not a VXLAN packet the parser terminates.
    add("gwlb-nested-i-flag-clear", gwlb_mirror(vxlan_flags=0x00),
        _expect("ip", "geneve", GENEVE_VNI, inner_ethertype=0x0800, tunnel_src=OUTER_SRC4, gwlb=True))
    add("gwlb-nested-fragment", gwlb_mirror(nested_frag=0x2000),
        _expect("ip", "geneve", GENEVE_VNI, inner_ethertype=0x0800, tunnel_src=OUTER_SRC4, gwlb=True))

    # Malformed or unsupported.
    add("geneve-version-1", _patch(geneve_ethernet(), GENEVE_AT, bytes([0x40])),
        _expect("drop", reason="bad_header"))
    add("geneve-oam", outer() / geneve(oam=1) / inner_frame(), _expect("drop", reason="unsupported_payload"))
    add("geneve-arp", outer() / geneve(proto=0x0806) / ARP(psrc="10.0.0.1", pdst="10.0.0.2"),
        _expect("drop", reason="unsupported_payload"))
    # The options of gwlb_mirror(): ENI id at GENEVE_AT + 8, attachment id at
    # + 20, flow cookie at + 32; each option's length byte is its 4th byte.
    add("gwlb-eni-option-length-31", _patch(gwlb_mirror(), GENEVE_AT + 8 + 3, bytes([0x1F])),
        _expect("drop", reason="bad_header"))
    add("gwlb-cookie-overruns-optlen", _patch(gwlb_mirror(), GENEVE_AT + 32 + 3, bytes([0x02])),
        _expect("drop", reason="bad_header"))
    add("geneve-optlen-past-udp", _patch(geneve_ethernet(), GENEVE_AT, bytes([0x3F])),
        _expect("drop", reason="bad_header"))
    add("gwlb-eni-4-bytes", gwlb_mirror(options=[aws_option(1, 0x01020304, 4)]),
        _expect("drop", reason="bad_header"))
    add("gwlb-cookie-8-bytes", gwlb_mirror(options=[aws_option(3, FLOW_COOKIE, 8)]),
        _expect("drop", reason="bad_header"))
    add("geneve-inner-13-bytes", outer() / geneve(proto=0x6558) / Raw(bytes(inner_frame())[:13]),
        _expect("drop", reason="bad_header"))
    # Cut inside the options: the IP total length runs past the frame.
    add("gwlb-cut-in-options", bytes(gwlb_mirror())[:GENEVE_AT + 8 + 10],
        _expect("drop", reason="bad_header"))
    return c


def write_pcap(path, frames):
    """A classic pcap, Ethernet, microsecond timestamps one second apart."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        for i, frame in enumerate(frames):
            f.write(struct.pack("<IIII", 1700000000 + i, 0, len(frame), len(frame)) + frame)


TSHARK_FIELDS = ("frame.protocols", "geneve.version", "geneve.flags.oam", "geneve.proto_type",
                 "geneve.vni", "geneve.option.class", "geneve.option.type", "geneve.option.length",
                 "geneve.option.unknown.data", "vxlan.flag_i", "vxlan.vni", "ip.src", "ipv6.src",
                 "tcp.srcport", "_ws.malformed", "_ws.expert.message")


def tshark_decode(path, fields=TSHARK_FIELDS):
    """[{field: 'v1,v2,...'}] per frame, every occurrence, as tshark 4.0 decodes it."""
    cmd = ["tshark", "-n", "-r", path, "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a",
           "-E", "aggregator=,"]
    for name in fields:
        cmd += ["-e", name]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    rows = []
    for line in out.splitlines():
        values = line.split("\t")
        values += [""] * (len(fields) - len(values))
        rows.append(dict(zip(fields, values)))
    return rows


def _split(value):
    return value.split(",") if value else []


def oracle_verdict(row):
    """What outer_parse.h should make of a frame, from tshark's decode alone.

    For frames tshark decodes as GENEVE on the outer UDP (None otherwise).
    Notes on tshark 4.0.17 that this works around:
      * geneve.option.length: the first occurrence is Opt Len in bytes, then
        each option's length including its 4-byte header;
      * it knows class 0x0108 by name only: the AWS values are in
        geneve.option.unknown.data (as for every class it does not decode;
        it decodes GCP 0x0132 itself), and it does not check their lengths;
      * it decodes VXLAN whatever the I flag (vxlan.flag_i) says;
      * it does not decode UDP inside an IPv4 first fragment.
    """
    protocols = row["frame.protocols"].split(":")
    if "geneve" not in protocols or row["geneve.version"] == "":
        return None
    bad = {"kind": "drop", "reason": "bad_header"}
    if (row["geneve.version"] != "0" or row["_ws.malformed"] or
            "past end of options" in row["_ws.expert.message"]):
        return bad
    verdict = {}
    data = _split(row["geneve.option.unknown.data"])
    at = 0
    for cls, typ, length in zip(_split(row["geneve.option.class"]), _split(row["geneve.option.type"]),
                                _split(row["geneve.option.length"])[1:]):
        value = None
        if int(cls, 16) != 0x0132:
            value, at = data[at] if at < len(data) else "", at + 1
        if int(cls, 16) == AWS_CLASS and int(typ, 16) in (1, 2, 3):
            want = 8 if int(typ, 16) == 3 else 12
            if int(length) != want:
                return bad
            name = {1: "gwlbe_eni", 2: "attachment_id", 3: "flow_cookie"}[int(typ, 16)]
            verdict[name] = int(value, 16)
    if row["geneve.flags.oam"] == "1":
        return {"kind": "drop", "reason": "unsupported_payload"}
    proto = int(row["geneve.proto_type"], 16)
    geneve_at = protocols.index("geneve")
    outer_v4 = protocols[:geneve_at].count("ip")
    outer_v6 = protocols[:geneve_at].count("ipv6")
    tunnel_src = (_split(row["ip.src"]) if "ip" in protocols[:geneve_at] else _split(row["ipv6.src"]))[0]
    if proto == 0x6558:
        verdict.update(kind="ethernet", encap="geneve", vni=int(row["geneve.vni"], 16))
    elif proto in (0x0800, 0x86DD):
        i_flags = _split(row["vxlan.flag_i"])
        after = protocols[geneve_at + 1:]
        if i_flags and i_flags[0] == "1" and after[:3] in (["ip", "udp", "vxlan"], ["ipv6", "udp", "vxlan"]):
            nested_v6 = after[0] == "ipv6"
            srcs = _split(row["ipv6.src"]) if nested_v6 else _split(row["ip.src"])
            verdict.update(kind="ethernet", encap="geneve_vxlan", vni=int(_split(row["vxlan.vni"])[0]))
            tunnel_src = srcs[outer_v6 if nested_v6 else outer_v4]
        else:
            verdict.update(kind="ip", encap="geneve", vni=int(row["geneve.vni"], 16),
                           inner_ethertype=proto)
    else:
        return {"kind": "drop", "reason": "unsupported_payload"}
    verdict["tunnel_src"] = tunnel_src
    return verdict


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", help="pcap to write")
    ap.add_argument("--quiet", action="store_true", help="only the agreement summary")
    args = ap.parse_args()
    c = cases()
    write_pcap(args.out, [frame for _, frame, _ in c])
    rows = tshark_decode(args.out)
    disagree = 0
    for (name, frame, expect), row in zip(c, rows):
        oracle = oracle_verdict(row)
        same = oracle == expect
        disagree += not same
        if not args.quiet or not same:
            shown = {k: v for k, v in row.items() if v}
            print("%-28s %4d bytes %s expect %s" % (name, len(frame), "ok  " if same else "DIFF", expect))
            print("%-28s tshark oracle %s" % ("", oracle))
            print("%-28s tshark %s" % ("", shown))
    print("%d frames, %d where tshark's decode gives another verdict" % (len(c), disagree))
    return 1 if disagree else 0


if __name__ == "__main__":
    sys.exit(main())
