// A NIC's clock on the wall clock: converts the RX timestamps a port stamps
// in its own clock (RTE_ETH_RX_OFFLOAD_TIMESTAMP; ticks of an unknown rate
// and origin, the unit rte_eth_read_clock reads) to nanoseconds since the
// epoch, from pairs (device ticks, wall-clock ns) taken at the same moment.
//
// The rate is measured, not assumed (mlx5 counts at its core clock, others in
// ns of a PHC): over the samples of the last 10-20 s, so that the jitter of a
// sample (a PCI read, ~1 us) costs ~0.1 ppm. Conversions are anchored to the
// newest sample, so a rate error only acts over the time since that sample.
// A sample that the current fit misses by more than kMaxMissNs (a stepped or
// reset clock, a changed rate) starts a new fit.
//
// One instance per (RX lcore, port), used only by that lcore: no sharing.
// Pure arithmetic, no DPDK: unit-tested with simulated clocks.
#pragma once

#include <cstdint>

namespace vxc {

class DeviceClock {
 public:
  // The rate is trusted once the samples span at least this long.
  static constexpr uint64_t kMinSpanNs = 50'000'000;
  // The rate's base sample moves forward after this long (span 10-20 s).
  static constexpr uint64_t kRateWindowNs = 10'000'000'000;
  // A sample further than this from where the fit puts it restarts the fit.
  static constexpr uint64_t kMaxMissNs = 1'000'000;
  // A converted time further than this from the caller's own estimate of now
  // is not believed (see wall_ns).
  static constexpr uint64_t kMaxSkewNs = 1'000'000'000;

  // A pair read at the same moment: the device clock and the wall clock.
  void sample(uint64_t ticks, uint64_t wall_ns) noexcept {
    if (!started_ || !fits(ticks, wall_ns)) {  // a new fit from this sample
      base_ = next_base_ = anchor_ = {ticks, wall_ns};
      started_ = true;
      ns_per_tick_ = 0;
      return;
    }
    anchor_ = {ticks, wall_ns};
    const uint64_t span_ns = wall_ns - base_.wall_ns;
    if (span_ns >= kMinSpanNs)
      ns_per_tick_ = static_cast<double>(span_ns) / static_cast<double>(ticks - base_.ticks);
    if (wall_ns - next_base_.wall_ns >= kRateWindowNs) {
      base_ = next_base_;
      next_base_ = anchor_;
    }
  }

  // True once the rate is known (samples spanning kMinSpanNs).
  bool ready() const noexcept { return ns_per_tick_ > 0; }

  // Wall-clock ns of a device timestamp; `now_ns` (the caller's wall time of
  // the burst) when the rate is not known yet or the result is further than
  // kMaxSkewNs from it: a frame is stamped moments before it is polled, so
  // such a result is a clock that changed since the last sample.
  uint64_t wall_ns(uint64_t ticks, uint64_t now_ns) const noexcept {
    if (!ready()) return now_ns;
    const uint64_t t = extrapolate(ticks);
    return distance(t, now_ns) <= kMaxSkewNs ? t : now_ns;
  }

  double ns_per_tick() const noexcept { return ns_per_tick_; }  // 0 until ready()

 private:
  struct Pair {
    uint64_t ticks = 0;
    uint64_t wall_ns = 0;
  };

  // Wall-clock ns the fit gives `ticks` (before or after the anchor).
  uint64_t extrapolate(uint64_t ticks) const noexcept {
    const auto delta = static_cast<int64_t>(ticks - anchor_.ticks);  // may be < 0
    return anchor_.wall_ns +
           static_cast<uint64_t>(static_cast<int64_t>(static_cast<double>(delta) * ns_per_tick_));
  }
  static uint64_t distance(uint64_t a, uint64_t b) noexcept { return a > b ? a - b : b - a; }

  // Whether a new sample is consistent with the fit so far: both clocks moved
  // forward, and once the rate is known, it lands within kMaxMissNs.
  bool fits(uint64_t ticks, uint64_t wall_ns) const noexcept {
    if (ticks <= anchor_.ticks || wall_ns <= anchor_.wall_ns) return false;
    return !ready() || distance(extrapolate(ticks), wall_ns) <= kMaxMissNs;
  }

  Pair base_;       // the rate is measured from here to the newest sample
  Pair next_base_;  // becomes base_ once a window has passed since it
  Pair anchor_;     // the newest sample: conversions start from it
  bool started_ = false;
  double ns_per_tick_ = 0;  // 0: rate not known yet
};

}  // namespace vxc
