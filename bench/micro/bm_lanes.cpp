// Lane lookup: LaneTable::find as a worker does it, the table sized for the
// default --max-lanes (1024) and holding 1, 4, 64 or 1024 lanes. Lookups
// follow a fixed random sequence over the lanes, so with many lanes the probe
// position is not predictable.
#include <benchmark/benchmark.h>

#include <random>

#include "dataplane/lanes.h"

namespace vxc::micro {
namespace {

constexpr size_t kMaxLanes = 1024;
constexpr size_t kSequence = 4096;  // power of two: the index wraps with a mask

LaneKey lane_key(uint32_t lane, bool with_source) {
  const uint32_t vni = 1000 + lane;
  if (!with_source) return LaneKey::for_vni(vni);
  std::array<uint8_t, 16> src{};
  const bool v6 = lane % 2 == 1;
  src[0] = v6 ? 0x20 : 10;
  src[1] = v6 ? 0x01 : 1;
  src[v6 ? 15 : 3] = static_cast<uint8_t>(1 + lane % 16);
  return LaneKey::for_source(vni, v6 ? 6 : 4, src);
}

void BM_LaneFind(benchmark::State& state, bool with_source) {
  const uint32_t lanes = static_cast<uint32_t>(state.range(0));
  LaneTable table(kMaxLanes);
  for (uint32_t k = 0; k < lanes; ++k) table.insert(lane_key(k, with_source), k);

  std::vector<LaneKey> keys(kSequence);
  std::vector<uint32_t> expect(kSequence);
  std::mt19937 rng(1);
  for (size_t n = 0; n < kSequence; ++n) {
    expect[n] = static_cast<uint32_t>(rng() % lanes);
    keys[n] = lane_key(expect[n], with_source);
    if (table.find(keys[n]) != expect[n]) {
      state.SkipWithError("LaneTable::find returned the wrong slot");
      return;
    }
  }

  size_t n = 0;
  for (auto _ : state) {
    uint32_t slot = table.find(keys[n]);
    benchmark::DoNotOptimize(slot);
    n = (n + 1) & (kSequence - 1);
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK_CAPTURE(BM_LaneFind, vni, false)->Arg(1)->Arg(4)->Arg(64)->Arg(1024);
BENCHMARK_CAPTURE(BM_LaneFind, vni_source, true)->Arg(1)->Arg(4)->Arg(64)->Arg(1024);

}  // namespace
}  // namespace vxc::micro
