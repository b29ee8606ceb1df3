#!/usr/bin/python3
"""vxcollector's /metrics scraped by a real Prometheus server, checked against the files.

Usage: test_prometheus.py /path/to/vxcollector   (env VXC_SOURCE_ROOT = source tree)

Runs the collector on the generated feed with --linger-seconds 120 and an HTTP
endpoint on loopback, starts /usr/bin/prometheus scraping it every second,
then compares Prometheus' /api/v1/query answers with the collector's own
/metrics, with the oracle (tshark) and with the files; lints the body with
`promtool check metrics`; checks /healthz; SIGTERMs the collector (exit 0
within 10 s, summary printed). Prometheus is killed in every case.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

sys.dont_write_bytecode = True  # keep the source tree clean
import oracle  # noqa: E402
import vxc  # noqa: E402

METRICS = [
    "vxcollector_port_rx_packets_total", "vxcollector_port_rx_bytes_total", "vxcollector_port_missed_packets_total",
    "vxcollector_lane_packets_total", "vxcollector_lane_bytes_total", "vxcollector_lane_written_bytes_total",
    "vxcollector_filtered_packets_total", "vxcollector_drops_total", "vxcollector_files_completed_total",
    "vxcollector_build_info", "vxcollector_received_packets_total", "vxcollector_fragments_merged_total",
    "vxcollector_exception_packets_total",
]
SAMPLE_RE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?$")
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def http_get(url, timeout=5):
    """(status, body) or (None, error text)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")
    except (urllib.error.URLError, OSError) as e:
        return None, str(e)


def parse_exposition(text):
    """{(name, frozenset(labels.items())): value} of a Prometheus text body."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE_RE.match(line)
        if not m:
            raise ValueError("unparsable line: %r" % line)
        labels = frozenset(LABEL_RE.findall(m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def series(samples, name, key):
    return {dict(l).get(key): v for (n, l), v in samples.items() if n == name}


def prom_query(base, q):
    status, body = http_get(base + "/api/v1/query?" + urllib.parse.urlencode({"query": q}))
    if status != 200:
        return None
    data = json.loads(body)
    if data.get("status") != "success":
        return None
    return data["data"]["result"]


def prom_by(result, key):
    return {r["metric"].get(key): float(r["value"][1]) for r in result or []}


def wait_for(what, fn, timeout, interval=0.5):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            print("timed out after %ds waiting for %s" % (timeout, what))
            return v
        time.sleep(interval)


def main():
    binary = vxc.binary_from_argv()
    F = vxc.Failures("test_prometheus")
    feed, _ = vxc.feed_path()
    exp = oracle.classify(feed)
    by_vni = exp.by_vni()
    frames = len(exp.disposition)
    work = vxc.tmpdir("prom")
    print("work dir " + work)
    out = os.path.join(work, "out")
    os.makedirs(out)
    port, pport = vxc.free_port(), vxc.free_port()
    base = "http://127.0.0.1:%d" % port
    pbase = "http://127.0.0.1:%d" % pport
    collector = prom = None
    cout = open(os.path.join(work, "collector.stdout"), "w+")
    cerr = open(os.path.join(work, "collector.stderr"), "w+")
    perr = open(os.path.join(work, "prometheus.log"), "w+")
    try:
        args = [binary, "--read-pcap", feed, "--output-dir", out, "--linger-seconds", "120",
                "--http-listen", "127.0.0.1:%d" % port]
        print("running: " + " ".join(args))
        collector = subprocess.Popen(args, stdout=cout, stderr=cerr)
        started = time.monotonic()

        def scraped_total():
            if collector.poll() is not None:
                return "exited"
            status, body = http_get(base + "/metrics")
            if status != 200:
                return None
            try:
                s = parse_exposition(body)
            except ValueError:
                return None
            return body if s.get(("vxcollector_received_packets_total", frozenset())) == frames else None

        body = wait_for("the collector to count every frame on /metrics", scraped_total, 120)
        if not F.check(body not in (None, "exited"), "collector serves /metrics with received = %d frames" % frames,
                       "" if body not in (None, "exited") else "rc=%s stderr: %s" % (collector.poll(), tail(cerr))):
            return F.finish()
        print("replay counted after %.1fs" % (time.monotonic() - started))
        samples = parse_exposition(body)

        # promtool lints the exposition.
        p = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True, text=True)
        F.check(p.returncode == 0, "promtool check metrics exits 0", (p.stdout + p.stderr).strip())
        names = {n for n, _ in samples}
        F.check(all(m in names for m in METRICS), "every metric of cli.md is exposed",
                "missing %s" % [m for m in METRICS if m not in names])
        F.check(any(n == "vxcollector_build_info" and "version" in dict(l) for n, l in samples),
                "vxcollector_build_info{version}")
        status, hbody = http_get(base + "/healthz")
        F.check(status == 200 and hbody.strip() == "ok", "/healthz 200 ok", "%s %r" % (status, hbody[:200]))

        # A real Prometheus scrapes the endpoint every second.
        cfg = os.path.join(work, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                    "scrape_configs:\n  - job_name: vxc\n    static_configs:\n"
                    "      - targets: ['127.0.0.1:%d']\n" % port)
        prom = subprocess.Popen(["/usr/bin/prometheus", "--config.file=" + cfg,
                                 "--storage.tsdb.path=" + os.path.join(work, "tsdb"),
                                 "--web.listen-address=127.0.0.1:%d" % pport, "--log.level=warn"],
                                stdout=perr, stderr=subprocess.STDOUT)

        def prom_has_data():
            r = prom_query(pbase, 'vxcollector_received_packets_total{job="vxc"}')
            up = prom_query(pbase, 'up{job="vxc"}')
            return r and up and float(up[0]["value"][1]) == 1 and float(r[0]["value"][1]) == frames

        t0 = time.monotonic()
        ok = wait_for("Prometheus to scrape the collector", prom_has_data, 60)
        if not F.check(bool(ok), "Prometheus scraped up=1 and received = %d" % frames,
                       "prometheus log: %s" % tail(perr)):
            return F.finish()
        print("Prometheus had the data after %.1fs" % (time.monotonic() - t0))

        # The accounting invariant as PromQL over the scraped series.
        inv = ('vxcollector_received_packets_total - sum by (job, instance) (vxcollector_lane_packets_total)'
               ' - sum by (job, instance) (vxcollector_filtered_packets_total) - vxcollector_exception_packets_total'
               ' - vxcollector_fragments_merged_total - sum by (job, instance) (vxcollector_drops_total)'
               ' - vxcollector_buffered_packets')
        r = prom_query(pbase, inv)
        F.check(bool(r) and float(r[0]["value"][1]) == 0, "PromQL invariant received - (written + filtered + "
                "exception + merged + drops + buffered) == 0", "%s -> %s" % (inv, r))

        lanes_prom = prom_query(pbase, 'vxcollector_lane_packets_total{job="vxc"}')
        drops_prom = prom_by(prom_query(pbase, 'vxcollector_drops_total{job="vxc"}'), "reason")
        lane_p = {(r["metric"].get("lane"), r["metric"].get("vni")): float(r["value"][1]) for r in lanes_prom or []}
        status, body2 = http_get(base + "/metrics")
        s2 = parse_exposition(body2) if status == 200 else {}
        lane_m = {(dict(l).get("lane"), dict(l).get("vni")): v for (n, l), v in s2.items()
                  if n == "vxcollector_lane_packets_total"}
        drops_m = series(s2, "vxcollector_drops_total", "reason")
        print("Prometheus lane packets: %s" % sorted(lane_p.items()))
        print("Prometheus drops: %s" % sorted((k, v) for k, v in drops_prom.items() if v))
        F.equal(lane_p, lane_m, "Prometheus vxcollector_lane_packets_total = collector /metrics")
        F.equal(drops_prom, drops_m, "Prometheus vxcollector_drops_total = collector /metrics")
        F.equal(sorted(drops_prom), sorted(vxc.drop_reasons()), "one drops series per reason of drop_reasons.def")
        want_lanes = {("vni-%d" % v, str(v)): float(len(d)) for v, d in by_vni.items()}
        F.equal(lane_p, want_lanes, "Prometheus lane packets = tshark's datagrams per VNI")
        F.equal(drops_prom.get("bad_header"), float(exp.counts["bad_header"]), "Prometheus drops{bad_header}")
        F.equal(drops_prom.get("fragment"), float(exp.counts["fragment"]), "Prometheus drops{fragment}")
        exc = s2.get(("vxcollector_exception_packets_total", frozenset()), 0)
        F.equal(drops_prom.get("not_vxlan", 0) + exc, float(exp.counts["other"]), "Prometheus drops{not_vxlan} + exception")
        F.equal(s2.get(("vxcollector_fragments_merged_total", frozenset())), float(exp.counts["merged"]),
                "/metrics fragments_merged")
        rx = series(s2, "vxcollector_port_rx_packets_total", "port")
        F.equal(rx, {"0": float(frames)}, "/metrics port rx packets")
        status, hbody = http_get(base + "/healthz")
        F.check(status == 200 and hbody.strip() == "ok", "/healthz still 200 ok while lingering", "%s %r" % (status, hbody))

        # SIGTERM ends the linger: exit 0 within 10 s, summary printed, files complete.
        F.check(collector.poll() is None, "collector still lingering before SIGTERM", "rc=%s" % collector.poll())
        t0 = time.monotonic()
        collector.send_signal(signal.SIGTERM)
        try:
            rc = collector.wait(timeout=10)
        except subprocess.TimeoutExpired:
            rc = "still running after 10 s"
        F.equal(rc, 0, "SIGTERM: exit code within 10 s (took %.1fs)" % (time.monotonic() - t0))
        cout.seek(0)
        cerr.seek(0)
        run = vxc.Run(args, rc, cout.read(), cerr.read(), out, time.monotonic() - started)
        if vxc.check_run(F, run, "sigterm"):
            s = run.summary
            F.equal({(n, str(i.get("vni"))): float(i.get("written", -1)) for n, i in s.get("lanes", {}).items()},
                    lane_p, "summary lanes written = Prometheus lane packets")
            F.equal({k: float(v) for k, v in s.get("drops", {}).items()}, drops_prom, "summary drops = Prometheus")
            on_disk = {}
            for lane, vni in lane_p:
                on_disk[(lane, vni)] = float(sum(len(vxc.read_capture(f).records) for f in vxc.lane_files(out, lane)))
            F.equal(on_disk, lane_p, "records in the completed files = Prometheus lane packets")
            for vni, dgs in sorted(by_vni.items()):
                vxc.check_lane(F, run, "vni-%d" % vni, dgs, 128, "sigterm", vni=vni)
    finally:
        for name, p in (("prometheus", prom), ("collector", collector)):
            if p is not None and p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
                print("stopped %s (pid %d)" % (name, p.pid))
        for f in (cout, cerr, perr):
            f.close()
    vxc.cleanup(work, not F.failed)
    return F.finish()


def tail(f, n=1500):
    f.flush()
    f.seek(0)
    return f.read()[-n:]


if __name__ == "__main__":
    sys.exit(main())
