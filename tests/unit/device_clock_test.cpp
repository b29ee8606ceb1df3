// DeviceClock against simulated NIC clocks: a rate nobody told it, drift
// against the wall clock, sampling jitter, a clock that resets or steps.
#include "dataplane/device_clock.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>

namespace vxc {
namespace {

constexpr uint64_t kSecond = 1'000'000'000;
constexpr uint64_t kEpoch2026 = 1'780'000'000ull * kSecond;  // some wall time in 2026

// A NIC clock: ticks = origin + rate * (wall time since start) * (1 + drift).
struct SimulatedNic {
  double ticks_per_ns;  // nominal rate
  double drift_ppm;     // how far off its oscillator is from the wall clock
  uint64_t origin;      // ticks at wall time kEpoch2026
  uint64_t ticks_at(uint64_t wall_ns) const {
    const double elapsed = static_cast<double>(wall_ns - kEpoch2026);
    return origin + static_cast<uint64_t>(std::llround(elapsed * ticks_per_ns * (1 + drift_ppm * 1e-6)));
  }
};

int64_t error_ns(uint64_t got, uint64_t want) { return static_cast<int64_t>(got - want); }

// Samples every 100 ms for `seconds` with up to `jitter_ns` of error in the
// wall time paired with each reading (the read's latency), then checks that
// frames stamped between the last two samples convert within `tolerance_ns`.
void run_and_check(const SimulatedNic& nic, DeviceClock& clock, uint64_t& wall, double seconds,
                   uint64_t jitter_ns, int64_t tolerance_ns, std::mt19937_64& rng) {
  std::uniform_int_distribution<int64_t> jitter(-static_cast<int64_t>(jitter_ns),
                                                static_cast<int64_t>(jitter_ns));
  const uint64_t end = wall + static_cast<uint64_t>(seconds * kSecond);
  for (; wall < end; wall += kSecond / 10)
    clock.sample(nic.ticks_at(wall), wall + static_cast<uint64_t>(jitter(rng)));
  ASSERT_TRUE(clock.ready());
  const uint64_t last = wall - kSecond / 10;
  std::uniform_int_distribution<uint64_t> when(last - kSecond / 10, last + kSecond / 10);
  for (int i = 0; i < 1000; ++i) {
    const uint64_t stamped = when(rng);
    const uint64_t converted = clock.wall_ns(nic.ticks_at(stamped), stamped + 20'000);
    ASSERT_LE(std::llabs(error_ns(converted, stamped)), tolerance_ns)
        << "frame stamped at +" << (stamped - kEpoch2026) << " ns";
  }
}

TEST(DeviceClock, NotReadyUntilTheSamplesSpanEnoughToKnowTheRate) {
  DeviceClock clock;
  EXPECT_FALSE(clock.ready());
  EXPECT_EQ(clock.wall_ns(12345, kEpoch2026), kEpoch2026);  // the caller's time until then
  clock.sample(1000, kEpoch2026);
  EXPECT_FALSE(clock.ready());
  clock.sample(1000 + 10'000'000, kEpoch2026 + DeviceClock::kMinSpanNs / 2);
  EXPECT_FALSE(clock.ready());
  clock.sample(1000 + 50'000'000, kEpoch2026 + DeviceClock::kMinSpanNs);
  ASSERT_TRUE(clock.ready());
  EXPECT_DOUBLE_EQ(clock.ns_per_tick(), 1.0);
  EXPECT_EQ(clock.wall_ns(1000 + 50'000'123, kEpoch2026 + DeviceClock::kMinSpanNs),
            kEpoch2026 + DeviceClock::kMinSpanNs + 123);
}

TEST(DeviceClock, LearnsAnUnknownRateAndFollowsDrift) {
  std::mt19937_64 rng(7);
  struct Case {
    const char* what;
    SimulatedNic nic;
  } cases[] = {
      {"mlx5-like 156.25 MHz free-running counter", {0.15625, 0, 987'654'321'000}},
      {"PHC in ns, 80 ppm fast", {1.0, 80, 3'000'000'000'000}},
      {"1 GHz counter, 120 ppm slow, origin near 2^63", {1.0, -120, (1ull << 63) - 5'000'000'000}},
      {"25 MHz counter", {0.025, 30, 0}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    DeviceClock clock;
    uint64_t wall = kEpoch2026;
    // A second in: the rate is measured over <= 1 s with 1 us of jitter per sample.
    // A 25 MHz counter's tick is 40 ns.
    run_and_check(c.nic, clock, wall, 1.0, 1000, 3000, rng);
    // Half a minute in: the rate's base is 10-20 s old.
    run_and_check(c.nic, clock, wall, 30.0, 1000, 1500, rng);
  }
}

TEST(DeviceClock, AFrameStampedBeforeTheNewestSampleConvertsBackwards) {
  DeviceClock clock;
  clock.sample(0, kEpoch2026);
  clock.sample(200'000'000, kEpoch2026 + 100'000'000);  // 2 ticks per ns
  ASSERT_TRUE(clock.ready());
  EXPECT_EQ(clock.wall_ns(200'000'000 - 2'000, kEpoch2026 + 100'000'000),
            kEpoch2026 + 100'000'000 - 1'000);
}

TEST(DeviceClock, ResetOrSteppedClockStartsANewFit) {
  std::mt19937_64 rng(11);
  DeviceClock clock;
  uint64_t wall = kEpoch2026;
  const SimulatedNic before{0.5, 10, 1'000'000'000};
  run_and_check(before, clock, wall, 5.0, 500, 2000, rng);

  // The device resets its counter (ticks go back): the old fit must not be used.
  const SimulatedNic reset{0.5, 10, 0};
  clock.sample(reset.ticks_at(wall) + 1, wall);
  EXPECT_FALSE(clock.ready());
  wall += kSecond / 10;
  run_and_check(reset, clock, wall, 2.0, 500, 2000, rng);

  // A PTP servo steps the clock forward by 37 s: the samples stop fitting.
  const SimulatedNic stepped{0.5, 10, 37ull * kSecond / 2};
  clock.sample(stepped.ticks_at(wall), wall);
  EXPECT_FALSE(clock.ready());
  wall += kSecond / 10;
  run_and_check(stepped, clock, wall, 2.0, 500, 2000, rng);

  // The rate changes by 2% (another clock source): off by > 1 ms within a second.
  const SimulatedNic faster{0.51, 10, stepped.ticks_at(wall)};
  const uint64_t faster_start = wall;
  for (int i = 0; i < 10 && clock.ready(); ++i, wall += kSecond / 10)
    clock.sample(faster.ticks_at(wall) - faster.ticks_at(faster_start) + faster.origin, wall);
  EXPECT_FALSE(clock.ready()) << "a 2% rate change went unnoticed for a second";
}

TEST(DeviceClock, AnImplausibleResultFallsBackToTheCallersTime) {
  DeviceClock clock;
  clock.sample(0, kEpoch2026);
  clock.sample(100'000'000, kEpoch2026 + 100'000'000);
  ASSERT_TRUE(clock.ready());
  const uint64_t now = kEpoch2026 + 100'000'000;
  // A stamp 5 s in the future of the burst that carried it: not believed.
  EXPECT_EQ(clock.wall_ns(100'000'000 + 5 * kSecond, now), now);
  // Within a second of it: believed.
  EXPECT_EQ(clock.wall_ns(100'000'000 + kSecond / 2, now), now + kSecond / 2);
}

}  // namespace
}  // namespace vxc
