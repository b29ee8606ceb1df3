#!/usr/bin/python3
"""The deploy/ directory checked with the tools that will read it.

Usage: test_deploy.py /path/to/vxcollector   (env VXC_SOURCE_ROOT = source tree)

  1. install.sh --root into a temp root: every file, its mode, the enable
     symlinks; a second run keeps an edited config.
  2. The systemd units in that root: `systemd-analyze verify --root` clean (the
     root carries a copy of the host's /usr/lib/systemd/system for the
     targets), also with each driver drop-in; `systemd-analyze security
     --offline` exposure below 5.0; the unit agrees with the example config
     (output dir writable, TimeoutStopSec covers drain-seconds).
  3. The installed binary runs with the installed config as an unprivileged
     user (nobody) holding only the unit's capabilities and no_new_privs,
     under strace: every system call it made is allowed by the unit's
     SystemCallFilter, or already failed without the filter.
  4. host-setup.sh: bash -n; --dry-run on this host changes nothing (state
     before and after compared); --dry-run plans on fake sysfs trees (ENA
     without IOMMU, ENA bound with IOMMU, Azure netvsc, bad input). The test
     never runs it without --dry-run.
  5. cloud-init.yaml: YAML with the expected keys, packages known to apt, the
     bootstrap script passes bash -n, its config parses with the real binary,
     `cloud-init schema` when installed.
  6. Prometheus files: promtool check config / check rules / test rules; every
     alert has a firing and a quiet case, and a rule that never fires makes
     the unit tests fail.
  7. Live: Prometheus (deploy/prometheus/prometheus.yml with its EC2 discovery
     pointed at a fake EC2 API on loopback) discovers and scrapes the
     collector of 3; the relabelled target labels, every alert rule evaluates
     without error, the Grafana template variables resolve and every panel
     query of the dashboard returns at least one series.
"""

import glob
import http.server
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.parse

sys.dont_write_bytecode = True  # keep the source tree clean
import vxc  # noqa: E402
from test_prometheus import http_get, parse_exposition, prom_query, wait_for  # noqa: E402

import yaml  # noqa: E402  (python3-yaml)

SRC = vxc.source_root()
DEPLOY = os.path.join(SRC, "deploy")
UNIT = "vxcollector.service"
SETUP_UNIT = "vxcollector-host-setup.service"
UNIT_CAPS = {"CAP_NET_RAW", "CAP_NET_ADMIN", "CAP_IPC_LOCK"}
EXPOSURE_LIMIT = 5.0
INSTANCE_ID = "i-0a1b2c3d4e5f60001"
TOOLS = ["systemd-analyze", "promtool", "/usr/bin/prometheus", "strace", "setpriv", "apt-cache"]


def run(args, timeout=120, **kw):
    """(rc, stdout + stderr) of a command."""
    try:
        p = subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kw)
        return p.returncode, p.stdout + p.stderr
    except subprocess.TimeoutExpired as e:
        return "timeout", str(e)


def unit_settings(path):
    """{key: [values]} of a unit file (every assignment, in order)."""
    out = {}
    for line in open(path):
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")) and "=" in line:
            k, v = line.split("=", 1)
            out.setdefault(k.strip(), []).append(v.strip())
    return out


def config_settings(path):
    out = {}
    for line in open(path):
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            k, v = line.split("=", 1)
            out.setdefault(k.strip(), []).append(v.strip())
    return out


# ---- 1. install.sh ------------------------------------------------------------

INSTALLED = {
    "usr/local/bin/vxcollector": 0o755,
    "usr/local/sbin/vxcollector-host-setup": 0o755,
    "etc/systemd/system/vxcollector.service": 0o644,
    "etc/systemd/system/vxcollector-host-setup.service": 0o644,
    "etc/vxcollector/vxcollector.conf": 0o644,
    "etc/vxcollector/vxcollector.conf.example": 0o644,
    "etc/vxcollector/host-setup.env": 0o644,
    "usr/local/share/vxcollector/systemd/noiommu.conf": 0o644,
    "usr/local/share/vxcollector/systemd/netvsc.conf": 0o644,
    "usr/local/share/vxcollector/prometheus/prometheus.yml": 0o644,
    "usr/local/share/vxcollector/prometheus/alerts.yml": 0o644,
    "usr/local/share/vxcollector/prometheus/alerts_test.yml": 0o644,
    "usr/local/share/vxcollector/grafana/vxcollector-dashboard.json": 0o644,
    "usr/local/share/doc/vxcollector/README.md": 0o644,
}


def check_install(F, binary, root):
    print("\n== 1. install.sh --root %s" % root)
    rc, out = run([os.path.join(DEPLOY, "install.sh"), "--root", root, "--binary", binary, "--enable"])
    if not F.check(rc == 0, "install.sh --root --enable exits 0", out):
        return False
    bad = []
    for rel, mode in sorted(INSTALLED.items()):
        p = os.path.join(root, rel)
        if not os.path.isfile(p):
            bad.append(rel + " missing")
        elif os.stat(p).st_mode & 0o777 != mode:
            bad.append("%s mode %o, expected %o" % (rel, os.stat(p).st_mode & 0o777, mode))
    F.check(not bad, "install.sh puts %d files in place with their modes" % len(INSTALLED), "; ".join(bad))
    F.check(open(binary, "rb").read() == open(os.path.join(root, "usr/local/bin/vxcollector"), "rb").read(),
            "installed binary is the built one")
    F.check(open(os.path.join(DEPLOY, "systemd", "vxcollector.conf")).read() ==
            open(os.path.join(root, "etc/vxcollector/vxcollector.conf")).read(),
            "installed config is deploy/systemd/vxcollector.conf")
    links = {}
    for u in (UNIT, SETUP_UNIT):
        link = os.path.join(root, "etc/systemd/system/multi-user.target.wants", u)
        links[u] = os.readlink(link) if os.path.islink(link) else None
    F.equal(links, {u: "/etc/systemd/system/" + u for u in (UNIT, SETUP_UNIT)},
            "--enable: multi-user.target.wants symlinks of both units")
    # A second run replaces the shipped files but keeps the operator's config.
    conf = os.path.join(root, "etc/vxcollector/vxcollector.conf")
    with open(conf, "a") as f:
        f.write("# edited by the operator\n")
    rc, out = run([os.path.join(DEPLOY, "install.sh"), "--root", root, "--binary", binary])
    F.check(rc == 0 and open(conf).read().endswith("# edited by the operator\n") and "kept /etc/vxcollector/vxcollector.conf" in out,
            "install.sh again: exits 0 and keeps the edited vxcollector.conf", out[-600:])
    with open(conf, "w") as f:
        f.write(open(os.path.join(DEPLOY, "systemd", "vxcollector.conf")).read())
    rc, out = run([os.path.join(DEPLOY, "install.sh"), "--root", root, "--binary", os.path.join(root, "no-such-binary")])
    F.check(rc not in (0, "timeout") and "no-such-binary" in out, "install.sh with a missing binary fails and names it", out)
    return True


# ---- 2. systemd units -----------------------------------------------------------

def verify(root, unit_path):
    """(clean, output) of systemd-analyze verify in the temp root."""
    rc, out = run(["systemd-analyze", "verify", "--root=" + root, unit_path])
    return rc == 0 and not out.strip(), "rc=%s %s" % (rc, out.strip())


def exposure(args):
    rc, out = run(["systemd-analyze", "security", "--offline=true", "--no-pager"] + args)
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", out)
    return (float(m.group(1)) if m and rc == 0 else None), out


def check_units(F, root):
    print("\n== 2. systemd units")
    # The root needs the standard units (sysinit.target, network-online.target, ...).
    shutil.copytree("/usr/lib/systemd/system", os.path.join(root, "usr/lib/systemd/system"), symlinks=True,
                    dirs_exist_ok=True)
    sysdir = os.path.join(root, "etc/systemd/system")
    unit_path = os.path.join(sysdir, UNIT)
    figures = {}
    for u in (UNIT, SETUP_UNIT):
        ok, out = verify(root, os.path.join(sysdir, u))
        F.check(ok, "systemd-analyze verify --root %s: clean" % u, out)
    # The check notices a broken unit (a missing binary only prints a line).
    bad = os.path.join(sysdir, "vxc-selftest.service")
    with open(bad, "w") as f:
        f.write(open(unit_path).read().replace("/usr/local/bin/vxcollector ", "/usr/local/bin/vxcollector-missing "))
    ok, out = verify(root, bad)
    F.check(not ok and "vxcollector-missing" in out, "verify check fails on a unit whose ExecStart is missing", out)
    os.unlink(bad)

    score, out = exposure([unit_path])
    figures["base"] = score
    F.check(score is not None and score < EXPOSURE_LIMIT,
            "systemd-analyze security --offline %s: exposure %s < %.1f" % (UNIT, score, EXPOSURE_LIMIT), out[-1500:])
    dropins = os.path.join(sysdir, UNIT + ".d")
    os.makedirs(dropins, exist_ok=True)
    for d in ("noiommu.conf", "netvsc.conf"):
        shutil.copy(os.path.join(root, "usr/local/share/vxcollector/systemd", d), dropins)
        ok, vout = verify(root, unit_path)
        F.check(ok, "verify %s with drop-in %s: clean" % (UNIT, d), vout)
        score, out = exposure(["--root=" + root, UNIT])
        figures[d] = score
        F.check(score is not None and score < EXPOSURE_LIMIT,
                "security with drop-in %s: exposure %s < %.1f" % (d, score, EXPOSURE_LIMIT), out[-1500:])
        os.unlink(os.path.join(dropins, d))
    os.rmdir(dropins)
    print("  exposure: %s" % figures)

    s = unit_settings(unit_path)
    conf = config_settings(os.path.join(root, "etc/vxcollector/vxcollector.conf"))
    F.equal(s.get("ExecStart"), ["/usr/local/bin/vxcollector --config /etc/vxcollector/vxcollector.conf"], "ExecStart")
    F.equal((s.get("User"), s.get("NoNewPrivileges"), s.get("ProtectSystem"), s.get("ProtectHome"), s.get("PrivateTmp"),
             s.get("LimitMEMLOCK"), s.get("KillSignal"), s.get("Restart")),
            (["vxcollector"], ["yes"], ["strict"], ["yes"], ["yes"], ["infinity"], ["SIGTERM"], ["on-failure"]),
            "User, NoNewPrivileges, ProtectSystem, ProtectHome, PrivateTmp, LimitMEMLOCK, KillSignal, Restart")
    caps = [set(v.split()) for v in s.get("CapabilityBoundingSet", []) + s.get("AmbientCapabilities", [])]
    F.check(caps and all(c == UNIT_CAPS for c in caps), "capabilities are exactly %s" % sorted(UNIT_CAPS), str(caps))
    rw = [p.lstrip("-") for v in s.get("ReadWritePaths", []) for p in v.split()]
    out_dir = conf.get("output-dir", ["?"])[0]
    F.check(out_dir in rw and all(p in (out_dir, "/dev/hugepages") for p in rw),
            "ReadWritePaths = the config's output-dir %s (+ /dev/hugepages)" % out_dir, str(rw))
    stop = int(s.get("TimeoutStopSec", ["0"])[0])
    drain = int(conf.get("drain-seconds", ["0"])[0])
    F.check(drain + 60 <= stop, "TimeoutStopSec %d covers drain-seconds %d + 60 s to complete files" % (stop, drain))
    F.check("AF_PACKET" in " ".join(s.get("RestrictAddressFamilies", [])) and s.get("SystemCallFilter"),
            "RestrictAddressFamilies allows AF_PACKET; SystemCallFilter set", str(s.get("RestrictAddressFamilies")))
    return figures


# ---- 3. the installed binary, unprivileged, under strace ---------------------------

def syscall_groups():
    rc, out = run(["systemd-analyze", "syscall-filter"])
    groups, cur = {}, None
    for line in out.splitlines():
        if line.startswith("@"):
            cur = groups.setdefault(line.strip(), [])
        elif cur is not None and line.strip() and not line.strip().startswith("#"):
            cur.append(line.strip())
    return groups


def expand(items, groups, seen=None):
    seen = set() if seen is None else seen
    out = set()
    for it in items:
        if it.startswith("@"):
            if it not in seen:
                seen.add(it)
                out |= expand(groups.get(it, []), groups, seen)
        else:
            out.add(it)
    return out


def allowed_syscalls(unit_path):
    """The set the unit's SystemCallFilter= lines allow (allow-list minus deny lines)."""
    groups = syscall_groups()
    allowed = None
    for v in unit_settings(unit_path).get("SystemCallFilter", []):
        deny = v.startswith("~")
        names = expand(v.lstrip("~").split(), groups)
        if deny:
            allowed = (allowed if allowed is not None else set()) - names
        else:
            allowed = (allowed or set()) | names
    return allowed or set()


def strace_table(path):
    """{syscall: (calls, errors)} from `strace -c` output."""
    out = {}
    for line in open(path):
        f = line.split()
        if len(f) in (5, 6) and f[-1] != "total" and f[0][0].isdigit():
            out[f[-1]] = (int(f[3]), int(f[4]) if len(f) == 6 else 0)
    return out


class Unprivileged:
    """The installed collector as `nobody` with the unit's capabilities, under strace -f -c."""

    def __init__(self, root, work, feed, port):
        self.work = work
        self.out = os.path.join(work, "out")
        self.runtime = os.path.join(work, "run")
        trace = os.path.join(work, "trace")
        for d in (self.out, self.runtime, trace):
            os.makedirs(d)
            shutil.chown(d, "nobody", "nogroup")
        self.strace_out = os.path.join(trace, "strace.txt")
        caps = ",".join("+" + c[4:].lower() for c in sorted(UNIT_CAPS))
        self.port = port
        self.result = None
        self.args = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                     "--inh-caps=-all," + caps, "--ambient-caps=" + caps, "--bounding-set=-all," + caps,
                     "--no-new-privs", "strace", "-f", "-c", "-o", self.strace_out,
                     os.path.join(root, "usr/local/bin/vxcollector"),
                     "--config", os.path.join(root, "etc/vxcollector/vxcollector.conf"),
                     # the config's EAL arguments name a NIC; a replay brings its own port
                     "--eal", "--log-level *:warning",
                     "--read-pcap", feed, "--output-dir", self.out, "--http-listen", "127.0.0.1:%d" % port,
                     "--linger-seconds", "600", "--drain-seconds", "2"]
        env = dict(os.environ, XDG_RUNTIME_DIR=self.runtime)
        self.stdout = open(os.path.join(work, "collector.stdout"), "w+")
        self.stderr = open(os.path.join(work, "collector.stderr"), "w+")
        print("running: " + " ".join(self.args))
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(self.args, stdout=self.stdout, stderr=self.stderr, env=env, cwd=work)

    def collector_pid(self):
        """The traced collector: strace's child."""
        try:
            kids = open("/proc/%d/task/%d/children" % (self.proc.pid, self.proc.pid)).read().split()
            return int(kids[0]) if kids else None
        except OSError:
            return None

    def metrics(self):
        status, body = http_get("http://127.0.0.1:%d/metrics" % self.port)
        try:
            return parse_exposition(body) if status == 200 else None
        except ValueError:
            return None

    def stop(self, F):
        """SIGTERM to the collector: draining shows on /metrics, exit 0 within the drain + 30 s."""
        pid = self.collector_pid()
        if not F.check(pid is not None and self.proc.poll() is None, "collector running until SIGTERM",
                       "rc=%s" % self.proc.poll()):
            return self.finish()
        os.kill(pid, signal.SIGTERM)
        draining = wait_for("vxcollector_draining 1", lambda: (self.metrics() or {}).get(("vxcollector_draining", frozenset())) == 1, 5, 0.1)
        F.check(bool(draining), "after SIGTERM: vxcollector_draining 1 on /metrics while draining")
        try:
            self.proc.wait(timeout=32)
        except subprocess.TimeoutExpired:
            pass
        F.equal(self.proc.poll(), 0, "after SIGTERM: exit 0 within drain-seconds + 30 s")
        return self.finish()

    def finish(self):
        if self.result is not None:
            return self.result
        if self.proc.poll() is None:
            pid = self.collector_pid()  # strace killed would leave its tracee running
            if pid is not None:
                os.kill(pid, signal.SIGKILL)
            self.proc.kill()
            self.proc.wait()
        self.stdout.seek(0)
        self.stderr.seek(0)
        r = vxc.Run(self.args, self.proc.returncode, self.stdout.read(), self.stderr.read(), self.out,
                    time.monotonic() - self.t0)
        self.stdout.close()
        self.stderr.close()
        self.result = r
        return r


def check_syscalls(F, root, run_result, strace_out):
    print("\n== 3. system calls of the unprivileged run against SystemCallFilter")
    if not F.check(os.path.exists(strace_out), "strace -c table written", strace_out):
        return
    allowed = allowed_syscalls(os.path.join(root, "etc/systemd/system", UNIT))
    used = strace_table(strace_out)
    print("  %d syscalls allowed by the filter; the run made %d distinct ones" % (len(allowed), len(used)))
    F.check(len(used) > 20 and "mmap" in used and ("accept" in used or "accept4" in used),
            "strace saw the run (mmap, accept of the HTTP server)", str(sorted(used)))
    outside = {n: ce for n, ce in used.items() if n not in allowed}
    harmful = {n: ce for n, ce in outside.items() if ce[1] < ce[0]}
    for n, (calls, errors) in sorted(outside.items()):
        print("  outside the filter: %s (%d calls, all %d failed without the filter too)" % (n, calls, errors))
    F.check(not harmful, "every system call is allowed by SystemCallFilter or failed anyway",
            ", ".join("%s: %d calls, %d errors" % (n, c, e) for n, (c, e) in sorted(harmful.items())))
    # The EAL's hugepage and vfio paths (not taken by a replay) need these.
    dpdk = {"mmap", "munmap", "mbind", "get_mempolicy", "set_mempolicy", "mlock", "memfd_create", "ioctl",
            "flock", "fallocate", "ftruncate", "sched_setaffinity", "eventfd2", "epoll_wait", "timerfd_create"}
    F.check(dpdk <= allowed, "the filter allows DPDK's hugepage/vfio system calls", str(sorted(dpdk - allowed)))


# ---- 4. host-setup.sh ----------------------------------------------------------------

def host_state():
    """Everything host-setup.sh could change, read without changing it."""
    def read(p):
        try:
            return open(p).read()
        except OSError:
            return None

    def listing(p):
        return sorted(os.listdir(p)) if os.path.isdir(p) else None

    st = {
        "nr_hugepages": read("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"),
        "hugetlbfs mounts": [l for l in (read("/proc/mounts") or "").splitlines() if "hugetlbfs" in l],
        "sysctl.d": read("/etc/sysctl.d/80-vxcollector-hugepages.conf"),
        "modprobe.d": read("/etc/modprobe.d/vxcollector-vfio.conf"),
        "drop-ins": listing("/etc/systemd/system/vxcollector.service.d"),
        "/etc/vxcollector": listing("/etc/vxcollector"),
        "/var/lib/vxcollector": (lambda s: s and (s.st_uid, s.st_gid, oct(s.st_mode)))(
            os.stat("/var/lib/vxcollector") if os.path.exists("/var/lib/vxcollector") else None),
        "user": subprocess.run(["getent", "passwd", "vxcollector"], capture_output=True, text=True).stdout,
        "modules": listing("/sys/module"),
        "pci drivers": {d: os.readlink(os.path.join(d, "driver")) if os.path.islink(os.path.join(d, "driver")) else None
                        for d in glob.glob("/sys/bus/pci/devices/*")},
        "/dev/hugepages": listing("/dev/hugepages"),
    }
    return st


def fake_sysfs(base, kind):
    """A sysfs tree as host-setup.sh reads it."""
    def put(rel, text):
        p = os.path.join(base, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(text + "\n")

    def link(rel, target):
        p = os.path.join(base, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        os.symlink(target, p)

    put("kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "0")
    os.makedirs(os.path.join(base, "kernel/iommu_groups"))
    os.makedirs(os.path.join(base, "module/vfio"))
    if kind in ("ena-noiommu", "ena-iommu-bound"):
        dev = "bus/pci/devices/0000:00:06.0"
        put(dev + "/vendor", "0x1d0f")
        put(dev + "/device", "0xec20")
        put(dev + "/resource", "0x0 0x0 0x0\n0x0 0x0 0x0\n0x00000000febf0000 0x00000000febfffff 0x0000000000140204")
        if kind == "ena-noiommu":
            link(dev + "/driver", "../../../../bus/pci/drivers/ena")
            os.makedirs(os.path.join(base, dev, "net/ens6"))
        else:
            link(dev + "/driver", "../../../../bus/pci/drivers/vfio-pci")
            os.makedirs(os.path.join(base, "kernel/iommu_groups/5"))
            link(dev + "/iommu_group", "../../../../kernel/iommu_groups/5")
            os.makedirs(os.path.join(base, "module/vfio_pci"))
            put("kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "1024")
    elif kind.startswith("netvsc"):
        guid = "6a4ea0e6-1f61-4c8b-9dc3-3c0d4fd46c2e"
        dev = "bus/vmbus/devices/" + guid
        put(dev + "/class_id", "{f8615163-df3e-46c5-913f-f2d2f965ed0e}" if kind != "netvsc-wrong-class"
            else "{ba6163d9-04a1-4d29-b605-72e2ffb1dc7f}")
        link(dev + "/driver", "../../../../bus/vmbus/drivers/hv_netvsc")
        if kind == "netvsc":
            put(dev + "/driver_override", "(null)")
        link("class/net/eth1/device", "../../../" + dev)
    return base


def host_setup(args, env=None):
    e = {k: v for k, v in os.environ.items() if not k.startswith("VXC_")}
    e.update(env or {})
    return run([os.path.join(DEPLOY, "host-setup.sh"), "--dry-run"] + args, env=e)


def check_host_setup(F, work):
    print("\n== 4. host-setup.sh (--dry-run only)")
    for script in ("host-setup.sh", "install.sh"):
        rc, out = run(["bash", "-n", os.path.join(DEPLOY, script)])
        F.check(rc == 0, "bash -n deploy/%s" % script, out)

    before = host_state()
    rc, out = host_setup(["--hugepages", "1024"])
    after = host_state()
    print("  " + out.strip().replace("\n", "\n  "))
    F.check(rc == 0 and "dry run" in out, "--dry-run on this host exits 0", out[-800:])
    changed = {k: (before[k], after[k]) for k in before if before[k] != after[k]}
    F.check(not changed, "--dry-run on this host changed nothing (hugepages, mounts, files, user, modules, PCI drivers)",
            str(changed)[:1500])
    acting = [l for l in out.splitlines() if l.startswith(("run:", "write:"))]
    F.check(not acting, "--dry-run prints plans only (no 'run:' or 'write:' lines)", str(acting))

    def plan(kind, args, env=None):
        base = fake_sysfs(os.path.join(work, "sysfs-" + kind + "-%d" % len(os.listdir(work))), kind)
        return host_setup(args + ["--sysfs", base], env)

    # ENA on an instance without an IOMMU, as the cloud-init file configures it.
    ci = yaml.safe_load(open(os.path.join(DEPLOY, "cloud-init.yaml")))
    env_text = next(f["content"] for f in ci["write_files"] if f["path"] == "/etc/vxcollector/host-setup.env")
    env = dict(l.split("=", 1) for l in env_text.splitlines() if l and not l.startswith("#"))
    rc, out = plan("ena-noiommu", [], env)
    want = ["would run: modprobe vfio-pci",
            "would write /etc/modprobe.d/vxcollector-vfio.conf",
            "enable_unsafe_noiommu_mode",
            "would run: ip link set dev ens6 down",
            "would run: dpdk-devbind.py --bind=vfio-pci 0000:00:06.0",
            "would write /etc/systemd/system/vxcollector.service.d/noiommu.conf",
            "would run: sysctl -q -w vm.nr_hugepages=1024",
            "write combining"]
    F.check(rc == 0 and all(w in out for w in want),
            "plan for ENA without IOMMU (cloud-init's host-setup.env): no-IOMMU mode, bind, drop-in, hugepages, WC note",
            "missing %s in:\n%s" % ([w for w in want if w not in out], out))
    rc, out = plan("ena-iommu-bound", ["--pci", "0000:00:06.0"])
    want = ["ok: 0000:00:06.0 bound to vfio-pci", "ok: vfio-pci loaded", "ok: 1024 hugepages",
            "would run: chgrp vxcollector /dev/vfio/5", "no drop-in needed"]
    unwanted = ["dpdk-devbind", "noiommu", "modprobe", "sysctl -q"]
    F.check(rc == 0 and all(w in out for w in want) and not any(u in out for u in unwanted),
            "plan for ENA already bound with an IOMMU: nothing to bind, no no-IOMMU mode, group node to vxcollector",
            "missing %s, unexpected %s in:\n%s" % ([w for w in want if w not in out], [u for u in unwanted if u in out], out))
    rc, out = plan("netvsc", ["--iface", "eth1"])
    want = ["VMBus device 6a4ea0e6-1f61-4c8b-9dc3-3c0d4fd46c2e", "would run: modprobe uio_hv_generic",
            "driver_override", "drivers/hv_netvsc/unbind", "drivers_probe",
            "would write /etc/systemd/system/vxcollector.service.d/netvsc.conf"]
    F.check(rc == 0 and all(w in out for w in want), "plan for Azure netvsc: driver_override to uio_hv_generic, netvsc drop-in",
            "missing %s in:\n%s" % ([w for w in want if w not in out], out))
    rc, out = plan("netvsc-new-id", ["--iface", "eth1"])
    want = ["f8615163-df3e-46c5-913f-f2d2f965ed0e > /sys/bus/vmbus/drivers/uio_hv_generic/new_id",
            "drivers/uio_hv_generic/bind"]
    F.check(rc == 0 and all(w in out for w in want), "plan for netvsc without driver_override: new_id with the network class GUID",
            "missing %s in:\n%s" % ([w for w in want if w not in out], out))
    for kind, args, word, what in (
            ("netvsc-wrong-class", ["--iface", "eth1"], "not the network class", "a VMBus device of another class"),
            ("ena-noiommu", ["--pci", "0000:00:07.0"], "no PCI device 0000:00:07.0", "a PCI address that does not exist"),
            ("ena-noiommu", ["--pci", "00:06.0"], "is not DDDD:BB:SS.F", "a malformed PCI address"),
            ("ena-noiommu", ["--driver", "e1000"], "is not vfio-pci", "an unknown driver"),
            ("ena-noiommu", ["--hugepages", "lots"], "is not a number", "a bad hugepage count")):
        rc, out = plan(kind, args)
        F.check(rc not in (0, "timeout") and word in out, "refuses %s" % what, "rc=%s %s" % (rc, out[-400:]))


# ---- 5. cloud-init ---------------------------------------------------------------------

def check_cloud_init(F, binary, work, feed):
    print("\n== 5. cloud-init.yaml")
    path = os.path.join(DEPLOY, "cloud-init.yaml")
    text = open(path).read()
    F.check(text.startswith("#cloud-config\n"), "first line #cloud-config")
    F.check("${" not in text and "%{" not in text,
            "no ${ or %{: Terraform's templatefile() passes the file through unchanged")
    try:
        ci = yaml.safe_load(text)
    except yaml.YAMLError as e:
        F.check(False, "cloud-init.yaml is YAML", str(e))
        return
    F.check(isinstance(ci, dict) and ci.get("package_update") is True and
            all(isinstance(ci.get(k), list) and ci.get(k) for k in ("packages", "write_files", "runcmd")),
            "keys package_update, packages, write_files, runcmd", str(sorted(ci)) if isinstance(ci, dict) else str(ci))
    pkgs = ci.get("packages", [])
    rc, out = run(["apt-cache", "policy"] + pkgs)  # one call: apt-cache reads its lists once
    candidates = dict(re.findall(r"^(\S+):\n(?:  .*\n)*?  Candidate: (\S+)", out, re.M))
    unknown = [p for p in pkgs if candidates.get(p, "(none)") == "(none)"]
    F.check(not unknown, "all %d packages known to apt" % len(ci.get("packages", [])), str(unknown))
    files = {f.get("path"): f for f in ci.get("write_files", [])}
    want = {"/etc/vxcollector/deploy.env", "/etc/vxcollector/host-setup.env", "/etc/vxcollector/vxcollector.conf",
            "/usr/local/sbin/vxcollector-bootstrap"}
    F.check(want <= set(files), "write_files: %s" % sorted(want), str(sorted(files)))
    boot = files.get("/usr/local/sbin/vxcollector-bootstrap", {}).get("content", "")
    script = os.path.join(work, "bootstrap.sh")
    with open(script, "w") as f:
        f.write(boot)
    rc, out = run(["bash", "-n", script])
    F.check(rc == 0 and boot.startswith("#!/bin/bash"), "bootstrap script passes bash -n", out)
    F.check("deploy/install.sh" in boot and "--enable" in boot and "systemctl restart vxcollector.service" in boot,
            "bootstrap installs with deploy/install.sh --enable and starts vxcollector.service")
    F.check(["/usr/local/sbin/vxcollector-bootstrap"] in ci.get("runcmd", []), "runcmd runs the bootstrap")
    F.check(files.get("/usr/local/sbin/vxcollector-bootstrap", {}).get("permissions") == "0755", "bootstrap is 0755")
    # The config it writes is one the collector accepts.
    conf = os.path.join(work, "cloud-init-vxcollector.conf")
    with open(conf, "w") as f:
        f.write(files.get("/etc/vxcollector/vxcollector.conf", {}).get("content", ""))
    r = vxc.run_collector(binary, feed, os.path.join(work, "ci-out"), "--config", conf, "--eal", "--log-level *:warning")
    if vxc.check_run(F, r, "cloud-init's vxcollector.conf"):
        F.check("web" in r.summary.get("lanes", {}), "cloud-init's config: lane web exists", str(sorted(r.summary.get("lanes", {}))))
    if shutil.which("cloud-init"):
        rc, out = run(["cloud-init", "schema", "--config-file", path])
        F.check(rc == 0, "cloud-init schema --config-file", out)
    else:
        print("SKIP cloud-init schema: cloud-init is not installed here")


# ---- 6. Prometheus files -------------------------------------------------------------------

def check_prometheus_files(F, work):
    print("\n== 6. promtool")
    pdir = os.path.join(work, "prometheus")
    shutil.copytree(os.path.join(DEPLOY, "prometheus"), pdir)
    rc, out = run(["promtool", "check", "config", os.path.join(pdir, "prometheus.yml")])
    F.check(rc == 0, "promtool check config prometheus.yml", out)
    rc, out = run(["promtool", "check", "rules", os.path.join(pdir, "alerts.yml")])
    rules = yaml.safe_load(open(os.path.join(pdir, "alerts.yml")))
    alerts = [r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r]
    F.check(rc == 0 and ("SUCCESS: %d rules found" % len(alerts)) in out, "promtool check rules alerts.yml (%d alerts)" % len(alerts), out)
    rc, out = run(["promtool", "test", "rules", "alerts_test.yml"], cwd=pdir)
    F.check(rc == 0 and "SUCCESS" in out, "promtool test rules alerts_test.yml", out[-3000:])

    tests = yaml.safe_load(open(os.path.join(pdir, "alerts_test.yml")))
    fires, quiet = set(), set()
    for t in tests["tests"]:
        for a in t.get("alert_rule_test", []):
            (fires if a.get("exp_alerts") else quiet).add(a["alertname"])
    F.equal((sorted(set(alerts) - fires), sorted(set(alerts) - quiet)), ([], []),
            "every alert has a firing case and a quiet case (alerts without: firing, quiet)")
    required = {"VxcollectorDown", "VxcollectorAbsent", "VxcollectorMirrorDrops", "VxcollectorCannotKeepUp",
                "VxcollectorWriteFailing", "VxcollectorPortMissedPackets", "VxcollectorEnaAllowanceExceeded",
                "VxcollectorDiskAlmostFull", "VxcollectorLaneSilent"}
    F.check(required <= set(alerts), "alerts for down/absent, drops by reason, writer/worker busy, missed packets, "
            "ENA allowances, disk, silent lanes", str(sorted(required - set(alerts))))
    # The unit tests notice an alert that never fires.
    deaf = []
    for name in alerts:
        mutant = json.loads(json.dumps(rules))
        for g in mutant["groups"]:
            for r in g["rules"]:
                if r.get("alert") == name:
                    r["expr"] = "vector(0) > 1"
        with open(os.path.join(pdir, "alerts.yml"), "w") as f:
            yaml.safe_dump(mutant, f, sort_keys=False)
        rc, _ = run(["promtool", "test", "rules", "alerts_test.yml"], cwd=pdir)
        if rc == 0:
            deaf.append(name)
    shutil.copy(os.path.join(DEPLOY, "prometheus", "alerts.yml"), pdir)
    F.check(not deaf, "alerts_test.yml fails when any one alert's expr never fires (%d mutants)" % len(alerts), str(deaf))

    cfg = yaml.safe_load(open(os.path.join(pdir, "prometheus.yml")))
    jobs = {j["job_name"]: j for j in cfg["scrape_configs"]}
    ec2 = [sd for j in jobs.values() for sd in j.get("ec2_sd_configs", [])]
    az = [sd for j in jobs.values() for sd in j.get("azure_sd_configs", [])]
    F.check(ec2 and az and all(sd.get("port") == 9469 for sd in ec2 + az) and
            any(f["name"] == "tag:vxcollector" for sd in ec2 for f in sd.get("filters", [])),
            "ec2_sd_configs (filter tag:vxcollector) and azure_sd_configs, port 9469", json.dumps(cfg["scrape_configs"])[:800])


# ---- 7. live: fake EC2, Prometheus with the deploy config, dashboard -------------------------

class FakeEc2(http.server.BaseHTTPRequestHandler):
    """DescribeAvailabilityZones and DescribeInstances (EC2 query API), filters applied as EC2 does."""

    INSTANCES = [  # id, private ip, state, tags
        (INSTANCE_ID, "127.0.0.1", "running", {"vxcollector": "true", "Name": "vxc-collector",
                                               "aws:autoscaling:groupName": "vxc-asg"}),
        ("i-0a1b2c3d4e5f60002", "127.0.0.2", "running", {"Name": "web-server"}),
        ("i-0a1b2c3d4e5f60003", "127.0.0.3", "stopped", {"vxcollector": "true"}),
    ]
    requests = []

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        q = dict(urllib.parse.parse_qsl(body))
        FakeEc2.requests.append(q)
        ns = 'xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"'
        if q.get("Action") == "DescribeAvailabilityZones":
            xml = ("<DescribeAvailabilityZonesResponse %s><requestId>1</requestId><availabilityZoneInfo>"
                   "<item><zoneName>us-east-1a</zoneName><zoneId>use1-az1</zoneId><zoneState>available</zoneState>"
                   "<regionName>us-east-1</regionName></item></availabilityZoneInfo></DescribeAvailabilityZonesResponse>" % ns)
        elif q.get("Action") == "DescribeInstances":
            filters = {}
            for k, v in q.items():
                m = re.match(r"Filter\.(\d+)\.Name$", k)
                if m:
                    filters[v] = [q[x] for x in sorted(q) if x.startswith("Filter.%s.Value." % m.group(1))]
            items = ""
            for iid, ip, state, tags in self.INSTANCES:
                ok = True
                for name, values in filters.items():
                    if name == "instance-state-name":
                        ok &= state in values
                    elif name.startswith("tag:"):
                        ok &= tags.get(name[4:]) in values
                    else:
                        ok = False  # a filter this fake does not know
                if ok:
                    tagset = "".join("<item><key>%s</key><value>%s</value></item>" % kv for kv in tags.items())
                    items += ("<item><instanceId>%s</instanceId><imageId>ami-0123456789abcdef0</imageId>"
                              "<instanceState><code>16</code><name>%s</name></instanceState>"
                              "<privateDnsName>ip-%s.ec2.internal</privateDnsName><instanceType>c6in.xlarge</instanceType>"
                              "<placement><availabilityZone>us-east-1a</availabilityZone></placement>"
                              "<privateIpAddress>%s</privateIpAddress><tagSet>%s</tagSet></item>"
                              % (iid, state, ip.replace(".", "-"), ip, tagset))
            xml = ("<DescribeInstancesResponse %s><requestId>2</requestId><reservationSet><item>"
                   "<reservationId>r-0123</reservationId><ownerId>123456789012</ownerId>"
                   "<instancesSet>%s</instancesSet></item></reservationSet></DescribeInstancesResponse>" % (ns, items))
        else:
            self.send_response(400)
            self.end_headers()
            return
        data = xml.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def panel_targets(dashboard):
    """[(panel title, refId, expr)] of every panel, rows' nested panels included."""
    out = []

    def walk(panels):
        for p in panels:
            walk(p.get("panels", []))
            for t in p.get("targets", []):
                out.append((p.get("title"), t.get("refId"), t.get("expr")))
    walk(dashboard.get("panels", []))
    return out


def check_dashboard_static(F, dash):
    F.check(36 <= dash.get("schemaVersion", 0) <= 39, "dashboard schemaVersion %s (Grafana 9/10)" % dash.get("schemaVersion"))
    variables = {v["name"]: v for v in dash.get("templating", {}).get("list", [])}
    F.check(variables.get("DS_PROMETHEUS", {}).get("type") == "datasource" and
            {"job", "instance", "lane"} <= set(variables), "template variables DS_PROMETHEUS (datasource), job, instance, lane",
            str(sorted(variables)))
    panels = []

    def walk(ps):
        for p in ps:
            panels.append(p)
            walk(p.get("panels", []))
    walk(dash.get("panels", []))
    ids = [p.get("id") for p in panels]
    F.check(len(ids) == len(set(ids)), "panel ids unique")
    data = [p for p in panels if p.get("type") != "row"]
    bad_ds = [p["title"] for p in data if p.get("datasource", {}).get("uid") != "${DS_PROMETHEUS}" or
              any(t.get("datasource", {}).get("uid") != "${DS_PROMETHEUS}" for t in p.get("targets", []))]
    F.check(not bad_ds, "every panel and target uses datasource ${DS_PROMETHEUS}", str(bad_ds))
    boxes = [(p["gridPos"]["x"], p["gridPos"]["y"], p["gridPos"]["w"], p["gridPos"]["h"], p["title"]) for p in panels]
    overlap = [(a[4], b[4]) for i, a in enumerate(boxes) for b in boxes[i + 1:]
               if a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]]
    F.check(not overlap and all(b[0] + b[2] <= 24 for b in boxes), "panels inside the 24-column grid, no overlaps", str(overlap))
    used = set(re.findall(r"\$(\w+)", " ".join(e for _, _, e in panel_targets(dash))))
    F.check(used <= set(variables) | {"__rate_interval", "__interval", "__range"},
            "panel queries use only defined variables", str(sorted(used - set(variables))))
    text = json.dumps(dash)
    want = ["vxcollector_port_rx_packets_total", "vxcollector_port_rx_bytes_total", "vxcollector_lane_packets_total",
            "vxcollector_lane_bytes_total", "vxcollector_drops_total", "vxcollector_files_completed_total",
            "vxcollector_output_free_bytes", "vxcollector_output_min_free_bytes", "vxcollector_port_missed_packets_total",
            "vxcollector_port_xstats_total", "allowance_exceeded"]
    F.check(all(w in text for w in want), "dashboard covers throughput, lanes, drops, files, disk, missed, xstats",
            str([w for w in want if w not in text]))


def substitute(expr, values):
    for k in sorted(values, key=len, reverse=True):
        expr = expr.replace("$" + k, values[k])
    return expr


def check_live(F, root, work, feed):
    print("\n== 7. live: fake EC2 -> Prometheus (deploy config) -> collector; alert rules; dashboard queries")
    port = vxc.free_port()
    coll = Unprivileged(root, work, feed, port)
    ec2 = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeEc2)
    threading.Thread(target=ec2.serve_forever, daemon=True).start()
    prom = None
    plog = open(os.path.join(work, "prometheus.log"), "w+")
    pport = vxc.free_port()
    pbase = "http://127.0.0.1:%d" % pport
    try:
        def counted():
            if coll.proc.poll() is not None:
                return "exited"
            x = coll.metrics()
            return x if x and x.get(("vxcollector_received_packets_total", frozenset())) else None
        m = wait_for("the collector to serve /metrics with every frame counted", counted, 120, 0.5)
        if m == "exited":
            m = None
        if not F.check(m is not None, "unprivileged collector (nobody, %s, no_new_privs) serves /metrics" % sorted(UNIT_CAPS),
                       open(os.path.join(work, "collector.stderr")).read()[-1500:]):
            return None
        names = {n for n, _ in m}
        new = ["vxcollector_output_free_bytes", "vxcollector_output_min_free_bytes", "vxcollector_draining",
               "vxcollector_port_xstats_total"]
        F.check(all(n in names for n in new), "collector exports %s" % new, str([n for n in new if n not in names]))
        F.equal(m.get(("vxcollector_output_min_free_bytes", frozenset())), 4096.0 * 1024 * 1024,
                "output_min_free_bytes = the installed config's min-free-mb 4096")
        lane_dirs = [os.stat(os.path.join(coll.out, d)) for d in os.listdir(coll.out)]
        F.check(lane_dirs and all(s.st_uid == 65534 for s in lane_dirs), "lane directories belong to the service user (nobody)")

        # Prometheus with the deploy config: the EC2 job pointed at the fake, the Azure job dropped.
        cfg = yaml.safe_load(open(os.path.join(DEPLOY, "prometheus", "prometheus.yml")))
        cfg["global"].update({"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"})
        cfg.pop("alerting", None)
        shutil.copy(os.path.join(DEPLOY, "prometheus", "alerts.yml"), work)
        cfg["rule_files"] = [os.path.join(work, "alerts.yml")]
        cfg["scrape_configs"] = [j for j in cfg["scrape_configs"] if "ec2_sd_configs" in j]
        job = cfg["scrape_configs"][0]["job_name"]
        for sd in cfg["scrape_configs"][0]["ec2_sd_configs"]:
            sd.update({"endpoint": "http://127.0.0.1:%d" % ec2.server_address[1], "access_key": "AKIDEXAMPLE",
                       "secret_key": "test", "refresh_interval": "1s", "port": port})
        pcfg = os.path.join(work, "prometheus.yml")
        with open(pcfg, "w") as f:
            yaml.safe_dump(cfg, f, sort_keys=False)
        prom = subprocess.Popen(["/usr/bin/prometheus", "--config.file=" + pcfg,
                                 "--storage.tsdb.path=" + os.path.join(work, "tsdb"),
                                 "--web.listen-address=127.0.0.1:%d" % pport, "--log.level=warn"],
                                stdout=plog, stderr=subprocess.STDOUT)

        def scraped():
            r = prom_query(pbase, 'count_over_time(up{job="%s"}[1m])' % job)
            u = prom_query(pbase, 'up{job="%s"}' % job)
            return r and u and float(r[0]["value"][1]) >= 3 and float(u[0]["value"][1]) == 1
        t0 = time.monotonic()
        ok = wait_for("Prometheus to discover the collector through EC2 and scrape it 3 times", scraped, 90)
        plog.flush()
        if not F.check(bool(ok), "Prometheus found the collector through ec2_sd_configs and scraped it >= 3 times",
                       "prometheus log: %s; EC2 requests: %s" % (open(plog.name).read()[-1500:], FakeEc2.requests[-3:])):
            return coll.stop(F)
        print("  scraped 3 times after %.1fs" % (time.monotonic() - t0))
        describe = [q for q in FakeEc2.requests if q.get("Action") == "DescribeInstances"]
        sent = {(q.get("Filter.1.Name"), q.get("Filter.1.Value.1"), q.get("Filter.2.Name"), q.get("Filter.2.Value.1"))
                for q in describe}
        F.equal(sent, {("tag:vxcollector", "true", "instance-state-name", "running")},
                "DescribeInstances filters sent: tag:vxcollector=true, instance-state-name=running")
        status, body = http_get(pbase + "/api/v1/targets")
        targets = [t for t in json.loads(body)["data"]["activeTargets"] if t["labels"].get("job") == job] if status == 200 else []
        F.equal([{k: t["labels"].get(k) for k in ("instance", "instance_id", "az", "instance_type", "asg")} for t in targets],
                [{"instance": INSTANCE_ID, "instance_id": INSTANCE_ID, "az": "us-east-1a", "instance_type": "c6in.xlarge",
                  "asg": "vxc-asg"}],
                "one target (the tagged, running instance) relabelled: instance = instance_id, az, instance_type, asg")
        F.equal([t.get("scrapeUrl") for t in targets], ["http://127.0.0.1:%d/metrics" % port],
                "scraped at the private IP on the configured port")

        # Every alert rule evaluates on real series without error.
        def rules_evaluated():
            s, b = http_get(pbase + "/api/v1/rules")
            if s != 200:
                return None
            rs = [r for g in json.loads(b)["data"]["groups"] for r in g["rules"]]
            return rs if rs and all(r.get("lastEvaluation", "").startswith("20") for r in rs) else None
        rs = wait_for("every rule evaluated", rules_evaluated, 30) or []
        bad = [(r["name"], r.get("health"), r.get("lastError")) for r in rs if r.get("health") != "ok"]
        F.check(len(rs) == 14 and not bad, "Prometheus loaded %d alert rules, all evaluate with health ok" % len(rs), str(bad))
        firing = [r["name"] for r in rs if r.get("state") == "firing" and r["name"] in
                  ("VxcollectorDown", "VxcollectorAbsent", "VxcollectorDiskAlmostFull", "VxcollectorPortLinkDown")]
        F.check(not firing, "healthy collector: no down/absent/disk/link alert firing", str(firing))

        # The dashboard: template variables, then every panel query.
        dash = json.load(open(os.path.join(DEPLOY, "grafana", "vxcollector-dashboard.json")))
        check_dashboard_static(F, dash)
        values = {"job": job, "instance": INSTANCE_ID, "lane": "web", "__rate_interval": "1m", "__interval": "15s",
                  "__range": "5m"}
        for v in dash["templating"]["list"]:
            m = re.match(r"label_values\((.*),\s*(\w+)\)$", v.get("definition", ""))
            if not m:
                continue
            s, b = http_get(pbase + "/api/v1/series?" + urllib.parse.urlencode({"match[]": substitute(m.group(1), values)}))
            got = sorted({x.get(m.group(2)) for x in json.loads(b)["data"]} - {None}) if s == 200 else []
            F.check(values[v["name"]] in got, "variable %s: %s lists %s" % (v["name"], v["definition"], values[v["name"]]),
                    "got %s" % got)
        empty = []
        targets = panel_targets(dash)
        for title, ref, expr in targets:
            q = substitute(expr, values)
            res = prom_query(pbase, q)
            ok = F.check(bool(res) and "$" not in q, "panel '%s' %s returns %d series" % (title, ref, len(res or [])),
                         "query: %s -> %s" % (q, res))
            if not ok:
                empty.append(title)
            if title == "Unaccounted frames" and res:
                F.equal([float(r["value"][1]) for r in res], [0.0], "panel 'Unaccounted frames' is 0")
        print("  %d panel queries, %d without series" % (len(targets), len(empty)))
        return coll.stop(F)
    finally:
        if prom is not None and prom.poll() is None:
            prom.terminate()
            try:
                prom.wait(timeout=10)
            except subprocess.TimeoutExpired:
                prom.kill()
                prom.wait()
        ec2.shutdown()
        plog.close()
        coll.finish()  # kills the collector if a check above returned early


def main():
    binary = vxc.binary_from_argv()
    F = vxc.Failures("test_deploy")
    missing = [t for t in TOOLS if not shutil.which(t)]
    if not F.check(not missing, "tools present: %s" % " ".join(TOOLS), "missing %s" % missing):
        return F.finish()
    feed, _ = vxc.feed_path()
    work = vxc.tmpdir("deploy")
    os.chmod(work, 0o755)  # the unprivileged run reads the installed tree
    print("work dir " + work)
    root = os.path.join(work, "root")
    t0 = time.monotonic()
    steps = [("install", lambda: check_install(F, binary, root))]
    steps += [("units", lambda: check_units(F, root)),
              ("host-setup", lambda: check_host_setup(F, work)),
              ("cloud-init", lambda: check_cloud_init(F, binary, work, feed)),
              ("promtool", lambda: check_prometheus_files(F, work)),
              ("live", lambda: live_and_syscalls(F, root, work, feed))]
    for name, step in steps:
        t = time.monotonic()
        try:
            if step() is False:
                break
        except Exception as e:  # a broken step must not hide the others
            import traceback
            traceback.print_exc()
            F.check(False, "step %s raised %s: %s" % (name, type(e).__name__, e))
        print("  (%s: %.1fs)" % (name, time.monotonic() - t))
    print("\ntotal %.1fs" % (time.monotonic() - t0))
    vxc.cleanup(work, not F.failed)
    return F.finish()


def live_and_syscalls(F, root, work, feed):
    r = check_live(F, root, work, feed)
    if r is not None:
        vxc.check_run(F, r, "unprivileged collector")
        check_syscalls(F, root, r, os.path.join(work, "trace", "strace.txt"))


if __name__ == "__main__":
    sys.exit(main())
