#!/usr/bin/python3
"""Draws vxbench's results as one PNG with two panels.

  bench/plot.py [--json FILE] [--out PNG]
  (defaults: bench/results/vxbench.json and bench/results/vxbench.png)

Left: received Mpps against snaplen (4 lanes, no capture filter).
Right: received Mpps against the number of lanes (snaplen 128), without and
with a capture filter. Both panels draw the two ceilings (rx+free and
rx+copy128+free) as horizontal lines. Whiskers span the min-max of a case's
runs. A case the JSON does not hold is left out, never filled in.

Reads the fields vxbench --json writes ("cases" with "name", "kind", "ok",
"rx_mpps", and for pipeline cases "lanes", "snaplen", "filter", "variant");
where a pipeline case lacks those, they are read from its name
(pipe-4l-s128, pipe-64l-s128-tcp, pipe-4l-sfull). Needs python3-matplotlib.
"""

import argparse
import datetime
import json
import os
import re
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend is chosen first)

FULL = 65535  # vxbench's "full" snaplen; anything at or above it is drawn as "full"
NAME_RE = re.compile(r"^pipe-(?P<lanes>\d+)l-s(?P<snap>\d+|full)(?:-(?P<filter>.+))?$")
CEILINGS = [  # (kind, name, label, colour)
    ("ceiling_rx", "ceiling-rx", "ceiling: rx + free", "tab:gray"),
    ("ceiling_copy128", "ceiling-copy128", "ceiling: rx + copy 128 B + free", "tab:purple"),
]


def pipeline_cases(cases):
    """Plain pipeline cases (no diagnostic variant) as dicts with lanes, snaplen, filter."""
    out = []
    for c in cases:
        if not c.get("ok", True) or "rx_mpps" not in c:
            continue
        name = c.get("name", "")
        kind = c.get("kind")
        if kind is not None and kind != "pipeline":
            continue
        if c.get("variant", "none") != "none" or name.endswith("-steady"):
            continue  # pipe-64l-s128-steady: the same point after a long warm-up
        # Only vxcollector's own configuration over the same-core source:
        # not the cross-core source, other sinks or a worker lcore.
        if (c.get("source", "same_core") != "same_core" or c.get("sink", "shm") != "shm"
                or c.get("workers", 0) != 0):
            continue
        m = NAME_RE.match(name)
        if kind is None and m is None:
            continue  # neither a pipeline kind nor a pipeline name
        lanes = c.get("lanes")
        snap = c.get("snaplen")
        filt = c.get("filter")
        if m is not None:
            if lanes is None:
                lanes = int(m.group("lanes"))
            if snap is None:
                snap = FULL if m.group("snap") == "full" else int(m.group("snap"))
            if filt is None:
                filt = m.group("filter") or ""
        elif not name.startswith("pipe-"):
            continue  # a diagnostic case without a variant field
        if lanes is None or snap is None:
            continue
        out.append({"case": c, "lanes": int(lanes), "snaplen": min(int(snap), FULL),
                    "filter": filt or ""})
    return out


def ceiling(cases, kind, name):
    for c in cases:
        if (c.get("ok", True) and "rx_mpps" in c and c.get("source", "same_core") == "same_core"
                and (c.get("kind") == kind or c.get("name") == name)):
            return c
    return None


def run_range(c):
    """(low, high) of the per-run rx Mpps, or None when the case has fewer than two runs."""
    runs = [r["rx_mpps"] for r in c.get("runs", []) if isinstance(r, dict) and "rx_mpps" in r]
    return (min(runs), max(runs)) if len(runs) >= 2 else None


def plot_series(ax, xs, cases, label, colour, marker):
    ys = [c["rx_mpps"] for c in cases]
    lo = [y - (run_range(c) or (y, y))[0] for y, c in zip(ys, cases)]
    hi = [(run_range(c) or (y, y))[1] - y for y, c in zip(ys, cases)]
    ax.errorbar(xs, ys, yerr=[lo, hi], color=colour, marker=marker, markersize=7, capsize=4,
                linewidth=1.8, label=label)
    for x, y in zip(xs, ys):
        ax.annotate(f"{y:.2f}", (x, y), textcoords="offset points", xytext=(7, 5), fontsize=9,
                    color=colour)
    written = [(x, c["written_mpps"], c["rx_mpps"]) for x, c in zip(xs, cases)
               if "written_mpps" in c]
    if any(abs(w - rx) > 0.02 * rx for _, w, rx in written):  # drawn only where it tells apart
        ax.plot([x for x, _, _ in written], [w for _, w, _ in written], color=colour, marker=marker,
                markerfacecolor="white", linestyle=":", linewidth=1.2,
                label=label + ": written to pcap")


def draw_ceilings(ax, cases, ymax_data):
    top = ymax_data
    for kind, name, label, colour in CEILINGS:
        c = ceiling(cases, kind, name)
        if c is None:
            continue
        y = c["rx_mpps"]
        note = " (generator-bound)" if str(c.get("bound", "")).startswith("generator") else ""
        ax.axhline(y, color=colour, linestyle="--", linewidth=1.3)
        ax.annotate(f"{label}: {y:.2f} Mpps{note}", (0.01, y), xycoords=("axes fraction", "data"),
                    textcoords="offset points", xytext=(0, 3), fontsize=8.5, color=colour)
        top = max(top, y)
    ax.set_ylim(0, top * 1.12 if top > 0 else 1)


def snaplen_panel(ax, pipes, cases):
    sel = sorted((p for p in pipes if p["lanes"] == 4 and not p["filter"]),
                 key=lambda p: p["snaplen"])
    ax.set_title("Mpps vs snaplen (4 lanes, no filter)")
    ax.set_xlabel("snaplen (bytes of the inner frame)")
    ax.set_ylabel("received Mpps (lcore 0)")
    ymax = 0.0
    if sel:
        xs = list(range(len(sel)))
        plot_series(ax, xs, [p["case"] for p in sel], "4 lanes", "tab:blue", "o")
        ax.set_xticks(xs, ["full" if p["snaplen"] >= FULL else str(p["snaplen"]) for p in sel])
        ax.set_xlim(-0.5, len(sel) - 0.5)
        ymax = max(p["case"]["rx_mpps"] for p in sel)
    else:
        ax.text(0.5, 0.5, "no such cases in the JSON", transform=ax.transAxes, ha="center")
    draw_ceilings(ax, cases, ymax)


def lanes_panel(ax, pipes, cases):
    at128 = [p for p in pipes if p["snaplen"] == 128]
    ax.set_title("Mpps vs lanes (snaplen 128)")
    ax.set_xlabel("lanes (one VNI each)")
    ax.set_ylabel("received Mpps (lcore 0)")
    lane_values = sorted({p["lanes"] for p in at128})
    pos = {n: i for i, n in enumerate(lane_values)}
    ymax = 0.0
    for filtered, label, colour, marker in [(False, "no filter", "tab:blue", "o"),
                                            (True, None, "tab:orange", "s")]:
        # A shared expression only: "{vni}" cases (a program per lane) are another curve's points.
        sel = sorted((p for p in at128 if bool(p["filter"]) == filtered and "{vni}" not in p["filter"]),
                     key=lambda p: p["lanes"])
        if not sel:
            continue
        if label is None:
            label = "filter: " + ", ".join(sorted({p["filter"] for p in sel}))
        plot_series(ax, [pos[p["lanes"]] for p in sel], [p["case"] for p in sel], label, colour,
                    marker)
        ymax = max([ymax] + [p["case"]["rx_mpps"] for p in sel])
    if lane_values:
        ax.set_xticks(range(len(lane_values)), [str(n) for n in lane_values])
        ax.set_xlim(-0.5, len(lane_values) - 0.5)
    else:
        ax.text(0.5, 0.5, "no such cases in the JSON", transform=ax.transAxes, ha="center")
    draw_ceilings(ax, cases, ymax)


def machine_line(d):
    m = d.get("machine", {})
    if not isinstance(m, dict):
        return str(m)
    parts = [m.get("cpu"), f"{m['cores']} cores" if "cores" in m else None,
             f"Linux {m['kernel']}" if "kernel" in m else None, m.get("dpdk"),
             f"{m['build']} build" if "build" in m else None]
    return ", ".join(p for p in parts if p) or "machine not recorded"


def date_of(d, path):
    for key in ("date", "measured", "time", "timestamp"):
        if isinstance(d.get(key), str) and d[key]:
            return d[key]
    mtime = datetime.datetime.fromtimestamp(os.path.getmtime(path))
    return mtime.strftime("%Y-%m-%d %H:%M") + " (file time)"


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", default=os.path.join(here, "results", "vxbench.json"))
    ap.add_argument("--out", default=os.path.join(here, "results", "vxbench.png"))
    a = ap.parse_args()
    with open(a.json) as f:
        d = json.load(f)
    cases = d.get("cases", [])
    pipes = pipeline_cases(cases)

    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.6))
    snaplen_panel(left, pipes, cases)
    lanes_panel(right, pipes, cases)
    for ax in (left, right):
        ax.grid(axis="y", alpha=0.3)
        handles, labels = ax.get_legend_handles_labels()
        order = sorted(range(len(labels)), key=lambda i: ("written" in labels[i], i))
        if order:
            ax.legend([handles[i] for i in order], [labels[i] for i in order], loc="center right",
                      fontsize=8.5)
    window = f"{d['window_s']} s window" if "window_s" in d else None
    runs = f"points: median of the clean runs of {d['repeat']}, whiskers: min-max of all runs" if "repeat" in d else None
    sub = "; ".join(p for p in [window, runs] if p)
    fig.suptitle(f"vxbench: {machine_line(d)}, {date_of(d, a.json)}\n{sub}", fontsize=11)
    fig.tight_layout()
    fig.savefig(a.out, dpi=110)
    print(f"wrote {a.out} ({len(pipes)} pipeline cases)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
