#!/usr/bin/python3
"""Generates a realistic multi-VNI VXLAN mirror feed as a classic pcap.

Library: generate(path, seed) writes the capture and returns a truth dict.
CLI:     feedgen.py OUT.pcap [--seed N] [--truth OUT.json]

What the feed holds (everything deterministic for a given seed):
  * mirror sessions (outer source -> collector 10.0.0.100 / 2001:db8:c::100):
      VNI 5        10.1.0.11      untagged IPv4, path MTU 1500
      VNI 42       10.1.0.12      802.1Q 100, IPv4, a few with IPv4 options
      VNI 4242     10.1.0.14      QinQ 10/20, IPv4, every inner frame 802.1Q 300/301
      VNI 4242     10.2.0.21      QinQ 10/20, IPv4, small packets only
      VNI 5569041  2001:db8:a::11 IPv6 outer (path MTU 9001), some with a
                                  destination-options header, one outer IPv6
                                  fragmented datagram
      VNI 5569041  2001:db8:b::21 IPv6 outer, small packets only
      VNI 16777215 10.1.0.13      IPv4, path MTU 576 (3-fragment datagrams)
      VNI 777      10.2.0.22      IPv4, small packets only
      VNI 0        10.1.0.15      IPv4, DNS only
    Subnet A = 10.1.0.0/24 + 2001:db8:a::/64, subnet B = 10.2.0.0/24 +
    2001:db8:b::/64. Every outer IPv4 fragment comes from subnet A.
  * inner traffic: TCP conversations (handshake with options, request, data
    segments of mixed sizes up to a full 1500-byte IP packet, delayed ACKs,
    FIN close or RST), DNS query/response, ICMP echo; inner IPv6 in VNI 5569041.
  * outer IPv4 datagrams larger than the path MTU are fragmented with scapy's
    fragment(); some fragment trains are sent out of order and one datagram
    loses its last fragment.
  * noise: ARP, plain TCP (SSH to the collector), NTP, syslog, DNS, ICMP,
    ICMPv6, UDP 8472 (Linux legacy VXLAN port), UDP 4790 (VXLAN-GPE).
  * malformed: VXLAN I flag clear, truncated VXLAN header, inner frame shorter
    than an Ethernet header, a frame cut by the capture snaplen, and outer
    frames with a 4-byte trailer after the IP datagram.

The truth dict is a cross-check only: tests take what each frame holds from
tshark, never from here.
"""

import argparse
import json
import random
import struct
import sys

from scapy.all import (ARP, DNS, DNSQR, DNSRR, ICMP, IP, IPv6, TCP, UDP, Dot1AD, Dot1Q, Ether,
                       ICMPv6EchoReply, ICMPv6EchoRequest, ICMPv6ND_NS, IPOption_Router_Alert,
                       IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, Raw, fragment, fragment6)

COLLECTOR_MAC = "02:00:0a:00:00:64"
COLLECTOR_IP4 = "10.0.0.100"
COLLECTOR_IP6 = "2001:db8:c::100"
GATEWAY_MAC = "02:00:0a:00:00:01"
GATEWAY_IP4 = "10.0.0.1"
START_US = 1709294400 * 1000000  # 2024-03-01T12:00:00Z
DURATION_US = 60 * 1000000

SUBNETS_A = ["10.1.0.0/24", "2001:db8:a::/64"]
SUBNETS_B = ["10.2.0.0/24", "2001:db8:b::/64"]


class Session:
    """One mirror source: outer headers and path MTU."""

    def __init__(self, name, vni, src, mac, tags=(), mtu=1500, small_only=False):
        self.name = name
        self.vni = vni
        self.src = src
        self.mac = mac
        self.tags = tags  # () | ("dot1q", vid) | ("qinq", svid, cvid)
        self.mtu = mtu
        self.ipv6 = ":" in src
        self.small_only = small_only
        self.ip_id = 0


class Feed:
    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.frames = []  # [t_us, order, bytes, wire_len]
        self.order = 0
        self.truth = {
            "seed": seed,
            "vxlan_datagrams": {},  # VNI -> datagrams sent (complete ones, incl. fragmented)
            "vxlan_datagrams_by_source": {},
            "fragmented_datagrams": 0,
            "fragments": 0,
            "incomplete_fragments": 0,
            "ipv6_fragments": 0,
            "trailer_frames": 0,
            "malformed": {},
            "noise": {},
        }

    # ---- low level -------------------------------------------------------

    def emit(self, t_us, data, wire_len=None):
        self.frames.append([t_us, self.order, bytes(data), wire_len or len(data)])
        self.order += 1

    def count(self, key, sub, n=1):
        d = self.truth[key]
        d[str(sub)] = d.get(str(sub), 0) + n

    def outer_l2(self, s):
        if s.ipv6:
            eth = Ether(src=s.mac, dst=COLLECTOR_MAC, type=0x86DD)
        else:
            eth = Ether(src=s.mac, dst=COLLECTOR_MAC)
        if not s.tags:
            return eth
        if s.tags[0] == "dot1q":
            return eth / Dot1Q(vlan=s.tags[1], prio=0)
        return eth / Dot1AD(vlan=s.tags[1]) / Dot1Q(vlan=s.tags[2])

    def vxlan_header(self, vni, flags=0x08):
        return struct.pack("!B3xI", flags, vni << 8)

    def encap(self, s, t_us, inner, sport, options=False, trailer=False, vxlan_flags=0x08,
              dest_opts=False, force_v6_frag=False, reorder=None, drop_last=False):
        """Wraps `inner` (bytes) for session s and emits the outer frame(s)."""
        payload = self.vxlan_header(s.vni, vxlan_flags) + inner
        l2 = self.outer_l2(s)
        if s.ipv6:
            ip = IPv6(src=s.src, dst=COLLECTOR_IP6, hlim=64, fl=sport & 0xFFFFF)
            if dest_opts:
                ip = ip / IPv6ExtHdrDestOpt()
            if force_v6_frag:
                s.ip_id += 1
                pkt = ip / IPv6ExtHdrFragment(id=0x5000 + s.ip_id) / UDP(sport=sport, dport=4789) / Raw(payload)
                frags = fragment6(pkt, 1280)
                for i, f in enumerate(frags):
                    self.emit(t_us + i, l2 / f)
                self.truth["ipv6_fragments"] += len(frags)
                return
            pkt = l2 / ip / UDP(sport=sport, dport=4789) / Raw(payload)
            self.emit(t_us, pkt)
        else:
            s.ip_id = (s.ip_id + 1) & 0xFFFF
            ip = IP(src=s.src, dst=COLLECTOR_IP4, ttl=64, id=s.ip_id)
            if options:
                ip.options = [IPOption_Router_Alert()]
            pkt = l2 / ip / UDP(sport=sport, dport=4789, chksum=0) / Raw(payload)
            ip_len = len(pkt[IP])
            if ip_len <= s.mtu:
                data = bytes(pkt)
                if trailer:
                    data += struct.pack("!I", self.rng.getrandbits(32))  # FCS kept by the mirror NIC
                    self.truth["trailer_frames"] += 1
                self.emit(t_us, data)
            else:
                assert not options, "fragments carry no options here"
                frags = fragment(pkt, fragsize=s.mtu - 20)
                self.truth["fragmented_datagrams"] += 0 if drop_last else 1
                if drop_last:
                    frags = frags[:-1]
                    self.truth["incomplete_fragments"] += len(frags)
                else:
                    self.truth["fragments"] += len(frags)
                if reorder == "reverse":
                    frags = frags[::-1]
                elif reorder == "last_first":
                    frags = frags[-1:] + frags[:-1]
                elif reorder == "shuffle":
                    self.rng.shuffle(frags)
                for i, f in enumerate(frags):
                    self.emit(t_us + i * 3, f)
                if drop_last:
                    return
        if vxlan_flags & 0x08:
            self.count("vxlan_datagrams", s.vni)
            self.count("vxlan_datagrams_by_source", s.src)

    # ---- inner traffic -------------------------------------------------

    def mac(self):
        b = [0x0A] + [self.rng.randrange(256) for _ in range(5)]
        return ":".join("%02x" % x for x in b)

    def inner_l2(self, src_mac, dst_mac, vlan, ipv6=False):
        if vlan:
            return Ether(src=src_mac, dst=dst_mac) / Dot1Q(vlan=vlan)
        return Ether(src=src_mac, dst=dst_mac, type=0x86DD if ipv6 else 0x0800)

    def tcp_conversation(self, s, t_us, cli, srv, dport, response_bytes, close="fin", vlan=None,
                         frag_plan=None, option_frames=0):
        """A client/server TCP exchange; returns the end time."""
        rng = self.rng
        v6 = ":" in cli
        IPc = IPv6 if v6 else IP
        mss = 1440 if v6 else 1460
        if s.small_only:
            mss = 536
        cmac, smac = self.mac(), self.mac()
        cport = rng.randrange(32768, 61000)
        cseq, sseq = rng.getrandbits(32), rng.getrandbits(32)
        rtt = rng.randrange(300, 40000)  # microseconds
        sport = rng.randrange(49152, 65536)  # outer UDP source port: per-flow hash
        frag_plan = list(frag_plan or [])
        opts_left = [option_frames]

        def ip(src, dst):
            return IPc(src=src, dst=dst) if v6 else IP(src=src, dst=dst, ttl=rng.choice([63, 64, 127]),
                                                        id=rng.getrandbits(16), flags="DF")

        def send(t, from_client, flags, seq, ack, data=b"", opts=None):
            l2 = self.inner_l2(cmac, smac, vlan, v6) if from_client else self.inner_l2(smac, cmac, vlan, v6)
            src, dst = (cli, srv) if from_client else (srv, cli)
            sp, dp = (cport, dport) if from_client else (dport, cport)
            tcp = TCP(sport=sp, dport=dp, flags=flags, seq=seq & 0xFFFFFFFF, ack=ack & 0xFFFFFFFF,
                      window=rng.choice([502, 64240, 65535, 29200]), options=opts or [])
            pkt = l2 / ip(src, dst) / tcp
            if data:
                pkt = pkt / Raw(data)
            inner = bytes(pkt)
            kw = {}
            if not s.ipv6 and len(inner) + 36 > s.mtu and frag_plan:
                kw = frag_plan.pop(0)
            if opts_left[0] > 0 and len(inner) + 36 + 4 <= s.mtu and not s.ipv6:
                kw["options"] = True
                opts_left[0] -= 1
            self.encap(s, t, inner, sport, **kw)

        t = t_us
        syn_opts = [("MSS", mss), ("SAckOK", b""), ("Timestamp", (rng.getrandbits(32), 0)),
                    ("NOP", None), ("WScale", 7)]
        send(t, True, "S", cseq, 0, opts=syn_opts)
        t += rtt
        send(t, False, "SA", sseq, cseq + 1, opts=[("MSS", mss), ("SAckOK", b""), ("WScale", 9)])
        t += rtt
        cseq += 1
        sseq += 1
        send(t, True, "A", cseq, sseq)
        if dport == 80:
            req = ("GET /assets/%d/%s HTTP/1.1\r\nHost: shop.example.com\r\nUser-Agent: "
                   "Mozilla/5.0 (X11; Linux x86_64)\r\nAccept: */*\r\nAccept-Encoding: gzip, br\r\n"
                   "Connection: keep-alive\r\n\r\n" % (rng.randrange(10**6), rng.choice(
                       ["app.js", "style.css", "logo.png", "index.html", "api/v2/cart"]))).encode()
        elif dport == 53:
            req = bytes(rng.getrandbits(8) for _ in range(rng.randrange(40, 90)))
        else:
            req = bytes(rng.getrandbits(8) for _ in range(rng.randrange(80, 520)))  # TLS-ish
        t += rng.randrange(50, 400)
        send(t, True, "PA", cseq, sseq, req)
        cseq += len(req)
        t += rtt
        remaining = response_bytes
        first = True
        unacked = 0
        while remaining > 0:
            n = min(mss, remaining)
            if rng.random() < 0.15:
                n = min(remaining, rng.randrange(1, mss))  # app flush: short segment
            if first and dport == 80:
                hdr = ("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                       "Content-Length: %d\r\n\r\n" % response_bytes).encode()
                data = (hdr + bytes(rng.getrandbits(8) for _ in range(n)))[:n]
            else:
                data = bytes(rng.getrandbits(8) for _ in range(n))
            first = False
            send(t, False, "PA" if n < mss or remaining == n else "A", sseq, cseq, data)
            sseq += n
            remaining -= n
            unacked += 1
            t += rng.randrange(20, 300)
            if unacked == 2 or remaining == 0:
                send(t + rtt // 2, True, "A", cseq, sseq)
                unacked = 0
                t += rng.randrange(10, 100)
        t += rng.randrange(1000, 200000)
        if close == "rst":
            send(t, False, "RA", sseq, cseq)
            return t
        send(t, True, "FA", cseq, sseq)
        t += rtt
        send(t, False, "FA", sseq, cseq + 1)
        t += rtt
        send(t, True, "A", cseq + 1, sseq + 1)
        return t

    def dns_exchange(self, s, t_us, cli, srv, vlan=None):
        rng = self.rng
        v6 = ":" in cli
        IPc = IPv6 if v6 else IP
        cmac, smac = self.mac(), self.mac()
        qid = rng.getrandbits(16)
        name = rng.choice(["api.example.com", "s3.eu-west-1.amazonaws.com", "db.internal.corp",
                           "cdn.example.net", "login.example.org"])
        qtype = rng.choice(["A", "AAAA"])
        cport = rng.randrange(1024, 65536)
        osport = rng.randrange(49152, 65536)
        q = self.inner_l2(cmac, smac, vlan, v6) / IPc(src=cli, dst=srv) / UDP(sport=cport, dport=53) / \
            DNS(id=qid, rd=1, qd=DNSQR(qname=name, qtype=qtype))
        self.encap(s, t_us, bytes(q), osport)
        answers = None
        for i in range(rng.randrange(1, 4)):
            rdata = ("203.0.113.%d" % rng.randrange(1, 255)) if qtype == "A" else (
                "2001:db8:ffff::%x" % rng.randrange(1, 65535))
            rr = DNSRR(rrname=name, type=qtype, ttl=rng.randrange(30, 3600), rdata=rdata)
            answers = rr if answers is None else answers / rr
        r = self.inner_l2(smac, cmac, vlan, v6) / IPc(src=srv, dst=cli) / UDP(sport=53, dport=cport) / \
            DNS(id=qid, qr=1, rd=1, ra=1, qd=DNSQR(qname=name, qtype=qtype), an=answers)
        self.encap(s, t_us + rng.randrange(200, 30000), bytes(r), osport)

    def ping(self, s, t_us, cli, srv, count, vlan=None):
        rng = self.rng
        v6 = ":" in cli
        cmac, smac = self.mac(), self.mac()
        ident = rng.getrandbits(16)
        osport = rng.randrange(49152, 65536)
        payload = bytes(range(56))
        for i in range(count):
            t = t_us + i * 1000000
            if v6:
                req = self.inner_l2(cmac, smac, vlan, True) / IPv6(src=cli, dst=srv) / \
                    ICMPv6EchoRequest(id=ident, seq=i + 1, data=payload)
                rep = self.inner_l2(smac, cmac, vlan, True) / IPv6(src=srv, dst=cli) / \
                    ICMPv6EchoReply(id=ident, seq=i + 1, data=payload)
            else:
                req = self.inner_l2(cmac, smac, vlan) / IP(src=cli, dst=srv, id=rng.getrandbits(16)) / \
                    ICMP(type=8, id=ident, seq=i + 1) / Raw(payload)
                rep = self.inner_l2(smac, cmac, vlan) / IP(src=srv, dst=cli, id=rng.getrandbits(16)) / \
                    ICMP(type=0, id=ident, seq=i + 1) / Raw(payload)
            self.encap(s, t, bytes(req), osport)
            self.encap(s, t + rng.randrange(200, 5000), bytes(rep), osport)

    # ---- noise and malformed -------------------------------------------

    def noise(self):
        rng = self.rng
        for i in range(12):  # ARP: gateway asks for the collector, collector answers
            t = START_US + i * 5000000 + rng.randrange(1000000)
            self.emit(t, Ether(src=GATEWAY_MAC, dst="ff:ff:ff:ff:ff:ff") /
                      ARP(op=1, hwsrc=GATEWAY_MAC, psrc=GATEWAY_IP4, pdst=COLLECTOR_IP4))
            self.emit(t + 80, Ether(src=COLLECTOR_MAC, dst=GATEWAY_MAC) /
                      ARP(op=2, hwsrc=COLLECTOR_MAC, psrc=COLLECTOR_IP4, hwdst=GATEWAY_MAC, pdst=GATEWAY_IP4))
            self.count("noise", "arp", 2)
        # SSH management session to the collector (plain TCP, not VXLAN).
        t = START_US + 2000000
        seq_c, seq_s = rng.getrandbits(32), rng.getrandbits(32)
        for i in range(40):
            c = i % 2 == 0
            data = bytes(rng.getrandbits(8) for _ in range(rng.choice([0, 36, 52, 68, 100])))
            p = Ether(src=GATEWAY_MAC if c else COLLECTOR_MAC, dst=COLLECTOR_MAC if c else GATEWAY_MAC) / \
                IP(src="10.0.0.50" if c else COLLECTOR_IP4, dst=COLLECTOR_IP4 if c else "10.0.0.50") / \
                TCP(sport=51022 if c else 22, dport=22 if c else 51022, flags="PA" if data else "A",
                    seq=seq_c if c else seq_s, ack=seq_s if c else seq_c) / Raw(data)
            if c:
                seq_c += len(data)
            else:
                seq_s += len(data)
            self.emit(t, p)
            t += rng.randrange(1000, 1400000)
            self.count("noise", "tcp_ssh")
        for i in range(8):  # NTP, syslog, DNS from the collector, LB health-check ping
            t = START_US + rng.randrange(DURATION_US)
            self.emit(t, Ether(src=COLLECTOR_MAC, dst=GATEWAY_MAC) / IP(src=COLLECTOR_IP4, dst="10.0.0.2") /
                      UDP(sport=123, dport=123) / Raw(b"\x23" + bytes(47)))
            self.emit(t + 30, Ether(src=COLLECTOR_MAC, dst=GATEWAY_MAC) / IP(src=COLLECTOR_IP4, dst="10.0.0.3") /
                      UDP(sport=rng.randrange(1024, 65536), dport=514) /
                      Raw(b"<30>Mar  1 12:00:00 collector vxcollector[812]: lane rotated"))
            self.emit(t + 90, Ether(src=COLLECTOR_MAC, dst=GATEWAY_MAC) / IP(src=COLLECTOR_IP4, dst="10.0.0.2") /
                      UDP(sport=rng.randrange(1024, 65536), dport=53) /
                      DNS(id=rng.getrandbits(16), rd=1, qd=DNSQR(qname="s3.amazonaws.com")))
            self.emit(t + 150, Ether(src=GATEWAY_MAC, dst=COLLECTOR_MAC) / IP(src="10.0.0.9", dst=COLLECTOR_IP4) /
                      ICMP(type=8, id=7, seq=i) / Raw(b"health"))
            self.count("noise", "udp_other", 3)
            self.count("noise", "icmp", 1)
        # IPv6 neighbour solicitation for the collector.
        for i in range(2):
            self.emit(START_US + 1000 + i * 30000000, Ether(src=GATEWAY_MAC, dst="33:33:ff:00:01:00") /
                      IPv6(src="fe80::1", dst="ff02::1:ff00:100", hlim=255) / ICMPv6ND_NS(tgt=COLLECTOR_IP6))
            self.count("noise", "icmpv6")
        # VXLAN on the legacy Linux port 8472 and VXLAN-GPE on 4790: not ours.
        inner = bytes(Ether(src="0a:00:00:00:00:01", dst="0a:00:00:00:00:02") /
                      IP(src="192.168.1.1", dst="192.168.1.2") / ICMP() / Raw(bytes(32)))
        for i in range(3):
            self.emit(START_US + 7000000 + i * 1000000, Ether(src="02:00:0a:01:00:0c", dst=COLLECTOR_MAC) /
                      IP(src="10.1.0.12", dst=COLLECTOR_IP4) / UDP(sport=40000 + i, dport=8472, chksum=0) /
                      Raw(self.vxlan_header(42) + inner))
            self.count("noise", "udp_8472")
        for i in range(2):
            gpe = struct.pack("!BxxBI", 0x0C, 0x03, 42 << 8)  # I + P flags, next protocol Ethernet
            self.emit(START_US + 9000000 + i * 1000000, Ether(src="02:00:0a:01:00:0c", dst=COLLECTOR_MAC) /
                      IP(src="10.1.0.12", dst=COLLECTOR_IP4) / UDP(sport=40100 + i, dport=4790, chksum=0) /
                      Raw(gpe + inner))
            self.count("noise", "udp_4790_gpe")

    def malformed(self, s42):
        inner = bytes(Ether(src="0a:00:00:00:00:03", dst="0a:00:00:00:00:04") /
                      IP(src="172.31.5.5", dst="172.31.5.6") / UDP(sport=5000, dport=5001) / Raw(bytes(64)))
        l2 = self.outer_l2(s42)

        def outer(payload, sport):
            s42.ip_id = (s42.ip_id + 1) & 0xFFFF
            return l2 / IP(src=s42.src, dst=COLLECTOR_IP4, id=s42.ip_id) / \
                UDP(sport=sport, dport=4789, chksum=0) / Raw(payload)

        for i in range(3):  # I flag clear
            self.emit(START_US + 11000000 + i * 700000, outer(self.vxlan_header(42, flags=0x00) + inner, 50000 + i))
            self.count("malformed", "i_flag_clear")
        for i in range(2):  # VXLAN header cut short (4 of 8 bytes)
            self.emit(START_US + 13000000 + i * 900000, outer(self.vxlan_header(42)[:4], 50010 + i))
            self.count("malformed", "truncated_vxlan_header")
        self.emit(START_US + 15000000, outer(self.vxlan_header(42) + inner[:10], 50020))  # inner < 14 bytes
        self.count("malformed", "inner_too_short")
        # Cut by the capture's snaplen: 96 of ~150 bytes stored.
        data = bytes(outer(self.vxlan_header(42) + inner, 50030))
        self.emit(START_US + 16000000, data[:96], wire_len=len(data))
        self.count("malformed", "snaplen_cut")

    # ---- output ---------------------------------------------------------

    def write(self, path):
        self.frames.sort(key=lambda f: (f[0], f[1]))
        last = 0
        with open(path, "wb") as out:
            out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
            for f in self.frames:
                t = max(f[0], last + 1)  # strictly increasing, microseconds
                last = t
                out.write(struct.pack("<IIII", t // 1000000, t % 1000000, len(f[2]), f[3]))
                out.write(f[2])
        self.truth["frames"] = len(self.frames)
        self.truth["first_ts_us"] = self.frames[0][0]
        self.truth["last_ts_us"] = last


def generate(path, seed=4789, bulk_bytes=0):
    """Writes the feed to `path`; bulk_bytes adds that much download data to VNI 5569041."""
    feed = Feed(seed)
    rng = feed.rng
    s5 = Session("s5", 5, "10.1.0.11", "02:00:0a:01:00:0b")
    s42 = Session("s42", 42, "10.1.0.12", "02:00:0a:01:00:0c", tags=("dot1q", 100))
    s4242a = Session("s4242a", 4242, "10.1.0.14", "02:00:0a:01:00:0e", tags=("qinq", 10, 20))
    s4242b = Session("s4242b", 4242, "10.2.0.21", "02:00:0a:02:00:15", tags=("qinq", 10, 20), small_only=True)
    s6a = Session("s6a", 5569041, "2001:db8:a::11", "02:00:0a:01:00:11", mtu=9001)
    s6b = Session("s6b", 5569041, "2001:db8:b::21", "02:00:0a:02:00:21", mtu=9001, small_only=True)
    smax = Session("smax", 16777215, "10.1.0.13", "02:00:0a:01:00:0d", mtu=576)
    s777 = Session("s777", 777, "10.2.0.22", "02:00:0a:02:00:16", small_only=True)
    s0 = Session("s0", 0, "10.1.0.15", "02:00:0a:01:00:0f")
    for s in (s5, s42, s4242a, s4242b, s6a, s6b, smax, s777, s0):
        s.ip_id = rng.getrandbits(16)

    def when():
        return START_US + rng.randrange(DURATION_US - 5000000)

    # VNI 5: web downloads (full-size segments: fragmented), one with inner VLAN,
    # a few frames with a trailer; the out-of-order and incomplete fragment trains.
    plans = [{"reorder": "reverse"}, {}, {"reorder": "reverse"}, {"drop_last": True}, {}, {"reorder": "reverse"}]
    feed.tcp_conversation(s5, when(), "172.31.10.5", "172.31.20.80", 80, 52000, frag_plan=plans)
    for i in range(14):
        feed.tcp_conversation(s5, when(), "172.31.10.%d" % (6 + i), "172.31.20.80", 80,
                              rng.choice([900, 4000, 15000, 30000, 80000]), vlan=300 if i == 2 else None)
    for i in range(120):
        feed.dns_exchange(s5, when(), "172.31.10.%d" % rng.randrange(5, 50), "172.31.0.2")
    feed.ping(s5, when(), "172.31.10.5", "172.31.20.80", 40)
    inner = bytes(Ether(src="0a:00:00:00:00:05", dst="0a:00:00:00:00:06") / IP(src="172.31.10.9", dst="172.31.0.2") /
                  UDP(sport=3333, dport=53) / DNS(id=9, rd=1, qd=DNSQR(qname="trailer.example.com")))
    for i in range(4):
        feed.encap(s5, START_US + 20000000 + i * 1000, inner, 50100, trailer=True)

    # VNI 42: port 80 and 443 mixed, IPv4 options on a few outer frames, one RST.
    for i in range(12):
        feed.tcp_conversation(s42, when(), "172.31.30.%d" % (10 + i), "172.31.40.80", 80,
                              rng.choice([2000, 12000, 40000, 90000]), option_frames=1 if i < 3 else 0,
                              frag_plan=[{"reorder": "last_first"}] if i == 0 else None)
    for i in range(14):
        feed.tcp_conversation(s42, when(), "172.31.30.%d" % (20 + i), "172.31.40.43", 443,
                              rng.choice([3000, 9000, 25000]), close="rst" if i == 3 else "fin")
    feed.tcp_conversation(s42, when(), "172.31.30.30", "172.31.40.22", 22, 6000)
    for i in range(100):
        feed.dns_exchange(s42, when(), "172.31.30.%d" % rng.randrange(10, 60), "172.31.0.2")
    feed.ping(s42, when(), "172.31.30.11", "172.31.40.80", 6)

    # VNI 4242 from subnet A (inner VLAN 300/301) and subnet B (small packets).
    for i in range(10):
        feed.tcp_conversation(s4242a, when(), "192.168.50.%d" % (10 + i), "192.168.60.80",
                              rng.choice([80, 443, 8080]), rng.choice([3000, 20000]), vlan=300 + i % 2)
    for i in range(10):
        feed.dns_exchange(s4242a, when(), "192.168.50.%d" % (20 + i), "192.168.60.53", vlan=300)
    feed.ping(s4242a, when(), "192.168.50.30", "192.168.60.80", 5, vlan=301)
    for i in range(4):
        feed.tcp_conversation(s4242b, when(), "192.168.70.%d" % (10 + i), "192.168.60.80", 80, 1500)
    for i in range(60):
        feed.dns_exchange(s4242b, when(), "192.168.70.%d" % (20 + i), "192.168.60.53")
    feed.ping(s4242b, when(), "192.168.70.30", "192.168.60.80", 5)

    # VNI 5569041 over IPv6 outer: inner IPv4 and IPv6, jumbo path, one fragmented datagram.
    for i in range(8):
        feed.tcp_conversation(s6a, when(), "10.20.0.%d" % (10 + i), "10.20.1.80", 443, rng.choice([8000, 30000]))
    for i in range(6):
        feed.tcp_conversation(s6a, when(), "fd00:20::%x" % (10 + i), "fd00:21::80", 80, rng.choice([5000, 20000]))
    for i in range(60):
        feed.dns_exchange(s6a, when(), "fd00:20::%x" % (20 + i), "fd00:21::53")
    feed.ping(s6a, when(), "fd00:20::10", "fd00:21::80", 4)
    big = bytes(Ether(src="0a:00:00:00:00:07", dst="0a:00:00:00:00:08") / IP(src="10.20.0.9", dst="10.20.1.80") /
                UDP(sport=7000, dport=7001) / Raw(bytes(rng.getrandbits(8) for _ in range(1400))))
    feed.encap(s6a, START_US + 25000000, big, 50200, force_v6_frag=True)
    for i in range(5):
        feed.encap(s6a, START_US + 26000000 + i * 5000, big[:200], 50201, dest_opts=True)
    for i in range(3):
        feed.tcp_conversation(s6b, when(), "10.30.0.%d" % (10 + i), "10.30.1.80", 80, 1200)
    for i in range(8):
        feed.dns_exchange(s6b, when(), "10.30.0.%d" % (20 + i), "10.30.1.53")

    # VNI 16777215 through a 576-byte path: 3-fragment datagrams, some shuffled.
    feed.tcp_conversation(smax, when(), "10.40.0.10", "10.40.1.80", 80, 9000,
                          frag_plan=[{"reorder": "shuffle"}, {"reorder": "reverse"}, {"reorder": "last_first"}])
    for i in range(5):
        feed.dns_exchange(smax, when(), "10.40.0.%d" % (20 + i), "10.40.1.53")

    # VNI 777 (subnet B) and VNI 0 (subnet A): small traffic.
    feed.tcp_conversation(s777, when(), "10.77.0.10", "10.77.1.80", 80, 2000)
    for i in range(6):
        feed.dns_exchange(s777, when(), "10.77.0.%d" % (20 + i), "10.77.1.53")
    for i in range(6):
        feed.dns_exchange(s0, when(), "10.0.99.%d" % (20 + i), "10.0.99.53")

    # Optional bulk (for rotation tests): downloads over the jumbo IPv6 path.
    chunk = 2000000
    while bulk_bytes > 0:
        feed.tcp_conversation(s6a, when(), "10.20.9.%d" % rng.randrange(2, 250), "10.20.1.80", 443,
                              min(chunk, bulk_bytes))
        bulk_bytes -= chunk

    feed.noise()
    feed.malformed(s42)
    feed.write(path)
    return feed.truth


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=4789)
    ap.add_argument("--truth", help="also write the generator's truth as JSON here")
    ap.add_argument("--bulk-bytes", type=int, default=0, help="extra download bytes in VNI 5569041")
    args = ap.parse_args(argv)
    truth = generate(args.out, args.seed, args.bulk_bytes)
    if args.truth:
        with open(args.truth, "w") as f:
            json.dump(truth, f, indent=1, sort_keys=True)
    print("%s: %d frames" % (args.out, truth["frames"]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
