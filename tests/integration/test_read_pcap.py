#!/usr/bin/python3
"""vxcollector --read-pcap on the generated multi-VNI feed, judged by tshark, tcpdump and capinfos.

Usage: test_read_pcap.py /path/to/vxcollector   (env VXC_SOURCE_ROOT = source tree)

Each scenario runs the collector on the feed and checks:
  * exit 0, a JSON summary as the last stdout line, the accounting invariant
    received == written + filtered + exception + fragments_merged + sum(drops);
  * every counter against what tshark finds in the input (oracle.py);
  * every lane's files, in name order, hold exactly the lane's inner frames in
    input order: the first snaplen bytes, orig_len = inner frame length, the
    capture's timestamp; capinfos opens each file and reports the lane snaplen.

Scenario 11 replays the same frames through both readers of --read-pcap
(vxcollector's own classic-pcap reader on a net_null port, and DPDK's
net_pcap) and checks that summaries and lane records are the same.
"""

import os
import re
import struct
import subprocess
import sys

sys.dont_write_bytecode = True  # keep the source tree clean
import oracle  # noqa: E402
import vxc  # noqa: E402

SUBNET_A = ["10.1.0.0/24", "2001:db8:a::/64"]
ZERO_DROPS = ("lane_limit", "worker_busy", "writer_busy", "write_error", "disk_full")


def check_common_counts(F, s, exp, frames, label):
    F.equal(s.get("received"), frames, label + ": received = frames in the feed (capinfos)")
    F.equal(s.get("ports", {}).get("0", {}).get("rx"), frames, label + ": ports.0.rx")
    F.equal(s.get("fragments_merged"), exp.counts["merged"],
            label + ": fragments_merged = fragments tshark folded into a reassembled datagram")
    d = s.get("drops", {})
    F.equal(d.get("fragment"), exp.counts["fragment"],
            label + ": drops.fragment = never-completed IPv4 fragments + outer IPv6 fragments")
    F.equal(d.get("bad_header"), exp.counts["bad_header"],
            label + ": drops.bad_header = I flag clear + cut VXLAN/inner header + snaplen-cut frame")
    F.equal(d.get("not_vxlan", 0) + s.get("exception", 0), exp.counts["other"],
            label + ": not_vxlan + exception = frames that are not UDP to 4789")
    for r in ZERO_DROPS:
        F.equal(d.get(r), 0, label + ": drops." + r)


def main():
    binary = vxc.binary_from_argv()
    F = vxc.Failures("test_read_pcap")
    feed, truth = vxc.feed_path()
    rc, ci, _ = vxc.capinfos(feed)
    frames = int(ci["Number of packets"])
    exp = oracle.classify(feed)
    by_vni = exp.by_vni()
    print("feed %s: %d frames; tshark: %s; datagrams per VNI %s" %
          (feed, frames, dict(exp.counts), {k: len(v) for k, v in sorted(by_vni.items())}))
    for what, why in sorted({(w, y) for w, lst in exp.notes.items() for _, y in lst}):
        print("  oracle %s: %s" % (what, why))

    # 0. The oracle agrees with what the generator meant to build.
    F.equal({str(k): len(v) for k, v in by_vni.items()}, truth["vxlan_datagrams"],
            "oracle: tshark's datagrams per VNI = generator's")
    F.equal(exp.counts["merged"], truth["fragments"] - truth["fragmented_datagrams"],
            "oracle: merged fragments = generator's")
    F.equal(exp.counts["fragment"], truth["incomplete_fragments"] + truth["ipv6_fragments"],
            "oracle: unreassembled fragments = generator's")
    F.equal(exp.counts["bad_header"], sum(truth["malformed"].values()), "oracle: malformed = generator's")
    F.equal(exp.counts["other"], sum(truth["noise"].values()), "oracle: noise = generator's")

    # 1. Defaults: one lane per VNI (vni-<VNI>), snaplen 128.
    nfail = len(F.failed)
    out = vxc.tmpdir("default")
    run = vxc.run_collector(binary, feed, out)
    if vxc.check_run(F, run, "default"):
        s = run.summary
        check_common_counts(F, s, exp, frames, "default")
        F.equal(s.get("written"), exp.counts["vxlan"], "default: written = VXLAN datagrams tshark finds")
        F.equal(s.get("filtered"), 0, "default: filtered")
        F.equal(sorted(s.get("lanes", {})), sorted("vni-%d" % v for v in by_vni), "default: lanes")
        F.equal(vxc.lane_dirs(out), sorted("vni-%d" % v for v in by_vni), "default: lane directories")
        for vni, dgs in sorted(by_vni.items()):
            vxc.check_lane(F, run, "vni-%d" % vni, dgs, 128, "default", vni=vni)
    vxc.cleanup(out, len(F.failed) == nfail)

    # 2. --snaplen 64 and an explicit lane with its own snaplen.
    nfail = len(F.failed)
    out = vxc.tmpdir("snaplen")
    run = vxc.run_collector(binary, feed, out, "--snaplen", "64", "--lane", "name=web,vni=42,snaplen=256")
    if vxc.check_run(F, run, "snaplen"):
        check_common_counts(F, run.summary, exp, frames, "snaplen")
        F.equal(sorted(run.summary.get("lanes", {})),
                sorted("web" if v == 42 else "vni-%d" % v for v in by_vni), "snaplen: lanes")
        for vni, dgs in sorted(by_vni.items()):
            if vni == 42:
                vxc.check_lane(F, run, "web", dgs, 256, "snaplen", vni=42)
            else:
                vxc.check_lane(F, run, "vni-%d" % vni, dgs, 64, "snaplen", vni=vni)
    vxc.cleanup(out, len(F.failed) == nfail)

    # 3. --unknown-vni drop with explicit lanes.
    nfail = len(F.failed)
    out = vxc.tmpdir("unknown")
    lanes = {5: "five", 42: "web", 4242: "qinq"}
    args = ["--unknown-vni", "drop"]
    for vni, name in lanes.items():
        args += ["--lane", "name=%s,vni=%d" % (name, vni)]
    run = vxc.run_collector(binary, feed, out, *args)
    if vxc.check_run(F, run, "unknown-drop"):
        s = run.summary
        check_common_counts(F, s, exp, frames, "unknown-drop")
        unknown = sum(len(d) for v, d in by_vni.items() if v not in lanes)
        F.equal(s["drops"].get("unknown_vni"), unknown,
                "unknown-drop: drops.unknown_vni = datagrams of VNIs %s" % sorted(set(by_vni) - set(lanes)))
        F.equal(s.get("written"), exp.counts["vxlan"] - unknown, "unknown-drop: written")
        F.equal(sorted(s.get("lanes", {})), sorted(lanes.values()), "unknown-drop: only the configured lanes")
        F.equal(vxc.lane_dirs(out), sorted(lanes.values()), "unknown-drop: only configured lane directories")
        for vni, name in lanes.items():
            vxc.check_lane(F, run, name, by_vni[vni], 128, "unknown-drop", vni=vni)
    vxc.cleanup(out, len(F.failed) == nfail)

    # 4. --allow-source for subnet A only.
    nfail = len(F.failed)
    out = vxc.tmpdir("allow")
    args = []
    for c in SUBNET_A:
        args += ["--allow-source", c]
    run = vxc.run_collector(binary, feed, out, *args)
    if vxc.check_run(F, run, "allow-source"):
        s = run.summary
        check_common_counts(F, s, exp, frames, "allow-source")
        denied = [g for g in exp.datagrams if not oracle.in_any(g.src, SUBNET_A)]
        F.equal(s["drops"].get("source_not_allowed"), len(denied),
                "allow-source: drops.source_not_allowed = datagrams from %s" %
                sorted({str(g.src) for g in denied}))
        F.equal(s.get("written"), exp.counts["vxlan"] - len(denied), "allow-source: written")
        for vni, dgs in sorted(by_vni.items()):
            allowed = [g for g in dgs if oracle.in_any(g.src, SUBNET_A)]
            lane = "vni-%d" % vni
            if not allowed:
                info = s.get("lanes", {}).get(lane)
                F.check(info is None or info.get("written") == 0, "allow-source: lane %s has nothing" % lane,
                        str(info))
                F.equal(sum(len(vxc.read_capture(f).records) for f in vxc.lane_files(out, lane)), 0,
                        "allow-source: no record on disk for %s" % lane)
                continue
            vxc.check_lane(F, run, lane, allowed, 128, "allow-source", vni=vni)
    vxc.cleanup(out, len(F.failed) == nfail)

    # 5. Capture filters. VNI 42 carries only untagged inner IPv4, so tshark's
    #    display filter and BPF agree; VNI 4242 carries 802.1Q-tagged inner
    #    frames, where BPF "tcp port 80" (no "vlan" keyword) does not match but
    #    tshark's tcp.port does: its oracle is tcpdump (libpcap BPF) on the inner
    #    frames that tshark extracted.
    nfail = len(F.failed)
    keep80 = set(int(x) for x in oracle.run_tshark(
        ["-r", feed, "-Y", "vxlan.vni == 42 && ip.proto#2 == 6 && tcp.port == 80",
         "-T", "fields", "-e", "frame.number"]).split())
    flt_drop = ("vxlan.vni == 42 && vxlan.flag_i == 1 && udp.dstport#1 == 4789 && frame.cap_len == frame.len"
                " && udp.length#1 >= 30 && !(ip.proto#2 == 6 && tcp.port == 80)")
    tshark_filtered = oracle.display_filter_count(feed, flt_drop)
    print("tshark -Y '%s' -> %d frames" % (flt_drop, tshark_filtered))
    web_keep = [g for g in by_vni[42] if g.frame in keep80]
    bpf_keep = bpf_oracle([g.inner for g in by_vni[4242]], "tcp port 80")
    tshark_4242 = oracle.display_filter_count(feed, "vxlan.vni == 4242 && tcp.port == 80")
    print("VNI 4242 'tcp port 80': BPF (tcpdump) keeps %d of %d, tshark tcp.port==80 matches %d (802.1Q inner)" %
          (len(bpf_keep), len(by_vni[4242]), tshark_4242))
    out = vxc.tmpdir("filter")
    run = vxc.run_collector(binary, feed, out, "--lane", "name=web,vni=42,filter=tcp port 80",
                            "--lane", "name=qinq,vni=4242,snaplen=96,filter=tcp port 80")
    if vxc.check_run(F, run, "filter"):
        s = run.summary
        check_common_counts(F, s, exp, frames, "filter")
        F.equal(s["lanes"].get("web", {}).get("filtered"), tshark_filtered,
                "filter: lane web filtered = tshark display-filter count")
        F.equal(s.get("filtered"), tshark_filtered + len(by_vni[4242]) - len(bpf_keep),
                "filter: summary filtered = web + qinq")
        vxc.check_lane(F, run, "web", web_keep, 128, "filter", vni=42, filtered=tshark_filtered)
        vxc.check_lane(F, run, "qinq", [by_vni[4242][i] for i in bpf_keep], 96, "filter", vni=4242,
                   filtered=len(by_vni[4242]) - len(bpf_keep))
    vxc.cleanup(out, len(F.failed) == nfail)

    # 5b. A different program on each of three lanes whose frames share bursts:
    #     lanes with different programs run the classic BPF interpreter (Pipeline
    #     passes); every verdict must land on its own packet and lane. Oracle:
    #     tcpdump (libpcap BPF) over each lane's inner frames.
    nfail = len(F.failed)
    programs = {"web": (42, "tcp port 80"), "qinq": (4242, "vlan 300 and tcp"), "five": (5, "udp or icmp")}
    filtered_vnis = {vni for vni, _ in programs.values()}
    vni_order = [g.vni for g in exp.datagrams if g.vni in filtered_vnis]
    mixed = sum(1 for i in range(0, len(vni_order), 32) if len(set(vni_order[i:i + 32])) > 1)
    F.check(mixed > 0, "programs: the filtered lanes' datagrams share 32-frame stretches (%d)" % mixed)
    keep = {name: bpf_oracle([g.inner for g in by_vni[vni]], expr) for name, (vni, expr) in programs.items()}
    for name, (vni, expr) in programs.items():
        print("VNI %d %r: BPF (tcpdump) keeps %d of %d" % (vni, expr, len(keep[name]), len(by_vni[vni])))
        F.check(0 < len(keep[name]) < len(by_vni[vni]), "programs: %s's filter keeps some, not all" % name)
    out = vxc.tmpdir("programs")
    run = vxc.run_collector(binary, feed, out, *[a for name, (vni, expr) in programs.items()
                                                 for a in ("--lane", "name=%s,vni=%d,filter=%s" % (name, vni, expr))])
    if vxc.check_run(F, run, "programs"):
        s = run.summary
        check_common_counts(F, s, exp, frames, "programs")
        dropped = {name: len(by_vni[vni]) - len(keep[name]) for name, (vni, _) in programs.items()}
        F.equal(s.get("filtered"), sum(dropped.values()), "programs: summary filtered = the lanes' rejections")
        for name, (vni, _) in programs.items():
            vxc.check_lane(F, run, name, [by_vni[vni][i] for i in keep[name]], 128, "programs", vni=vni,
                           filtered=dropped[name])
        for vni in sorted(set(by_vni) - filtered_vnis):
            vxc.check_lane(F, run, "vni-%d" % vni, by_vni[vni], 128, "programs", vni=vni)
    vxc.cleanup(out, len(F.failed) == nfail)

    # 6. --max-lanes 3: the first three VNIs seen get lanes, the rest lane_limit.
    nfail = len(F.failed)
    order = []
    for g in exp.datagrams:
        if g.vni not in order:
            order.append(g.vni)
    out = vxc.tmpdir("maxlanes")
    run = vxc.run_collector(binary, feed, out, "--max-lanes", "3")
    if vxc.check_run(F, run, "max-lanes"):
        s = run.summary
        over = sum(len(by_vni[v]) for v in order[3:])
        F.equal(sorted(s.get("lanes", {})), sorted("vni-%d" % v for v in order[:3]),
                "max-lanes: lanes of the first 3 VNIs in input order %s" % order[:3])
        F.equal(s["drops"].get("lane_limit"), over, "max-lanes: drops.lane_limit = datagrams of VNIs %s" % order[3:])
        F.equal(s.get("written"), exp.counts["vxlan"] - over, "max-lanes: written")
        for vni in order[:3]:
            vxc.check_lane(F, run, "vni-%d" % vni, by_vni[vni], 128, "max-lanes", vni=vni)
    vxc.cleanup(out, len(F.failed) == nfail)

    # 7. --vxlan-port 8472 as well: the 3 legacy-port frames join VNI 42
    #    (tshark decodes 8472 as VXLAN with -d udp.port==8472,vxlan).
    nfail = len(F.failed)
    exp2 = oracle.classify(feed, vxlan_ports=(4789, 8472))
    by_vni2 = exp2.by_vni()
    out = vxc.tmpdir("port")
    run = vxc.run_collector(binary, feed, out, "--vxlan-port", "4789", "--vxlan-port", "8472")
    if vxc.check_run(F, run, "vxlan-port"):
        s = run.summary
        F.equal(s.get("written"), exp2.counts["vxlan"], "vxlan-port: written = datagrams on 4789 and 8472 (%d more)" %
                (exp2.counts["vxlan"] - exp.counts["vxlan"]))
        F.equal(s["drops"].get("not_vxlan", 0) + s.get("exception", 0), exp2.counts["other"],
                "vxlan-port: not_vxlan + exception")
        vxc.check_lane(F, run, "vni-42", by_vni2[42], 128, "vxlan-port", vni=42)
    vxc.cleanup(out, len(F.failed) == nfail)

    # 8. --format pcap-ns and pcapng: same records, other containers.
    for fmt in ("pcap-ns", "pcapng"):
        nfail = len(F.failed)
        out = vxc.tmpdir(fmt)
        run = vxc.run_collector(binary, feed, out, "--format", fmt)
        if vxc.check_run(F, run, fmt):
            check_common_counts(F, run.summary, exp, frames, fmt)
            for vni, dgs in sorted(by_vni.items()):
                vxc.check_lane(F, run, "vni-%d" % vni, dgs, 128, fmt, vni=vni, fmt=fmt)
        vxc.cleanup(out, len(F.failed) == nfail)

    # 9. Rotation: a feed with ~4 MB more in VNI 5569041, full frames, 1 MB files.
    nfail = len(F.failed)
    bulk, _ = vxc.feed_path(bulk_bytes=4000000)
    bexp = oracle.classify(bulk)
    bvni = bexp.by_vni()
    out_a, out_b = vxc.tmpdir("rotate"), vxc.tmpdir("single")
    run_a = vxc.run_collector(binary, bulk, out_a, "--snaplen", "4096", "--rotate-mb", "1")
    run_b = vxc.run_collector(binary, bulk, out_b, "--snaplen", "4096")
    if vxc.check_run(F, run_a, "rotate") and vxc.check_run(F, run_b, "single"):
        lane = "vni-5569041"
        files_a = vxc.lane_files(out_a, lane)
        sizes = [os.path.getsize(f) for f in files_a]
        print("rotate: %s files: %s" % (lane, sizes))
        F.check(len(files_a) >= 3, "rotate: --rotate-mb 1 gives several files for %s" % lane, "%d" % len(files_a))
        F.check(all(sz <= 1 << 20 for sz in sizes), "rotate: no file over 1 MiB", str(sizes))
        if any(sz > 1000000 for sz in sizes):
            print("  info: some files exceed 10^6 bytes: --rotate-mb counts MiB")
        for vni, dgs in sorted(bvni.items()):
            name = "vni-%d" % vni
            vxc.check_lane(F, run_a, name, dgs, 4096, "rotate", vni=vni)
            vxc.check_lane(F, run_b, name, dgs, 4096, "single", vni=vni)
            recs_a = [r for f in vxc.lane_files(out_a, name) for r in vxc.read_capture(f).records]
            recs_b = [r for f in vxc.lane_files(out_b, name) for r in vxc.read_capture(f).records]
            F.check(recs_a == recs_b, "rotate: %s concatenated rotated files = single-file run (%d records)" %
                    (name, len(recs_b)), "%d vs %d records" % (len(recs_a), len(recs_b)))
        F.equal(len(vxc.lane_files(out_b, lane)), 1, "single: one file with the default --rotate-mb 100")
    vxc.cleanup(out_a, len(F.failed) == nfail)
    vxc.cleanup(out_b, len(F.failed) == nfail)

    # 9b. --lane-key vni+source with an explicit lane for one VNI's sources in
    # subnet A: that lane takes exactly them; the rest get auto lanes per
    # (VNI, source).
    nfail = len(F.failed)
    out = vxc.tmpdir("bysource")
    vni = max(by_vni, key=lambda v: len(by_vni[v]))
    run = vxc.run_collector(binary, feed, out, "--lane-key", "vni+source",
                            "--lane", "name=subnet-a,vni=%d,source=%s" % (vni, SUBNET_A[0]))
    if vxc.check_run(F, run, "by-source"):
        s = run.summary
        check_common_counts(F, s, exp, frames, "by-source")
        mine = [g for g in by_vni[vni] if oracle.in_any(g.src, SUBNET_A[:1])]
        vxc.check_lane(F, run, "subnet-a", mine, 128, "by-source", vni=vni)
        want = {}
        for v, dgs in by_vni.items():
            for g in dgs:
                if not (v == vni and g in mine):
                    name = "vni-%d-%s" % (v, str(g.src).replace(":", "-"))
                    want[name] = want.get(name, 0) + 1
        got = {n: l.get("written") for n, l in s.get("lanes", {}).items() if n != "subnet-a"}
        F.equal(got, want, "by-source: one auto lane per (VNI, source) with every other datagram")
        F.check(all(l.get("source") for n, l in s.get("lanes", {}).items() if n != "subnet-a"),
                "by-source: auto lanes carry their source in the summary")
    vxc.cleanup(out, len(F.failed) == nfail)

    # 9. More open lanes than write blocks: a replay waits for the writer, and
    # the blocks other lanes hold open must reach it (this deadlocked once).
    nfail = len(F.failed)
    out = vxc.tmpdir("manylanes")
    many = os.path.join(out, "many-lanes.pcap")
    frames_per_vni, vnis = 6, 200
    from scapy.all import Ether, IP, UDP, VXLAN, TCP, Raw, wrpcap  # noqa: E402
    pkts = [Ether() / IP(src="10.0.0.9", dst="10.0.0.1") / UDP(sport=1000 + i, dport=4789) /
            VXLAN(vni=3000 + v) / Ether() / IP() / TCP() / Raw(b"x" * 1200)
            for i in range(frames_per_vni) for v in range(vnis)]
    wrpcap(many, pkts)
    run = vxc.run_collector(binary, many, os.path.join(out, "o"), "--write-buffer-mb", "1",
                            "--snaplen", "1500", timeout=120)
    if vxc.check_run(F, run, "many-lanes"):
        lanes = run.summary.get("lanes", {})
        F.equal(len(lanes), vnis, "many-lanes: a lane per VNI with only 16 write blocks")
        F.equal(sorted({l.get("written") for l in lanes.values()}), [frames_per_vni],
                "many-lanes: every lane holds all its frames")
    vxc.cleanup(out, len(F.failed) == nfail)

    # 10. Captures that end oddly must still end the replay (the own reader's
    # end; net_pcap's, an empty poll with no mbuf shortage and no read error
    # counted, is in scenario 11), with every readable record written.
    nfail = len(F.failed)
    out = vxc.tmpdir("ends")
    whole = open(feed, "rb").read()
    offsets = record_offsets(whole)
    # A corrupt caplen halfway: libpcap would take the frame's bytes for the
    # next record header; reading must stop there, as tcpdump -r does.
    corrupt_at = len(offsets) // 2
    corrupt = bytearray(whole)
    struct.pack_into("<I", corrupt, offsets[corrupt_at] + 8, 0x7fffffff)
    cases = [
        ("no records", whole[:24], 0, 0),
        ("corrupt caplen halfway", bytes(corrupt), corrupt_at, 1),
        ("last record cut in its data", whole[:len(whole) - 5], len(offsets) - 1, 1),
        ("last record cut in its header", whole[:offsets[-1] + 7], len(offsets) - 1, 1),
        ("one record", whole[:offsets[1]], 1, 0),
    ]
    for label, data, records, errors in cases:
        path = os.path.join(out, label.replace(" ", "-") + ".pcap")
        with open(path, "wb") as f:
            f.write(data)
        run = vxc.run_collector(binary, path, os.path.join(out, label.replace(" ", "-")), timeout=60)
        label = "end: " + label
        if vxc.check_run(F, run, label):
            port = run.summary.get("ports", {}).get("0", {})
            F.equal((run.summary.get("received"), port.get("errors")), (records, errors),
                    label + ": (received, records libpcap could not read)")
            F.check(run.seconds < 10, label + ": ends without waiting for the stall timeout (%.1f s)" % run.seconds)
            warned = "could not read" in run.stderr
            F.equal(warned, errors > 0, label + ": a warning names the unreadable record")
    vxc.cleanup(out, len(F.failed) == nfail)

    # 11. The two readers of --read-pcap give the same result.
    readers_same_feed(F, binary, feed, exp)
    readers_other_layouts(F, binary, feed)
    readers_big_frames(F, binary)
    return F.finish()


# ---- 11. vxcollector's own reader and net_pcap ---------------------------------
#
# --read-pcap of a classic pcap Ethernet capture with one RX lcore is read by
# vxcollector's own reader (a net_null port, frames stamped in ns; records
# attached in place, or copied into mbufs with --workers); anything else by
# DPDK's net_pcap (libpcap, stamped in us). The port's log line names the one
# that ran.

OWN, NET_PCAP = "net_null", "net_pcap"
READER_NAMES = {OWN: "vxcollector's own reader", NET_PCAP: "net_pcap"}


def reader_of(run):
    """The PMD of the replay's port from "port 0 (net_null0): ..." on stderr."""
    m = re.search(r"port 0 \((net_null|net_pcap)\d*\):", run.stderr)
    return m.group(1) if m else None


def replay(F, binary, capture, outdir, label, reader, *extra):
    """Runs the collector on `capture` and checks the run and its reader. The run, or None without a summary."""
    run = vxc.run_collector(binary, capture, outdir, *extra)
    ok = vxc.check_run(F, run, label)
    F.equal(reader_of(run), reader, "%s: read by %s (port 0 log line)" % (label, READER_NAMES[reader]))
    return run if ok else None


def lane_records(outdir):
    """{lane: [(ts_ns, orig_len, bytes)] of its files in name order} for every lane directory."""
    return {lane: [r for f in vxc.lane_files(outdir, lane) for r in vxc.read_capture(f).records]
            for lane in vxc.lane_dirs(outdir)}


def records_difference(got, want):
    """How two {lane: records} differ: the first few differing records ("" when equal)."""
    if sorted(got) != sorted(want):
        return "lanes %s, expected %s" % (sorted(got), sorted(want))
    diffs = []
    for lane in sorted(want):
        a, b = got[lane], want[lane]
        if len(a) != len(b):
            diffs.append("lane %s: %d records, expected %d" % (lane, len(a), len(b)))
        for i, (x, y) in enumerate(zip(a, b)):
            if x[0] != y[0]:
                diffs.append("lane %s record %d: timestamp %d ns, expected %d" % (lane, i, x[0], y[0]))
            if x[1] != y[1]:
                diffs.append("lane %s record %d: orig_len %d, expected %d" % (lane, i, x[1], y[1]))
            if x[2] != y[2]:
                at = next((k for k in range(min(len(x[2]), len(y[2]))) if x[2][k] != y[2][k]),
                          min(len(x[2]), len(y[2])))
                diffs.append("lane %s record %d: %d bytes, expected %d; first difference at byte %d" % (
                    lane, i, len(x[2]), len(y[2]), at))
    return "%d difference(s): %s" % (len(diffs), "; ".join(diffs[:4])) if diffs else ""


def summary_difference(got, want, path="summary"):
    """The keys (with both values) where two JSON summaries differ."""
    if isinstance(got, dict) and isinstance(want, dict):
        return [d for k in sorted(set(got) | set(want))
                for d in summary_difference(got.get(k), want.get(k), path + "." + k)]
    return [] if got == want else ["%s: %r, expected %r" % (path, got, want)]


def compare_runs(F, runs, base, what):
    """Every run of {label: run} has the summary and lane records of runs[base]."""
    want_summary = runs[base].summary
    want_records = lane_records(runs[base].outdir)
    for label, run in runs.items():
        if label == base:
            continue
        # Every key, "ports" included: both readers count each record as one
        # received frame (rx) with no error, miss or mbuf shortage.
        diff = summary_difference(run.summary, want_summary)
        F.check(not diff, "%s: %s summary = %s's" % (what, label, base), "; ".join(diff[:5]))
        diff = records_difference(lane_records(run.outdir), want_records)
        F.check(not diff, "%s: %s lane records = %s's (timestamps, orig_len, bytes)" % (what, label, base), diff)


def editcap(F, src, dst, fmt):
    p = subprocess.run(["editcap", "-F", fmt, src, dst], capture_output=True, text=True)
    return F.check(p.returncode == 0, "editcap -F %s %s" % (fmt, os.path.basename(src)), p.stderr)


def swap_byte_order(capture):
    """A little-endian classic pcap written big-endian: headers swapped, frames as they were."""
    out = bytearray(struct.pack(">IHHiIII", *struct.unpack_from("<IHHiIII", capture)))
    for off in record_offsets(capture):
        header = struct.unpack_from("<IIII", capture, off)
        out += struct.pack(">IIII", *header) + capture[off + 16:off + 16 + header[2]]
    return bytes(out)


def with_sub_microseconds(capture):
    """A little-endian nanosecond pcap of whole microseconds, record i moved 1 + i * 389 % 999 ns later."""
    out = bytearray(capture)
    for i, off in enumerate(record_offsets(capture)):
        frac = struct.unpack_from("<I", out, off + 4)[0]
        assert frac % 1000 == 0, "record %d already has a sub-microsecond part" % i
        struct.pack_into("<I", out, off + 4, frac + 1 + i * 389 % 999)
    return bytes(out)


def write_file(path, data):
    with open(path, "wb") as f:
        f.write(data)
    return path


def readers_same_feed(F, binary, feed, exp):
    """11a. The feed as-is (own reader), as pcapng (net_pcap) and with --workers 1 (own reader,
    every record copied into mbufs)."""
    nfail = len(F.failed)
    out = vxc.tmpdir("readers")
    pcapng = os.path.join(out, "feed.pcapng")
    if editcap(F, feed, pcapng, "pcapng"):
        runs = {
            "as-is": replay(F, binary, feed, os.path.join(out, "own"), "readers: as-is", OWN),
            "pcapng": replay(F, binary, pcapng, os.path.join(out, "pcapng"), "readers: pcapng", NET_PCAP),
            "workers 1": replay(F, binary, feed, os.path.join(out, "workers"), "readers: workers 1", OWN,
                                "--workers", "1"),
        }
        if all(runs.values()):
            records = lane_records(runs["as-is"].outdir)
            F.equal(sum(len(r) for r in records.values()), exp.counts["vxlan"],
                    "readers: as-is lanes hold every VXLAN datagram tshark finds")
            compare_runs(F, runs, "as-is", "readers")
    vxc.cleanup(out, len(F.failed) == nfail)


def readers_other_layouts(F, binary, feed):
    """11b. Nanosecond and big-endian classic pcap, read by the own reader."""
    nfail = len(F.failed)
    out = vxc.tmpdir("layouts")
    ns_feed = os.path.join(out, "feed-ns.pcap")
    if not editcap(F, feed, ns_feed, "nsecpcap"):
        vxc.cleanup(out, False)
        return
    be_feed = write_file(os.path.join(out, "feed-be.pcap"), swap_byte_order(open(feed, "rb").read()))
    F.equal(open(ns_feed, "rb").read(4).hex(), "4d3cb2a1", "layouts: editcap wrote a little-endian ns pcap")
    F.equal(open(be_feed, "rb").read(4).hex(), "a1b2c3d4", "layouts: the swapped feed is a big-endian us pcap")
    F.check(vxc.read_capture(be_feed).records == vxc.read_capture(feed).records,
            "layouts: the big-endian feed holds the feed's records")
    runs = {
        "as-is": replay(F, binary, feed, os.path.join(out, "own"), "layouts: as-is", OWN),
        "ns": replay(F, binary, ns_feed, os.path.join(out, "ns"), "layouts: ns", OWN),
        "big-endian": replay(F, binary, be_feed, os.path.join(out, "be"), "layouts: big-endian", OWN),
    }
    if all(runs.values()):
        compare_runs(F, runs, "as-is", "layouts")

    # Distinct sub-microsecond parts: a pcap-ns lane keeps them exactly. Each
    # record is stamped with its frame's time (or, reassembled, one of its
    # fragments'), as tshark reads it from the input.
    sub = write_file(os.path.join(out, "sub-us.pcap"), with_sub_microseconds(open(ns_feed, "rb").read()))
    sub_be = write_file(os.path.join(out, "sub-us-be.pcap"), swap_byte_order(open(sub, "rb").read()))
    sexp = oracle.classify(sub)
    runs = {
        "sub-us": replay(F, binary, sub, os.path.join(out, "sub"), "sub-us", OWN, "--format", "pcap-ns"),
        "sub-us big-endian": replay(F, binary, sub_be, os.path.join(out, "sub-be"), "sub-us big-endian", OWN,
                                    "--format", "pcap-ns"),
    }
    if all(runs.values()):
        run = runs["sub-us"]
        for vni, dgs in sorted(sexp.by_vni().items()):
            lane = "vni-%d" % vni
            vxc.check_lane(F, run, lane, dgs, 128, "sub-us", vni=vni, fmt="pcap-ns")
            recs = [r for f in vxc.lane_files(run.outdir, lane) for r in vxc.read_capture(f).records]
            off = [(i, r[0], g.times) for i, (r, g) in enumerate(zip(recs, dgs)) if r[0] not in g.times]
            F.check(len(recs) == len(dgs) and not off,
                    "sub-us: %s timestamps are the input's nanoseconds exactly (%d records, %d distinct sub-us parts)" %
                    (lane, len(recs), len({r[0] % 1000 for r in recs})),
                    "%d records for %d datagrams; not the input's: %s" % (len(recs), len(dgs), off[:3]))
        compare_runs(F, runs, "sub-us", "sub-us")
    # net_pcap (the same records as pcapng) cuts them to microseconds: what
    # the ns check above would catch if the own reader did the same.
    sub_ng = os.path.join(out, "sub-us.pcapng")
    us = editcap(F, sub, sub_ng, "pcapng") and replay(
        F, binary, sub_ng, os.path.join(out, "sub-pcapng"), "sub-us pcapng", NET_PCAP, "--format", "pcap-ns")
    if us and runs["sub-us"]:
        cut = {lane: [(r[0] - r[0] % 1000,) + r[1:] for r in recs]
               for lane, recs in lane_records(runs["sub-us"].outdir).items()}
        diff = records_difference(lane_records(us.outdir), cut)
        F.check(not diff, "sub-us pcapng: net_pcap's records = the own reader's cut to microseconds", diff)
    vxc.cleanup(out, len(F.failed) == nfail)


def inner_frame(length, tag):
    """An inner Ethernet/IPv4/UDP frame of `length` bytes, its payload a pattern of `tag`."""
    from scapy.all import Ether, IP, UDP, Raw  # noqa: E402
    head = Ether(src="02:00:00:00:01:%02x" % tag, dst="02:00:00:00:02:02") / \
        IP(src="192.168.0.1", dst="192.168.0.2") / UDP(sport=1000 + tag, dport=2000)
    return bytes(head / Raw(bytes((i + tag) & 0xFF for i in range(length - len(head)))))


def vxlan_frame(outer_ip, vni, inner, trailer):
    """Ethernet / outer_ip / UDP 4789 / VXLAN / inner, then `trailer` bytes of Ethernet trailer."""
    from scapy.all import Ether, UDP, VXLAN  # noqa: E402
    frame = bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / outer_ip /
                  UDP(sport=49152, dport=4789) / VXLAN(vni=vni) / inner)
    return frame + bytes(i * 7 & 0xFF for i in range(trailer))


def big_frame_capture(path):
    """A classic us pcap (snaplen 262144) with two records over 65535 bytes between normal ones.

    Returns (caplens, {lane: [(ts_ns, orig_len, inner)]}): what lanes with
    snaplen 65535 hold. The IPv4 frame has IP total length 60000 and a 10000-byte
    trailer; the IPv6 one a 65535-byte payload, so its inner frame runs past
    the first 65535 bytes of the record (the own reader's first mbuf).
    """
    from scapy.all import IP, IPv6  # noqa: E402
    v4, v6 = IP(src="10.1.0.7", dst="10.9.0.1"), IPv6(src="2001:db8:a::7", dst="2001:db8:f::1")
    frames = [  # (outer, vni, inner frame length, trailer)
        (v4, 100, 142, 0),
        (v4, 100, 60000 - 20 - 8 - 8, 10000),
        (v6, 200, 65535 - 8 - 8, 4400),
        (v6, 200, 242, 0),
        (v4, 100, 342, 0),
    ]
    lanes, caplens = {}, []
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        for i, (outer, vni, length, trailer) in enumerate(frames):
            inner = inner_frame(length, i)
            frame = vxlan_frame(outer, vni, inner, trailer)
            sec, usec = 1700000000 + i, 1000 * i + 7
            f.write(struct.pack("<IIII", sec, usec, len(frame), len(frame)) + frame)
            caplens.append(len(frame))
            lanes.setdefault("vni-%d" % vni, []).append((sec * 10**9 + usec * 1000, len(inner), inner))
    return caplens, lanes


def readers_big_frames(F, binary):
    """11c. Records over 65535 bytes (the own reader chains mbufs), --snaplen 65535.

    The own reader writes both big frames whole. DPDK 22.11's net_pcap copies
    only caplen mod 65536 bytes of such a record into the mbuf chain
    (eth_pcap_rx_jumbo takes a uint16_t length) while the mbuf's pkt_len is the
    whole caplen: the collector must count those frames as port_error, never
    fill their records with bytes the mbufs do not hold (it did, before the
    check: zeros and bytes of earlier frames), and write the others as the own
    reader does.
    """
    nfail = len(F.failed)
    out = vxc.tmpdir("bigframes")
    big = os.path.join(out, "big.pcap")
    caplens, want = big_frame_capture(big)
    print("big frames: caplens %s" % caplens)
    F.check(sum(c > 65535 for c in caplens) == 2, "big frames: two records longer than 65535 bytes", str(caplens))
    pcapng = os.path.join(out, "big.pcapng")
    if editcap(F, big, pcapng, "pcapng"):
        runs = {
            "as-is": replay(F, binary, big, os.path.join(out, "own"), "big: as-is", OWN, "--snaplen", "65535"),
            "pcapng": replay(F, binary, pcapng, os.path.join(out, "pcapng"), "big: pcapng", NET_PCAP,
                             "--snaplen", "65535"),
            "workers 1": replay(F, binary, big, os.path.join(out, "workers"), "big: workers 1", OWN,
                                "--snaplen", "65535", "--workers", "1"),
        }
        small = {lane: [r for r in recs if len(r[2]) < 50000] for lane, recs in want.items()}  # not the big two
        for label, run in runs.items():
            if not run:
                continue
            own = label != "pcapng"  # attached as-is; copied into 2 KiB mbuf chains with --workers
            F.equal((run.summary.get("received"), run.summary.get("written"),
                     run.summary.get("drops", {}).get("port_error")), (5, 5, 0) if own else (5, 3, 2),
                    "big: %s (received, written, drops.port_error)" % label)
            diff = records_difference(lane_records(run.outdir), want if own else small)
            F.check(not diff, "big: %s lane records hold the input's inner frames whole%s" % (
                label, "" if own else ", the two big ones not at all"), diff)
    vxc.cleanup(out, len(F.failed) == nfail)


def record_offsets(capture):
    """Offsets of the records of a little-endian classic pcap file."""
    offsets, off = [], 24
    while off + 16 <= len(capture):
        offsets.append(off)
        off += 16 + struct.unpack_from("<I", capture, off + 8)[0]
    return offsets


def bpf_oracle(frames, expr):
    """Indexes of `frames` (Ethernet bytes) that tcpdump's BPF `expr` accepts."""
    path = os.path.join(vxc.tmpdir("bpf"), "inner.pcap")
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        for i, fr in enumerate(frames):
            f.write(struct.pack("<IIII", i, 0, len(fr), len(fr)) + fr)  # ts_sec = index
    p = subprocess.run(["tcpdump", "-nn", "-tt", "-r", path, expr], capture_output=True, text=True, check=True)
    keep = [int(line.split(".")[0]) for line in p.stdout.splitlines() if line.strip()]
    vxc.cleanup(os.path.dirname(path), True)
    return keep


if __name__ == "__main__":
    sys.exit(main())
