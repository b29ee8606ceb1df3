"""What a capture holds, according to tshark (the oracle for the integration tests).

How the inner frames are taken from tshark 4.0 (found by trying; see report):
  * One single-pass run per file with `-T fields -E occurrence=a`; every field
    prints all its occurrences, comma-separated, outermost first.
  * The inner frame of a VXLAN datagram is `udp.payload` (first occurrence =
    the outer UDP) minus the 8-byte VXLAN header. udp.payload stops at the UDP
    length, so Ethernet padding and trailers are excluded, exactly as the
    collector's contract says. `-T json -x` gives per-layer "_raw" bytes, but
    an Ethernet layer's _raw covers only its 14-byte header, so it is no help.
  * IPv4 reassembly is on by default (we pass -o ip.defragment:TRUE anyway).
    The frame that completes a datagram carries the whole reassembled UDP
    datagram: udp.payload/udp.length/vxlan.vni come from the reassembled buffer
    and `ip.fragment` lists the frame numbers of every fragment. The other
    fragments show `eth:ethertype:ip:data`. `ip.reassembled_in` is NOT set on
    those earlier fragments in a single pass (only with -2), so we use the
    completing frame's ip.fragment list instead.
  * The fragment that never completes (last fragment missing) shows as
    `ip:data` and no completing frame names it.
  * Outer IPv6 fragments are reassembled by tshark too (ipv6.fragment,
    ipv6.reassembled.in), but the collector drops them (reason fragment) by
    contract, so a frame whose stack has ipv6.fraghdr is expected as a drop.
  * `tshark -Y vxlan` also matches VXLAN-GPE on UDP 4790 (frame.protocols then
    shows udp:eth or udp:nsh, without "vxlan") and VXLAN found behind GRE/ERSPAN
    or GENEVE. The collector terminates only the outermost UDP: the frame's
    protocol stack must be eth [vlan|ieee8021ad]{0,2} ip|ipv6[ext] udp vxlan,
    and the outermost UDP destination port must be a VXLAN port.
  * A frame cut inside its outer Ethernet header, a VLAN tag (tshark's stack
    then ends with "vlan"/"ieee8021ad") or the fixed outer IP header is
    bad_header, as every header is bounds-checked (outer_parse.h).

GENEVE (outermost UDP to a GENEVE port; the contract is README "What the
dataplane accepts" and dataplane/outer_parse.h):
  * tshark 4.0 has no AWS GWLB fields: the options are read from
    geneve.option (the raw bytes of each option, header included, in wire
    order). geneve.option.length has one more occurrence than there are
    options: the first is the header's Opt Len in bytes, then each option's
    total length in bytes. An option running past Opt Len is left out of
    geneve.option and flagged geneve.option.length.invalid.
  * The GENEVE payload is udp.payload (outer) minus 8 + Opt Len bytes.
  * A nested IP -> UDP -> VXLAN is recognised from frame.protocols
    (geneve:ip:udp:vxlan, geneve:ipv6[ext]:udp:vxlan); its fields are the
    occurrence of ip.* / ipv6.* / udp.* / vxlan.* whose index is the number of
    earlier layers of that protocol in frame.protocols. The nested IPv4 total
    length is read from the bytes: for a total length of 0 tshark shows a
    presumed (TSO) length in ip.len instead.
  * The record of an IPv4/IPv6 payload that is not terminated VXLAN is the
    L3 packet behind a synthesized Ethernet header (both MACs zero, EtherType
    = GENEVE protocol type); its lane is gwlbe-<ENI id, 16 hex digits>.
"""

import collections
import ipaddress
import re
import subprocess

TSHARK_PREFS = ["-o", "ip.defragment:TRUE", "-o", "ipv6.defragment:TRUE"]

FIELDS = [
    "frame.number", "frame.time_epoch", "frame.len", "frame.cap_len", "frame.protocols",
    "ip.src", "ip.len", "ip.proto", "ip.flags.mf", "ip.frag_offset", "ip.fragment",
    "ipv6.src", "ipv6.plen",
    "udp.dstport", "udp.length", "udp.payload",
    "vxlan.flag_i", "vxlan.vni",
    "ip.hdr_len", "ipv6.hopopts.len_oct", "ipv6.routing.len_oct", "ipv6.dstopts.len_oct",
    "geneve.version", "geneve.flags.oam", "geneve.proto_type", "geneve.vni",
    "geneve.option.length", "geneve.option", "geneve.option.length.invalid",
]

GENEVE_PORT = 6081
AWS_CLASS = 0x0108  # AWS Gateway Load Balancer options: 1 endpoint ENI id, 2 attachment id, 3 flow cookie
AWS_OPTION_DATA_LEN = {1: 8, 2: 8, 3: 4}
ETHERTYPE_TEB, ETHERTYPE_IPV4, ETHERTYPE_IPV6 = 0x6558, 0x0800, 0x86DD

# Outer stack the collector terminates (tshark's frame.protocols spelling).
OUTER_VXLAN_RE = re.compile(
    r"^eth:ethertype(?::(?:vlan|ieee8021ad):ethertype){0,2}:"
    r"(?P<l3>ip|ipv6(?::ipv6\.(?:hopopts|routing|dstopts))*):udp:vxlan(?::|$)")
OUTER_GENEVE_RE = re.compile(
    r"^eth:ethertype(?::(?:vlan|ieee8021ad):ethertype){0,2}:"
    r"(?P<l3>ip|ipv6(?::ipv6\.(?:hopopts|routing|dstopts))*):udp:geneve(?::|$)")
# What follows "geneve:" when GENEVE carries VXLAN.
NESTED_VXLAN_RE = re.compile(r"^(?P<l3>ip|ipv6(?::ipv6\.(?:hopopts|routing|dstopts))*):udp:vxlan(?::|$)")
# The leading VLAN tags of a frame, a cut one included (tshark then ends the stack with it).
OUTER_TAGS_RE = re.compile(r"^(?:eth:ethertype)?(?P<tags>(?::(?:vlan|ieee8021ad)(?::ethertype|$))*)")
OUTER_L3_RE = re.compile(r"^eth:ethertype(?::(?:vlan|ieee8021ad):ethertype){0,2}:(?P<l3>ipv6|ip)(?=:|$)")

Frame = collections.namedtuple("Frame", ["number", "time_ns", "len", "cap_len", "protocols", "f"])


def run_tshark(args, check=True):
    p = subprocess.run(["tshark"] + TSHARK_PREFS + args, capture_output=True, text=True)
    if check and p.returncode != 0:
        raise RuntimeError("tshark %s failed (%d): %s" % (args, p.returncode, p.stderr))
    return p.stdout


def time_to_ns(s):
    sec, _, frac = s.partition(".")
    return int(sec) * 1000000000 + int((frac + "000000000")[:9])


def frames(path, vxlan_ports=(4789,), geneve_ports=(GENEVE_PORT,)):
    """All frames of `path` with the FIELDS, each value a list of occurrences.

    Ports other than 4789 / 6081 are decoded as VXLAN / GENEVE with -d (tshark
    knows only those two). A port in both lists is VXLAN, as for the collector.
    """
    args = ["-r", path, "-T", "fields", "-E", "occurrence=a", "-E", "separator=/t"]
    for p in geneve_ports:
        if p != GENEVE_PORT and p not in vxlan_ports:
            args += ["-d", "udp.port==%d,geneve" % p]
    for p in vxlan_ports:
        if p != 4789:
            args += ["-d", "udp.port==%d,vxlan" % p]
    for f in FIELDS:
        args += ["-e", f]
    out = []
    for line in run_tshark(args).splitlines():
        cols = line.split("\t")
        cols += [""] * (len(FIELDS) - len(cols))
        f = {name: (v.split(",") if v else []) for name, v in zip(FIELDS, cols)}
        out.append(Frame(int(f["frame.number"][0]), time_to_ns(f["frame.time_epoch"][0]),
                         int(f["frame.len"][0]), int(f["frame.cap_len"][0]),
                         f["frame.protocols"][0] if f["frame.protocols"] else "", f))
    return out


class Datagram:
    """One tunnel datagram (VXLAN or GENEVE) the collector must write to a lane."""

    def __init__(self, frame, vni, inner, src, fragment_frames, fragment_times,
                 encap="vxlan", kind="ethernet", tunnel_src=None, gwlbe=None):
        self.frame = frame            # frame number where it is complete
        self.vni = vni                # the VNI of the lane key (GENEVE -> VXLAN: the nested VXLAN VNI)
        self.inner = inner            # bytes of the record: inner Ethernet frame (kind "ip": synthesized
                                      # 14-byte Ethernet header + the L3 packet)
        self.src = src                # outer source address (ipaddress object)
        self.fragment_frames = fragment_frames
        self.times = fragment_times   # candidate timestamps (ns): the frame's, or any fragment's
        self.encap = encap            # vxlan | geneve | geneve_vxlan (outer_parse.h Encap)
        self.kind = kind              # ethernet | ip (outer_parse.h OuterKind)
        self.tunnel_src = tunnel_src if tunnel_src is not None else src  # source in front of the VNI's header
        self.gwlbe = gwlbe            # AWS GWLB endpoint ENI id (int) when the option was there, else None

    def lane(self, by_source=False):
        """The automatic lane name (--lane-key vni, or vni+source when by_source)."""
        if self.kind == "ip":
            return "gwlbe-%016x" % (self.gwlbe or 0)
        if by_source:
            return "vni-%d-%s" % (self.vni, str(self.tunnel_src).replace(":", "-"))
        return "vni-%d" % self.vni


class Expectation:
    def __init__(self):
        self.datagrams = []                  # in completion order
        self.disposition = {}                # frame number -> one of the keys below
        self.counts = collections.Counter()  # vxlan, merged, fragment, bad_header, other
        self.notes = collections.defaultdict(list)  # disposition -> [(frame, why)]

    def by_vni(self):
        """Datagrams of the vni-<VNI> lanes (not the gwlbe-<ENI> ones), by VNI."""
        d = collections.defaultdict(list)
        for g in self.datagrams:
            if g.kind == "ethernet":
                d[g.vni].append(g)
        return d

    def by_lane(self, by_source=False):
        d = collections.defaultdict(list)
        for g in self.datagrams:
            d[g.lane(by_source)].append(g)
        return d

    def set(self, number, what, why=""):
        self.disposition[number] = what
        self.counts[what] += 1
        if why:
            self.notes[what].append((number, why))


def classify(path, vxlan_ports=(4789,), geneve_ports=(GENEVE_PORT,)):
    """Expected treatment of every frame of `path`, from tshark's dissection.

    Dispositions: vxlan / geneve (written to a lane: exp.datagrams), merged,
    fragment, bad_header, unsupported_payload, other (not_vxlan or exception).
    """
    geneve_ports = tuple(p for p in geneve_ports if p not in vxlan_ports)
    fl = frames(path, vxlan_ports, geneve_ports)
    exp = Expectation()
    by_number = {fr.number: fr for fr in fl}
    merged = set()
    for fr in fl:  # completing frames name the fragments they absorbed
        nums = [int(x) for x in fr.f["ip.fragment"]]
        if fr.number in nums:
            merged.update(n for n in nums if n != fr.number)
    for fr in fl:
        f = fr.f
        m3 = OUTER_L3_RE.match(fr.protocols)
        if fr.cap_len < 14:
            exp.set(fr.number, "bad_header", "outer Ethernet header cut (%d bytes)" % fr.cap_len)
            continue
        tags = len(re.findall("vlan|ieee8021ad", OUTER_TAGS_RE.match(fr.protocols).group("tags")))
        if tags <= 2 and fr.cap_len < 14 + 4 * tags:
            exp.set(fr.number, "bad_header", "outer VLAN tag cut (%d bytes)" % fr.cap_len)
            continue
        if not m3:
            exp.set(fr.number, "other", "not IP behind at most 2 VLAN tags: " + fr.protocols)
            continue
        v4 = m3.group("l3") == "ip"
        l2 = 14 + 4 * m3.group(0).count(":ethertype") - 4
        if fr.cap_len < l2 + (20 if v4 else 40):
            exp.set(fr.number, "bad_header", "outer IP header cut (%d bytes)" % fr.cap_len)
            continue
        # The collector checks the IP length against the captured bytes before
        # it looks at the protocol (outer_parse.h), so an IP datagram cut by the
        # capture's snaplen is bad_header, VXLAN or not. (Only the IP datagram
        # counts: a pcapng frame can have orig_len > cap_len with a whole
        # datagram inside, e.g. zeek-geneve-truncated.pcapng.)
        ip_end = l2 + (int(f["ip.len"][0]) if v4 and f["ip.len"] else
                       40 + int(f["ipv6.plen"][0]) if not v4 and f["ipv6.plen"] else 0)
        if ip_end > fr.cap_len:
            exp.set(fr.number, "bad_header", "IP datagram (%d bytes with L2) cut by the capture snaplen at %d" %
                    (ip_end, fr.cap_len))
            continue
        if not v4 and f["ipv6.plen"] and f["ipv6.plen"][0] == "0":
            exp.set(fr.number, "bad_header", "outer IPv6 payload length 0 (BIG TCP)")
            continue
        if v4 and f["ip.proto"] and f["ip.proto"][0] != "17":
            exp.set(fr.number, "other")
            continue
        ext = fr.protocols[m3.end("l3"):].split(":")[1:]
        ext = ext[:next((i for i, p in enumerate(ext) if not p.startswith("ipv6.")), len(ext))]
        if not v4 and "ipv6.fraghdr" in ext:
            exp.set(fr.number, "fragment", "outer IPv6 fragment")
            continue
        if fr.number in merged:
            exp.set(fr.number, "merged")
            continue
        is_frag = v4 and ((f["ip.flags.mf"] and f["ip.flags.mf"][0] in ("1", "True")) or
                          (f["ip.frag_offset"] and f["ip.frag_offset"][0] != "0"))
        completing = v4 and fr.number in [int(x) for x in f["ip.fragment"]]
        if is_frag and not completing:
            exp.set(fr.number, "fragment", "IPv4 fragment never reassembled")
            continue
        dport = int(f["udp.dstport"][0]) if f["udp.dstport"] else None
        src = ipaddress.ip_address(f["ip.src"][0] if v4 else f["ipv6.src"][0])
        frag_frames = [int(x) for x in f["ip.fragment"]] if completing else [fr.number]
        times = sorted({by_number[n].time_ns for n in frag_frames})
        if dport in geneve_ports:
            what, why, g = classify_geneve(fr, vxlan_ports)
            if g is not None:
                g.frame, g.src, g.fragment_frames, g.times = fr.number, src, frag_frames, times
                if g.tunnel_src is None:
                    g.tunnel_src = src
                exp.datagrams.append(g)
            exp.set(fr.number, what, why)
            continue
        if dport not in vxlan_ports:
            exp.set(fr.number, "other")
            continue
        if not OUTER_VXLAN_RE.match(fr.protocols):
            exp.set(fr.number, "other", "UDP to a VXLAN port but stack " + fr.protocols)
            continue
        if not f["vxlan.flag_i"] or f["vxlan.flag_i"][0] not in ("1", "True"):
            exp.set(fr.number, "bad_header", "VXLAN I flag clear or header missing")
            continue
        payload = bytes.fromhex(f["udp.payload"][0]) if f["udp.payload"] else b""
        udp_len = int(f["udp.length"][0])
        if len(payload) != udp_len - 8:
            exp.set(fr.number, "bad_header", "UDP payload %d bytes, UDP length %d" % (len(payload), udp_len))
            continue
        if len(payload) < 8 + 14:
            exp.set(fr.number, "bad_header", "VXLAN header or inner Ethernet header cut (%d bytes)" % len(payload))
            continue
        vni = int(f["vxlan.vni"][0])
        assert vni == int.from_bytes(payload[4:7], "big"), fr.number
        exp.datagrams.append(Datagram(fr.number, vni, payload[8:], src, frag_frames, times))
        exp.set(fr.number, "vxlan")
    return exp


def _occurrence(tokens, pos):
    """Index of the layer at tokens[pos] among the occurrences of its protocol's fields."""
    return tokens[:pos].count(tokens[pos])


def _nth(f, field, i):
    v = f[field]
    return v[i] if i < len(v) else None


def classify_geneve(fr, vxlan_ports):
    """(disposition, why, Datagram or None) of a frame whose outermost UDP goes to a GENEVE port.

    The Datagram's frame, src and times are filled in by the caller.
    """
    f = fr.f
    payload = bytes.fromhex(f["udp.payload"][0]) if f["udp.payload"] else b""
    udp_len = int(f["udp.length"][0]) if f["udp.length"] else 0
    if udp_len < 16 or len(payload) != udp_len - 8:
        return "bad_header", "GENEVE: UDP length %d, UDP payload %d bytes (needs 8 + header)" % (
            udp_len, len(payload)), None
    if not OUTER_GENEVE_RE.match(fr.protocols):
        return "other", "UDP to a GENEVE port but stack " + fr.protocols, None
    if f["geneve.version"][0] != "0":
        return "bad_header", "GENEVE version " + f["geneve.version"][0], None
    opt_len = int(f["geneve.option.length"][0])
    if 8 + opt_len > len(payload):
        return "bad_header", "GENEVE Opt Len %d past the UDP payload (%d bytes)" % (opt_len, len(payload)), None
    # The outer GENEVE's options are the first geneve.option occurrences
    # whose lengths add up to Opt Len.
    lengths, total = [], 0
    for v in f["geneve.option.length"][1:]:
        if total >= opt_len:
            break
        lengths.append(int(v))
        total += int(v)
    if f["geneve.option.length.invalid"] or total != opt_len:
        return "bad_header", "GENEVE options do not fill Opt Len %d exactly (tshark: %s)" % (
            opt_len, f["geneve.option.length"]), None
    eni = None
    for raw_hex, length in zip(f["geneve.option"], lengths):
        raw = bytes.fromhex(raw_hex)
        assert len(raw) == length, (fr.number, raw_hex, length)
        cls, typ, data = int.from_bytes(raw[:2], "big"), raw[2], raw[4:]
        if cls != AWS_CLASS or typ not in AWS_OPTION_DATA_LEN:
            continue
        if len(data) != AWS_OPTION_DATA_LEN[typ]:
            return "bad_header", "AWS GWLB option type %d with %d data bytes" % (typ, len(data)), None
        if typ == 1:
            eni = int.from_bytes(data, "big")  # a repeated option: the last one counts
    if f["geneve.flags.oam"][0] in ("1", "True"):
        return "unsupported_payload", "GENEVE O bit (control message)", None
    proto = int(f["geneve.proto_type"][0], 16)
    vni = int(f["geneve.vni"][0], 16)
    inner = payload[8 + opt_len:]
    if proto == ETHERTYPE_TEB:
        if len(inner) < 14:
            return "bad_header", "GENEVE inner Ethernet frame of %d bytes" % len(inner), None
        return "geneve", "", Datagram(None, vni, inner, None, None, None, encap="geneve", gwlbe=eni)
    if proto not in (ETHERTYPE_IPV4, ETHERTYPE_IPV6):
        return "unsupported_payload", "GENEVE protocol type 0x%04x" % proto, None
    if len(inner) < (20 if proto == ETHERTYPE_IPV4 else 40):
        return "bad_header", "GENEVE inner IP packet of %d bytes" % len(inner), None
    nested = nested_vxlan(fr, inner, vxlan_ports)
    if isinstance(nested, tuple):
        nvni, ninner, nsrc = nested
        return "geneve", "", Datagram(None, nvni, ninner, None, None, None, encap="geneve_vxlan",
                                      tunnel_src=nsrc, gwlbe=eni)
    eth = bytes(12) + proto.to_bytes(2, "big")
    return "geneve", "L3 payload, not terminated VXLAN: " + nested, Datagram(
        None, vni, eth + inner, None, None, None, encap="geneve", kind="ip", gwlbe=eni)


def nested_vxlan(fr, packet, vxlan_ports):
    """(VNI, inner Ethernet frame, nested IP source) when the GENEVE L3 payload
    `packet` is VXLAN the collector terminates too, else why it is not."""
    f = fr.f
    tokens = fr.protocols.split(":")
    at = tokens.index("geneve") + 1
    m = NESTED_VXLAN_RE.match(":".join(tokens[at:]))
    if not m:
        return "stack " + ":".join(tokens[at:at + 4])
    l3 = m.group("l3").split(":")
    if l3[0] == "ip":
        i = _occurrence(tokens, at)
        if _nth(f, "ip.flags.mf", i) in ("1", "True") or _nth(f, "ip.frag_offset", i) not in ("0", None):
            return "nested IPv4 fragment"
        header_len = int(_nth(f, "ip.hdr_len", i))
        total = int.from_bytes(packet[2:4], "big")
        if header_len < 20 or total < header_len or total > len(packet):
            return "nested IPv4 lengths (header %d, total %d, %d bytes)" % (header_len, total, len(packet))
        src = _nth(f, "ip.src", i)
    else:
        i = _occurrence(tokens, at)
        plen = int(_nth(f, "ipv6.plen", i))
        total = 40 + plen
        if plen == 0 or total > len(packet):
            return "nested IPv6 payload length %d (%d bytes)" % (plen, len(packet))
        header_len = 40
        for k in range(1, len(l3)):  # extension headers
            header_len += int(_nth(f, l3[k] + ".len_oct", _occurrence(tokens, at + k)))
        src = _nth(f, "ipv6.src", i)
    u = _occurrence(tokens, at + len(l3))
    if int(_nth(f, "udp.dstport", u)) not in vxlan_ports:
        return "nested UDP port " + _nth(f, "udp.dstport", u)
    udp_len = int(_nth(f, "udp.length", u))
    if udp_len < 16 or header_len + udp_len > total:
        return "nested UDP length %d (IP %d, header %d)" % (udp_len, total, header_len)
    udp_payload = bytes.fromhex(_nth(f, "udp.payload", u) or "")
    assert udp_payload == packet[header_len + 8:header_len + udp_len], (fr.number, "nested udp.payload")
    x = _occurrence(tokens, at + len(l3) + 1)
    if _nth(f, "vxlan.flag_i", x) not in ("1", "True"):
        return "nested VXLAN I flag clear"
    if udp_len - 16 < 14:
        return "nested VXLAN inner frame of %d bytes" % (udp_len - 16)
    vni = int(_nth(f, "vxlan.vni", x))
    assert vni == int.from_bytes(udp_payload[4:7], "big"), fr.number
    return vni, udp_payload[8:], ipaddress.ip_address(src)


def naive_geneve_lane_counts(path):
    """Frames per lane by a plain recipe for GENEVE that is not VXLAN inside:
    -Y 'geneve && !vxlan && udp.dstport==6081 && geneve.version==0 &&
    geneve.flags.oam==0 && !_ws.malformed'; protocol 0x6558 -> vni-<VNI>,
    0x0800/0x86dd -> gwlbe-<data of the last class 0x0108 type 1 option, or 0>.
    GENEVE carrying VXLAN is counted by naive_vni_counts."""
    out = run_tshark(["-r", path, "-Y", "geneve && !vxlan && udp.dstport==6081 && geneve.version==0 && "
                      "geneve.flags.oam==0 && !_ws.malformed", "-T", "fields", "-E", "occurrence=a",
                      "-E", "separator=/t", "-e", "geneve.proto_type", "-e", "geneve.vni", "-e", "geneve.option"])
    c = collections.Counter()
    for line in out.splitlines():
        proto, vni, opts = (line.split("\t") + ["", ""])[:3]
        proto = proto.split(",")[0]
        if proto == "0x6558":
            c["vni-%d" % int(vni.split(",")[0], 16)] += 1
        elif proto in ("0x0800", "0x86dd"):
            eni = [o[8:] for o in opts.split(",") if o.startswith("01080102")]
            c["gwlbe-" + (eni[-1] if eni else "0" * 16)] += 1
    return c


def naive_vni_counts(path):
    """Frames per VNI by the plain recipe: -Y 'vxlan && udp.dstport==4789', first VNI."""
    out = run_tshark(["-r", path, "-Y", "vxlan && udp.dstport==4789", "-T", "fields", "-e", "vxlan.vni"])
    c = collections.Counter()
    for line in out.splitlines():
        if line.strip():
            c[int(line.split(",")[0])] += 1
    return c


def display_filter_count(path, flt):
    out = run_tshark(["-r", path, "-Y", flt, "-T", "fields", "-e", "frame.number"])
    return len([l for l in out.splitlines() if l.strip()])


def check_gwlbe_label(F, summary, lane, datagrams, label):
    """The lane's "gwlbe" label in the summary: the GWLB endpoint ENI id (16 hex
    digits) of its first packet when that packet had the option; absent
    otherwise. F is a vxc.Failures."""
    info = summary.get("lanes", {}).get(lane)
    if info is None:
        return  # vxc.check_lane reports it
    first = datagrams[0].gwlbe
    F.equal(info.get("gwlbe"), None if first is None else "%016x" % first,
            "%s: lane %s gwlbe label = ENI id of its first packet (tshark geneve.option)" % (label, lane))


def in_any(addr, cidrs):
    return any(addr in ipaddress.ip_network(c) for c in cidrs)
