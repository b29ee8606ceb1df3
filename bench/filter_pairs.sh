#!/bin/bash
# What a capture filter costs, measured in adjacent pairs: each pair runs a
# case without a filter and the same case with one back to back (the order
# alternating), so both see the same minute of a shared host; the median of
# the pairs' ratios is the figure. Runs of one binary on this VM spread by up
# to 25% from minute to minute, more than the effect measured.
#
#   bench/filter_pairs.sh [--build DIR] [--pairs N] [--against VXBENCH]
#
# --pairs N          pairs per comparison (default 16: with 10, two sets of the
#                    same code differed by 5 points here, 13.3% and 18.7%)
# --against VXBENCH  also pair another vxbench binary (e.g. an older commit's)
#                    against this one on the filter cases
# C. pairs the build with itself: the noise floor of the same minutes.
# Prints the table; bench/run.sh keeps it as bench/results/filters-paired.txt.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$ROOT/build-bench
PAIRS=16
AGAINST=
while [ $# -gt 0 ]; do
  case $1 in
    --build) BUILD=$(realpath -m "$2"); shift 2 ;;
    --pairs) PAIRS=$2; shift 2 ;;
    --against) AGAINST=$(realpath "$2"); shift 2 ;;
    *) echo "usage: $0 [--build DIR] [--pairs N] [--against VXBENCH]" >&2; exit 2 ;;
  esac
done
VXBENCH=$BUILD/bench/vxbench
[ -x "$VXBENCH" ] || { echo "$0: $VXBENCH not built (ninja -C $BUILD bench/vxbench)" >&2; exit 2; }

# rx BINARY CASE: the case's received Mpps in one 2 s run.
rx() {
  "$1" --only "$2" --repeat 1 --retries 0 --duration 2 --warmup 1 2>/dev/null |
    awk -v c="$2" '$1 == c && $6 ~ /^[0-9.]+$/ {print $6; exit}'
}

# pairs LABEL BIN_A CASE_A BIN_B CASE_B: PAIRS pairs, then the median ratio B/A.
pairs() {
  local label=$1 a=$2 ca=$3 b=$4 cb=$5 x y rows=
  for i in $(seq "$PAIRS"); do
    if [ $((i % 2)) = 1 ]; then x=$(rx "$a" "$ca"); y=$(rx "$b" "$cb"); else y=$(rx "$b" "$cb"); x=$(rx "$a" "$ca"); fi
    rows="$rows$x $y\n"
  done
  printf "$rows" | /usr/bin/python3 -c '
import statistics, sys
label = sys.argv[1]
rows = [tuple(map(float, l.split())) for l in sys.stdin if len(l.split()) == 2]
if not rows:
    sys.exit(f"{label}: no run produced a figure")
r = sorted(y / x for x, y in rows)
m = statistics.median(r)
print(f"{label}\n  pairs (A, B Mpps): " + ", ".join(f"({x:.2f}, {y:.2f})" for x, y in rows))
print(f"  B/A median of {len(r)}: {m:.3f} ({100 * (1 - m):+.1f}% slower), pairs {r[0]:.3f}-{r[-1]:.3f}\n")
' "$label"
}

echo "# $(date -u +%F\ %H:%M) UTC, commit $(git -C "$ROOT" rev-parse --short HEAD), $(basename "$BUILD"); $PAIRS pairs each, 2 s windows after 1 s warm-up, received Mpps"
echo
echo "A. filter on (B) against off (A), same binary"
for c in pipe-64l-s128-nullsink:own pipe-4l-s128-nullsink:own pipe-4l-s128:own pipe-4l-s128-nullsink:tcp pipe-64l-s128-nullsink:tcp; do
  base=${c%%:*}
  pairs "$base-${c##*:} against $base" "$VXBENCH" "$base" "$VXBENCH" "$base-${c##*:}"
done
if [ -n "$AGAINST" ]; then
  echo "B. this build (B) against $AGAINST (A), same case"
  for c in pipe-64l-s128-nullsink-own pipe-4l-s128-nullsink-own pipe-4l-s128-nullsink-tcp; do
    pairs "$c" "$AGAINST" "$c" "$VXBENCH" "$c"
  done
fi
# The same minutes' control: what a ratio is when nothing differs. A set whose
# ratios above are not farther from 1 than this one's shows no effect.
echo "C. noise floor: this build against itself, same case"
pairs "pipe-64l-s128-nullsink-own against itself" "$VXBENCH" pipe-64l-s128-nullsink-own "$VXBENCH" pipe-64l-s128-nullsink-own
