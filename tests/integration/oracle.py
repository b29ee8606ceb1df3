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
]

# Outer stack the collector terminates (tshark's frame.protocols spelling).
OUTER_VXLAN_RE = re.compile(
    r"^eth:ethertype(?::(?:vlan|ieee8021ad):ethertype){0,2}:"
    r"(?P<l3>ip|ipv6(?::ipv6\.(?:hopopts|routing|dstopts))*):udp:vxlan(?::|$)")
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


def frames(path, vxlan_ports=(4789,)):
    """All frames of `path` with the FIELDS, each value a list of occurrences.

    Ports other than 4789 are decoded as VXLAN with -d (tshark knows only 4789).
    """
    args = ["-r", path, "-T", "fields", "-E", "occurrence=a", "-E", "separator=/t"]
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
    """One VXLAN datagram the collector must treat as VXLAN."""

    def __init__(self, frame, vni, inner, src, fragment_frames, fragment_times):
        self.frame = frame            # frame number where it is complete
        self.vni = vni
        self.inner = inner            # bytes of the inner Ethernet frame
        self.src = src                # outer source address (ipaddress object)
        self.fragment_frames = fragment_frames
        self.times = fragment_times   # candidate timestamps (ns): the frame's, or any fragment's


class Expectation:
    def __init__(self):
        self.datagrams = []                  # in completion order
        self.disposition = {}                # frame number -> one of the keys below
        self.counts = collections.Counter()  # vxlan, merged, fragment, bad_header, other
        self.notes = collections.defaultdict(list)  # disposition -> [(frame, why)]

    def by_vni(self):
        d = collections.defaultdict(list)
        for g in self.datagrams:
            d[g.vni].append(g)
        return d

    def set(self, number, what, why=""):
        self.disposition[number] = what
        self.counts[what] += 1
        if why:
            self.notes[what].append((number, why))


def classify(path, vxlan_ports=(4789,)):
    """Expected treatment of every frame of `path`, from tshark's dissection."""
    fl = frames(path, vxlan_ports)
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
        if not m3:
            exp.set(fr.number, "other", "not IP behind at most 2 VLAN tags: " + fr.protocols.split(":")[2])
            continue
        v4 = m3.group("l3") == "ip"
        # The collector checks the IP length against the captured bytes before
        # it looks at the protocol (outer_parse.h), so an IP datagram cut by the
        # capture's snaplen is bad_header, VXLAN or not. (Only the IP datagram
        # counts: a pcapng frame can have orig_len > cap_len with a whole
        # datagram inside, e.g. zeek-geneve-truncated.pcapng.)
        l2 = 14 + 4 * m3.group(0).count(":ethertype") - 4
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
        if not f["udp.dstport"] or int(f["udp.dstport"][0]) not in vxlan_ports:
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
        src = ipaddress.ip_address(f["ip.src"][0] if v4 else f["ipv6.src"][0])
        frag_frames = [int(x) for x in f["ip.fragment"]] if completing else [fr.number]
        times = sorted({by_number[n].time_ns for n in frag_frames})
        exp.datagrams.append(Datagram(fr.number, vni, payload[8:], src, frag_frames, times))
        exp.set(fr.number, "vxlan")
    return exp


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


def in_any(addr, cidrs):
    return any(addr in ipaddress.ip_network(c) for c in cidrs)
